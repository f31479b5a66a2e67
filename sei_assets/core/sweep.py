"""Compliance sweep: one row per registered system (gate, stale sections, last evidence,
overall residual, review due), and the signed sweep report. No Dagster here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.model import SweepReport
from sei_assets.core.model.bundle import OverallResidual
from sei_assets.core.registry import SystemEntry

REPORT = "sweep.json"


def review_due(generated_at: str | None, interval: str | None, now: dt.datetime) -> bool | None:
    """Whether evidence made at ``generated_at`` is older than the ISO 8601 ``interval``."""
    if not generated_at or not interval:
        return None
    import isodate

    made = dt.datetime.fromisoformat(generated_at.replace("Z", "+00:00"))
    try:
        due: bool = made + isodate.parse_duration(interval) < now
        return due
    except (isodate.ISO8601Error, ValueError):
        msg = f"review_interval {interval!r} is not an ISO 8601 duration (e.g. P6M)"
        raise SeiError(msg) from None


def system_row(entry: SystemEntry, now: dt.datetime | None = None) -> dict[str, Any]:
    """The sweep's view of one system, read from its lock and evidence (nothing recomputed)."""
    from sei_assets.core.status import system_status

    now = now or dt.datetime.now(dt.UTC)
    row: dict[str, Any] = {"system": entry.name, "repo": str(entry.repo)}
    try:
        st = system_status(entry.repo)
    except SeiError as exc:
        return row | {"gate": None, "error": str(exc)}
    from sei_assets.core.evidence import read_bundle

    bundle = read_bundle(entry.repo)
    residual = (bundle.overall_residual if bundle else None) or OverallResidual()
    interval = bundle.review_interval if bundle else None
    return row | {
        "verified": verified(entry.repo) if bundle else None,
        "name": st.system,
        "gate": st.gate,
        "stale_sections": [s.section for s in st.sections if not s.fresh],
        "stale_classes": st.stale_classes,
        "generated_at": st.generated_at,
        "overall_residual": residual.level,
        "residual_evaluation": residual.evaluation,
        "review_interval": interval,
        "review_due": review_due(st.generated_at, interval, now),
    }


def verified(repo: Path) -> bool:
    """Whether the repository's evidence verifies offline against its own public key (each
    signature, and the set against its signed index)."""
    from sei_assets.core import signing

    try:
        return signing.verify_evidence(repo).ok
    except SeiError:
        return False


def needs_run(row: dict[str, Any]) -> bool:
    """Whether a sweep must re-evaluate the system: no evidence (or unreadable), a stale
    section, evidence that does not verify, or a review that is due. Fresh, verified, current
    evidence is only reported."""
    return bool(
        row.get("error")
        or not row.get("generated_at")
        or row.get("stale_sections")
        or row.get("verified") is False
        or row.get("review_due")
    )


def sweep_report(entries: list[SystemEntry], now: dt.datetime | None = None) -> dict[str, Any]:
    """Every system's row, with totals."""
    now = now or dt.datetime.now(dt.UTC)
    rows = [system_row(e, now) for e in entries]
    return {
        "kind": "sei-assets/sweep",
        "generated_at": now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "totals": {
            "systems": len(rows),
            "green": sum(r.get("gate") == "green" for r in rows),
            "red": sum(r.get("gate") == "red" for r in rows),
            "no_evidence": sum(r.get("gate") is None for r in rows),
            "stale": sum(bool(r.get("stale_sections")) for r in rows),
            "review_due": sum(bool(r.get("review_due")) for r in rows),
            "unverified": sum(r.get("verified") is False for r in rows),
        },
        "systems": rows,
    }


def write_report(report: dict[str, Any], out_dir: Path, key: Any = None) -> Path:
    """Write the sweep report and its detached signature atomically."""
    from sei_assets.core import signing
    from sei_assets.core.evidence import dump, write_signed

    key = key or signing.load_or_create_key()
    path = out_dir / REPORT
    write_signed(path, dump(SweepReport.model_validate(report)), key)
    signing.write_pubkey(out_dir, key)
    return path
