"""Breaches of the post-market plan, read from the signed period documents: what is open, which
risk it reopens, what closes it. Light on purpose (standard library only): `sei status` reads it.

The rule, stated once:

- a **breach** is a period result whose measure fires its trigger (`severity: error`, the plan
  declares a `trigger`) and whose value is past the threshold (`breach: true`); a `warn`
  breach is reported in its period and its check, and acts no further; `monitor` never does;
- it stays **open** until it is treated or accepted: **treated** when the evidence bundle in
  force has a green gate, was generated after the breach was evaluated, and **re-measures the
  breached measure** (the rule below); **accepted** when a release recorded after the breach was
  evaluated (or in the same second) names the measure in `breaches_accepted` (management's
  acceptance of the residual risk, with its reason: the `release` asset's `accept_residual`);
- an open breach **reopens the risk** its measure treats: the risk's cycle status is `open` in
  the risk cycle (reconstruct) whatever its controls say, and the system's next release is
  refused until the breach is treated or accepted.

What **re-measures** a breached measure, in the evidence's `control_results`:

1. the controls of the breach's risk whose metric is the measure's metric (the loan system's
   `fairness-drift`, demographic parity on live decisions, is re-measured by the blocking
   control `unfair-credit-exclusion`, demographic parity on the held-out set): the breach is
   treated when there is at least one and every one of them passes, audit ones included (a
   re-measurement that is still past its bound treats nothing, even under a green gate);
2. only when the risk has no control of that metric (input drift: the training data is its own
   reference, so no pre-release control measures it), the risk's blocking controls: treated
   when there is at least one and every one passes;
3. a risk with neither cannot be treated by evidence: only management's acceptance closes the
   breach.

The basis: a treatment counts once its effect is verified, not once time has passed (ISO/IEC
23894:2023 6.5 and 6.6 after ISO 31000:2018 6.5 and 6.6: treatment, then the review of its
effectiveness; EU AI Act Art. 9(2)(c)-(d): the risks that post-market data reveal are evaluated
and met by targeted measures). The most direct verification measures the breached quantity
again; where the risk program has no measurement of it before release, what closes a risk in
the risk cycle is its blocking controls passing (cycle status `closed`), so they are its
re-measurement. Any newer green evidence, whatever it measured, is not enough.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core.constraint import SYMBOLS, holds
from sei_assets.core.errors import SeiError
from sei_assets.core.layout import BUNDLE, EVIDENCE_DIR, RELEASE

FOLDER = "monitoring"
REFERENCE_DOC = "reference.json"
MAX_DOC_BYTES = 1024 * 1024
DAILY = "P1D"
#: The monitoring frequencies a measure may declare (`frequency`), with the other spellings of
#: the same length: a day, a week, a calendar month.
FREQUENCIES = ("P1D", "P1W", "P1M")
SPELLINGS = {"P1D": "P1D", "P1W": "P1W", "P7D": "P1W", "P1M": "P1M"}


@dataclass
class Breach:
    """One measure's open breach: the periods past its threshold since it was last treated."""

    measure: str
    risk: str
    threshold: str
    trigger: str | None
    metric: str = ""
    periods: list[str] = field(default_factory=list)
    last_value: float | None = None
    evaluated_at: str = ""  # when its latest breaching period was evaluated
    open_because: str = ""  # why the evidence in force does not treat it

    @property
    def since(self) -> str:
        return self.periods[0]

    def describe(self) -> str:
        """One line: `fairness-drift (risk.x): past < 0.03 since 2026-04-06 (25 periods, last
        0.257)`."""
        value = "—" if self.last_value is None else f"{self.last_value:.3g}"
        return (
            f"{self.measure} ({self.risk}): past {self.threshold} since {self.since} "
            f"({len(self.periods)} period{'s' if len(self.periods) != 1 else ''}, last {value})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "risk": self.risk,
            "threshold": self.threshold,
            "trigger": self.trigger,
            "since": self.since,
            "last_period": self.periods[-1],
            "periods": len(self.periods),
            "last_value": self.last_value,
            "open_because": self.open_because,
        }


def _when(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def read_bounded(path: Path) -> bytes:
    """The bytes of an evidence document, bounded in size."""
    try:
        size = path.stat().st_size
        if size > MAX_DOC_BYTES:
            raise SeiError(f"{path}: {size} bytes, more than the {MAX_DOC_BYTES} allowed")
        return path.read_bytes()
    except OSError as exc:
        raise SeiError(f"{path}: unreadable: {exc.strerror or exc}") from None


def parse_json(path: Any, data: bytes) -> dict[str, Any]:
    """A JSON object with the standard library's parser (the lean `sei status` imports
    nothing more); an error naming ``path`` otherwise."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise SeiError(f"{path}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise SeiError(f"{path}: not a JSON object")
    return doc


def parse_period(path: Any, data: bytes) -> dict[str, Any]:
    """A period document; an error naming ``path`` when it is not one."""
    doc = parse_json(path, data)
    if not isinstance(doc.get("results"), list) or not isinstance(doc.get("period"), str):
        raise SeiError(f"{path}: not a monitoring period document (results, period)")
    return doc


def period_folder(frequency: str) -> str:
    """Where the periods of ``frequency`` are kept, under the evidence directory: daily ones in
    ``monitoring/`` itself, the others in ``monitoring/<frequency>/`` (P1W, P1M)."""
    return FOLDER if frequency == DAILY else f"{FOLDER}/{frequency}"


def period_files(repo: Path) -> list[Path]:
    """The period documents of ``repo``, daily first, each frequency oldest first."""
    base = Path(repo) / EVIDENCE_DIR
    out: list[Path] = []
    for frequency in FREQUENCIES:
        folder = base / period_folder(frequency)
        if folder.is_dir():
            out += sorted(p for p in folder.glob("????-??-??.json") if p.is_file())
    return out


def period_documents(repo: Path) -> list[dict[str, Any]]:
    """The period documents of ``repo`` (``.sei/monitoring/[<frequency>/]<day>.json``), daily
    first, each frequency oldest first."""
    return [parse_period(path, read_bounded(path)) for path in period_files(repo)]


@dataclass(frozen=True)
class Treating:
    """The evidence in force, as the breach rule reads it: when it was generated (None when
    there is none or its gate is not green) and its control results."""

    generated_at: dt.datetime | None
    controls: list[dict[str, Any]]

    def remeasures(self, risk: str, metric: str) -> tuple[bool, str]:
        """Whether this evidence re-measures a breached measure of ``risk`` with ``metric``
        (the rule: this module's docstring), and why not when it does not."""
        mine = [c for c in self.controls if c.get("risk_id") == risk]
        same = [c for c in mine if c.get("metric_key") == metric]
        if same:
            failing = [str(c.get("control_id")) for c in same if c.get("passed") is not True]
            if failing:
                return False, f"its re-measurement fails ({', '.join(failing)})"
            return True, ""
        blocking = [c for c in mine if c.get("enforcement_mode") == "block"]
        if not blocking:
            return False, (
                f"no control of {risk} measures {metric} and the risk has no blocking control: "
                "only management's acceptance closes it"
            )
        failing = [str(c.get("control_id")) for c in blocking if c.get("passed") is not True]
        if failing:
            return False, f"the risk's blocking controls fail ({', '.join(failing)})"
        return True, ""


def treating_evidence(repo: Path) -> Treating:
    """The evidence in force: when it was generated if its gate is green, and its controls."""
    from sei_assets.core import safeload

    path = Path(repo) / EVIDENCE_DIR / BUNDLE
    if not path.is_file():
        return Treating(None, [])
    try:
        doc = safeload.load_json(path, "evidence bundle")
    except SeiError:
        return Treating(None, [])
    if not isinstance(doc, dict):
        return Treating(None, [])
    found = doc.get("control_results")
    controls = [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
    green = doc.get("gate") == "green"
    return Treating(_when(doc.get("generated_at")) if green else None, controls)


def _accepted(repo: Path) -> tuple[dt.datetime | None, set[str]]:
    """(when, measures) of the last release that accepted breaches."""
    path = Path(repo) / EVIDENCE_DIR / RELEASE
    if not path.is_file():
        return None, set()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None, set()
    names = doc.get("breaches_accepted") if isinstance(doc, dict) else None
    if not isinstance(names, list):
        return None, set()
    return _when(doc.get("released_at")), {n for n in names if isinstance(n, str)}


def open_breaches(repo: Path, docs: list[dict[str, Any]] | None = None) -> list[Breach]:
    """Every measure's open breach, in measure order (the rule: this module's docstring)."""
    docs = period_documents(repo) if docs is None else docs
    evidence = treating_evidence(repo)
    treated = evidence.generated_at
    accepted_at, accepted = _accepted(repo)
    found: dict[str, Breach] = {}
    for doc in docs:
        evaluated = _when(doc.get("evaluated_at"))
        for r in doc["results"]:
            if not isinstance(r, dict) or r.get("breach") is not True:
                continue
            if r.get("severity") != "error":
                continue
            name = str(r.get("measure"))
            risk, metric = str(r.get("risk")), str(r.get("metric"))
            newer = bool(treated and evaluated and treated > evaluated)
            if newer and evidence.remeasures(risk, metric)[0]:
                continue
            # the release named the measure because this breach was open then: at or after
            if name in accepted and accepted_at and evaluated and accepted_at >= evaluated:
                continue
            b = found.setdefault(
                name, Breach(name, risk, str(r.get("threshold")), r.get("trigger"), metric)
            )
            b.periods.append(doc["period"])
            value = r.get("value")
            b.last_value = value if isinstance(value, int | float) else None
            b.evaluated_at = str(doc.get("evaluated_at") or "")
            b.open_because = (
                "the green evidence after it does not re-measure it: "
                + evidence.remeasures(risk, metric)[1]
                if newer
                else "no green evidence generated after it"
            )
    for b in found.values():
        b.periods.sort()
    return [found[k] for k in sorted(found)]


def describe_open(breaches: list[Breach]) -> str:
    """The open breaches in one text, each with why the evidence does not treat it: what a
    refused release says (`core.release.promote`, the control plane's gate)."""
    return "; ".join(f"{b.describe()}: {b.open_because}" for b in breaches)


def reopened(repo: Path) -> dict[str, list[Breach]]:
    """Risk id -> its open breaches: the risks the post-market monitoring reopens."""
    out: dict[str, list[Breach]] = {}
    for b in open_breaches(repo):
        out.setdefault(b.risk, []).append(b)
    return out


def frequency_of(measure: Any) -> str:
    """How often a monitoring measure is evaluated: its plan's `frequency` (P1D, P1W or P7D,
    P1M), daily when it declares none; an error naming the measure for any other."""
    plan = measure.plan
    text = plan.frequency if plan is not None and plan.frequency else DAILY
    found = SPELLINGS.get(text)
    if found is None:
        raise SeiError(
            f"measure {measure.id}: frequency {text}: post-market monitoring runs daily (P1D), "
            "weekly (P1W or P7D) or monthly (P1M)"
        )
    return found


def period_start(day: dt.date, frequency: str, origin: dt.date) -> dt.date:
    """The first day of the period of ``frequency`` that holds ``day``: the day itself; the
    week counted in whole weeks from ``origin`` (the monitoring's first day); the calendar
    month."""
    if frequency == "P1W":
        return origin + dt.timedelta(days=7 * ((day - origin).days // 7))
    if frequency == "P1M":
        return day.replace(day=1)
    return day


def period_end(start: dt.date, frequency: str) -> dt.date:
    """The day after the period that starts on ``start`` (its end, exclusive)."""
    if frequency == "P1W":
        return start + dt.timedelta(days=7)
    if frequency == "P1M":
        return (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return start + dt.timedelta(days=1)


def _frequency_of_file(path: Path) -> str:
    return path.parent.name if path.parent.name in FREQUENCIES else DAILY


def currencies(
    repo: Path, today: dt.date | None = None, paths: list[Path] | None = None
) -> list[dict[str, Any]]:
    """Per frequency monitored, whether it is current: the newest period evaluated ends no
    earlier than the period today is in begins (daily: yesterday's batch, the newest complete
    day, is evaluated; weekly: last week's; monthly: last month's). ``paths``: the period
    documents to judge (default: every one on disk)."""
    today = today or dt.datetime.now(dt.UTC).date()
    newest: dict[str, str] = {}
    for path in period_files(repo) if paths is None else paths:
        frequency = _frequency_of_file(path)
        newest[frequency] = max(newest.get(frequency, ""), path.stem)
    out = []
    for frequency in FREQUENCIES:
        if frequency not in newest:
            continue
        try:
            last = dt.date.fromisoformat(newest[frequency])
        except ValueError:
            continue
        now = period_start(today, frequency, last)
        out.append(
            {
                "last_period": newest[frequency],
                "frequency": frequency,
                "post_market_current": period_end(last, frequency) >= now,
            }
        )
    return out


def currency(repo: Path, today: dt.date | None = None) -> dict[str, Any] | None:
    """Whether the monitoring is current (the rule: :func:`currencies`): the first frequency
    that is not, else the most frequent one; None when the system has no period yet."""
    found = currencies(repo, today)
    if not found:
        return None
    return next((c for c in found if not c["post_market_current"]), found[0])


def last_period(repo: Path) -> str | None:
    """The newest period evaluated, of any frequency (None when none is)."""
    days = sorted(p.stem for p in period_files(repo))
    return days[-1] if days else None


def results(repo: Path, today: dt.date | None = None) -> dict[str, Any]:
    """What the conformance projection needs of the monitoring's results: the period
    documents signed in the evidence set, their currency per frequency, the serious incidents
    and those whose report deadline was missed (reported late, or not reported and past)."""
    from sei_assets.core import evidence_set, incident
    from sei_assets.core.postmarket_summary import deadline_outcome

    index = evidence_set.read_index(Path(repo)) or {}
    files = index.get("files")
    listed: dict[str, Any] = files if isinstance(files, dict) else {}
    signed = [
        p
        for p in period_files(repo)
        if p.relative_to(Path(repo)).as_posix() in listed
        and p.relative_to(Path(repo)).as_posix() + ".sig" in listed
    ]
    records = incident.records(Path(repo))
    now = dt.datetime.now(dt.UTC)
    if today is not None:
        now = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    return {
        "periods": len(signed),
        "currency": currencies(repo, today, signed),
        "incidents": len(records),
        "deadlines_missed": [
            str(r.get("id")) for r in records if deadline_outcome(r, now) == "missed"
        ],
    }


# ── the rule of a breach ───────────────────────────────────────────────────────────────────


def threshold_text(measure: Any) -> str:
    """What the value is compared with: the plan's `metric_threshold` (a constraint, or a
    number replacing the constraint's bound), else the measure's constraint."""
    plan = measure.plan
    limit = plan.metric_threshold if plan is not None else None
    c = measure.parsed
    if limit is None:
        return f"{SYMBOLS[c.operator]} {c.threshold:g}"
    if isinstance(limit, str):
        try:
            return f"{SYMBOLS[c.operator]} {float(limit):g}"
        except ValueError:
            return f"breach when {limit.strip()}"
    return f"{SYMBOLS[c.operator]} {float(limit):g}"


def breach(measure: Any, value: float | None) -> bool:
    """A value calls for action when it is past the plan's `metric_threshold` (a constraint
    such as ``"> 0.08"`` that the value satisfies, or a number that takes the place of the
    constraint's bound and the value fails), else when it fails the measure's constraint. No
    value is no breach (it is reported as not measured)."""
    from sei_assets.core.manifest import parse_constraint

    if value is None or not math.isfinite(value):
        return False
    plan = measure.plan
    limit = plan.metric_threshold if plan is not None else None
    c = measure.parsed
    if limit is None:
        return not holds(c.operator, value, c.threshold)
    if isinstance(limit, str):
        try:
            number = float(limit)
        except ValueError:
            alarm = parse_constraint(limit)
            return holds(alarm.operator, value, alarm.threshold)
    else:
        number = float(limit)
    return not holds(c.operator, value, number)


def severity(measure: Any) -> str:
    """How a breach is raised: `monitor` enforcement never fails (`info`); a measure whose plan
    declares a `trigger` fires it (`error`); any other breach warns (`warn`)."""
    if measure.enforcement == "monitor":
        return "info"
    plan = measure.plan
    return "error" if plan is not None and plan.trigger else "warn"


def monitoring_measures(manifest: Any) -> list[tuple[Any, Any]]:
    """(risk, measure) of every measure declared for post-market monitoring only."""
    return [(r, m) for r, m in manifest.measures if m.is_monitoring]
