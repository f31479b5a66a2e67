"""Evidence an attacker with write access to the repository controls (issue 31): a forgery under
another name, a stripped or mixed set, a rollback, a bundle edited without re-signing, evidence
through symbolic links. Each test is one attack, and each passed unnoticed before the fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from sei_assets.core import engine, signing
from tests.systems import make_system

NAME = "sys_attack"
GIT = ["git", "-c", "user.name=Gen", "-c", "user.email=gen@example.test"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A system with its evidence (engine run, no Dagster), committed, kept pristine."""
    repo = make_system(tmp_path_factory.mktemp("attack") / NAME, NAME)
    subprocess.run([sys.executable, "make_metrics.py"], cwd=repo, check=True)
    key = signing.load_or_create_key(tmp_path_factory.getbasetemp() / "keys" / "signing-key.pem")
    engine.run(repo, repro=False, key=key)
    _commit(repo, "evidence")
    return repo


@pytest.fixture
def repo(evaluated: Path, tmp_path: Path) -> Path:
    target = tmp_path / NAME
    shutil.copytree(evaluated, target, symlinks=True)
    return target


def _commit(repo: Path, message: str) -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=repo, check=True)


def _genuine(repo: Path) -> str:
    return (repo / ".sei" / "PUBKEY.txt").read_text().strip()


def forge(
    repo: Path, rename: str | None = None, manifest_too: bool = False, key: object = None
) -> str:
    """Re-sign the whole set green with another key (PUBKEY.txt replaced); with ``rename``, the
    system renamed in the bundle and the signed index (and, ``manifest_too``, the manifest)."""
    manifest = repo / "sei.yaml"
    original = manifest.read_bytes()
    if rename:
        doc = yaml.safe_load(original)
        doc["system"]["name"] = rename
        manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        other = key or ec.generate_private_key(ec.SECP256R1())
        bundle = json.loads((repo / ".sei" / "bundle.json").read_text())
        bundle["gate"], bundle["gate_failures"] = "green", []
        if rename:
            bundle["system_name"] = rename
        loaded = engine.load_manifest(repo)
        run = engine.reproduce(loaded, repro=False)
        _b, _r, bom, inputs = engine.evaluate(loaded, run)
        engine.seal(loaded, bundle, bom, inputs, key=other)
    finally:
        if not manifest_too:
            manifest.write_bytes(original)
    return signing.public_key_hex(other)


def _remove(repo: Path, *names: str) -> None:
    for name in names:
        for path in (repo / ".sei" / name, repo / ".sei" / f"{name}.sig"):
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- renamed forgery


def test_renamed_forgery_is_refused_by_verify_status_and_approve(repo: Path, sei) -> None:
    assert sei("verify", "--repo", str(repo)).exit_code == 0  # the genuine key is remembered
    forge(repo, rename="sys_other")
    _commit(repo, "forged evidence")
    assert signing.verify_evidence(repo).ok  # self-consistent: only the memory tells it apart

    result = sei("verify", "--repo", str(repo))
    assert result.exit_code == 1
    assert "'sys_other'" in result.stdout and f"'{NAME}'" in result.stdout

    code, doc = sei.json("status", "--repo", str(repo))
    assert code == 1 and doc["gate"] is None and doc["evidence_verified"] is False
    assert "sys_other" in doc["evidence_problem"] and NAME in doc["evidence_problem"]
    text = sei("status", "--repo", str(repo)).stdout
    assert "last gate: green" not in text and "evidence does not verify" in text

    result = sei("approve", "--repo", str(repo), "--by", "Mallory <m@evil.test>")
    assert result.exit_code == 2 and "not trusted" in result.stderr


def test_renamed_forgery_with_the_manifest_renamed_too(repo: Path, sei) -> None:
    """Bundle, index and manifest agree on the new name: the repository's own memory (its
    place) still knows the key and the name."""
    assert sei("verify", "--repo", str(repo)).exit_code == 0
    forge(repo, rename="sys_other", manifest_too=True)
    code, doc = sei.json("verify", "--repo", str(repo))
    assert code == 1 and "KEY CHANGED for the repository" in doc["trust"]["message"]
    assert str(repo.resolve()) in doc["trust"]["message"]
    code, doc = sei.json("status", "--repo", str(repo))
    assert code == 1 and doc["gate"] is None and "sys_attack" in doc["evidence_problem"]


def test_renamed_forgery_in_a_copy_elsewhere_is_known_by_its_root_commit(
    repo: Path, tmp_path: Path, sei
) -> None:
    assert sei("verify", "--repo", str(repo)).exit_code == 0
    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(repo, copy, symlinks=True)
    forge(copy, rename="sys_other", manifest_too=True)
    code, doc = sei.json("verify", "--repo", str(copy))
    assert (
        code == 1 and "KEY CHANGED for the repository with root commit" in doc["trust"]["message"]
    )
    code, doc = sei.json("verify", "--repo", str(copy), "--accept-new-key")
    assert code == 0  # a genuine fork under a new key: accepted explicitly


def test_a_fork_under_its_own_name_and_the_same_key_verifies(
    repo: Path, tmp_path: Path, sei
) -> None:
    """A repository sharing the root commit of one remembered (a fork, a template) is another
    system when it says so under the same key: only its place pins its name."""
    assert sei("verify", "--repo", str(repo)).exit_code == 0
    fork = tmp_path / "fork" / "sys_fork"
    shutil.copytree(repo, fork, symlinks=True)
    forge(fork, rename="sys_fork", manifest_too=True, key=signing.load_or_create_key())
    code, doc = sei.json("verify", "--repo", str(fork))
    assert code == 0, doc["trust"]["message"]
    code, doc = sei.json("status", "--repo", str(fork))
    assert doc["evidence_verified"] is True


def test_renamed_system_with_the_same_key_is_named_both_ways(repo: Path, sei) -> None:
    """A bundle that names another system than its manifest is refused even under a pinned key."""
    genuine = _genuine(repo)
    bundle = repo / ".sei" / "bundle.json"
    doc = json.loads(bundle.read_text())
    doc["system_name"] = "sys_other"
    bundle.write_text(json.dumps(doc))
    _remove(repo, "index.json")
    signing.sign_file(bundle, signing.load_or_create_key())
    code, doc = sei.json("verify", "--repo", str(repo), "--pubkey", genuine)
    assert code == 1 and "'sys_other'" in doc["trust"]["message"]
    assert f"'{NAME}'" in doc["trust"]["message"]


# --------------------------------------------------------------------------- status


def test_status_refuses_a_bundle_edited_without_re_signing(repo: Path, sei) -> None:
    code, doc = sei.json("status", "--repo", str(repo))
    assert code == 0 and doc["gate"] == "green" and doc["evidence_verified"] is True
    bundle = repo / ".sei" / "bundle.json"
    doc = json.loads(bundle.read_text())
    doc["gate"], doc["gate_failures"] = "red", ["x"]  # any edit: the signature no longer holds
    bundle.write_text(json.dumps(doc, indent=2))
    code, doc = sei.json("status", "--repo", str(repo))
    assert code == 1 and doc["gate"] is None and "file altered" in doc["evidence_problem"]
    (repo / ".sei" / "bundle.json.sig").unlink()
    result = sei("status", "--repo", str(repo))
    assert result.exit_code == 1 and "bundle.json is not signed" in result.stdout
    assert "last gate: unknown (the evidence does not verify)" in result.stdout


def test_status_knows_the_key_this_machine_remembers(repo: Path, sei) -> None:
    assert sei("verify", "--repo", str(repo)).exit_code == 0
    forge(repo)  # the same name, another key, PUBKEY.txt replaced
    code, doc = sei.json("status", "--repo", str(repo))
    assert code == 1 and doc["evidence_problem"].startswith("KEY CHANGED")


def test_lean_status_gives_the_same_answer(repo: Path) -> None:
    """The `sei` script's own status (no typer) refuses the edited bundle in the same words."""
    bundle = repo / ".sei" / "bundle.json"
    bundle.write_bytes(bundle.read_bytes().replace(b'"gate": "green"', b'"gate": "red"'))
    script = Path(sys.executable).with_name("sei")
    done = subprocess.run(
        [script, "status", "--repo", str(repo)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "evidence does not verify:" in done.stdout
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- the whole set


@pytest.mark.parametrize("pinned", [False, True], ids=["first-sight", "pubkey"])
def test_stripped_set_is_refused(repo: Path, sei, pinned: bool) -> None:
    genuine = _genuine(repo)
    _remove(repo, "index.json", "bom.cdx.json", "assessment-results.oscal.json")
    args = ["--pubkey", genuine] if pinned else []
    code, doc = sei.json("verify", "--repo", str(repo), *args)
    assert code == 1 and not doc["signatures_ok"]
    reasons = [f["reason"] for f in doc["files"] if not f["ok"]]
    assert any("whose signed index is not here" in r for r in reasons)


def test_index_alone_deleted_at_first_sight(repo: Path, sei) -> None:
    _remove(repo, "index.json")
    code, doc = sei.json("verify", "--repo", str(repo))
    assert code == 1 and any("deleted?" in f["reason"] for f in doc["files"] if not f["ok"])


def test_assessment_results_without_their_bundle(repo: Path, sei) -> None:
    _remove(repo, "index.json", "bundle.json", "bom.cdx.json")
    code, doc = sei.json("verify", "--repo", str(repo), "--pubkey", _genuine(repo))
    assert code == 1 and any("its bundle not" in f["reason"] for f in doc["files"])


def _second_run(repo: Path) -> None:
    (repo / "params.yaml").write_text("bias: 0.2\n")
    subprocess.run([sys.executable, "make_metrics.py"], cwd=repo, check=True)
    os.environ["SOURCE_DATE_EPOCH"] = "4102444800"  # later than the first whatever the clock
    try:
        engine.run(repo, repro=False)
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]


@pytest.fixture
def two_sets(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """``repo`` after a second run, and a copy of its first evidence set."""
    first = tmp_path / "first"
    shutil.copytree(repo / ".sei", first / ".sei")
    shutil.copy2(repo / "sei.lock", first / "sei.lock")
    _second_run(repo)
    return repo, first


@pytest.mark.parametrize("pinned", [False, True], ids=["first-sight", "pubkey"])
def test_mixed_sets_are_refused(two_sets: tuple[Path, Path], sei, pinned: bool) -> None:
    repo, first = two_sets
    args = ["--pubkey", _genuine(repo)] if pinned else []
    for name in ("bundle.json", "bundle.json.sig"):  # the first set's bundle, the rest the second's
        shutil.copy2(first / ".sei" / name, repo / ".sei" / name)
    _remove(repo, "index.json")
    code, doc = sei.json("verify", "--repo", str(repo), *args)
    assert code == 1 and any("deleted?" in f["reason"] for f in doc["files"] if not f["ok"])
    shutil.copy2(first / ".sei" / "index.json", repo / ".sei" / "index.json")  # and its index,
    shutil.copy2(first / ".sei" / "index.json.sig", repo / ".sei" / "index.json.sig")
    code, doc = sei.json("verify", "--repo", str(repo), *args)  # with the second's BOM
    assert code == 1 and not doc["signatures_ok"]


def test_rollback_is_refused_by_default(two_sets: tuple[Path, Path], sei) -> None:
    repo, first = two_sets
    assert sei("verify", "--repo", str(repo)).exit_code == 0  # the newest is remembered
    shutil.rmtree(repo / ".sei")
    shutil.copytree(first / ".sei", repo / ".sei")
    shutil.copy2(first / "sei.lock", repo / "sei.lock")
    code, doc = sei.json("verify", "--repo", str(repo))
    assert code == 1 and doc["signatures_ok"] and "ROLLED BACK" in doc["trust"]["message"]
    code, doc = sei.json("status", "--repo", str(repo))
    assert code == 1 and "ROLLED BACK" in doc["evidence_problem"]
    code, doc = sei.json("verify", "--repo", str(repo), "--allow-rollback")
    assert code == 0 and any("rolled back" in n for n in doc["trust"]["notes"])


# --------------------------------------------------------------------------- symbolic links


def test_evidence_file_symlinked_from_outside_is_refused(repo: Path, tmp_path: Path, sei) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = repo / ".sei" / "bom.cdx.json"
    shutil.move(target, outside / "bom.cdx.json")
    target.symlink_to(outside / "bom.cdx.json")
    code, doc = sei.json("verify", "--repo", str(repo), "--pubkey", _genuine(repo))
    assert code == 1
    assert any("symbolic link" in f["reason"] for f in doc["files"] if not f["ok"])


def test_symlinked_evidence_folder_is_refused(repo: Path, tmp_path: Path, sei) -> None:
    genuine = _genuine(repo)
    shutil.move(repo / ".sei", tmp_path / "elsewhere")
    (repo / ".sei").symlink_to(tmp_path / "elsewhere")
    result = sei("verify", "--repo", str(repo), "--pubkey", genuine)
    assert result.exit_code == 1 and "symbolic link" in result.stderr
    code, doc = sei.json("status", "--repo", str(repo))
    assert code == 1 and "symbolic link" in doc["evidence_problem"]


def test_an_index_that_is_not_valid_text_is_an_unreadable_index(tmp_path: Path) -> None:
    """The evidence index goes through the bounded reader: a lone surrogate escape, a duplicate
    key or deep nesting make it unreadable (None), never a crash further on."""
    from sei_assets.core.evidence_set import read_index

    index = tmp_path / ".sei" / "index.json"
    index.parent.mkdir()
    index.write_text('{"files": {"bundle.json": "sha256:00"}}')
    assert read_index(tmp_path) == {"files": {"bundle.json": "sha256:00"}}
    for text in (
        '{"files": {"\\ud800.json": "sha256:00"}}',
        '{"files": {}, "files": {}}',
        '{"files": {}, "x": ' + "[" * 500 + "]" * 500 + "}",
    ):
        index.write_text(text)
        assert read_index(tmp_path) is None, text
