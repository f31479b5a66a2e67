"""Trust an auditor can rely on: forged, deleted and rolled-back evidence is refused; keys are
handled like keys. Each test is one of the probes of issue 12."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sei_assets.core import engine, signing, trust
from tests.reference import replay
from tests.systems import forge_evidence, make_system


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A system with its V1 evidence (engine run, no Dagster), kept pristine for copying."""
    repo = make_system(tmp_path_factory.mktemp("trust") / "sys_trust", "sys_trust")
    subprocess.run([sys.executable, "make_metrics.py"], cwd=repo, check=True)
    # module fixtures run before the per-test environment: name the session's key explicitly
    key = signing.load_or_create_key(tmp_path_factory.getbasetemp() / "keys" / "signing-key.pem")
    engine.run(repo, repro=False, key=key)
    return repo


@pytest.fixture
def repo(evaluated: Path, tmp_path: Path) -> Path:
    target = tmp_path / "sys_trust"
    shutil.copytree(evaluated, target, symlinks=True)
    return target


def _verify(sei, repo: Path, *args: str) -> tuple[int, dict]:
    return sei.json("verify", "--repo", str(repo), *args)


def test_forged_evidence_with_another_key_is_refused(repo: Path, sei) -> None:
    code, doc = _verify(sei, repo)
    assert code == 0 and doc["trust"]["source"] == "first use" and doc["current"] is True
    forge_evidence(repo)
    assert signing.verify_evidence(repo).ok  # self-consistent: only the key tells it apart
    result = sei("verify", "--repo", str(repo))
    assert result.exit_code == 1 and "KEY CHANGED for sys_trust" in result.stdout
    code, doc = _verify(sei, repo, "--accept-new-key")
    assert code == 0 and doc["trust"]["notes"] and "new key accepted" in doc["trust"]["notes"][0]
    code, doc = _verify(sei, repo)
    assert code == 0 and doc["trust"]["source"] == "known"


def test_known_key_store_is_written_only_when_it_changes(repo: Path, sei) -> None:
    store = trust.known_keys_path()
    assert _verify(sei, repo)[0] == 0  # first use: the key is recorded
    before = store.stat()
    entry = json.loads(store.read_text())["systems"]["sys_trust"]
    assert _verify(sei, repo)[0] == 0  # known, nothing new: the store is left as it is
    after = store.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    forged = forge_evidence(repo)  # another key, accepted explicitly: recorded
    assert _verify(sei, repo, "--accept-new-key")[0] == 0
    now = json.loads(store.read_text())["systems"]["sys_trust"]
    assert now["pubkey"] == forged != entry["pubkey"] and store.stat().st_ino != before.st_ino


def test_known_key_store_read_again_when_it_changes(repo: Path, monkeypatch) -> None:
    """The parsed store is reused only while the file is the one parsed: an edit in place,
    same size, same inode, is seen (its times changed)."""
    monkeypatch.setattr(trust, "_RACY_NS", -(1 << 62))  # cache even a file just written
    assert trust.verify_trusted(repo).ok
    assert trust.verify_trusted(repo).trust.source == "known"
    store = trust.known_keys_path()
    text = store.read_text()
    genuine = json.loads(text)["systems"]["sys_trust"]["pubkey"]
    other = signing.public_key_hex(ec.generate_private_key(ec.SECP256R1()))
    with open(store, "r+") as fh:
        fh.write(text.replace(genuine, other))
    checked = trust.verify_trusted(repo)
    assert not checked.ok and "KEY CHANGED for sys_trust" in checked.trust.message


def test_trusted_keys_read_again_when_they_change(repo: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(trust, "_RACY_NS", -(1 << 62))  # cache even a file just written
    genuine = (repo / ".sei" / "PUBKEY.txt").read_text().strip()
    other = signing.public_key_hex(ec.generate_private_key(ec.SECP256R1()))
    listed = tmp_path / "trusted_keys"
    listed.write_text(f"sys_trust {genuine}\n")
    monkeypatch.setenv("SEI_TRUSTED_KEYS", str(listed))
    assert trust.verify_trusted(repo).trust.source == "organisation"
    assert trust.verify_trusted(repo).ok
    with open(listed, "r+") as fh:  # in place: same inode, same size
        fh.write(f"sys_trust {other}\n")
    checked = trust.verify_trusted(repo)
    assert not checked.ok and "not among the keys" in checked.trust.message


def test_the_system_is_named_by_the_verified_bundle(repo: Path) -> None:
    on_disk = (repo / ".sei" / "bundle.json").read_bytes()
    assert signing.verify_evidence(repo, keep_bundle=True).bundle == on_disk
    assert signing.verify_evidence(repo).bundle is None
    assert trust.system_of(repo / ".sei", None, b'{"system_name": "named"}') == "named"


def _indexless(repo: Path, key: ec.EllipticCurvePrivateKey, system: str) -> Path:
    """Evidence as the reference writes it: a signed bundle and PUBKEY.txt, no index."""
    bundle = repo / ".sei" / "bundle.json"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_text(json.dumps({"system_name": system, "gate": "green"}))
    signing.sign_file(bundle, key)
    signing.write_pubkey(bundle.parent, key)
    return bundle


def test_a_bundle_verified_before_is_named_without_parsing_it(tmp_path: Path, monkeypatch) -> None:
    """The store remembers the sha256 of the bundle a system's name was read from; the same
    bytes are named from it, other bytes are parsed (and may name another system)."""
    parsed: list[bytes] = []
    parse = trust.jsonread.system_name
    monkeypatch.setattr(trust.jsonread, "system_name", lambda raw: parsed.append(raw) or parse(raw))
    key = ec.generate_private_key(ec.SECP256R1())
    bundle = _indexless(tmp_path / "r", key, "alpha")
    assert trust.verify_trusted(tmp_path / "r").trust.source == "first use" and len(parsed) == 1
    store = json.loads(trust.known_keys_path().read_text())
    assert store["systems"]["alpha"]["bundle_sha256"] == signing.sha256_bytes(bundle.read_bytes())
    checks = trust.check_repositories([tmp_path / "r", tmp_path / "r"])
    assert trust.verify_trusted(tmp_path / "r").ok and len(parsed) == 1
    assert [c.evidence.trust.source for c in checks if c.evidence] == ["known", "known"]
    _indexless(tmp_path / "r2", key, "beta")  # same key, other bytes: another system
    checked = trust.verify_trusted(tmp_path / "r2")
    assert (
        len(parsed) == 2 and checked.trust.source == "first use" and "beta" in checked.trust.message
    )


def test_forged_bundle_without_the_index_fails(repo: Path, sei) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    bundle = repo / ".sei" / "bundle.json"
    bundle.write_bytes(bundle.read_bytes().replace(b'"gate": "green"', b'"gate": "red"'))
    signing.sign_file(bundle, other)
    (repo / ".sei" / "PUBKEY.txt").write_text(signing.public_key_hex(other) + "\n")
    code, doc = _verify(sei, repo)
    assert code == 1
    bad = {Path(f["path"]).name: f["reason"] for f in doc["files"] if not f["ok"]}
    assert "index.json" in bad and "bom.cdx.json" in bad


def test_organisation_trusted_keys(repo: Path, sei, tmp_path: Path, monkeypatch) -> None:
    genuine = (repo / ".sei" / "PUBKEY.txt").read_text().strip()
    trusted = tmp_path / "trusted_keys"
    trusted.write_text(f"# the organisation's keys\nsys_trust {genuine}\n")
    monkeypatch.setenv("SEI_TRUSTED_KEYS", str(trusted))
    code, doc = _verify(sei, repo)
    assert code == 0 and doc["trust"]["source"] == "organisation"
    forge_evidence(repo)
    code, doc = _verify(sei, repo, "--accept-new-key")
    assert code == 1 and "not among the keys" in doc["trust"]["message"]
    monkeypatch.delenv("SEI_TRUSTED_KEYS")  # the same file, named in the user's config.json
    config = tmp_path / "xdg" / "sei-assets"
    config.mkdir(parents=True)
    (config / "config.json").write_text(json.dumps({"trusted_keys": str(trusted)}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    code, doc = _verify(sei, repo, "--accept-new-key")
    assert code == 1 and str(trusted) in doc["trust"]["message"]
    trusted.write_text("sys_trust not-a-key\n")
    result = sei("verify", "--repo", str(repo))
    assert result.exit_code == 2 and f"{trusted}:1" in result.stderr


def test_deleted_bundle_is_detected(repo: Path, sei) -> None:
    (repo / ".sei" / "bundle.json").unlink()
    (repo / ".sei" / "bundle.json.sig").unlink()
    code, doc = _verify(sei, repo)
    assert code == 1
    reasons = [f["reason"] for f in doc["files"] if not f["ok"]]
    assert any("named by the signed index but missing" in r for r in reasons)


def test_deleted_bundle_and_index_after_a_verify_is_detected(repo: Path, sei) -> None:
    assert _verify(sei, repo)[0] == 0
    for name in ("bundle.json", "bundle.json.sig", "index.json", "index.json.sig"):
        (repo / ".sei" / name).unlink()
    code, doc = _verify(sei, repo)
    assert code == 1
    assert any("its bundle not" in f["reason"] for f in doc["files"])


def test_removed_index_of_a_known_system_is_refused(repo: Path, sei) -> None:
    assert _verify(sei, repo)[0] == 0
    (repo / ".sei" / "index.json").unlink()
    (repo / ".sei" / "index.json.sig").unlink()
    code, doc = _verify(sei, repo)
    assert code == 1 and "has none now" in doc["trust"]["message"]


def test_rollback_to_older_evidence(repo: Path, sei, tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    shutil.copytree(repo / ".sei", v1 / ".sei")
    shutil.copy2(repo / "sei.lock", v1 / "sei.lock")
    (repo / "params.yaml").write_text("bias: 0.2\n")  # the treatment changes: V2
    subprocess.run([sys.executable, "make_metrics.py"], cwd=repo, check=True)
    os.environ["SOURCE_DATE_EPOCH"] = "4102444800"  # V2 is later than V1 whatever the clock
    try:
        engine.run(repo, repro=False)
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    code, doc = _verify(sei, repo, "--require-current")
    assert code == 0 and doc["current"] is True

    # only the V1 bundle and its signature put back: not the set the signed index names
    for name in ("bundle.json", "bundle.json.sig"):
        shutil.copy2(v1 / ".sei" / name, repo / ".sei" / name)
    code, doc = _verify(sei, repo)
    assert code == 1 and any("signed index names" in f["reason"] for f in doc["files"])

    # the whole V1 set put back: its signatures verify, but it is older than evidence seen
    # before: refused, unless older evidence is accepted explicitly (and then not current)
    shutil.rmtree(repo / ".sei")
    shutil.copytree(v1 / ".sei", repo / ".sei")
    shutil.copy2(v1 / "sei.lock", repo / "sei.lock")
    code, doc = _verify(sei, repo)
    assert code == 1 and doc["signatures_ok"] and "ROLLED BACK" in doc["trust"]["message"]
    code, doc = _verify(sei, repo, "--allow-rollback")
    assert code == 0 and doc["signatures_ok"] and doc["current"] is False
    assert any("measurement-model" in r for r in doc["currency"])
    assert any("rolled back" in n for n in doc["trust"]["notes"])
    result = sei("verify", "--repo", str(repo), "--require-current", "--allow-rollback")
    assert result.exit_code == 1 and "NOT current" in result.stdout


def test_unsigned_extra_files_are_named(repo: Path, sei) -> None:
    (repo / ".sei" / "notes.json").write_text("{}")
    result = sei("verify", "--repo", str(repo))
    assert result.exit_code == 0
    assert "warning:" in result.stdout and "notes.json: unsigned file" in result.stdout
    ignored = (repo / ".sei" / ".gitignore").read_text()  # the engine's dot files stay private
    assert ".staging-*" in ignored.split() and ".gitignore" not in result.stdout
    (repo / ".sei" / "conformance").mkdir()
    (repo / ".sei" / "conformance" / "x.json").write_text("{}")
    assert sei("verify", "--repo", str(repo)).exit_code == 1


def test_reference_evidence_still_verifies_from_the_cli(tmp_path: Path, sei) -> None:
    replay("quickstart", tmp_path)
    code, doc = _verify(sei, tmp_path)
    assert code == 0 and doc["indexed"] is False and doc["current"] is None


# --------------------------------------------------------------------------- keys


def _pubkey(key: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, signing.KEY_ENV: str(key)}
    sei = Path(sys.executable).with_name("sei")
    return subprocess.run([sei, "pubkey", *args], env=env, capture_output=True, text=True)


def test_key_inside_a_work_tree_is_refused(repo: Path) -> None:
    key = repo / "keys" / "signing-key.pem"
    done = _pubkey(key)
    assert done.returncode == 2 and "git work tree" in done.stderr and not key.exists()
    assert "--allow-key-in-repo" in done.stderr
    done = _pubkey(key, "--allow-key-in-repo")
    assert done.returncode == 0 and key.exists()
    assert _pubkey(key).returncode == 2  # using it is refused too


def test_key_in_an_ignored_folder_of_a_work_tree_is_allowed(repo: Path) -> None:
    """A path git ignores is not one `git add -A` from being published (e.g. `.sei-state/`)."""
    (repo / ".gitignore").write_text("/private/\n")
    key = repo / "private" / "signing-key.pem"
    assert _pubkey(key).returncode == 0 and key.exists()
    assert _pubkey(repo / "public" / "signing-key.pem").returncode == 2


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "k" / "signing-key.pem"
    assert _pubkey(key).returncode == 0
    key.chmod(0o644)
    done = _pubkey(key)
    assert done.returncode == 2 and "chmod 600" in done.stderr and "0o644" in done.stderr


def test_key_material_is_never_printed(tmp_path: Path, repo: Path, sei) -> None:
    key = tmp_path / "k" / "signing-key.pem"
    done = _pubkey(key)
    pem = key.read_text()
    body = "".join(pem.splitlines()[1:-1])
    assert done.returncode == 0 and body[:40] not in done.stdout + done.stderr
    key.write_text(pem.replace("PRIVATE KEY-----\n", "PRIVATE KEY-----\nAAAA", 1))
    key.chmod(0o600)
    bad = _pubkey(key)
    assert bad.returncode == 2 and "not an unencrypted PEM" in bad.stderr
    for line in pem.splitlines()[1:-1]:
        assert line not in bad.stderr


def test_every_reader_of_evidence_uses_the_trust_decision(repo: Path, sei) -> None:
    """Conformance, approvals and release refuse what `sei verify` refuses: evidence re-signed
    with another key and its own PUBKEY.txt, once the system's key is known (issue 18, item 4).
    The Dagster signature check is tested in test_dagster."""
    from sei_assets.core import conformance, governance, release, trust
    from sei_assets.core.errors import SeiError
    from sei_assets.core.evidence import read_bundle
    from sei_assets.core.manifest import load_manifest

    assert _verify(sei, repo)[0] == 0  # the system's key is remembered
    assert trust.verify_trusted(repo).ok
    forge_evidence(repo)
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "forged evidence"], cwd=repo, check=True)
    checked = trust.verify_trusted(repo)
    assert checked.signatures.ok and not checked.ok  # the signatures alone would pass
    assert "KEY CHANGED for sys_trust" in checked.reason

    with pytest.raises(SeiError, match="not trusted.*KEY CHANGED"):
        release.promote(repo, accept_supplied=True)
    with pytest.raises(SeiError, match="not trusted.*KEY CHANGED"):
        governance.approve(repo, "Ana <ana@example.test>")

    loaded, bundle = load_manifest(repo / "sei.yaml"), read_bundle(repo)
    standard = "eu/pren-18228@2026"
    ((ours, _path),) = engine.project_conformance(repo, [standard])
    unsigned = conformance.project(loaded, bundle, standard, governance.lifecycle(repo), False)
    signed = conformance.project(loaded, bundle, standard, governance.lifecycle(repo), True)
    assert unsigned != signed  # the signature matters to some clause of this standard
    assert ours["payload"] == unsigned["payload"]
