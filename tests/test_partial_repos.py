"""Partial repositories, as real ones are: evidence without PUBKEY.txt, no conformance or
reconstruct files, a bundle of an earlier release without `bom`, evidence added and later
reverted, metrics not committed. No verb crashes on them: each gives a clear message and its
exit code. The repositories are real git histories (the reference's, replayed, then changed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.reference import blob, replay


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=repo, check=True)


def _clean(result) -> str:
    """The whole output, checked for what a message for people never holds."""
    text = result.output + (result.stderr or "")
    assert "Traceback" not in text and "internal error" not in text, text
    assert "sei_assets." not in text, text  # no internal class paths
    return text


LOAN = "pilot-loan-scoring"


def _trust(monkeypatch, tmp_path: Path, system: str, name: str, folder: str) -> None:
    """The organisation trusts the reference's key for ``system`` (from a later commit)."""
    key = blob(name, 4, f"{folder}/PUBKEY.txt").decode().strip()
    listed = tmp_path.parent / f"{tmp_path.name}-trusted_keys"
    listed.write_text(f"{system} {key}\n")
    monkeypatch.setenv("SEI_TRUSTED_KEYS", str(listed))


def _unverifiable(result) -> None:
    """Reconstruct refuses evidence it has no key to check: exit 1, saying so."""
    assert result.exit_code == 1
    text = _clean(result)
    assert "evidence does not verify" in text and "no public key" in text


def test_evidence_without_pubkey(tmp_path: Path, sei, monkeypatch) -> None:
    """Talent-screening V2: signed evidence in .froga, no PUBKEY.txt committed yet."""
    replay("talent-screening", tmp_path, upto=3)
    verify = sei("verify", "--repo", str(tmp_path))
    assert verify.exit_code == 2
    assert "PUBKEY.txt is missing" in _clean(verify) and "--pubkey" in _clean(verify)
    status = sei("status", "--repo", str(tmp_path))
    assert status.exit_code in (0, 1) and "system: pilot-talent-screening" in _clean(status)
    _unverifiable(sei("reconstruct", "--repo", str(tmp_path)))
    _trust(monkeypatch, tmp_path, "pilot-talent-screening", "talent-screening", ".froga")
    reconstruct = sei("reconstruct", "--repo", str(tmp_path))
    assert reconstruct.exit_code == 0 and "evidence snapshots" in _clean(reconstruct)
    monkeypatch.delenv("SEI_TRUSTED_KEYS")
    conformance = sei("conformance", "--repo", str(tmp_path))
    assert conformance.exit_code == 0, _clean(conformance)
    doc = json.loads((tmp_path / ".sei/conformance/iso_23894_2023.json").read_text())
    (recorded,) = [c for c in doc["payload"]["clauses"] if c["clause_id"] == "6.7"]
    assert recorded["decision"] == "covered"
    assert "do not verify with a trusted key" in recorded["basis"]


def test_no_conformance_or_reconstruct_files(tmp_path: Path, sei, monkeypatch) -> None:
    replay("loan-scoring", tmp_path, upto=3)
    assert not (tmp_path / ".venth" / "reconstruct.json").exists()
    status = sei("status", "--repo", str(tmp_path))
    assert status.exit_code in (0, 1) and "system:" in _clean(status)
    lifecycle = sei("lifecycle", "--repo", str(tmp_path))
    assert lifecycle.exit_code == 0 and "draft" in _clean(lifecycle)
    _unverifiable(sei("reconstruct", "--repo", str(tmp_path)))
    _trust(monkeypatch, tmp_path, LOAN, "loan-scoring", ".venth")
    reconstruct = sei("reconstruct", "--repo", str(tmp_path))
    assert reconstruct.exit_code == 0, _clean(reconstruct)
    assert "treatment arcs" in reconstruct.output


def test_bundle_of_an_earlier_release_without_bom(tmp_path: Path, sei) -> None:
    """A signed bundle with no `bom` (and no signed index): it verifies, and the clauses that
    need a component inventory are gaps that say so."""
    from sei_assets.core import signing

    replay("quickstart", tmp_path, upto=8)
    folder = tmp_path / ".froga"
    doc = json.loads((folder / "bundle.json").read_text())
    doc.pop("bom", None)
    data = json.dumps(doc, indent=2).encode()
    key = signing.load_or_create_key()
    (folder / "bundle.json").write_bytes(data)
    (folder / "bundle.json.sig").write_bytes(signing.sign_bytes(data, "bundle.json", key))
    signing.write_pubkey(folder, key)
    _git(tmp_path, "commit", "-qam", "evidence of an earlier release: no bom")
    verify = sei("verify", "--repo", str(tmp_path), "--accept-new-key")
    assert verify.exit_code == 0, _clean(verify)
    status = sei("status", "--repo", str(tmp_path))
    assert status.exit_code in (0, 1), _clean(status)
    conformance = sei("conformance", "--repo", str(tmp_path), "--standard", "eu/dora@2022")
    assert conformance.exit_code == 0, _clean(conformance)
    dora = json.loads((tmp_path / ".sei/conformance/eu_dora_2022.json").read_text())
    bases = {c["basis"] for c in dora["payload"]["clauses"] if c["decision"] == "gap"}
    assert "artefact bom: no signed component inventory (BOM)" in bases
    reconstruct = sei("reconstruct", "--repo", str(tmp_path))
    assert reconstruct.exit_code == 0, _clean(reconstruct)


def test_evidence_added_then_reverted(tmp_path: Path, sei, monkeypatch) -> None:
    """Loan V2 evidence committed, then removed: the history still holds it, the tree does not."""
    replay("loan-scoring", tmp_path, upto=3)
    _git(tmp_path, "rm", "-rq", ".venth")
    _git(tmp_path, "commit", "-qm", "revert: evidence removed")
    verify = sei("verify", "--repo", str(tmp_path))
    assert verify.exit_code == 2 and "no evidence directory" in _clean(verify)
    conformance = sei("conformance", "--repo", str(tmp_path))
    assert conformance.exit_code == 2
    assert "no evidence bundle to project: run `sei run` first" in _clean(conformance)
    status = sei("status", "--repo", str(tmp_path))
    assert status.exit_code in (0, 1) and "system:" in _clean(status)
    _unverifiable(sei("reconstruct", "--repo", str(tmp_path)))  # the last committed bundle
    _trust(monkeypatch, tmp_path, LOAN, "loan-scoring", ".venth")
    reconstruct = sei("reconstruct", "--repo", str(tmp_path))
    assert reconstruct.exit_code == 0, _clean(reconstruct)
    cycle = json.loads((tmp_path / ".sei" / "reconstruct.json").read_text())["payload"]
    assert cycle["lifecycle"]["state"] == "draft"


def test_metrics_not_committed(tmp_path: Path, sei) -> None:
    """Talent-screening at its declaration: no metrics file at all; then one that exists but
    was never committed."""
    replay("talent-screening", tmp_path, upto=0)
    compiled = sei("compile", "--repo", str(tmp_path))
    assert compiled.exit_code == 0, _clean(compiled)
    run = sei("run", "--repo", str(tmp_path), "--no-repro")
    assert run.exit_code == 2
    assert "the metrics file" in _clean(run) and "does not exist" in run.output
    assert not (tmp_path / ".sei" / "bundle.json").exists()  # nothing half-written
    status = sei("status", "--repo", str(tmp_path))
    assert status.exit_code in (0, 1) and "system:" in _clean(status)
    reconstruct = sei("reconstruct", "--repo", str(tmp_path))
    assert reconstruct.exit_code == 0, _clean(reconstruct)
    # the metrics of the V1 run, present in the tree but never committed: a run reads them
    from tests.reference import blob

    for rel in ("metrics.json", "dvc.lock"):
        (tmp_path / rel).write_bytes(blob("talent-screening", 1, rel))
    run = sei("run", "--repo", str(tmp_path), "--no-repro")
    assert run.exit_code == 1 and "gate: RED" in _clean(run)
    bundle = json.loads((tmp_path / ".sei" / "bundle.json").read_text())
    assert bundle["pipeline"]["metrics"] == "metrics.json"
