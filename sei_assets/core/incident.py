"""Serious incidents (EU AI Act Art. 73): signed records with their report deadline.

A record is ``.sei/incidents/<id>.json`` (signed, in the evidence set). Its class sets the
deadline from the moment the provider became aware (`knowledge/incidents.yaml`: 15 days; 10 for
a death; 2 for a widespread infringement or a critical-infrastructure disruption), with the
Article's basis quoted. Status: `open` -> `reported` (the report to the market surveillance
authority is filed) -> `closed`. Closing needs a root cause and the evidence set that treats the
incident: the digest of the signed evidence index in force, which must verify and must have been
made after the incident was opened. Every change is appended to the record's history.

The deadline state (the rule, once): `met` once reported (or closed), else `past` after the
deadline, `due` within the catalogue's `warn_before_hours` (48) of it, `pending` before.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.layout import EVIDENCE_DIR

FOLDER = "incidents"
SCHEMA = "sei-assets/incident/v1"
STATUSES = ("open", "reported", "closed")
_ID = re.compile(r"^INC-\d{8}-\d{3}$")
MAX_RECORD_BYTES = 1024 * 1024
MAX_TEXT = 2000


@dataclass(frozen=True)
class IncidentClass:
    """A class of serious incident and its report deadline."""

    id: str
    days: int
    title: str
    basis: str


def catalogue() -> tuple[dict[str, IncidentClass], int]:
    """The classes by id, and the hours before a deadline when it is flagged."""
    from sei_assets.core import safeload

    path = resources.files("sei_assets.knowledge").joinpath("incidents.yaml")
    doc = safeload.load_yaml(Path(str(path)), "incident catalogue")
    try:
        classes = {
            c["id"]: IncidentClass(str(c["id"]), int(c["days"]), str(c["title"]), str(c["basis"]))
            for c in doc["classes"]
        }
        return classes, int(doc["warn_before_hours"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SeiError(f"{path}: not an incident catalogue: {exc}") from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str, what: str) -> dt.datetime:
    """An ISO 8601 date or time (UTC when no zone is given); an error naming ``what``."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SeiError(f"{what}: expected an ISO 8601 date or time, got {text[:60]!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise SeiError(f"{what}: must not be empty")
    if len(value) > MAX_TEXT:
        raise SeiError(f"{what}: at most {MAX_TEXT} characters")
    return value


def folder(repo: Path) -> Path:
    return Path(repo) / EVIDENCE_DIR / FOLDER


def records(repo: Path) -> list[dict[str, Any]]:
    """Every incident record of ``repo``, oldest first (bounded reads)."""
    from sei_assets.core import jsonread

    base = folder(repo)
    out = []
    for path in sorted(base.glob("INC-*.json")) if base.is_dir() else []:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise SeiError(f"{path}: more than the {MAX_RECORD_BYTES} bytes allowed")
        doc = jsonread.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA:
            raise SeiError(f"{path}: not an incident record ({SCHEMA})")
        out.append(doc)
    return out


def get(repo: Path, incident_id: str) -> dict[str, Any]:
    if not _ID.match(incident_id):
        raise SeiError(f"incident id: expected INC-YYYYMMDD-NNN, got {incident_id[:40]!r}")
    for doc in records(repo):
        if doc.get("id") == incident_id:
            return doc
    raise SeiError(f"{folder(repo)}: no incident {incident_id}")


def deadline_state(doc: dict[str, Any], now: dt.datetime | None = None) -> str:
    """`met`, `past`, `due` (within the warning window) or `pending` (the rule: module doc)."""
    if doc.get("status") in ("reported", "closed") or doc.get("reported_at"):
        return "met"
    now = now or _now()
    deadline = parse_time(str(doc["deadline"]), "deadline")
    _classes, hours = catalogue()
    if now > deadline:
        return "past"
    if deadline - now <= dt.timedelta(hours=hours):
        return "due"
    return "pending"


def _write(repo: Path, doc: dict[str, Any], key: Any) -> Path:
    """Sign the record into the evidence set, with the monthly post-market summaries of the
    months it touches, in one transaction."""
    from sei_assets.core import evidence_set, postmarket_summary, signing
    from sei_assets.core.evidence import dump

    key = key or signing.load_or_create_key()
    rel = f"{EVIDENCE_DIR}/{FOLDER}/{doc['id']}.json"
    data = dump(doc)
    files = {
        rel: data,
        rel + signing.SIG_SUFFIX: signing.sign_bytes(data, f"{FOLDER}/{doc['id']}.json", key),
        f"{EVIDENCE_DIR}/{signing.PUBKEY_FILE}": (signing.public_key_hex(key) + "\n").encode(),
    }
    months = postmarket_summary.months_of([], [doc])
    files.update(postmarket_summary.signed_files(repo, key, months, incidents={rel: data}))
    evidence_set.commit(repo, files, key)
    return folder(repo) / f"{doc['id']}.json"


def open_incident(
    repo: Path,
    title: str,
    klass: str,
    by: str,
    aware_at: str | None = None,
    breaches: list[str] | None = None,
    risks: list[str] | None = None,
    key: Any = None,
) -> dict[str, Any]:
    """Open an incident: its deadline from its class and the moment of awareness."""
    from sei_assets.core.governance import check_identity

    classes, _hours = catalogue()
    if klass not in classes:
        raise SeiError(f"class: expected one of {', '.join(classes)}, got {klass[:40]!r}")
    who = check_identity(by)
    c = classes[klass]
    aware = parse_time(aware_at, "aware-at") if aware_at else _now()
    stamp = f"INC-{aware:%Y%m%d}-"
    taken = [d["id"] for d in records(repo) if str(d.get("id", "")).startswith(stamp)]
    doc = {
        "schema_version": SCHEMA,
        "id": f"{stamp}{len(taken) + 1:03d}",
        "system": _system_name(repo),
        "title": _text(title, "title"),
        "class": c.id,
        "class_title": c.title,
        "basis": c.basis,
        "aware_at": _iso(aware),
        "deadline": _iso(aware + dt.timedelta(days=c.days)),
        "status": "open",
        "breaches": sorted(set(breaches or [])),
        "risks": sorted(set(risks or [])),
        "history": [{"at": _iso(_now()), "by": who, "event": "opened"}],
    }
    _write(repo, doc, key)
    return doc


def update_incident(
    repo: Path,
    incident_id: str,
    by: str,
    note: str | None = None,
    reported_at: str | None = None,
    key: Any = None,
) -> dict[str, Any]:
    """Add a note, or record the report to the authority (status `reported`)."""
    from sei_assets.core.governance import check_identity

    doc = get(repo, incident_id)
    if doc["status"] == "closed":
        raise SeiError(f"{incident_id} is closed: open a new incident instead")
    who = check_identity(by)
    if note is None and reported_at is None:
        raise SeiError("nothing to update: give a note or the time the report was filed")
    event: dict[str, Any] = {"at": _iso(_now()), "by": who}
    if reported_at is not None:
        when = _now() if reported_at == "now" else parse_time(reported_at, "reported-at")
        doc["reported_at"] = _iso(when)
        doc["status"] = "reported"
        event["event"] = "reported to the market surveillance authority"
        event["on_time"] = when <= parse_time(doc["deadline"], "deadline")
    else:
        event["event"] = "note"
    if note is not None:
        event["note"] = _text(note, "note")
    doc["history"].append(event)
    _write(repo, doc, key)
    return doc


def close_incident(
    repo: Path, incident_id: str, by: str, root_cause: str, evidence: str, key: Any = None
) -> dict[str, Any]:
    """Close with the root cause and the treating evidence set (the digest of the signed
    evidence index in force, which must verify and postdate the incident's opening)."""
    from sei_assets.core import evidence_set, signing
    from sei_assets.core.fsutil import sha256_bytes
    from sei_assets.core.governance import check_identity

    doc = get(repo, incident_id)
    if doc["status"] == "closed":
        raise SeiError(f"{incident_id} is already closed")
    who = check_identity(by)
    cause = _text(root_cause, "root cause")
    raw = evidence_set.read_bytes(Path(repo), evidence_set.INDEX_PATH)
    if raw is None:
        raise SeiError(f"{repo}: no signed evidence set to close {incident_id} with")
    current = "sha256:" + sha256_bytes(raw)
    if evidence.strip() != current:
        raise SeiError(
            f"evidence: {evidence[:80]!r} is not the evidence set in force ({current}); close "
            "with the digest of the set that treats the incident"
        )
    verdict = signing.verify_evidence(Path(repo))
    if not verdict.ok:
        raise SeiError(f"{repo}: the evidence set does not verify; it cannot close an incident")
    bundle = _bundle_time(repo)
    opened = parse_time(doc["history"][0]["at"], "opened")
    if bundle is None or bundle <= opened:
        raise SeiError(
            f"the evidence in force was made before {incident_id} was opened: it cannot be the "
            "treatment (run `sei run` after the fix)"
        )
    doc["status"] = "closed"
    doc["root_cause"] = cause
    doc["treating_evidence"] = current
    doc["closed_at"] = _iso(_now())
    doc["history"].append({"at": doc["closed_at"], "by": who, "event": "closed"})
    _write(repo, doc, key)
    return doc


def _bundle_time(repo: Path) -> dt.datetime | None:
    import json

    path = Path(repo) / EVIDENCE_DIR / "bundle.json"
    try:
        when = json.loads(path.read_text(encoding="utf-8")).get("generated_at")
        return parse_time(when, "generated_at")
    except (OSError, ValueError, AttributeError, TypeError, RecursionError, SeiError):
        return None


def _system_name(repo: Path) -> str:
    from sei_assets.core.layout import MANIFEST_NAMES
    from sei_assets.core.lock import read_raw_manifest

    for name in MANIFEST_NAMES:
        path = Path(repo) / name
        if path.is_file():
            system = read_raw_manifest(path).get("system")
            if isinstance(system, dict) and isinstance(named := system.get("name"), str):
                return named[:200]
    return "?"


def describe(doc: dict[str, Any], now: dt.datetime | None = None) -> str:
    """One line: id, class, status, deadline and its state."""
    return (
        f"{doc['id']} [{doc['class']}] {doc['status']}: {doc['title']} — report due "
        f"{doc['deadline']} ({deadline_state(doc, now)})"
    )
