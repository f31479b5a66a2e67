"""`reconstruct` reads only evidence that verifies: the latest bundle (the working tree's, else
the last committed one, with the signature committed beside it) is held to `sei status`'s rule
before its assessment is reported; altered, unsigned or foreign evidence exits 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sei_assets.core import signing
from sei_assets.core.errors import VerificationError
from sei_assets.core.reconstruct import reconstruct
from tests.test_reconstruct import commit_all, git, treated_history

SEI = Path(sys.executable).with_name("sei")


def _entry(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `sei reconstruct` (the lean entry point), as a user runs it."""
    return subprocess.run(
        [str(SEI), "reconstruct", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )


def _refused(repo: Path, sei: Any, why: str) -> None:
    """Every front refuses with exit 1 and ``why``; nothing is written."""
    with pytest.raises(VerificationError, match="evidence does not verify") as info:
        reconstruct(repo)
    assert why in str(info.value)
    run = _entry(repo)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "evidence does not verify" in run.stderr and why in run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    typer = sei("reconstruct", "--repo", str(repo), "--json")
    assert typer.exit_code == 1 and "evidence does not verify" in typer.stderr
    assert not (repo / ".sei" / "reconstruct.json").exists()


def _tamper(path: Path) -> None:
    """The V2 bundle says the parity control failed: a change nobody re-signed."""
    doc = json.loads(path.read_text())
    for result in doc["control_results"]:
        result["actual_value"] = 0.5
    path.write_text(json.dumps(doc, indent=2) + "\n")


def test_a_tampered_working_bundle_is_refused(tmp_path: Path, sei: Any) -> None:
    treated_history(tmp_path)
    assert _entry(tmp_path).returncode == 0  # the genuine evidence reconstructs
    (tmp_path / ".sei" / "reconstruct.json").unlink()
    _tamper(tmp_path / ".sei" / "bundle.json")
    _refused(tmp_path, sei, "file altered")


def test_an_unsigned_working_bundle_is_refused(tmp_path: Path, sei: Any) -> None:
    treated_history(tmp_path)
    (tmp_path / ".sei" / "bundle.json.sig").unlink()
    _refused(tmp_path, sei, "bundle.json is not signed")


def test_a_bundle_resigned_with_another_key_is_refused(tmp_path: Path, sei: Any) -> None:
    """A forgery re-signed with its own key and PUBKEY.txt: this machine remembers the genuine
    key (`sei verify` remembered it), so the forgery is KEY CHANGED."""
    treated_history(tmp_path)
    assert sei("verify", "--repo", str(tmp_path)).exit_code == 0
    bundle = tmp_path / ".sei" / "bundle.json"
    _tamper(bundle)
    other = signing.load_or_create_key(tmp_path.parent / f"{tmp_path.name}-mallory.pem")
    (tmp_path / ".sei" / "bundle.json.sig").write_bytes(
        signing.sign_bytes(bundle.read_bytes(), "bundle.json", other)
    )
    (tmp_path / ".sei" / "PUBKEY.txt").write_text(signing.public_key_hex(other) + "\n")
    _refused(tmp_path, sei, "KEY CHANGED")


def test_the_last_committed_bundle_is_verified_at_its_commit(tmp_path: Path, sei: Any) -> None:
    """Without a bundle in the working tree, the last snapshot's is the latest assessment: it
    is checked against the `.sig` and `PUBKEY.txt` of its own commit."""
    shas = treated_history(tmp_path)
    git(tmp_path, "rm", "-q", ".sei/bundle.json", ".sei/bundle.json.sig")
    commit_all(tmp_path, "evidence removed from the working tree")
    payload = reconstruct(tmp_path)["payload"]  # the genuine V2 bundle, verified at its commit
    assert payload["snapshots"][-1]["sha"] == shas["v2"]
    assert payload["risks"][0]["assessment"]["cycle"] == {"status": "closed"}

    git(tmp_path, "checkout", "-q", shas["v2"], "--", ".sei/bundle.json", ".sei/bundle.json.sig")
    _tamper(tmp_path / ".sei" / "bundle.json")
    tampered = commit_all(tmp_path, "run: V3 evidence")
    git(tmp_path, "rm", "-q", ".sei/bundle.json", ".sei/bundle.json.sig")
    commit_all(tmp_path, "evidence removed again")
    _refused(tmp_path, sei, f"at commit {tampered[:12]}")
