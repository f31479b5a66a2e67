"""Decisions signed by people, the roster, and the one rule that says whether a decision counts:
one test per attack (forged name, key not in the roster, wrong role, self-approval, a trailer
without a record, a record for other evidence)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sei_assets.core import counting, governance, people, release, signing
from sei_assets.core import roster as rosters
from sei_assets.core.errors import SeiError
from tests.org import OWNER, QUALITY
from tests.test_reconstruct import commit_all, declare, git, treated_history

MALLORY = "Mallory <m@evil.test>"
ASSESSOR = "Test Assessor <assessor@example.test>"  # authors the treatment (conftest identity)


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Built once: a green system (V1 red, a treatment, V2 green) and a red one."""
    base = tmp_path_factory.getbasetemp()
    root = tmp_path_factory.mktemp("systems")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEI_SIGNING_KEY", str(base / "keys" / "signing-key.pem"))
        for var, value in (("NAME", "Test Assessor"), ("EMAIL", "assessor@example.test")):
            mp.setenv(f"GIT_AUTHOR_{var}", value)
            mp.setenv(f"GIT_COMMITTER_{var}", value)
        treated_history(root / "green")
        declare(root / "red")
    return {"green": root / "green", "red": root / "red"}


@pytest.fixture
def green(systems: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(systems["green"], tmp_path / "green", symlinks=True))


@pytest.fixture
def red(systems: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(systems["red"], tmp_path / "red", symlinks=True))


def _decide(verb: str, repo: Path, by: str, **kw):
    return getattr(governance, verb)(repo, by, key=people.load_key(by), **kw)


def test_signed_approval_counts_and_names_its_record(green: Path, org) -> None:
    org({QUALITY: ["management"], OWNER: ["risk_owner"]})
    _decide("request", green, OWNER)
    sha = _decide("approve", green, QUALITY)
    trailers = git(green, "log", "-1", "--format=%(trailers:only,unfold)")
    (rel,) = [
        line.split(": ", 1)[1] for line in trailers.splitlines() if line.startswith("Sei-Record")
    ]
    assert rel.startswith(".sei/lifecycle/") and f"Sei-Approved-by: {QUALITY}" in trailers
    assert set(git(green, "show", "--format=", "--name-only", sha).split()) == {rel, rel + ".sig"}
    record = json.loads((green / rel).read_text())
    assert (record["decision"], record["by"], record["role"]) == ("approve", QUALITY, "management")
    index = (green / ".sei" / "index.json").read_bytes()
    assert record["about"]["evidence_index"] == "sha256:" + signing.sha256_bytes(index)
    envelope = json.loads((green / (rel + ".sig")).read_text())
    assert envelope["payloadType"] == signing.PAYLOAD_TYPE  # the evidence's own DSSE format
    # one decision, not two: the record and its trailer are merged
    assert [(d["kind"], d.get("record") is not None) for d in governance.decisions(green)] == [
        ("request", True),
        ("approve", True),
    ]
    state = counting.judged_lifecycle(green)
    assert (state["state"], state["counted"], state["signed"]) == ("approved", True, True), state[
        "counting"
    ]
    assert state["counting"] == f"counted: signed by {QUALITY} as management"
    assert counting.approval_in_force(state)[0]
    assert signing.verify_evidence(green).ok  # the records do not disturb the evidence set
    from sei_assets.core import translog

    logged = translog.read_leaves(translog.log_dir())
    assert translog.leaf_for("decision", (green / rel).read_bytes()) in logged


def test_forged_name_on_a_red_gate_no_longer_releases(red: Path, org, sei) -> None:
    """The attack of the issue: anyone can write a name; with a roster in force it counts for
    nothing, and the release, the control plane's facts and conformance say why."""
    org({QUALITY: ["management"]})
    result = sei("approve", "--repo", str(red), "--by", MALLORY, "--accept-residual")
    assert result.exit_code == 0 and "unsigned" in result.stderr
    code, state = sei.json("lifecycle", "--repo", str(red))
    assert state["state"] == "approved" and state["counted"] is False
    assert state["counting"] == counting.UNSIGNED
    with pytest.raises(SeiError, match="does not count: unsigned"):
        release.promote(red, residual_accepted="red gate: parity", accept_supplied=True)
    assert not (red / ".sei" / "release.json").exists()


def test_mallory_with_her_own_key_is_not_in_the_roster(red: Path, org) -> None:
    org({QUALITY: ["management"]})
    people.new_key(MALLORY)
    _decide("approve", red, MALLORY, accept_residual=True)
    state = counting.judged_lifecycle(red)
    assert state["counted"] is False and "not in the roster" in state["counting"]


def test_forged_name_with_a_rostered_key(green: Path, org) -> None:
    """Mallory holds a rostered key but writes the Quality Lead's name."""
    org({QUALITY: ["management"], MALLORY: ["management"]})
    governance.approve(green, QUALITY, key=people.load_key(MALLORY))
    state = counting.judged_lifecycle(green)
    assert state["counted"] is False
    assert (
        state["counting"]
        == f"the key belongs to {MALLORY}, not to {QUALITY}: the name is not theirs"
    )


def test_wrong_role(green: Path, org) -> None:
    org({OWNER: ["risk_owner"]})
    _decide("approve", green, OWNER)
    state = counting.judged_lifecycle(green)
    assert state["counting"] == f"{OWNER} does not hold the role management (roster: risk_owner)"
    governance.approve(green, OWNER, key=people.load_key(OWNER), role="risk_owner")
    state = counting.judged_lifecycle(green)
    assert state["counting"] == "taken as risk_owner; a approve needs the role management"


def test_self_approval_by_the_treatment_author(green: Path, org) -> None:
    org({ASSESSOR: ["management"]})
    _decide("approve", green, ASSESSOR)
    state = counting.judged_lifecycle(green)
    treatment = json.loads((green / ".sei" / "bundle.json").read_text())["triple"]["code"]
    assert state["counted"] is False
    assert state["counting"] == (
        f"separation of duties: {ASSESSOR} authored the treatment commit {treatment[:12]} "
        "this approves"
    )


def test_self_approval_by_the_evidence_signer(green: Path, org) -> None:
    machine = (green / ".sei" / "PUBKEY.txt").read_text().strip()
    path = org({QUALITY: ["management"]})
    roster = json.loads(Path(rosters.configured()[0]).read_text())
    roster["people"][0]["keys"].append(machine)  # the machine's key is also the Quality Lead's
    path.write_text(json.dumps(roster))
    rosters.sign(path, signing.load_or_create_key(path.parent / "admin" / "admin.pem"))
    governance.approve(green, QUALITY, key=signing.load_or_create_key())
    state = counting.judged_lifecycle(green)
    assert (
        state["counting"]
        == f"separation of duties: {QUALITY}'s key signed the evidence this approves"
    )


def test_trailer_without_a_record(green: Path, org) -> None:
    org({QUALITY: ["management"]})
    governance.approve(green, QUALITY)  # a trailer only, as the reference records it
    state = counting.judged_lifecycle(green)
    assert (state["signed"], state["counted"]) == (False, False)
    assert state["counting"] == "unsigned (as the reference records them)"
    ok, why = counting.approval_in_force(state)
    assert not ok and why.endswith("does not count: unsigned (as the reference records them)")


def test_a_record_for_other_evidence(green: Path, red: Path, org) -> None:
    """A valid record from another system, replayed here under a hand-written trailer."""
    org({QUALITY: ["management"]})
    _decide("approve", red, QUALITY, accept_residual=True)
    rel = governance.decisions(red)[-1]["record"]
    for suffix in ("", ".sig"):
        (green / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(red / (rel + suffix), green / (rel + suffix))
    git(green, "add", "-f", rel, rel + ".sig")
    git(
        green,
        "commit",
        "-qm",
        "approval",
        "--trailer",
        f"Sei-Approved-by: {QUALITY}",
        "--trailer",
        "Sei-Residual-Accepted: red gate: parity",
        "--trailer",
        f"Sei-Record: {rel}",
    )
    state = counting.judged_lifecycle(green)
    assert state["counted"] is False
    assert state["counting"].startswith(
        "the record is about other evidence (evidence_index sha256:"
    )


def test_tampered_record_does_not_verify(green: Path, org) -> None:
    org({QUALITY: ["management"]})
    _decide("approve", green, QUALITY)
    rel = governance.decisions(green)[-1]["record"]
    doc = json.loads((green / rel).read_text())
    doc["reason"] = "edited after signing"
    (green / rel).write_text(json.dumps(doc))
    commit_all(green, "edit the record")
    # the decision is read at its own commit: an edit afterwards does not change what it says
    assert counting.judged_lifecycle(green)["counted"] is True
    git(
        green,
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
        "--trailer",
        f"Sei-Approved-by: {QUALITY}",
        "--trailer",
        f"Sei-Record: {rel}",
    )
    state = counting.judged_lifecycle(green)
    assert state["counted"] is False and "signature does not verify" in state["counting"]


def test_roster_not_signed_by_the_trusted_admin(green: Path, org, monkeypatch) -> None:
    path = org({QUALITY: ["management"]})
    _decide("approve", green, QUALITY)
    other = signing.public_key_hex(signing.load_or_create_key())
    monkeypatch.setenv(rosters.ADMIN_ENV, other)
    state = counting.judged_lifecycle(green)
    assert (
        state["counted"] is False and "not signed by the trusted administrator" in state["counting"]
    )
    monkeypatch.setenv(
        rosters.ADMIN_ENV,
        signing.public_key_hex(signing.load_or_create_key(path.parent / "admin" / "admin.pem")),
    )
    assert counting.judged_lifecycle(green)["counted"] is True


def test_without_a_roster_no_decision_counts(green: Path, tmp_path: Path, monkeypatch) -> None:
    """The safe default: a signed approval is read and shown, but counts for nothing on a
    machine that trusts no roster, and every reader says so."""
    monkeypatch.setenv(people.PEOPLE_ENV, str(tmp_path / "people"))
    people.new_key(QUALITY)
    _decide("approve", green, QUALITY)
    state = counting.judged_lifecycle(green)
    assert (state["state"], state["signed"], state["counted"]) == ("approved", True, False)
    assert state["counting"].endswith(counting.NO_ROSTER)
    ok, why = counting.approval_in_force(state)
    assert not ok and why.endswith("does not count: " + state["counting"])


def _approval_current(sei, repo: Path):
    """The checks library's `approval_current` over a registry holding ``repo`` alone."""
    import yaml

    registry = repo.parent / "systems.yaml"
    registry.write_text(yaml.safe_dump({"systems": [{"name": repo.name, "repo": repo.name}]}))
    out = str(repo.parent / "results")
    return sei("check", "run", "approval_current", "--systems-file", str(registry), "--out", out)


def test_without_a_roster_mallory_passes_nothing(red: Path, sei) -> None:
    """The attack of the issue on a machine with no roster: the trailer is read as before, and
    nothing it would have approved passes; each place says why in the same words."""

    from sei_assets.core.control import plane
    from sei_assets.core.control.profile import load_profile
    from sei_assets.core.engine import project_conformance

    shown_roster = sei("roster", "show")
    assert shown_roster.exit_code == 1 and counting.NO_ROSTER in shown_roster.stdout
    result = sei("approve", "--repo", str(red), "--by", MALLORY, "--accept-residual")
    assert result.exit_code == 0 and "unsigned" in result.stderr
    assert counting.NO_ROSTER in result.stdout
    shown = sei("lifecycle", "--repo", str(red))
    assert f"decision NOT counted: {counting.UNSIGNED}; {counting.NO_ROSTER}" in shown.stdout
    code, state = sei.json("lifecycle", "--repo", str(red))
    assert (state["state"], state["signed"], state["counted"]) == ("approved", False, False)
    assert state["counting"] == f"{counting.UNSIGNED}; {counting.NO_ROSTER}"
    with pytest.raises(SeiError, match="gate is red; refusing to release.*no roster is trusted"):
        release.promote(red, residual_accepted="red gate: parity", accept_supplied=True)
    assert not (red / ".sei" / "release.json").exists()
    facts = plane.facts(red, load_profile("model_release"), {"id": "m", "role": "x"}, {})
    assert facts["approval"].approved is False and facts["approval"].residual_accepted is None
    assert facts["approval"].why_not.endswith(counting.NO_ROSTER)
    checked = _approval_current(sei, red)
    assert checked.exit_code == 1 and "no roster is trusted on this machine" in checked.stdout
    ((doc, _path),) = project_conformance(red, ["eu/pren-18228@2026"])
    basis = [c["basis"] for c in doc["payload"]["clauses"] if "does not count" in c["basis"]]
    assert basis and basis[0].endswith(counting.NO_ROSTER)


def test_keys_new_refuses_to_replace_and_cli_signs(
    green: Path, tmp_path: Path, monkeypatch, sei
) -> None:
    monkeypatch.setenv(people.PEOPLE_ENV, str(tmp_path / "people"))
    code, doc = sei.json("keys", "new", "--person", QUALITY)
    assert code == 0 and doc["pubkey"] == signing.public_key_hex(people.load_key(QUALITY))
    assert Path(doc["key"]).stat().st_mode & 0o077 == 0
    again = sei("keys", "new", "--person", QUALITY)
    assert again.exit_code == 2 and "never replaced" in again.stderr
    result = sei("approve", "--repo", str(green), "--by", QUALITY)
    assert result.exit_code == 0 and "unsigned" not in result.stderr
    assert governance.decisions(green)[-1]["record"].startswith(".sei/lifecycle/")
    shown = sei("lifecycle", "--repo", str(green))
    assert "decision NOT counted: signed by key" in shown.stdout
    assert shown.stdout.rstrip().endswith(counting.NO_ROSTER)


def test_every_reader_applies_the_one_rule(red: Path, org, sei) -> None:
    """Mallory's forged acceptance on a red gate: the control plane's gate facts, the checks
    library's approval_current, and conformance all refuse it, saying why."""

    from sei_assets.core.control import plane
    from sei_assets.core.control.profile import load_profile
    from sei_assets.core.engine import project_conformance

    org({QUALITY: ["management"]})
    governance.approve(red, MALLORY, accept_residual=True)
    facts = plane.facts(red, load_profile("model_release"), {"id": "m", "role": "x"}, {})
    assert facts["approval"].approved is False and facts["approval"].counted is False
    assert facts["approval"].why_not.endswith("does not count: " + counting.UNSIGNED)
    result = _approval_current(sei, red)
    assert result.exit_code == 1, result.stdout
    assert f"does not count: {counting.UNSIGNED}." in result.stdout
    ((doc, _path),) = project_conformance(red, ["eu/pren-18228@2026"])
    basis = [c["basis"] for c in doc["payload"]["clauses"] if "does not count" in c["basis"]]
    assert basis and basis[0].endswith(counting.UNSIGNED)


def test_reference_records_and_trailers_read_as_unsigned(green: Path, sei) -> None:
    """The reference's own decision records (no signature) are read and shown as unsigned."""
    folder = green / ".froga" / "lifecycle"
    folder.mkdir(parents=True)
    (folder / "002-approval.json").write_text(json.dumps({"decision": "approved", "by": QUALITY}))
    commit_all(green, "lifecycle: approval (reference record)")
    state = counting.judged_lifecycle(green)
    assert (state["state"], state["record"]) == ("approved", ".froga/lifecycle/002-approval.json")
    assert (state["signed"], state["counted"]) == (False, False)
    assert state["counting"] == f"{counting.UNSIGNED}; {counting.NO_ROSTER}"
    shown = sei("lifecycle", "--repo", str(green))
    assert f"decision NOT counted: {counting.UNSIGNED}; {counting.NO_ROSTER}" in shown.stdout


def test_a_counted_acceptance_releases_a_red_gate(red: Path, org) -> None:
    org({QUALITY: ["management"]})
    with pytest.raises(SeiError, match="refusing to release: no management approval"):
        release.promote(red, accept_supplied=True)
    _decide("approve", red, QUALITY, accept_residual=True)
    record = release.promote(red, accept_supplied=True)  # the acceptance comes from the record
    assert (record["gate"], record["residual_accepted"]) == ("red", "red gate: parity")
