"""What real repositories of the reference engine hold: evidence without `PUBKEY.txt`, decision
records under `lifecycle/` beside the trailers.

The record format is inferred (no public sample): these tests write records of that shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sei_assets.core import governance
from sei_assets.core.errors import SeiError
from sei_assets.core.reconstruct import reconstruct
from tests.reference import replay
from tests.systems import make_system

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

SEI = Path(sys.executable).with_name("sei")


def test_verify_without_pubkey_names_the_option(tmp_path: Path, sei: Any) -> None:
    replay("talent-screening", tmp_path, upto=3)  # signed evidence, no .froga/PUBKEY.txt
    assert not (tmp_path / ".froga" / "PUBKEY.txt").exists()
    result = sei("verify", "--repo", str(tmp_path))
    assert result.exit_code == 2
    assert "PUBKEY.txt is missing" in result.stderr and "--pubkey" in result.stderr
    # the installed command: the same message, no traceback
    run = subprocess.run(
        [str(SEI), "verify", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert "--pubkey" in run.stderr and "Traceback" not in run.stderr + run.stdout


def test_verify_without_pubkey_uses_the_key_known_for_the_system(tmp_path: Path, sei: Any) -> None:
    later, older = tmp_path / "later", tmp_path / "older"
    replay("talent-screening", later, upto=4)  # carries .froga/PUBKEY.txt
    replay("talent-screening", older, upto=3)
    assert sei("verify", "--repo", str(later)).exit_code == 0  # remembered on first use
    result = sei("verify", "--repo", str(older))
    assert result.exit_code == 0, result.output
    assert "key known for pilot-talent-screening" in result.output
    pinned = sei("verify", "--repo", str(older), "--pubkey", str(later / ".froga" / "PUBKEY.txt"))
    assert pinned.exit_code == 0, pinned.output


def test_verify_without_pubkey_uses_the_organisation_key(
    tmp_path: Path, sei: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    later, older = tmp_path / "later", tmp_path / "older"
    replay("talent-screening", later, upto=4)
    replay("talent-screening", older, upto=3)
    key = (later / ".froga" / "PUBKEY.txt").read_text().strip()
    trusted = tmp_path / "trusted_keys"
    with monkeypatch.context() as m:
        m.setenv("SEI_TRUSTED_KEYS", str(trusted))
        trusted.write_text(f"pilot-talent-screening {key}\n")
        result = sei("verify", "--repo", str(older))
        assert result.exit_code == 0, result.output
        assert "trusted for pilot-talent-screening" in result.output
        other = "04" + "11" * 64
        trusted.write_text(f"pilot-talent-screening {other}\n")
        refused = sei("verify", "--repo", str(older))
        assert refused.exit_code != 0  # the organisation's key does not verify this evidence


# --------------------------------------------------------------------------- records


def _commit(repo: Path, message: str, date: str | None = None) -> None:
    env = dict(os.environ)
    if date:
        env |= {"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", message], cwd=repo, check=True, env=env)


def _record(repo: Path, rel: str, doc: Any) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))


def _system(tmp_path: Path) -> Path:
    return make_system(tmp_path / "sys", "records")


def test_records_are_merged_with_trailers_by_date(
    tmp_path: Path, sei: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _system(tmp_path)
    _record(
        repo,
        ".venth/lifecycle/001-request.json",
        {
            "decision": "approval-requested",
            "by": {"name": "Dev Demo", "email": "dev@example.test"},
            "date": "2024-01-02",
            "unknown_field": "ignored",
        },
    )
    _commit(repo, "venth: request approval (record)", "2024-01-02T09:00:00Z")
    with monkeypatch.context() as m:
        m.setenv("GIT_COMMITTER_DATE", "2024-02-01T09:00:00Z")
        governance.review(repo, "Board Member <board@example.test>")
    _record(
        repo,
        ".froga/lifecycle/002-approval.json",
        [
            {
                "state": "Approved",
                "actor": "Quality Lead <quality@example.test>",
                "at": "2024-03-01T10:00:00+01:00",
                "reason": "treatment plan accepted",
                "residual_accepted": "overall residual MEDIUM",
            }
        ],
    )
    _commit(repo, "froga: approval (record)", "2024-03-01T09:00:00Z")
    approved_at = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()

    history = governance.decisions(repo)
    assert [(d["kind"], d["date"]) for d in history] == [
        ("request", "2024-01-02T00:00:00Z"),
        ("review", "2024-02-01T09:00:00Z"),
        ("approve", "2024-03-01T09:00:00Z"),
    ]
    assert history[0]["by"] == "Dev Demo <dev@example.test>"
    assert history[0]["record"] == ".venth/lifecycle/001-request.json"
    assert history[1]["trailer"] == "Sei-Reviewed-by" and "record" not in history[1]
    assert history[2]["sha"] == approved_at  # the commit that added the record
    assert history[2]["residual_accepted"] == "overall residual MEDIUM"

    state = governance.lifecycle(repo)
    assert state["state"] == "approved" and state["by"] == "Quality Lead <quality@example.test>"
    assert state["record"] == ".froga/lifecycle/002-approval.json"
    assert state["stale"] is False
    assert state["last_review"]["by"] == "Board Member <board@example.test>"
    shown = sei("lifecycle", "--repo", str(repo))
    assert shown.exit_code == 0
    assert "approved by Quality Lead" in shown.stdout and "002-approval.json" in shown.stdout
    assert reconstruct(repo)["payload"]["lifecycle"] == state

    # a later trailer decision wins over the record; a record naming its commit is read so
    with monkeypatch.context() as m:
        m.setenv("GIT_COMMITTER_DATE", "2024-04-01T09:00:00Z")
        governance.reject(repo, "Board Member <board@example.test>", "data gap")
    assert governance.lifecycle(repo)["state"] == "rejected"
    _record(
        repo,
        ".sei/lifecycle/003.json",
        {
            "kind": "retired",
            "by": "Ops <ops@example.test>",
            "timestamp": 1714557600,
            "commit": approved_at[:12],
        },
    )
    _commit(repo, "sei: retirement record", "2024-05-01T09:00:00Z")
    retired = governance.lifecycle(repo)
    assert (retired["state"], retired["sha"], retired["date"]) == (
        "retired",
        approved_at,
        "2024-05-01T10:00:00Z",
    )


def test_records_only_count_once_committed(tmp_path: Path) -> None:
    repo = _system(tmp_path)
    _record(repo, ".sei/lifecycle/x.json", {"decision": "approved", "by": "A <a@example.test>"})
    assert governance.lifecycle(repo)["state"] == "draft"


@pytest.mark.parametrize(
    "doc,expected",
    [
        ({"by": "A <a@example.test>"}, "decision: expected a decision"),
        ({"decision": "maybe", "by": "A <a@example.test>"}, "decision: expected a decision"),
        ({"decision": "approved"}, "by: expected who decided"),
        ({"decision": "approved", "by": "A <a@x.test>", "date": "last week"}, "date: expected"),
        ({"decision": "approved", "by": "A <a@x.test>", "sha": "0" * 40}, "sha: '000"),
        ("approved", "expected a JSON object"),
    ],
)
def test_a_bad_record_is_refused_naming_file_and_field(
    tmp_path: Path, sei: Any, doc: Any, expected: str
) -> None:
    repo = _system(tmp_path)
    _record(repo, ".venth/lifecycle/bad.json", doc)
    _commit(repo, "a bad record")
    with pytest.raises(SeiError) as info:
        governance.lifecycle(repo)
    assert str(repo / ".venth/lifecycle/bad.json") in str(info.value)
    assert expected in str(info.value)
    result = sei("lifecycle", "--repo", str(repo))
    assert result.exit_code == 2 and "bad.json" in result.stderr
