"""The monthly post-market summary (EU AI Act Art. 72, Annex IV point 9): per month, per measure,
the periods monitored and the breaches found; the serious incidents of the month (Art. 73) with
their report deadline met or missed.

A summary is made from the signed period documents (``.sei/monitoring/...``) and the incident
records (``.sei/incidents/``), and is itself a signed document of the evidence set,
``.sei/monitoring/summaries/<YYYY-MM>.json``. It is rewritten in the same transaction as the
periods or the incident record that change it, so the set never holds a stale one.

Same evidence, same bytes: nothing here reads the clock. A deadline is judged **as of** the
newest moment the month's evidence knows (the last evaluation of a period or the last event of
an incident, never later than the month's end):

- ``met``: reported to the authority no later than the deadline;
- ``missed``: reported after the deadline, or not reported and the deadline is before *as of*;
- ``pending``: not reported, and the deadline is still ahead *as of* then.

A month's incidents are those opened (the provider became aware: the deadline runs from
then), reported, closed or due in it. Standard library only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.layout import EVIDENCE_DIR

SCHEMA = "sei-assets/post-market-summary/v1"
FOLDER = "monitoring/summaries"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_month(text: str) -> str:
    """``text`` when it is a month such as 2026-04; an error naming what was expected."""
    if not isinstance(text, str) or not _MONTH.match(text):
        raise SeiError(f"month: expected YYYY-MM such as 2026-04, got {str(text)[:20]!r}")
    return text


def path_for(month: str) -> str:
    """The repository-relative path of a month's summary."""
    return f"{EVIDENCE_DIR}/{FOLDER}/{check_month(month)}.json"


def _when(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    year, mon = (int(x) for x in month.split("-"))
    start = dt.datetime(year, mon, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end


def _in(text: Any, month: str) -> bool:
    when = _when(text)
    return when is not None and when.strftime("%Y-%m") == month


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def deadline_outcome(record: dict[str, Any], as_of: dt.datetime) -> str:
    """`met`, `missed` or `pending` (the rule: module docstring)."""
    deadline = _when(record.get("deadline"))
    if deadline is None:
        return "pending"
    reported = _when(record.get("reported_at"))
    if reported is not None:
        return "met" if reported <= deadline else "missed"
    return "missed" if deadline < as_of else "pending"


def _incident_events(record: dict[str, Any]) -> dict[str, Any]:
    history = record.get("history") if isinstance(record.get("history"), list) else []
    recorded = history[0].get("at") if history and isinstance(history[0], dict) else None
    return {
        "opened": record.get("aware_at") or recorded,
        "reported": record.get("reported_at"),
        "closed": record.get("closed_at"),
        "due": record.get("deadline"),
    }


def summarize(
    system: str,
    month: str,
    periods: list[tuple[dict[str, Any], str]],
    incidents: list[dict[str, Any]],
) -> dict[str, Any]:
    """The summary of ``month`` from its period documents (each with the sha256 of its bytes)
    and the system's incident records. Deterministic: same inputs, same document."""
    check_month(month)
    start, end = _month_bounds(month)
    docs = sorted(
        ((d, h) for d, h in periods if str(d.get("period", ""))[:7] == month),
        key=lambda x: (str(x[0].get("frequency", "")), str(x[0]["period"])),
    )
    moments = [_when(d.get("evaluated_at")) for d, _h in docs]
    measures: dict[str, dict[str, Any]] = {}
    breaching: dict[str, list[str]] = {}
    for doc, _h in docs:
        for r in doc.get("results") or []:
            if not isinstance(r, dict) or not isinstance(r.get("measure"), str):
                continue
            m = measures.setdefault(
                r["measure"],
                {
                    "measure": r["measure"],
                    "risk": r.get("risk"),
                    "metric": r.get("metric"),
                    "frequency": doc.get("frequency", "P1D"),
                    "threshold": r.get("threshold"),
                    "severity": r.get("severity"),
                    "periods_monitored": 0,
                    "periods_not_measured": 0,
                    "breaches": [],
                    "min": None,
                    "max": None,
                },
            )
            value = r.get("value")
            if not isinstance(value, int | float) or isinstance(value, bool):
                m["periods_not_measured"] += 1
                continue
            m["periods_monitored"] += 1
            m["min"] = value if m["min"] is None else min(m["min"], value)
            m["max"] = value if m["max"] is None else max(m["max"], value)
            if r.get("breach") is True:
                breaching.setdefault(r["measure"], []).append(str(doc["period"]))
    for name, days in breaching.items():
        measures[name]["breaches"] = _consecutive(days, docs)
    rows = []
    for record in incidents:
        events = _incident_events(record)
        if not any(_in(v, month) for v in events.values()):
            continue
        raw = record.get("history")
        history: list[Any] = raw if isinstance(raw, list) else []
        moments += [_when(h.get("at")) for h in history if isinstance(h, dict)]
        rows.append((record, events))
    known = [m for m in moments if m is not None]
    as_of = min(max(known), end) if known else end
    incident_rows = [
        {
            "id": record.get("id"),
            "class": record.get("class"),
            "title": record.get("title"),
            "status": record.get("status"),
            "aware_at": record.get("aware_at"),
            "deadline": record.get("deadline"),
            "reported_at": record.get("reported_at"),
            "opened_in_month": _in(events["opened"], month),
            "closed_in_month": _in(events["closed"], month),
            "deadline_outcome": deadline_outcome(record, as_of),
            "breaches": record.get("breaches") or [],
            "risks": record.get("risks") or [],
        }
        for record, events in sorted(rows, key=lambda x: str(x[0].get("id")))
    ]
    outcomes = [i["deadline_outcome"] for i in incident_rows]
    return {
        "schema_version": SCHEMA,
        "system": system,
        "month": month,
        "from": _iso(start),
        "to": _iso(end),
        "as_of": _iso(as_of),
        "periods": [
            {"period": d["period"], "frequency": d.get("frequency", "P1D"), "sha256": h}
            for d, h in docs
        ],
        "measures": [measures[k] for k in sorted(measures)],
        "incidents": incident_rows,
        "totals": {
            "periods": len(docs),
            "measures_breached": sorted(breaching),
            "triggered_breaches": sorted(
                k for k in breaching if measures[k].get("severity") == "error"
            ),
            "incidents_opened": sum(i["opened_in_month"] for i in incident_rows),
            "incidents_closed": sum(i["closed_in_month"] for i in incident_rows),
            "deadlines_met": outcomes.count("met"),
            "deadlines_missed": outcomes.count("missed"),
            "deadlines_pending": outcomes.count("pending"),
        },
    }


def _consecutive(days: list[str], docs: list[tuple[dict[str, Any], str]]) -> list[dict[str, Any]]:
    """Runs of breaching periods, consecutive in the order the month was monitored (a period
    without a breach between two breaching ones ends a run)."""
    order = [str(d["period"]) for d, _h in docs]
    position = {p: i for i, p in enumerate(order)}
    runs: list[dict[str, Any]] = []
    for day in sorted(set(days), key=lambda p: position.get(p, 0)):
        if runs and position.get(day) == position.get(runs[-1]["last"], -2) + 1:
            runs[-1]["last"] = day
            runs[-1]["periods"] += 1
        else:
            runs.append({"first": day, "last": day, "periods": 1})
    return runs


def months_of(periods: list[dict[str, Any]], incidents: list[dict[str, Any]]) -> list[str]:
    """Every month with a period or an incident event, oldest first."""
    found = {str(d.get("period", ""))[:7] for d in periods}
    for record in incidents:
        for value in _incident_events(record).values():
            when = _when(value)
            if when is not None:
                found.add(when.strftime("%Y-%m"))
    return sorted(m for m in found if _MONTH.match(m))


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def documents(
    repo: Path,
    months: list[str] | None = None,
    periods: dict[str, bytes] | None = None,
    incidents: dict[str, bytes] | None = None,
) -> dict[str, dict[str, Any]]:
    """The summaries of ``months`` (default: every month with evidence) of ``repo``, path ->
    document. ``periods`` and ``incidents`` (path -> bytes) stand for files about to be written
    in the same transaction, in place of what is on disk."""
    import json

    from sei_assets.core import incident, postmarket

    found: dict[str, bytes] = {}
    for path in postmarket.period_files(repo):
        if months is None or path.stem[:7] in months:  # read only the months summarized
            found[path.relative_to(repo).as_posix()] = postmarket.read_bounded(path)
    found.update(periods or {})
    period_docs = []
    for rel, data in sorted(found.items()):
        doc = postmarket.parse_period(rel, data)
        period_docs.append((doc, _digest(data)))
    records = {
        f"{EVIDENCE_DIR}/{incident.FOLDER}/{r['id']}.json": r for r in incident.records(repo)
    }
    for rel, data in (incidents or {}).items():
        records[rel] = json.loads(data)
    incident_docs = [records[k] for k in sorted(records)]
    system = _system(repo, [d for d, _h in period_docs], incident_docs)
    wanted = months if months is not None else months_of([d for d, _ in period_docs], incident_docs)
    return {
        path_for(m): summarize(system, m, period_docs, incident_docs) for m in sorted(set(wanted))
    }


def _system(repo: Path, docs: list[dict[str, Any]], records: list[dict[str, Any]]) -> str:
    for doc in [*docs, *records]:
        name = doc.get("system")
        if isinstance(name, str):
            return name
    from sei_assets.core.incident import _system_name

    return _system_name(repo)


def signed_files(
    repo: Path,
    key: Any,
    months: list[str] | None = None,
    periods: dict[str, bytes] | None = None,
    incidents: dict[str, bytes] | None = None,
) -> dict[str, bytes]:
    """The summaries of ``months`` and their signatures, ready for an evidence transaction."""
    from sei_assets.core import signing
    from sei_assets.core.evidence import dump

    files: dict[str, bytes] = {}
    for rel, doc in documents(repo, months, periods, incidents).items():
        data = dump(doc)
        files[rel] = data
        files[rel + signing.SIG_SUFFIX] = signing.sign_bytes(
            data, rel.removeprefix(EVIDENCE_DIR + "/"), key
        )
    return files


def write(repo: Path, months: list[str] | None = None, key: Any = None) -> list[dict[str, Any]]:
    """Sign the summaries of ``months`` (default: every month with evidence) into the evidence
    set; returns them, oldest first."""
    from sei_assets.core import evidence_set, signing

    key = key or signing.load_or_create_key()
    docs = documents(repo, months)
    if not docs:
        return []
    files = signed_files(repo, key, months)
    files[f"{EVIDENCE_DIR}/{signing.PUBKEY_FILE}"] = (signing.public_key_hex(key) + "\n").encode()
    evidence_set.commit(repo, files, key)
    return [docs[k] for k in sorted(docs)]


def read(repo: Path) -> list[dict[str, Any]]:
    """The summaries on disk, oldest first (bounded reads)."""
    from sei_assets.core import postmarket

    folder = Path(repo) / EVIDENCE_DIR / FOLDER
    out = []
    for path in sorted(folder.glob("????-??.json")) if folder.is_dir() else []:
        doc = postmarket.parse_json(path, postmarket.read_bounded(path))
        if doc.get("schema_version") != SCHEMA:
            raise SeiError(f"{path}: not a post-market summary ({SCHEMA})")
        out.append(doc)
    return out
