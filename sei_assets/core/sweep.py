"""Compliance sweep: one row per registered system (gate, stale sections, last evidence,
overall residual, review due, whether the set verifies), what the sweep decides for it
(:func:`decision`), and the signed sweep report. No Dagster here.

A sweep costs what changed: a row is remembered with the identity of every file it was read
from (:func:`sweep_rows`), so a sweep of unchanged systems reads file metadata only, and only
systems whose decision needs it are re-evaluated (:func:`needs_run`)."""

from __future__ import annotations

import datetime as dt
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.model import SweepReport
from sei_assets.core.model.bundle import OverallResidual
from sei_assets.core.registry import SystemEntry

REPORT = "sweep.json"
MEMO = "rows.json"
MEMO_FORMAT = 2
#: Threads reading the systems not remembered (as `sei status --all`).
WORKERS = 8
#: Decisions that need no run: the evidence is current and verified (red or green).
QUIET = ("fresh", "red")


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
    return _with_review(_read_row(entry)[0], now or dt.datetime.now(dt.UTC))


def _read_row(entry: SystemEntry) -> tuple[dict[str, Any], list[Path]]:
    """One system's row without its review state (which depends on the time), read afresh,
    and the files it was read from (none when it could not be read)."""
    from sei_assets.core.status import system_status

    row: dict[str, Any] = {"system": entry.name, "repo": str(entry.repo)}
    try:
        st = system_status(entry.repo)
        from sei_assets.core.evidence import read_bundle

        bundle = read_bundle(entry.repo)
    except SeiError as exc:
        return row | {"gate": None, "error": str(exc)}, []
    residual = (bundle.overall_residual if bundle else None) or OverallResidual()
    row |= {
        "verified": verified(entry.repo) if bundle else None,
        "name": st.system,
        "gate": st.gate,
        "stale_sections": [s.section for s in st.sections if not s.fresh],
        "stale_classes": st.stale_classes,
        "generated_at": st.generated_at,
        "overall_residual": residual.level,
        "residual_evaluation": residual.evaluation,
        "review_interval": bundle.review_interval if bundle else None,
    }
    return row, _read_from(entry.repo)


def _with_review(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The row with its review state at ``now`` (a malformed interval is the row's error)."""
    if row.get("error"):
        return row
    try:
        return row | {
            "review_due": review_due(row.get("generated_at"), row.get("review_interval"), now)
        }
    except SeiError as exc:
        return row | {"review_due": None, "error": str(exc)}


def _read_from(repo: Path) -> list[Path]:
    """What a row is read from: what `sei status` reads (:func:`fleet.dependencies`), every
    file and folder of the evidence directory (the set is verified), and the organisation's
    trusted keys."""
    from sei_assets.core import fleet, trust
    from sei_assets.core.layout import EVIDENCE_DIRS

    files = fleet.dependencies(repo)
    for name in EVIDENCE_DIRS:
        for folder, _dirs, names in os.walk(repo / name):  # links are not followed
            files.append(Path(folder))
            files += [Path(folder) / n for n in names]
    return [*files, trust.trusted_keys_path()]


def memo_path() -> Path:
    """Where sweep rows are remembered (the state folder, never evidence)."""
    from sei_assets.core.paths import state_dir

    return state_dir() / "sweep" / MEMO


def sweep_rows(
    entries: list[SystemEntry], now: dt.datetime | None = None, workers: int = WORKERS
) -> list[dict[str, Any]]:
    """Every system's row, in the registry's order. A row is remembered with what it was read
    from (the rule of `sei status --all`, :mod:`sei_assets.core.fleet`, plus the evidence
    files, since a row says whether the set verifies): an unchanged system is not read, hashed
    or verified again, so a sweep of unchanged systems costs file metadata, not cryptography."""
    from sei_assets.core import fleet
    from sei_assets.core.fsutil import atomic_write

    now = now or dt.datetime.now(dt.UTC)
    code = fleet.engine_code()
    try:
        doc = json.loads(memo_path().read_text(encoding="utf-8"))
        same_code = isinstance(doc, dict) and doc.get("format") == MEMO_FORMAT
        memo = doc["rows"] if same_code and doc.get("code") == code else {}
    except (OSError, ValueError, KeyError):
        memo = {}
    rows: list[dict[str, Any] | None] = []
    for entry in entries:
        item = memo.get(f"{entry.name}\0{entry.repo}")
        try:
            same = isinstance(item, dict) and _mark(entry.repo, item["deps"], code) == item["mark"]
            rows.append(dict(item["row"]) if same and isinstance(item, dict) else None)
        except (KeyError, TypeError, IndexError, ValueError, OSError):
            rows.append(None)
    todo = [e for e, r in zip(entries, rows, strict=True) if r is None]
    if len(todo) > 1 and workers > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            fresh = iter(list(pool.map(_read_row, todo)))
    else:
        fresh = iter([_read_row(e) for e in todo])
    changed = False
    for i, entry in enumerate(entries):
        if rows[i] is not None:
            continue
        row, read_from = next(fresh)
        rows[i] = row
        key = f"{entry.name}\0{entry.repo}"
        deps = [_relative(entry.repo, d) for d in read_from]
        mark = _mark(entry.repo, deps, code) if deps else None
        if mark is not None:
            memo[key] = {"deps": deps, "mark": mark, "row": row}
            changed = True
        elif memo.pop(key, None) is not None:
            changed = True
    if changed:
        try:
            doc = {"format": MEMO_FORMAT, "code": code, "rows": memo}
            atomic_write(memo_path(), json.dumps(doc, separators=(",", ":")))
        except OSError:
            pass  # a state folder we cannot write: the next sweep reads every system again
    return [_with_review(r, now) for r in rows if r is not None]


def _relative(repo: Path, path: Path) -> str:
    """``path`` as remembered: relative to the repository when inside it."""
    try:
        return str(path.relative_to(repo))
    except ValueError:
        return str(path)


def _mark(repo: Path, deps: list[str], code: str) -> str | None:
    """A digest of what a row was read from, as it is now (:func:`fleet.fingerprint`: the
    commit HEAD names and each file's identity on disk); None when not to be trusted."""
    from sei_assets.core import fleet
    from sei_assets.core.fsutil import sha256_bytes

    now = fleet.fingerprint(repo, [os.path.join(repo, d) for d in deps], code)
    return None if now is None else sha256_bytes(json.dumps([now[1], now[3]]).encode())


def verified(repo: Path) -> bool:
    """Whether the repository's evidence verifies offline against its own public key (each
    signature, and the set against its signed index)."""
    from sei_assets.core import signing

    try:
        return signing.verify_evidence(repo, workers=1).ok  # rows are read in threads
    except SeiError:
        return False


def decision(row: dict[str, Any]) -> str:
    """What a sweep makes of a system's row: `error` (it cannot be read), `not evaluated` (no
    evidence), `stale (<classes>)`, `unverified` (the set does not verify) or `review due`, each
    re-evaluated; `red` or `fresh` (verified, current evidence), only reported."""
    if row.get("error"):
        return "error"
    if not row.get("generated_at"):
        return "not evaluated"
    if row.get("stale_sections"):
        return f"stale ({', '.join(row.get('stale_classes') or row['stale_sections'])})"
    if row.get("verified") is False:
        return "unverified"
    if row.get("review_due"):
        return "review due"
    return "red" if row.get("gate") == "red" else "fresh"


def needs_run(row: dict[str, Any]) -> bool:
    """Whether a sweep must re-evaluate the system (see :func:`decision`)."""
    return decision(row) not in QUIET


def sweep_report(
    entries: list[SystemEntry],
    now: dt.datetime | None = None,
    decided: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Every system's row, with totals. ``decided``: the systems this sweep re-evaluated, with
    what it decided before (their rows say `swept`); the others' decision is their row's."""
    now = now or dt.datetime.now(dt.UTC)
    decided = decided or {}
    rows = [
        r | {"decision": decided.get(r["system"]) or decision(r), "swept": r["system"] in decided}
        for r in sweep_rows(entries, now)
    ]
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
            "swept": sum(r["swept"] for r in rows),
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


#: An operator's request for a sweep now, in the sweep's state folder (:func:`request_sweep`).
REQUEST = "request.json"
REQUEST_KEYS = frozenset({"force", "batch"})


def request_sweep(out_dir: Path, force: bool = False, batch: int | None = None) -> Path:
    """Ask the `sei_sweep` sensor for a sweep at its next tick (``force``: every system is
    re-evaluated; ``batch``: systems per run, this sweep only). A file written whole: a tick
    in flight never writes over it, as it does over a cursor set by hand (the daemon stores
    back the cursor a tick began with)."""
    from sei_assets.core.fsutil import atomic_write

    doc: dict[str, Any] = {"force": bool(force)}
    if batch is not None:
        doc["batch"] = batch
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / REQUEST, json.dumps(doc) + "\n")
    return out_dir / REQUEST


def take_request(out_dir: Path) -> dict[str, Any] | None:
    """The pending request, taken from the folder (None when there is none): a request written
    after this is left for the next tick. A request that is not `{"force": bool, "batch":
    int}` (either key optional) is taken all the same and refused, naming the file and field."""
    from sei_assets.core import safeload

    pending = out_dir / REQUEST
    taken = out_dir / f".{REQUEST}.{os.getpid()}.taken"
    try:
        os.replace(pending, taken)
    except FileNotFoundError:
        return None
    try:
        doc = safeload.load_json(taken, "sweep request")
    finally:
        taken.unlink(missing_ok=True)
    if not isinstance(doc, dict):
        raise SeiError(f"{pending}: a sweep request is a JSON object (force, batch)")
    unknown = sorted(set(doc) - REQUEST_KEYS)
    if unknown:
        raise SeiError(f"{pending}: unknown field {unknown[0]!r} (expected force, batch)")
    if not isinstance(doc.get("force", False), bool):
        raise SeiError(f"{pending}: force: expected true or false")
    batch = doc.get("batch")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int)):
        raise SeiError(f"{pending}: batch: expected a whole number of systems per run")
    return doc
