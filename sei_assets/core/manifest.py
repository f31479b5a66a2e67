"""The AI-system manifest (`sei.yaml`, or the older `venth.yaml` / `froga.yaml`).

Typed with pydantic; every error names the file, the key path, the line and what was expected.
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sei_assets.core import safeload
from sei_assets.core.constraint import OPERATORS, holds
from sei_assets.core.errors import ManifestError
from sei_assets.core.layout import MANIFEST_NAMES
from sei_assets.core.safeload import key_path

Level = Literal["NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
Likelihood = Literal["RARE", "UNLIKELY", "POSSIBLE", "LIKELY", "ALMOST_CERTAIN"]
Dimension = Literal["individual", "society", "organization"]
Severity = Literal["low", "medium", "high", "critical"]

_CONSTRAINT = re.compile(r"^\s*([^\s\d.+-]+)\s*(\S+)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Misuse(_Strict):
    id: str
    description: str = ""
    addressed_by: list[str] = Field(default_factory=list)


class System(_Strict):
    name: str
    intended_purpose: str = ""
    organization: str = ""
    version: str = ""
    decisions: list[str] = Field(default_factory=list)
    affected_persons: list[str] = Field(default_factory=list)
    component_type: str | None = None
    potential_misuses: list[Misuse] = Field(default_factory=list)

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
    m = _CONSTRAINT.match(str(text))
    expected = (
        "a constraint '<op> <number>' with op one of <, <=, >, >=, ==, != "
        "(or lt, lte, gt, gte, eq, ne)"
    )
    if not m:
        raise ValueError(f"{expected}, got {text!r}")
    op, num = m.groups()
    if op not in OPERATORS:
        raise ValueError(
            f"unknown operator {op!r}: expected one of <, <=, >, >=, ==, !=, "
            "lt, lte, gt, gte, eq, ne"
        )
    try:
        threshold = float(num)
    except ValueError:
        raise ValueError(f"{expected}; threshold {num!r} is not a number") from None
    if not math.isfinite(threshold):
        raise ValueError(f"{expected}; threshold must be finite")
    return Constraint(operator=OPERATORS[op], threshold=threshold, threshold_text=num)


#: A measure's ``lifecycle`` stage -> the compiled plan's phase. The plan has the four phases its
#: reader (the reference SDK) filters on: ``training`` (everything before the model is fixed:
#: data preparation included), ``validation``, ``monitoring`` (post-market, not compiled) and
#: ``incident``.
PLAN_PHASES = {
    "data_preparation": "training",
    "training": "training",
    "validation": "validation",
    "monitoring": "monitoring",
    "incident": "incident",
}


class Measure(_Strict):
    id: str
    metric: str
    constraint: str
    severity: Severity = "medium"
    enforcement: Literal["gate", "audit"] = "audit"
    lifecycle: list[str] = Field(default_factory=lambda: ["validation"])
    article: str | None = None
    frameworks: list[str] = Field(default_factory=list)
    standard_clauses: list[str] = Field(default_factory=list)
    inputs: dict[str, str] = Field(default_factory=dict)
    control_tier: str | None = None
    evaluation: Literal["automated", "manual"] = "automated"

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

    @property
    def parsed(self) -> Constraint:
        return parse_constraint(self.constraint)

    @property
    def phases(self) -> list[str]:
        """The plan phases of this measure's lifecycle stages, in order, without repeats."""
        return list(dict.fromkeys(PLAN_PHASES.get(s, s) for s in self.lifecycle))

    @property
    def is_monitoring(self) -> bool:
        """Declared for post-market monitoring: not compiled into a control."""
        return "monitoring" in self.lifecycle


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
        if v is not None:
            import isodate

            try:
                isodate.parse_duration(v)
            except (isodate.ISO8601Error, ValueError):
                msg = f"expected an ISO 8601 duration such as P6M or P1Y, got {v!r}"
                raise ValueError(msg) from None
        return v


class Role(_Strict):
    role: str
    since: str | None = None
    market_phase: str | None = None

    @field_validator("since", mode="before")
    @classmethod
    def _since_text(cls, v: Any) -> Any:
        return v.isoformat() if hasattr(v, "isoformat") else v


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

    @property
    def measures(self) -> list[tuple[Risk, Measure]]:
        """Every declared measure with its risk, in declaration order."""
        if not self.risk:
            return []
        return [(r, m) for r in self.risk.risks for m in r.measures]


class LoadedManifest(BaseModel):
    """A validated manifest with where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    raw: bytes
    data: dict[str, Any]
    manifest: Manifest

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
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise _located(path, exc, lines) from None
    _check_program(path, manifest, lines)
    return LoadedManifest(path=path, raw=raw, data=data, manifest=manifest)


def screen_yaml(path: Path, text: str) -> None:
    """Refuse, located by line, what would crash or swamp a YAML parser rather than fail it (the
    bounded loader's checks, `core.safeload`): a character YAML does not allow, nesting too deep,
    too many nodes once aliases are expanded."""
    safeload.parse_yaml(path, text, "manifest")


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: Any = Manifest
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
        model = _inner_model(field.annotation)
        if model is None:
            return None
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


def _located(path: Path, exc: ValidationError, lines: dict[tuple, int]) -> ManifestError:
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
    elif kind == "value_error":
        expected = str(err["ctx"].get("error", err["msg"]))
    else:
        expected = f"{err['msg'].lower()}, got {_short(err.get('input'))}"
    return ManifestError(path, key_path(loc), expected, _line_for(loc, lines), suggestion)


def _check_program(path: Path, manifest: Manifest, lines: dict[tuple, int]) -> None:
    """Cross-key rules: unique risk and measure ids, misuses naming declared risks."""
    risk_ids: set[str] = set()
    measure_ids: dict[str, str] = {}
    risks = manifest.risk.risks if manifest.risk else []
    for i, risk in enumerate(risks):
        loc = ("risk", "risks", i, "id")
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
                mloc = ("risk", "risks", i, "treat", t, "measures", m, "id")
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
                close = difflib.get_close_matches(rid, sorted(risk_ids), n=1, cutoff=0.6)
                raise ManifestError(
                    path,
                    key_path(loc),
                    f"names risk '{rid}', which no risk declares: expected one of "
                    f"{', '.join(sorted(risk_ids)) or '(no risks declared)'}",
                    _line_for(loc, lines),
                    close[0] if close else None,
                )
