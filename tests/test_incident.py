"""Serious incidents (Art. 73): `sei incident open|update|close|list`, deadlines by class from
the knowledge catalogue, signed records, and the rule for closing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sei_assets.core import incident
from sei_assets.core.signing import verify_evidence
from tests.systems import make_system

BY = "Quality Lead <quality@example.com>"


def _ago(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).isoformat(timespec="seconds")


def test_the_catalogue_holds_the_articles_deadlines_with_their_basis() -> None:
    classes, hours = incident.catalogue()
    assert {k: c.days for k, c in classes.items()} == {"serious": 15, "death": 10, "widespread": 2}
    assert all("art-73" in c.basis for c in classes.values())
    assert hours == 48


def test_open_update_close(sei, tmp_path: Path) -> None:
    repo = make_system(tmp_path / "sys", "sys")
    r = sei("run", "--repo", str(repo))
    assert r.exit_code == 0, r.output
    # a serious incident known for 14 days: its 15-day deadline is within 48 hours
    code, doc = sei.json(
        "incident",
        "open",
        "--repo",
        str(repo),
        "--title",
        "Women denied in bulk",
        "--class",
        "serious",
        "--aware-at",
        _ago(days=14),
        "--by",
        BY,
        "--breach",
        "fairness-drift",
        "--risk",
        "risk.unfair",
    )
    assert code == 0 and doc["status"] == "open" and doc["breaches"] == ["fairness-drift"]
    aware = dt.datetime.fromisoformat(doc["aware_at"])
    assert dt.datetime.fromisoformat(doc["deadline"]) - aware == dt.timedelta(days=15)
    first = doc["id"]
    # a death known for 11 days: past its 10-day deadline
    code, death = sei.json(
        "incident",
        "open",
        "--repo",
        str(repo),
        "--title",
        "x",
        "--class",
        "death",
        "--aware-at",
        _ago(days=11),
        "--by",
        BY,
    )
    assert code == 0
    listed = sei("incident", "list", "--repo", str(repo), "--json")
    assert listed.exit_code == 1
    states = {d["id"]: d["deadline_state"] for d in json.loads(listed.stdout)}
    assert states == {first: "due", death["id"]: "past"}
    for d in (first, death["id"]):
        assert (
            sei(
                "incident", "update", d, "--repo", str(repo), "--reported-at", "now", "--by", BY
            ).exit_code
            == 0
        )
    listed = sei("incident", "list", "--repo", str(repo), "--json")
    assert listed.exit_code == 0
    assert {d["deadline_state"] for d in json.loads(listed.stdout)} == {"met"}
    # closing: a root cause and the evidence set in force, made after the incident opened
    index = (repo / ".sei" / "index.json").read_bytes()
    import hashlib

    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    bad = sei(
        "incident",
        "close",
        first,
        "--repo",
        str(repo),
        "--root-cause",
        "stale threshold",
        "--evidence",
        "sha256:00",
        "--by",
        BY,
    )
    assert bad.exit_code == 2 and "not the evidence set in force" in bad.output
    old = sei(
        "incident",
        "close",
        first,
        "--repo",
        str(repo),
        "--root-cause",
        "stale threshold",
        "--evidence",
        digest,
        "--by",
        BY,
    )
    assert old.exit_code == 2 and "made before" in old.output
    empty = sei(
        "incident",
        "close",
        first,
        "--repo",
        str(repo),
        "--root-cause",
        " ",
        "--evidence",
        digest,
        "--by",
        BY,
    )
    assert empty.exit_code == 2 and "root cause" in empty.output
    import time

    time.sleep(1.1)
    (repo / "params.yaml").write_text("bias: 0.1\n# fixed threshold\n")
    assert sei("run", "--repo", str(repo)).exit_code == 0
    digest = "sha256:" + hashlib.sha256((repo / ".sei" / "index.json").read_bytes()).hexdigest()
    code, closed = sei.json(
        "incident",
        "close",
        first,
        "--repo",
        str(repo),
        "--root-cause",
        "stale per-group threshold deployed",
        "--evidence",
        digest,
        "--by",
        BY,
    )
    assert code == 0, closed
    assert closed["status"] == "closed" and closed["treating_evidence"] == digest
    assert [h["event"] for h in closed["history"]][-1] == "closed"
    # every record is signed and in the evidence set
    checked = verify_evidence(repo)
    assert checked.ok
    names = {Path(f.path).name for f in checked.files if f.ok}
    assert {f"{first}.json", f"{death['id']}.json"} <= names


def test_bad_input_is_exit_2(sei, tmp_path: Path) -> None:
    repo = make_system(tmp_path / "sys", "sys")
    r = sei("incident", "open", "--repo", str(repo), "--title", "x", "--class", "minor", "--by", BY)
    assert r.exit_code == 2 and "expected one of serious, death, widespread" in r.output
    r = sei("incident", "open", "--repo", str(repo), "--title", "x", "--by", "nobody")
    assert r.exit_code == 2 and "not an identity" in r.output
    r = sei("incident", "update", "../../etc", "--repo", str(repo), "--note", "x", "--by", BY)
    assert r.exit_code == 2 and "INC-YYYYMMDD-NNN" in r.output


def test_incident_list_is_a_light_read_only_verb(tmp_path: Path) -> None:
    """`sei incident list` reads the records without Dagster or the ML stack."""
    import subprocess
    import sys

    repo = make_system(tmp_path / "sys", "sys")
    incident.open_incident(repo, "x", "serious", BY)
    code = (
        "import sys\nfrom sei_assets.cli import app\n"
        f"try:\n    app(['incident', 'list', '--repo', {str(repo)!r}])\n"
        "except SystemExit as e:\n    rc = e.code\n"
        "heavy = [m for m in ('dagster', 'sklearn', 'pandas', 'mlflow', 'dvc', 'numpy') "
        "if m in sys.modules]\nprint('HEAVY', heavy, 'RC', rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] RC 0" in out.stdout, out.stdout + out.stderr
