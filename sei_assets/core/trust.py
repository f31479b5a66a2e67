"""Whom `sei verify` trusts, and whether the evidence is the latest for the repository.

* Known keys (like SSH's known hosts): the first key that verified a system's evidence is
  remembered in ``$XDG_CONFIG_HOME/sei-assets/known_keys.json`` (``$SEI_KNOWN_KEYS``); another
  key is refused unless accepted explicitly. The store also remembers that the system's
  evidence carried a signed index and the newest evidence seen, so that a deleted index or an
  older evidence set put back in place is noticed.
* Organisation keys: a trusted-keys file (``$SEI_TRUSTED_KEYS``, else the file named by
  ``trusted_keys`` in ``config.json`` of the same folder, else ``trusted_keys`` there), one
  ``<system name or *> <hex public key>`` per line, ``#`` comments. A system listed there
  verifies only under one of its listed keys.
* Currency: the signed index records the run's ``sei.lock`` input hashes and commit; the
  evidence is current when the repository's inputs still hash the same.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write

KNOWN_ENV = "SEI_KNOWN_KEYS"
MANIFEST_NAMES = ("sei.yaml", "venth.yaml", "froga.yaml")  # as core.manifest (pydantic-free)
TRUSTED_ENV = "SEI_TRUSTED_KEYS"


def config_dir() -> Path:
    """The user's sei-assets configuration folder."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "sei-assets"


def known_keys_path() -> Path:
    """Where the known keys are remembered."""
    return Path(os.environ.get(KNOWN_ENV) or config_dir() / "known_keys.json")


def trusted_keys_path() -> Path:
    """The organisation's trusted-keys file in force (it need not exist): ``$SEI_TRUSTED_KEYS``,
    else ``trusted_keys`` named in ``config.json`` of the config folder, else ``trusted_keys``
    there."""
    if os.environ.get(TRUSTED_ENV):
        return Path(os.environ[TRUSTED_ENV])
    config = config_dir() / "config.json"
    if config.is_file():
        try:
            named = json.loads(config.read_text(encoding="utf-8")).get("trusted_keys")
        except (OSError, ValueError, AttributeError) as exc:
            raise SeiError(f"{config}: expected a JSON object ({exc})") from None
        if named is not None:
            if not isinstance(named, str):
                raise SeiError(f"{config}: trusted_keys: expected the path of a file")
            path = Path(named).expanduser()
            if not path.is_file():
                raise SeiError(f"{config}: trusted_keys: {path} does not exist")
            return path if path.is_absolute() else config.parent / path
    return config_dir() / "trusted_keys"


def sandbox_env(folder: Path) -> dict[str, str]:
    """The variables that give a sandbox (a scenario's) trust of its own: an empty known-keys
    store and an empty organisation list in ``folder``, so its throwaway keys are neither
    remembered on the machine nor judged by the organisation's keys."""
    folder.mkdir(parents=True, exist_ok=True)
    trusted = folder / "trusted_keys"
    if not trusted.exists():
        trusted.write_text("# a sandbox trusts no organisation key\n", encoding="utf-8")
    return {KNOWN_ENV: str(folder / "known_keys.json"), TRUSTED_ENV: str(trusted)}


def read_trusted_keys(path: Path | None = None) -> dict[str, set[str]]:
    """System name (or ``*``) -> trusted hex public keys; SeiError naming a bad line."""
    path = path or trusted_keys_path()
    if not path.is_file():
        if os.environ.get(TRUSTED_ENV):
            raise SeiError(f"{path}: the trusted-keys file named by ${TRUSTED_ENV} is missing")
        return {}
    out: dict[str, set[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SeiError(f"{path}: cannot read the trusted-keys file: {exc}") from None
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        key = parts[-1].lower() if parts else ""
        if len(parts) != 2 or len(key) != 130 or not key.startswith("04"):
            raise SeiError(
                f"{path}:{n}: expected '<system name or *> <130 hex digits of a P-256 key>'"
            )
        try:
            bytes.fromhex(key)
        except ValueError:
            raise SeiError(f"{path}:{n}: the public key is not hex") from None
        out.setdefault(parts[0], set()).add(key)
    return out


def _read_known(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SeiError(
            f"{path}: the known-keys store is unreadable ({exc}); fix or remove it"
        ) from None
    return doc if isinstance(doc, dict) else {}


@dataclass
class TrustVerdict:
    """Whether the key that verified the evidence is one we trust, and why."""

    ok: bool
    source: str
    message: str
    notes: list[str] = field(default_factory=list)
    #: Older than evidence of the same system verified before on this machine.
    older: bool = False


def system_of(evidence_dir: Path, index: dict | None) -> str | None:
    """The system the evidence is about: from its signed index, else its bundle."""
    run = (index or {}).get("run") or {}
    if isinstance(run.get("system_name"), str):
        return run["system_name"]
    try:
        bundle = json.loads((evidence_dir / "bundle.json").read_bytes())
    except (OSError, ValueError):
        return None
    name = bundle.get("system_name") if isinstance(bundle, dict) else None
    return name if isinstance(name, str) else None


def known_key(repo: Path) -> str | None:
    """The key to verify ``repo``'s evidence with when it carries no ``PUBKEY.txt`` (the
    reference's repositories often do not): the one key the organisation trusts for its system,
    else the key remembered for it on this machine; None when there is no such single key."""
    from sei_assets.core.signing import PUBKEY_FILE, find_evidence_dir

    evidence_dir = find_evidence_dir(repo)
    if evidence_dir is None or (evidence_dir / PUBKEY_FILE).exists():
        return None
    system = system_of(evidence_dir, None)
    if system is None:
        return None
    trusted = read_trusted_keys()
    listed = trusted.get(system, set()) or trusted.get("*", set())
    if listed:
        return next(iter(listed)) if len(listed) == 1 else None
    entry = _read_known(known_keys_path()).get(system)
    key = entry.get("pubkey") if isinstance(entry, dict) else None
    return key if isinstance(key, str) else None


def _newer(a: str | None, b: str | None) -> bool:
    return bool(a and b and a > b)


def decide(
    verdict: Any, pinned: bool, accept_new_key: bool = False, remember: bool = True
) -> TrustVerdict:
    """Trust decision for a signature verdict (see the module doc); updates the store."""
    key = verdict.pubkey_hex
    system = system_of(verdict.evidence_dir, verdict.index)
    if pinned:
        return TrustVerdict(True, "pinned", "the public key was pinned with --pubkey")
    if system is None:
        return TrustVerdict(False, "unknown", "the evidence names no system: pin a key")
    trusted = read_trusted_keys()
    listed = trusted.get(system, set()) | trusted.get("*", set())
    if system in trusted or (listed and "*" in trusted):
        if key in listed:
            where = trusted_keys_path()
            return TrustVerdict(True, "organisation", f"key trusted for {system} by {where}")
        return TrustVerdict(
            False,
            "organisation",
            f"the key of this evidence is not among the keys {trusted_keys_path()} trusts "
            f"for {system}",
        )
    store = known_keys_path()
    known = _read_known(store)
    entry = known.get(system)
    notes: list[str] = []
    older = False
    run = (verdict.index or {}).get("run") or {}
    if isinstance(entry, dict):
        if entry.get("pubkey") != key:
            if not accept_new_key:
                return TrustVerdict(
                    False,
                    "known",
                    f"KEY CHANGED for {system}: the evidence is signed by keyid {verdict.keyid}, "
                    f"but {store} remembers keyid {entry.get('keyid')} (first trusted "
                    f"{entry.get('first_trusted')}); if the new key is genuine, verify again "
                    "with --accept-new-key",
                )
            notes.append(f"new key accepted for {system} (was keyid {entry.get('keyid')})")
            entry = None
        elif entry.get("indexed") and verdict.index is None:
            return TrustVerdict(
                False,
                "known",
                f"the evidence of {system} carried a signed index when last verified; "
                "it has none now (deleted?)",
            )
        elif _newer(entry.get("latest"), run.get("generated_at")):
            older = True
            notes.append(
                f"older than evidence of {system} verified before on this machine "
                f"({entry.get('latest')}): rolled back?"
            )
    message = (
        f"key remembered for {system} in {store}"
        if entry is None
        else f"key known for {system} since {entry.get('first_trusted')}"
    )
    if remember and verdict.ok:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        record = (
            dict(entry)
            if isinstance(entry, dict)
            else {
                "pubkey": key,
                "keyid": verdict.keyid,
                "first_trusted": now,
            }
        )
        record["indexed"] = bool(record.get("indexed")) or verdict.index is not None
        if run.get("generated_at") and not _newer(record.get("latest"), run["generated_at"]):
            record["latest"] = run["generated_at"]
        if record != entry:  # the store is written (fsync'd) only when what it holds changes
            known[system] = record
            try:
                store.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(store, json.dumps(known, indent=2, sort_keys=True) + "\n", mode=0o600)
            except OSError as exc:
                notes.append(f"could not remember the key in {store}: {exc.strerror or exc}")
    source = "first use" if entry is None else "known"
    return TrustVerdict(True, source, message, notes, older)


@dataclass
class TrustedEvidence:
    """Signatures and the trust decision together: what every reader of evidence relies on."""

    signatures: Any  # signing.EvidenceVerdict
    trust: TrustVerdict

    @property
    def ok(self) -> bool:
        """Every signature verifies, under a key we trust."""
        return bool(self.signatures.ok and self.trust.ok)

    @property
    def reason(self) -> str:
        """Why the evidence is not trusted (empty when it is)."""
        if not self.signatures.ok:
            failed = "; ".join(f"{f.path.name}: {f.reason}" for f in self.signatures.failures)
            return f"the signature does not verify: {failed or 'no signed file'}"
        return "" if self.trust.ok else self.trust.message


def verify_trusted(
    repo: Path,
    pinned: str | None = None,
    accept_new_key: bool = False,
    evidence_dir: Path | None = None,
) -> TrustedEvidence:
    """Verify the repository's evidence and decide whether its key is trusted: the one rule of
    `sei verify`, used as well by the Dagster signature check, conformance, approvals and
    release. The repository's own ``PUBKEY.txt`` only names the key; trust comes from a pinned
    key, the organisation's trusted keys or the key remembered for the system."""
    from sei_assets.core import signing

    # no PUBKEY.txt (as in many of the reference's repositories): a key already trusted for the
    # system verifies it, and the decision below still judges that key
    key = pinned or known_key(repo)
    verdict = signing.verify_evidence(repo, key, evidence_dir=evidence_dir)
    return TrustedEvidence(verdict, decide(verdict, pinned is not None, accept_new_key))


@dataclass
class Currency:
    """Whether the evidence is the latest for the repository's inputs and HEAD."""

    current: bool | None
    reasons: list[str]


def currency(repo: Path, index: dict | None, older_than_seen: bool = False) -> Currency:
    """Compare the run recorded in the signed index with the repository as it is now."""
    from sei_assets.core import gitutil
    from sei_assets.core.lock import read_raw_manifest, section_inputs

    run = (index or {}).get("run")
    if not isinstance(run, dict) or not isinstance(run.get("lock_inputs"), dict):
        return Currency(None, ["the evidence records no run inputs (no signed index)"])
    repo = Path(repo)
    path = next((repo / n for n in MANIFEST_NAMES if (repo / n).is_file()), None)
    if path is None:
        return Currency(None, ["no manifest in the repository to compare with"])
    now = section_inputs(repo, path, read_raw_manifest(path)).hashes
    changed = [s for s, h in now.items() if run["lock_inputs"].get(s) != h]
    reasons = [f"inputs changed since the evidence: {', '.join(changed)}"] if changed else []
    head, commit = gitutil.head(repo), run.get("commit") or ""
    if head and commit and head != commit:
        ahead = gitutil.git(repo, "rev-list", "--count", f"{commit}..{head}", check=False)
        if ahead:
            reasons.append(f"generated at {commit[:12]}, HEAD is {ahead} commit(s) later")
        else:
            reasons.append(f"generated at {commit[:12]}, which is not in HEAD's history")
    if older_than_seen:
        reasons.append("older than evidence verified before on this machine")
    current = not changed and not older_than_seen
    if current and not reasons:
        reasons.append(f"the latest for the repository's inputs (commit {commit[:12]})")
    return Currency(current, reasons)
