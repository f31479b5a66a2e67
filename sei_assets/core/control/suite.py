"""Scenario suites as evidence of a profile's fitness for use: coverage, signed results, approval.

A profile's suite must cover every required class of the seed; each run of it is a signed result
document under ``$SEI_STATE_DIR/profiles/<id>/<version>/``. A profile is approved for use only when
its latest result is green, its signature verifies and it was produced by the same profile bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sei_assets.core.control.profile import LoadedProfile
from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write, sha256_file
from sei_assets.core.paths import state_dir

REQUIRED_CLASSES = (
    "happy_path",
    "missing_required_input",
    "blocked_hard_rule",
    "ask_user_case",
    "instruct_agent_case",
    "approval_required",
    "hook_failure",
    "materialization_preflight",
    "idempotency_replay",
    "idempotency_conflict",
)
#: Required of generated process packs (``generated: true``); the plane's built-in actions
#: `profile.validate` and `profile.approve_for_use` (`builtins.py`) answer them for any profile.
GENERATED_CLASSES = (
    "missing_docs_blocked",
    "incomplete_process_model_asks_user",
    "unsafe_hook_authority_blocked",
    "missing_scenario_suite_instructs_agent",
    "invalid_profile_schema_blocked",
    "approval_for_use_requires_approval",
)
RESULT = "suite_result.json"
APPROVAL = "approval_for_use.json"


def results_dir(loaded: LoadedProfile) -> Path:
    """Where the results of a profile version are kept."""
    p = loaded.profile
    return state_dir() / "profiles" / p.id / p.version


def missing_classes(classes: set[str], generated: bool = False) -> list[str]:
    """The required classes a suite does not cover, in the seed's order."""
    wanted = REQUIRED_CLASSES + (GENERATED_CLASSES if generated else ())
    return [c for c in wanted if c not in classes]


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_result(loaded: LoadedProfile, doc: dict[str, Any], key: Any = None) -> Path:
    """Sign and keep a suite result as the profile version's latest."""
    from sei_assets.core import signing

    key = key or signing.load_or_create_key()
    out = results_dir(loaded)
    path = out / RESULT
    atomic_write(path, json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    signing.sign_file(path, key, name=RESULT)
    signing.write_pubkey(out, key)
    return path


def latest_result(loaded: LoadedProfile) -> tuple[dict[str, Any] | None, str]:
    """The latest suite result and whether it holds: ("" when it does, else why not)."""
    from sei_assets.core import signing

    path = results_dir(loaded) / RESULT
    if not path.is_file():
        return None, f"no suite result for {loaded.profile.id} {loaded.profile.version}"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return None, f"{path}: not valid JSON: {exc}"
    pubkey = path.parent / signing.PUBKEY_FILE
    if not pubkey.is_file() or not signing.sig_path(path).is_file():
        return doc, f"{path} is not signed"
    verdict = signing.verify_file(path, pubkey.read_text(encoding="ascii"), name=RESULT)
    if not verdict.ok:
        return doc, f"{path}: the signature does not verify ({verdict.reason})"
    if doc.get("profile", {}).get("sha256") != loaded.sha256:
        return doc, f"{path} was produced by other bytes of the profile (re-run the suite)"
    if doc.get("status") != "green":
        failed = [s["id"] for s in doc.get("scenarios", []) if not s.get("ok")]
        return doc, f"the latest suite result is red (failed: {', '.join(failed) or 'coverage'})"
    return doc, ""


def approve_for_use(loaded: LoadedProfile, by: str, role: str) -> dict[str, Any]:
    """Mark the profile approved for use; refused unless management decides on a green, signed
    latest result. The refusal is the plane's answer shape (route, gate, reason)."""
    from sei_assets.core import signing
    from sei_assets.core.governance import check_identity

    if role != "management":
        return _no(
            "AskUser",
            "approval_for_use_requires_approval",
            "approval",
            f"approval for use is decided by management, not by {role}: ask a person who holds "
            "that role",
        )
    doc, problem = latest_result(loaded)
    if doc is None:
        return _no(
            "InstructAgent",
            "missing_scenario_suite",
            "process_conformance",
            f"{problem}: run the profile's scenario suite first (`sei profile run`)",
        )
    if problem:
        return _no("Block", "suite_result_not_green_and_signed", "hard_rule", problem)
    who = check_identity(by)
    record = {
        "profile": {k: loaded.ref[k] for k in ("id", "version", "sha256")},
        "approved_by": who,
        "at": _now(),
        "suite_result_sha256": sha256_file(results_dir(loaded) / RESULT),
    }
    path = results_dir(loaded) / APPROVAL
    atomic_write(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    signing.sign_file(path, signing.load_or_create_key(), name=APPROVAL)
    return {
        "status": "ok",
        "route": "Complete",
        "gate_id": None,
        "gate_type": None,
        "reason": None,
        "approval": record,
        "file": str(path),
    }


def _no(route: str, gate_id: str, gate_type: str, reason: str) -> dict[str, Any]:
    return {
        "status": "nok",
        "route": route,
        "gate_id": gate_id,
        "gate_type": gate_type,
        "reason": reason,
    }


def approved_for_use(loaded: LoadedProfile) -> bool:
    """True when the approval for use is recorded and the latest result still holds."""
    path = results_dir(loaded) / APPROVAL
    if not path.is_file():
        return False
    _doc, problem = latest_result(loaded)
    if problem:
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise SeiError(f"{path}: not valid JSON") from None
    same: bool = record.get("profile", {}).get("sha256") == loaded.sha256
    return same


def is_shipped(loaded: LoadedProfile) -> bool:
    """Whether ``loaded`` is one of the engine's own profiles (`knowledge/profiles/`)."""
    from sei_assets.core.control.profile import profiles_dir

    try:
        return loaded.path.resolve().parent == profiles_dir().resolve()
    except OSError:
        return False


def hooks_trusted(loaded: LoadedProfile) -> tuple[bool, str]:
    """Whether the hooks of ``loaded`` may run, and why not: a profile approved for use by
    management, or a shipped profile whose latest suite result is green and signed."""
    if approved_for_use(loaded):
        return True, ""
    if is_shipped(loaded):
        _doc, problem = latest_result(loaded)
        if not problem:
            return True, ""
        return False, f"the shipped profile has no green, signed suite result ({problem})"
    return False, "it is not approved for use"
