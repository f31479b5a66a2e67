"""`status`: freshness and typed drift from the lock and the files on disk, without recomputing."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode, verdict_code
from sei_assets.core.gate import verdict as gate_verdict
from sei_assets.core.layout import BUNDLE, EVIDENCE_DIRS, MANIFEST_NAMES, PUBKEY, SIG_SUFFIX
from sei_assets.core.lock import SectionDrift, drift, read_raw_manifest


@dataclass
class SystemStatus:
    """A system's freshness and its last gate."""

    system: str
    sections: list[SectionDrift]
    gate: str | None
    generated_at: str | None
    metrics_source: str | None = None
    last_failure: dict[str, Any] | None = None
    #: Open post-market breaches (core.postmarket): each reopens its risk and blocks release.
    breaches: list[Any] | None = None
    #: Why the evidence's bundle is not believed (its signature, key, system or age), or None.
    evidence_problem: str | None = None
    #: The monitoring's newest period and whether it is current (None: not monitored yet).
    post_market: dict[str, Any] | None = None

    @property
    def stale_classes(self) -> list[str]:
        return sorted({s.drift_class for s in self.sections if not s.fresh})

    @property
    def exit_code(self) -> ExitCode:
        if self.last_failure or self.breaches or self.evidence_problem:
            return ExitCode.FAILED
        return verdict_code(not self.stale_classes and self.gate == "green")

    def failure_text(self) -> str | None:
        """`last run failed at <time>: <reason>; evidence below is from <time>`, or None."""
        f = self.last_failure
        if not f:
            return None
        evidence = (
            f"evidence below is from {self.generated_at}"
            if self.generated_at
            else ("there is no evidence")
        )
        return (
            f"last run failed at {f.get('at')} (sei {f.get('verb')}, exit {f.get('exit_code')}): "
            f"{f.get('reason')}; {evidence}"
        )

    def breach_lines(self) -> list[str]:
        """What `sei status` prints for each open post-market breach."""
        return [
            f"post-market breach: {b.describe()}: the risk is open again; the next release "
            "is blocked until new evidence re-measures it or management accepts the residual"
            + (f" ({b.open_because})" if b.open_because else "")
            for b in self.breaches or []
        ]

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"post_market": self.post_market} if self.post_market else {}
        if self.breaches:
            extra["open_breaches"] = [b.to_json() for b in self.breaches]
        return {
            "system": self.system,
            "gate": self.gate,
            "generated_at": self.generated_at,
            "metrics_source": self.metrics_source,
            "last_run_failure": self.last_failure,
            "evidence_verified": None
            if self.evidence_problem is None and self.gate is None
            else self.evidence_problem is None,
            "evidence_problem": self.evidence_problem,
            "stale_classes": self.stale_classes,
            "sections": [
                {
                    "section": s.section,
                    "edge_type": s.edge_type,
                    "fresh": s.fresh,
                    "drift_class": None if s.fresh else s.drift_class,
                    "text": s.describe(),
                }
                for s in self.sections
            ],
            **extra,
        }


@dataclass
class CurrentBundle:
    """The evidence bundle in force in a repository's working tree, checked as `sei status`
    checks it before believing anything it says."""

    path: Path
    #: The parsed bundle; None when it could not be read (a symbolic link).
    bundle: dict[str, Any] | None
    #: Why it is not to be believed (see :func:`_evidence_problem`), or None.
    problem: str | None


def current_bundle(repo: Path, system: str | None = None) -> CurrentBundle | None:
    """The working tree's bundle (``.sei`` first, then the reference's folders; in ``.sei`` the
    set in force, even when a write was interrupted) and whether it verifies for ``system``
    (the manifest's name; None: not held to one); None when there is no bundle."""
    from sei_assets.core import evidence_set, safeload

    for d in EVIDENCE_DIRS:
        p = repo / d / BUNDLE
        sig = repo / d / (BUNDLE + SIG_SUFFIX)
        if d == EVIDENCE_DIRS[0]:  # the set in force, even when a write was interrupted
            p = evidence_set.view(repo, f"{d}/{BUNDLE}") or p
            sig = evidence_set.view(repo, f"{d}/{BUNDLE}{SIG_SUFFIX}") or sig
        if os.path.islink(repo / d) or p.is_symlink():
            path = repo / d / BUNDLE
            return CurrentBundle(path, None, f"{path}: evidence that is a symbolic link")
        if p.is_file():
            with open(p, "rb") as fh:
                raw = fh.read(safeload.MAX_BYTES + 1)
            b = safeload.parse_json(p, safeload.decode(p, raw, "evidence bundle"), "bundle")
            if not isinstance(b, dict):
                raise SeiError(f"{p}: expected a JSON object (an evidence bundle)")
            return CurrentBundle(p, b, _evidence_problem(repo, repo / d, system, raw, sig, b))
    return None


def _last_gate(
    repo: Path, system: str | None = None
) -> tuple[str | None, str | None, str | None, str | None]:
    """(gate, generated at, metrics source, why the evidence does not verify) of the current
    bundle; the bundle's signature is checked (see :func:`_evidence_problem`) before its gate
    is believed."""
    found = current_bundle(repo, system)
    if found is None:
        return None, None, None, None
    b, problem = found.bundle, found.problem
    if b is None:
        return None, None, None, problem
    verdict = b.get("gate")
    if verdict not in ("green", "red"):  # the reference's bundles carry no gate field
        results = b.get("control_results")
        results = results if isinstance(results, list) else []
        if all(isinstance(r, dict) for r in results):
            verdict = gate_verdict(results)
        else:  # a result that is not one: the gate cannot be told green
            verdict = "red"
    raw_pipeline = b.get("pipeline")
    pipeline = raw_pipeline if isinstance(raw_pipeline, dict) else {}
    source = pipeline.get("metrics_source") or (
        None if not pipeline else "reproduced" if pipeline.get("reproduced") else "supplied"
    )
    when = b.get("generated_at")
    return (
        None if problem else verdict,
        when if isinstance(when, str) else None,
        source if isinstance(source, str) else None,
        problem,
    )


def _evidence_problem(
    repo: Path, folder: Path, system: str | None, raw: bytes, sig: Path, bundle: dict[str, Any]
) -> str | None:
    """Why the bundle ``raw`` (parsed: ``bundle``) is not to be believed, or None: its
    signature must verify (one ECDSA verify) under the key trusted for the system (the
    organisation's, else the one this machine remembers for the system or the repository,
    else, at first sight, its ``PUBKEY.txt``); it must name the manifest's system, and be no
    older than evidence verified before on this machine. The rule of `sei verify` for one file,
    without `cryptography` (see :mod:`sei_assets.core.dsse`)."""
    from sei_assets.core import dsse

    def read_envelope() -> bytes | None:
        if sig.is_symlink():
            raise OSError("a symbolic link")
        try:
            with open(sig, "rb") as fh:
                return fh.read(dsse.MAX_ENVELOPE + 1)
        except FileNotFoundError:
            return None

    return bundle_problem(repo, system, raw, bundle, read_envelope, lambda: _pubkey_file(folder))


def bundle_problem(
    repo: Path,
    system: str | None,
    raw: bytes,
    bundle: dict[str, Any],
    read_envelope: Callable[[], bytes | None],
    folder_key: Callable[[], str | None],
) -> str | None:
    """Why the bundle ``raw`` (parsed: ``bundle``) is not to be believed, or None (the rule of
    :func:`_evidence_problem`), wherever its bytes were read (the working tree, a commit):
    ``read_envelope`` gives its ``.sig`` (None: there is none; OSError: it cannot be read),
    ``folder_key`` the key of its folder's ``PUBKEY.txt`` (None: none), asked only when this
    machine trusts no key for the system."""
    from sei_assets.core import dsse, trust

    named = bundle.get("system_name")
    if system is not None and named != system:
        return (
            f"{BUNDLE} names the system {named!r}, but the manifest names {system!r}: "
            "evidence of another system (renamed?)"
        )
    try:
        envelope = read_envelope()
    except OSError as exc:
        return f"cannot read {BUNDLE}{SIG_SUFFIX}: {getattr(exc, 'strerror', None) or exc}"
    if envelope is None:
        return f"{BUNDLE} is not signed ({BUNDLE}{SIG_SUFFIX} is missing)"
    if len(envelope) > dsse.MAX_ENVELOPE:
        return f"{BUNDLE}{SIG_SUFFIX} is larger than an envelope ({dsse.MAX_ENVELOPE} bytes)"
    expected = trust.expected_keys(repo, named if isinstance(named, str) else None)
    if expected.problem:
        return expected.problem
    keys = expected.keys
    if not keys:
        in_folder = folder_key()
        if in_folder is None:
            return (
                f"no public key to check {BUNDLE}'s signature ({PUBKEY} is missing and none is "
                "known for this system): verify it with `sei verify --pubkey`"
            )
        keys = [in_folder]
    reasons = []
    for key in keys:
        try:
            dsse.verify_envelope(raw, envelope, BUNDLE, key)
            break
        except dsse.EnvelopeError as exc:
            reasons.append(str(exc))
    else:
        if expected.source and "not by this public key" in reasons[0]:
            return f"KEY CHANGED: {BUNDLE} is not signed by the key {expected.source}"
        return f"{BUNDLE}{SIG_SUFFIX}: {reasons[0]}"
    when = bundle.get("generated_at")
    if expected.latest and (not isinstance(when, str) or when < expected.latest):
        return (
            f"ROLLED BACK: the evidence was generated at {when}, before evidence verified on "
            f"this machine ({expected.latest})"
        )
    return None


def pubkey_text(raw: bytes) -> str | None:
    """The hex key a ``PUBKEY.txt`` holds (its first bytes), or None when it holds none."""
    text = raw[:200].decode("ascii", "replace").strip()
    if len(text) != 130 or text.strip("0123456789abcdef"):
        return None
    return text


def _pubkey_file(folder: Path) -> str | None:
    """The hex key of the evidence folder's ``PUBKEY.txt``, or None (missing or malformed)."""
    try:
        with open(folder / PUBKEY, "rb") as fh:
            raw = fh.read(200)
    except OSError:
        return None
    return pubkey_text(raw)


def system_status(repo: Path) -> SystemStatus:
    """Compare the lock with the inputs on disk; read the last gate from the evidence."""
    repo = Path(repo)
    path = next((repo / n for n in MANIFEST_NAMES if (repo / n).is_file()), None)
    if path is None:
        raise SeiError(f"{repo}: no manifest (expected one of {', '.join(MANIFEST_NAMES)})")
    raw = read_raw_manifest(path)
    system = raw.get("system")
    name = system.get("name", "?") if isinstance(system, dict) else "?"
    if isinstance(system, dict) and not isinstance(system.get("name"), str):
        system = None  # no name to hold the evidence to
    if not isinstance(name, str):  # validation is `run`'s job; status shows no hostile value
        name = f"? (system.name is not text: {type(name).__name__})"
    elif len(name) > 200:
        name = name[:200] + " …"
    verdict, when, source, problem = _last_gate(repo, name if isinstance(system, dict) else None)
    from sei_assets.core.last_run import last_failure
    from sei_assets.core.postmarket import currency, open_breaches

    failure = last_failure(repo, when)
    breaches = open_breaches(repo)
    sections = drift(repo, path, raw)
    return SystemStatus(
        name,
        sections,
        verdict,
        when,
        source,
        failure,
        breaches,
        evidence_problem=problem,
        post_market=currency(repo),
    )
