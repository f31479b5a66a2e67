"""The AI-system manifest (`sei.yaml`, or the older `venth.yaml` / `froga.yaml`).

Typed with pydantic; every error names the file, the key path, the line and what was expected.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sei_assets.core import safeload
from sei_assets.core.constraint import holds
from sei_assets.core.constraint import split as split_constraint
from sei_assets.core.errors import ManifestError
from sei_assets.core.layout import MANIFEST_NAMES
from sei_assets.core.safeload import key_path

Level = Literal["NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
Likelihood = Literal["RARE", "UNLIKELY", "POSSIBLE", "LIKELY", "ALMOST_CERTAIN"]
Dimension = Literal["individual", "society", "organization"]
Severity = Literal["low", "medium", "high", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Misuse(_Strict):
    id: str
    description: str = ""
    addressed_by: list[str] = Field(default_factory=list)


class NotifiedBody(_Strict):
    """The notified body of a conformity assessment (EU AI Act Art. 43, Annex V point 7)."""

    name: str = Field(min_length=1)
    number: str = ""
    procedure: str = ""
    certificate: str = ""

    @field_validator("number", mode="before")
    @classmethod
    def _number_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class System(_Strict):
    name: str
    intended_purpose: str = ""
    organization: str = ""
    version: str = ""
    decisions: list[str] = Field(default_factory=list)
    affected_persons: list[str] = Field(default_factory=list)
    component_type: str | None = None
    potential_misuses: list[Misuse] = Field(default_factory=list)
    # Annex IV and Annex V facts no evidence gives; the documents quote them (all optional)
    provider_address: str = ""
    instructions_for_use: str = ""
    hardware: str = ""
    notified_body: NotifiedBody | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v


class Task(_Strict):
    modality: str | None = None
    type: str | None = None


class Context(_Strict):
    applicable_standards: list[str] = Field(default_factory=list)
    dora: dict[str, Any] | None = None


class Dataset(_Strict):
    croissant: str | None = None


class Artifacts(_Strict):
    model: dict[str, Any] | None = None


class Eval(_Strict):
    script: str | None = None


class Pipeline(_Strict):
    tool: str = "dvc"
    metrics: str = "metrics.json"
    params: str | None = None
    # sei-assets extension: the command the `file` reproducer runs (none: read the metrics as is)
    command: str | None = None


class Oscal(_Strict):
    assessment_plan: str = "assessment_plan.oscal.yaml"


class Classification(_Strict):
    tier: Literal["prohibited", "high", "limited", "minimal"]
    basis: list[str] = Field(default_factory=list)
    rationale: str = ""


class Constraint(BaseModel):
    """A parsed measure constraint such as ``"< 0.03"``."""

    operator: Literal["lt", "lte", "gt", "gte", "eq", "ne"]
    threshold: float
    threshold_text: str

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies the constraint."""
        return holds(self.operator, value, self.threshold)


def parse_constraint(text: str) -> Constraint:
    """Parse ``"< 0.03"`` into operator and threshold; raise ValueError with what was expected."""
    op, num = split_constraint(text)  # the grammar: ASCII numbers, an operator token
    expected = "a constraint '<op> <number>'"
    threshold = float(num)
    if not math.isfinite(threshold):
        raise ValueError(f"{expected}; threshold must be finite")
    return Constraint(operator=op, threshold=threshold, threshold_text=num)


#: A measure's ``lifecycle`` stage -> the compiled plan's phase. The plan carries the four phases
#: its reader (the reference SDK) filters on, and this table is the one place that maps onto
#: them. The stages are the AI system life cycle of ISO/IEC 22989 §6 and ISO/IEC 5338 (inception,
#: design and development, data collection and preparation, training, verification and
#: validation, deployment, operation and monitoring, re-evaluation, retirement), the words the
#: reference's manifests use (``data_preparation``, ``production``) and the EU AI Act's
#: post-market duties:
#:
#: - ``training``: every stage before the model is fixed (the reference maps data preparation
#:   here); what is measured then is measured by the training run.
#: - ``validation``: verification and validation, up to putting into service: Art. 9(8) has
#:   high-risk systems tested "prior to their being placed on the market or put into service",
#:   so a check at deployment is still ex-ante.
#: - ``monitoring``: operation once in service (Art. 72 post-market monitoring), re-evaluation
#:   during operation, and retirement; the reference's ``production`` is this stage.
#: - ``incident``: serious incidents (Art. 73).
#:
#: The last two are post-market (`POST_MARKET`): the SDK leaves a control tagged only with them to
#: the runtime proxy, and a measure whose stages are all post-market is declared, not compiled.
PLAN_PHASES = {
    "inception": "training",
    "design": "training",
    "design_and_development": "training",
    "development": "training",
    "data_collection": "training",
    "data_acquisition": "training",
    "data_preparation": "training",
    "training": "training",
    "verification": "validation",
    "validation": "validation",
    "verification_and_validation": "validation",
    "testing": "validation",
    "evaluation": "validation",
    "deployment": "validation",
    "operation": "monitoring",
    "operation_and_monitoring": "monitoring",
    "monitoring": "monitoring",
    "production": "monitoring",
    "post_market": "monitoring",
    "continuous_validation": "monitoring",
    "re_evaluation": "monitoring",
    "retirement": "monitoring",
    "incident": "incident",
    "serious_incident": "incident",
}
#: The plan phases after the system is in service (Art. 72, Art. 73).
POST_MARKET = frozenset({"monitoring", "incident"})
if TYPE_CHECKING:  # a checker sees text; pydantic checks it against the stages at run time
    LifecycleStage = str
else:
    LifecycleStage = Literal[tuple(PLAN_PHASES)]
#: A measure's ``enforcement`` -> the plan's ``enforcement_mode`` (the reference SDK's modes):
#: ``block`` makes the gate red when it fails, ``warn`` alerts and goes on, ``monitor`` is
#: evaluated and reported only (the rule of each mode: `core.gate`).
ENFORCEMENT_MODE = {"gate": "block", "audit": "warn", "monitor": "monitor"}

_DURATION = re.compile(
    r"^P(?:(?P<W>\d+(?:[.,]\d+)?)W|"
    r"(?:(?P<Y>\d+(?:[.,]\d+)?)Y)?(?:(?P<M>\d+(?:[.,]\d+)?)M)?(?:(?P<D>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<m>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?)$"
)


def iso_duration(text: Any, positive: bool = True) -> str:
    """``text`` when it is an ISO 8601 duration (``P6M``, ``P1Y``, ``P2W``, ``PT12H``,
    ``P1DT12H``), of positive length unless ``positive`` is False; raise ValueError saying what
    was expected otherwise. A decimal fraction is allowed on the last component only; ``T`` must
    be followed by a time part."""
    expected = "expected an ISO 8601 duration such as P6M, P1Y, P2W or PT12H"
    if not isinstance(text, str):
        raise ValueError(f"{expected}, got {_short(text)}")
    m = _DURATION.match(text)
    parts = [(k, v) for k, v in (m.groupdict().items() if m else ()) if v is not None]
    if not m or not parts or (text.endswith("T")):
        raise ValueError(f"{expected}, got {text!r}")
    if any(re.search(r"[.,]", v) for _k, v in parts[:-1]):
        raise ValueError(f"{expected}; only the last component may have a fraction, got {text!r}")
    if positive and all(float(v.replace(",", ".")) == 0 for _k, v in parts):
        raise ValueError(f"{expected}, of positive length, got {text!r}")
    return text


def metric_threshold(value: Any) -> Any:
    """``value`` when it is a post-market threshold: a finite number or a constraint such as
    ``"> 0.05"``; raise ValueError saying what was expected otherwise."""
    expected = "expected a number or a constraint such as '> 0.05'"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{expected}, got {_short(value)}")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            parse_constraint(value)
            return value
    else:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{expected}; the threshold must be finite, got {value!r}")
    return value


class PostMarketPlan(_Strict):
    """A measure's post-market monitoring plan (EU AI Act Art. 72): what sets the monitoring off,
    how often it runs, the value of the metric that calls for action, and the clause it
    implements."""

    trigger: str | None = Field(None, min_length=1)
    frequency: str | None = None
    metric_threshold: str | float | None = None
    art72_citation: str | None = Field(None, min_length=1)

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, v: str | None) -> str | None:
        return None if v is None else iso_duration(v)

    @field_validator("metric_threshold", mode="before")
    @classmethod
    def _threshold(cls, v: Any) -> Any:
        return metric_threshold(v)

    @property
    def complete(self) -> bool:
        """The three legs of an Art. 72 plan: a trigger, a frequency and the citation."""
        return bool(self.trigger and self.frequency and self.art72_citation)

    def to_json(self) -> dict[str, Any]:
        """The declared fields, in the schema's order."""
        return self.model_dump(exclude_none=True)


#: The post-market plan's keys, as they may also stand directly on the measure.
PLAN_KEYS = tuple(PostMarketPlan.model_fields)


class Measure(_Strict):
    id: str
    metric: str
    constraint: str
    severity: Severity = "medium"
    enforcement: Literal["gate", "audit", "monitor"] = "audit"
    lifecycle: list[LifecycleStage] = Field(default_factory=lambda: ["validation"], min_length=1)
    article: str | None = None
    frameworks: list[str] = Field(default_factory=list)
    standard_clauses: list[str] = Field(default_factory=list)
    inputs: dict[str, str] = Field(default_factory=dict)
    control_tier: str | None = None
    evaluation: Literal["automated", "manual"] = "automated"
    # why this metric and bound fit the risk (Annex IV point 4); optional, quoted by the dossier
    rationale: str = ""
    # The post-market plan (Art. 72), either nested under `post_market` or as flat keys.
    post_market: PostMarketPlan | None = None
    trigger: str | None = Field(None, min_length=1)
    frequency: str | None = None
    metric_threshold: str | float | None = None
    art72_citation: str | None = Field(None, min_length=1)

    @field_validator("article", mode="before")
    @classmethod
    def _article_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("lifecycle", mode="before")
    @classmethod
    def _lifecycle_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("constraint")
    @classmethod
    def _constraint_parses(cls, v: str) -> str:
        parse_constraint(v)
        return v

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, v: str | None) -> str | None:
        return None if v is None else iso_duration(v)

    @field_validator("metric_threshold", mode="before")
    @classmethod
    def _threshold(cls, v: Any) -> Any:
        return metric_threshold(v)

    @model_validator(mode="after")
    def _one_plan(self) -> Measure:
        flat = [k for k in PLAN_KEYS if getattr(self, k) is not None]
        if flat and self.post_market is not None:
            raise ValueError(
                f"the post-market plan is declared twice: under post_market and as "
                f"{', '.join(flat)}; expected one of the two forms"
            )
        return self

    @property
    def parsed(self) -> Constraint:
        return parse_constraint(self.constraint)

    @property
    def phases(self) -> list[str]:
        """The plan phases of this measure's lifecycle stages, in order, without repeats."""
        return list(dict.fromkeys(PLAN_PHASES[s] for s in self.lifecycle))

    @property
    def is_monitoring(self) -> bool:
        """Declared for post-market only (every stage after putting into service): not compiled
        into a control."""
        return all(p in POST_MARKET for p in self.phases)

    @property
    def plan(self) -> PostMarketPlan | None:
        """The post-market plan, from either form, or None when none is declared."""
        if self.post_market is not None:
            return self.post_market
        flat = {k: getattr(self, k) for k in PLAN_KEYS if getattr(self, k) is not None}
        return PostMarketPlan.model_construct(**flat) if flat else None

    @property
    def is_post_market(self) -> bool:
        """Part of the post-market monitoring: a post-market stage or a post-market plan."""
        return self.plan is not None or any(p in POST_MARKET for p in self.phases)


class Treatment(_Strict):
    method: Literal["REDUCE", "AVOID", "TRANSFER", "ACCEPT", "SHARE", "RETAIN"]
    action: str = ""
    controls: list[str] = Field(default_factory=list)
    residual_likelihood: Likelihood | None = None
    measures: list[Measure] = Field(default_factory=list)


class Risk(_Strict):
    id: str
    title: str = ""
    domain: str = ""
    rationale: str = ""
    impact: dict[Dimension, Level] = Field(min_length=1)
    likelihood: Likelihood
    treat: list[Treatment] = Field(default_factory=list)

    @property
    def measures(self) -> list[Measure]:
        return [m for t in self.treat for m in t.measures]


class RiskProgram(_Strict):
    appetite: dict[Dimension, Level]
    criteria: dict[str, Any] = Field(default_factory=dict)
    overall_residual_criterion: Level = "MEDIUM"
    review_interval: str | None = None
    risks: list[Risk] = Field(default_factory=list)
    applicability: dict[str, Any] = Field(default_factory=dict)

    @field_validator("review_interval")
    @classmethod
    def _iso_duration(cls, v: str | None) -> str | None:
        # zero is a review due at once (what a sweep test of overdue reviews declares)
        return None if v is None else iso_duration(v, positive=False)


class Role(_Strict):
    role: str
    since: str | None = None
    market_phase: str | None = None

    @field_validator("since", mode="before")
    @classmethod
    def _since_text(cls, v: Any) -> Any:
        return v.isoformat() if hasattr(v, "isoformat") else v


_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})?")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]{0,127}")


class MonitoringSource(_Strict):
    """Where the system's production decisions land (EU AI Act Art. 72): a folder of dated
    batches (``<YYYY-MM-DD>.csv`` or ``.parquet``) or a DuckDB table with a timestamp column;
    the columns that hold the decision, the outcome when known and the sensitive attributes."""

    path: str | None = Field(None, min_length=1)
    duckdb: str | None = Field(None, min_length=1)
    table: str | None = Field(None, min_length=1)
    timestamp: str | None = Field(None, min_length=1)
    prediction: str = Field("prediction", min_length=1)
    outcome: str | None = Field(None, min_length=1)
    score: str | None = Field(None, min_length=1)
    reviewed: str | None = Field(None, min_length=1)
    sensitive: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_place(self) -> MonitoringSource:
        if (self.path is None) == (self.duckdb is None):
            raise ValueError(
                "expected exactly one of path (a folder of dated batches) or duckdb (a database "
                "file, with table and timestamp)"
            )
        if self.duckdb is not None and not (self.table and self.timestamp):
            raise ValueError("a duckdb source needs table and timestamp (the timestamp column)")
        if self.path is not None and (self.table or self.timestamp):
            raise ValueError("table and timestamp belong to a duckdb source, not to a folder")
        if self.timestamp is not None and not _COLUMN.fullmatch(self.timestamp):
            raise ValueError(f"expected a column name, got {self.timestamp!r}")
        if self.table is not None and not _TABLE.fullmatch(self.table):
            raise ValueError(
                f"expected a table name (letters, digits, _, one .), got {self.table!r}"
            )
        return self


class Monitoring(_Strict):
    """The post-market monitoring of the system: its production source, the first day of
    production (the first daily period) and the training reference the inputs are compared
    with (a CSV or Parquet file of the training inputs; default: none, no input drift)."""

    source: MonitoringSource
    start: str
    reference: str | None = Field(None, min_length=1)

    @field_validator("start", mode="before")
    @classmethod
    def _start_date(cls, v: Any) -> Any:
        if isinstance(v, _dt.datetime):
            v = v.date()
        if isinstance(v, _dt.date):
            return v.isoformat()
        if isinstance(v, str):
            try:
                return _dt.date.fromisoformat(v).isoformat()
            except ValueError:
                pass
        raise ValueError(f"expected a date such as 2026-01-01, got {_short(v)}")


class Manifest(_Strict):
    api_version: str = Field("venturalitica.ai/v1alpha1", alias="apiVersion")
    kind: Literal["AISystem"] = "AISystem"
    system: System
    task: Task = Field(default_factory=Task)
    context: Context = Field(default_factory=Context)
    dataset: Dataset = Field(default_factory=Dataset)
    artifacts: Artifacts = Field(default_factory=Artifacts)
    eval: Eval = Field(default_factory=Eval)
    pipeline: Pipeline = Field(default_factory=Pipeline)
    oscal: Oscal = Field(default_factory=Oscal)
    classification: Classification | None = None
    risk: RiskProgram | None = None
    roles: list[Role] = Field(default_factory=list)
    monitoring: Monitoring | None = None

    @property
    def measures(self) -> list[tuple[Risk, Measure]]:
        """Every declared measure with its risk, in declaration order."""
        if not self.risk:
            return []
        return [(r, m) for r in self.risk.risks for m in r.measures]


@dataclass(frozen=True)
class Extension:
    """A manifest key the schema does not know and that is not a near miss of one it knows:
    kept (in the evidence's `manifest_extensions`), never part of a verdict."""

    loc: tuple[Any, ...]
    line: int | None
    value: Any
    owner: tuple[str, str] | None = None  # ("measure", id), ("risk", id), ("misuse", id)

    @property
    def key_path(self) -> str:
        return key_path(self.loc)

    def warning(self, file: Path | str) -> str:
        """The warning `sei compile` and `sei run` print: file, line, key path."""
        where = f"{file}:{self.line}" if self.line else str(file)
        return (
            f"{where}: {self.key_path}: unknown key '{self.loc[-1]}', kept as an extension "
            "in the evidence (no verdict depends on it)"
        )

    def to_json(self) -> dict[str, Any]:
        """The evidence's record of the key: where it is, its value, what it belongs to."""
        out: dict[str, Any] = {"key": self.key_path}
        if self.owner:
            out[self.owner[0]] = self.owner[1]
        out["value"] = self.value
        if self.line:
            out["line"] = self.line
        return out


class LoadedManifest(BaseModel):
    """A validated manifest with where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    raw: bytes
    data: dict[str, Any]
    manifest: Manifest
    extensions: list[Extension] = Field(default_factory=list)
    #: Warnings of the cross-key rules (a misuse naming a risk not declared yet).
    notices: list[str] = Field(default_factory=list)

    def warnings(self) -> list[str]:
        """What `sei compile` and `sei run` warn about: each unknown key kept (file, line, key
        path), then the cross-key notices."""
        return [x.warning(self.path) for x in self.extensions] + list(self.notices)

    @property
    def repo(self) -> Path:
        return self.path.parent


def find_manifest(repo: Path) -> Path:
    """The manifest of ``repo``: sei.yaml, else venth.yaml, else froga.yaml."""
    for name in MANIFEST_NAMES:
        candidate = Path(repo) / name
        if candidate.is_file():
            return candidate
    raise ManifestError(
        Path(repo) / MANIFEST_NAMES[0],
        "",
        f"no manifest found: expected one of {', '.join(MANIFEST_NAMES)}",
    )


def load_manifest(repo_or_file: Path) -> LoadedManifest:
    """Read and validate a manifest; raise ManifestError naming file, key path and line."""
    p = Path(repo_or_file)
    path = find_manifest(p) if p.is_dir() else p
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(path, "", f"unreadable file: {exc.strerror or exc}") from None
    text = safeload.decode(path, raw, "manifest")
    data, lines = safeload.parse_yaml(path, text, "manifest")
    if data is None:
        raise ManifestError(path, "", "the file is empty: expected a manifest")
    if not isinstance(data, dict):
        raise ManifestError(
            path, "", "expected a mapping at the top level (apiVersion, kind, system, ...)", 1
        )
    extensions: list[Extension] = []
    known = _screen_keys(path, data, Manifest, (), lines, extensions, None)
    try:
        manifest = Manifest.model_validate(known)
    except ValidationError as exc:
        raise _located(path, exc, lines) from None
    notices = _check_program(path, manifest, lines)
    return LoadedManifest(
        path=path, raw=raw, data=data, manifest=manifest, extensions=extensions, notices=notices
    )


#: A list of the manifest whose items have an ``id`` -> what an item is called in the evidence.
_OWNERS = {"measures": "measure", "risks": "risk", "potential_misuses": "misuse"}


def near_miss(key: str, known: list[str]) -> str | None:
    """The known key ``key`` is most likely a misspelling of, or None: the closest by
    Damerau-Levenshtein distance (a swap of neighbours counts one), when that distance is 1 for
    keys of up to five characters and at most 2 for longer ones, and a unique best."""
    best: list[tuple[int, str]] = []
    for k in known:
        limit = 1 if len(k) <= 5 else 2
        d = _edit_distance(key.lower(), k.lower()) if abs(len(key) - len(k)) <= limit else 99
        d = max(d, 1) if key != k else 0
        if d <= limit:
            best.append((d, k))
    best.sort()
    if not best or (len(best) > 1 and best[0][0] == best[1][0]):
        return None
    return best[0][1]


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions, swaps."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _screen_keys(
    path: Path,
    data: dict[Any, Any],
    model: type[BaseModel],
    loc: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    found: list[Extension],
    owner: tuple[str, str] | None,
) -> dict[Any, Any]:
    """``data`` without the keys ``model`` does not know, each kept in ``found``; a key that is
    a near miss of a known one is an error with its did-you-mean instead."""
    fields = {}
    for name, f in model.model_fields.items():
        fields[name] = f
        if f.alias:
            fields[f.alias] = f
    known = sorted((f.alias or n) for n, f in model.model_fields.items())
    out: dict[Any, Any] = {}
    for key, value in data.items():
        here = (*loc, key)
        if key in fields:
            out[key] = _screen_value(path, value, fields[key].annotation, here, lines, found, owner)
            continue
        close = near_miss(str(key), known)
        if close:
            raise ManifestError(
                path,
                key_path(here),
                f"unknown key '{key}': expected one of {', '.join(known)}",
                _line_for(here, lines),
                close,
            )
        found.append(Extension(here, _line_for(here, lines), _plain(value), owner))
    return out


def _screen_value(
    path: Path,
    value: Any,
    annotation: Any,
    loc: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    found: list[Extension],
    owner: tuple[str, str] | None,
) -> Any:
    inner = _inner_model(annotation)
    if inner is None:
        return value
    if isinstance(value, dict):
        return _screen_keys(path, value, inner, loc, lines, found, owner)
    if isinstance(value, list):
        kind = _OWNERS.get(str(loc[-1])) if loc else None
        out = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                mine = owner
                if kind and isinstance(item.get("id"), str):
                    mine = (kind, item["id"])
                item = _screen_keys(path, item, inner, (*loc, i), lines, found, mine)
            out.append(item)
        return out
    return value


def _plain(value: Any) -> Any:
    """``value`` as JSON data (the evidence is strict JSON): dates as ISO text, other scalars
    that JSON lacks as their text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def screen_yaml(path: Path, text: str) -> None:
    """Refuse, located by line, what would crash or swamp a YAML parser rather than fail it (the
    bounded loader's checks, `core.safeload`): a character YAML does not allow, nesting too deep,
    too many nodes once aliases are expanded."""
    safeload.parse_yaml(path, text, "manifest")


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Manifest
    for part in loc:
        if isinstance(part, int):
            continue
        field = None
        for name, f in model.model_fields.items():
            if part in (name, f.alias):
                field = f
                break
        if field is None:
            return None
        inner = _inner_model(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found:
            return found
    return None


def _short(value: Any, limit: int = 80) -> str:
    """A value's repr, cut to ``limit`` characters (a fuzzed input can be megabytes)."""
    text = reprlib.repr(value) if isinstance(value, dict | list | tuple | set) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _located(path: Path, exc: ValidationError, lines: dict[tuple[Any, ...], int]) -> ManifestError:
    errors = exc.errors(include_url=False)
    # An unknown key first: `systme:` is reported where it is, with its did-you-mean, not as
    # the `system` it should have been being missing.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = err["type"]
    suggestion = None
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = sorted((f.alias or n) for n, f in parent.model_fields.items()) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        suggestion = close[0] if close else None
        expected = f"unknown key '{loc[-1]}': expected one of {', '.join(known)}"
    elif kind == "missing":
        expected = "this required key is missing"
    elif kind in ("literal_error", "enum"):
        wanted = err["ctx"].get("expected", "a known value")
        expected = f"expected {wanted}, got {_short(err.get('input'))}"
        given = err.get("input")
        if isinstance(given, str):
            choices = re.findall(r"'([^']*)'", str(wanted))
            suggestion = near_miss(given, choices) or next(
                iter(difflib.get_close_matches(given, choices, n=1, cutoff=0.75)), None
            )
    elif kind == "value_error":
        expected = str(err["ctx"].get("error", err["msg"]))
    else:
        expected = f"{err['msg'].lower()}, got {_short(err.get('input'))}"
    return ManifestError(path, key_path(loc), expected, _line_for(loc, lines), suggestion)


def _check_program(path: Path, manifest: Manifest, lines: dict[tuple[Any, ...], int]) -> list[str]:
    """Cross-key rules: unique risk and measure ids; a misuse naming a risk id that is a near
    miss of a declared one is an error, one naming a risk not declared (yet: a manifest is
    written a piece at a time) a warning, returned, and the misuse counts as unaddressed."""
    notices: list[str] = []
    risk_ids: set[str] = set()
    measure_ids: dict[str, str] = {}
    risks = manifest.risk.risks if manifest.risk else []
    for i, risk in enumerate(risks):
        loc: tuple[Any, ...] = ("risk", "risks", i, "id")
        if risk.id in risk_ids:
            raise ManifestError(
                path,
                key_path(loc),
                f"risk id '{risk.id}' is declared twice; ids must be unique",
                _line_for(loc, lines),
            )
        risk_ids.add(risk.id)
        for t, treat in enumerate(risk.treat):
            for m, measure in enumerate(treat.measures):
                mloc: tuple[Any, ...] = ("risk", "risks", i, "treat", t, "measures", m, "id")
                if measure.id in measure_ids:
                    raise ManifestError(
                        path,
                        key_path(mloc),
                        f"measure id '{measure.id}' is used twice "
                        f"(first in {measure_ids[measure.id]}); "
                        "measure ids must be unique",
                        _line_for(mloc, lines),
                    )
                measure_ids[measure.id] = risk.id
    for i, misuse in enumerate(manifest.system.potential_misuses):
        for j, rid in enumerate(misuse.addressed_by):
            if rid not in risk_ids:
                loc = ("system", "potential_misuses", i, "addressed_by", j)
                line = _line_for(loc, lines)
                close = near_miss(rid, sorted(risk_ids))
                if close is None:
                    where = f"{path}:{line}" if line else str(path)
                    notices.append(
                        f"{where}: {key_path(loc)}: names risk '{rid}', which no risk declares "
                        f"(yet): misuse '{misuse.id}' counts as not addressed by it"
                    )
                    continue
                raise ManifestError(
                    path,
                    key_path(loc),
                    f"names risk '{rid}', which no risk declares: expected one of "
                    f"{', '.join(sorted(risk_ids)) or '(no risks declared)'}",
                    line,
                    close,
                )
    return notices
