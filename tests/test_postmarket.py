"""A post-market breach acts: `sei status` shows it (exit 1), the risk its measure treats is
`open` again in the risk cycle, the release is refused until new evidence treats it or
management accepts the residual risk with a reason. A small generated system (the `file`
reproducer) with a monitoring measure on a folder of two daily batches."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sei_assets.core import governance, monitoring, people
from sei_assets.core.errors import SeiError
from sei_assets.core.manifest import load_manifest
from sei_assets.core.reconstruct import reconstruct
from sei_assets.core.release import promote
from sei_assets.core.signing import load_or_create_key
from tests.org import QUALITY
from tests.systems import make_system
from tests.test_reconstruct import commit_all

LIVE = {
    "id": "live-parity",
    "metric": "demographic_parity_diff",
    "constraint": "< 0.05",
    "enforcement": "audit",
    "lifecycle": ["monitoring"],
    "inputs": {"dimension": "group"},
    "post_market": {
        "trigger": "a day's approval rates of the groups differ by 0.05 or more",
        "frequency": "P1D",
        "art72_citation": "eu/ai-act@2024#art-72",
    },
}


def _batch(path: Path, rate_a: float, rate_b: float, n: int = 100) -> None:
    rows = ["group,approved"]
    for g, rate in (("a", rate_a), ("b", rate_b)):
        rows += [f"{g},{int(i < rate * n)}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture
def system(tmp_path: Path, sei) -> Path:
    repo = make_system(tmp_path / "sys", "sys")
    doc = yaml.safe_load((repo / "sei.yaml").read_text())
    doc["risk"]["risks"][0]["treat"][0]["measures"].append(LIVE)
    doc["monitoring"] = {
        "source": {"path": "production", "prediction": "approved", "sensitive": ["group"]},
        "start": "2026-01-01",
    }
    (repo / "sei.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (repo / "production").mkdir()
    _batch(repo / "production" / "2026-01-01.csv", 0.7, 0.7)
    _batch(repo / "production" / "2026-01-02.csv", 0.7, 0.4)
    assert sei("run", "--repo", str(repo)).exit_code == 0
    time.sleep(1.1)  # the evidence is older than the monitoring that follows (second precision)
    monitoring.monitor(
        repo, load_manifest(repo), ["2026-01-01", "2026-01-02"], load_or_create_key()
    )
    return repo


def test_a_breach_shows_in_status_reopens_its_risk_and_blocks_release(
    system: Path, sei, org
) -> None:
    code, st = sei.json("status", "--repo", str(system))
    assert code == 1
    assert [(b["measure"], b["since"], b["last_value"]) for b in st["open_breaches"]] == [
        ("live-parity", "2026-01-02", 0.3)
    ]
    text = sei("status", "--repo", str(system)).output
    assert "post-market breach: live-parity (risk.unfair): past < 0.05 since 2026-01-02" in text
    # the lean `sei status` reads the breaches with nothing heavier than the standard library
    code = (
        "import sys\nfrom sei_assets.entry import run\n"
        f"rc = run(['status', '--repo', {str(system)!r}])\n"
        "heavy = [m for m in ('typer', 'rich', 'pydantic', 'click', 'msgspec', 'dagster', "
        "'sklearn', 'pandas', 'numpy') if m in sys.modules]\nprint('HEAVY', heavy, 'RC', rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] RC 1" in out.stdout and "post-market breach: live-parity" in out.stdout
    risks = {r["risk_id"]: r for r in reconstruct(system)["payload"]["risks"]}
    cycle = risks["risk.unfair"]["assessment"]["cycle"]
    assert cycle["status"] == "open"
    assert cycle["reopened_by"][0]["measure"] == "live-parity"
    with pytest.raises(SeiError, match="post-market breach open"):
        promote(system, load_or_create_key(), accept_supplied=True)
    # an acceptance that no counted decision records is set aside, saying why
    with pytest.raises(SeiError, match="post-market breach open.*no roster is trusted"):
        promote(system, load_or_create_key(), "accepted pending retraining", True)
    # management accepts the residual risk in a decision that counts: released, breach closed
    org()
    commit_all(system, "evidence and monitoring")
    governance.approve(
        system,
        QUALITY,
        "accepted pending retraining",
        accept_residual=True,
        key=people.load_key(QUALITY),
    )
    record = promote(system, load_or_create_key(), accept_supplied=True)
    assert record["breaches_accepted"] == ["live-parity"]
    after = sei("status", "--repo", str(system))
    assert after.exit_code == 0, after.output
    released = json.loads((system / ".sei" / "release.json").read_text())
    assert released["residual_accepted"] == governance.decisions(system)[-1]["residual_accepted"]


def test_new_evidence_after_the_breach_treats_it(system: Path, sei) -> None:
    assert sei("status", "--repo", str(system)).exit_code == 1
    (system / "params.yaml").write_text("bias: 0.1\n# retrained\n")
    assert sei("run", "--repo", str(system)).exit_code == 0
    code, st = sei.json("status", "--repo", str(system))
    assert code == 0 and "open_breaches" not in st
    risks = {r["risk_id"]: r for r in reconstruct(system)["payload"]["risks"]}
    assert risks["risk.unfair"]["assessment"]["cycle"] == {"status": "closed"}
    # a later day past the bound reopens it
    _batch(system / "production" / "2026-01-03.csv", 0.2, 0.7)
    time.sleep(1.1)
    monitoring.monitor(system, load_manifest(system), ["2026-01-03"], load_or_create_key())
    code, st = sei.json("status", "--repo", str(system))
    assert code == 1 and st["open_breaches"][0]["since"] == "2026-01-03"


def test_post_market_current_follows_the_newest_period(system: Path, sei, tmp_path: Path) -> None:
    """`sei status --json` says whether the newest period is within the daily frequency; the
    check scenario `post_market_current` fails a system whose monitoring is older."""
    import datetime as dt

    from sei_assets.core.postmarket import currency

    _code, st = sei.json("status", "--repo", str(system))
    assert st["post_market"] == {
        "last_period": "2026-01-02",
        "frequency": "P1D",
        "post_market_current": False,
    }
    assert currency(system, dt.date(2026, 1, 3))["post_market_current"] is True
    registry = tmp_path / "systems.yaml"
    registry.write_text(yaml.safe_dump({"systems": [{"name": "sys", "repo": str(system)}]}))
    r = sei("check", "run", "post_market_current", "--systems-file", str(registry))
    assert r.exit_code == 1 and "older than its frequency" in r.output
    # yesterday's batch evaluated: current, the check passes
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    _batch(system / "production" / f"{yesterday}.csv", 0.7, 0.7)
    monitoring.monitor(system, load_manifest(system), [yesterday], load_or_create_key())
    r = sei("check", "run", "post_market_current", "--systems-file", str(registry))
    assert r.exit_code == 0, r.output
