"""The evidence bundle (`.sei/bundle.json`): the central contract of the engine.

Field names and order are the reference engine's; this engine adds `schema_version`,
`pipeline`, `gate`, `gate_failures`, `generated_at`, `roles` and `manifest_extensions`.
"""

from __future__ import annotations

from typing import Any, Literal, overload

from pydantic import Field

from sei_assets.core.model.base import Number, Record

BUNDLE_SCHEMA = "sei-assets/bundle/v1"


class Power(Record):
    """The bootstrap confidence interval of a metric."""

    n: int | None = None
    groups: dict[str, int] | None = None
    ci_low: Number | None = None
    ci_high: Number | None = None
    ci_level: Number | None = None
    method: str | None = None
    n_boot: int | None = None
    seed: int | None = None


class ControlResult(Record):
    """One control's verdict on one run's metrics."""

    control_id: str
    metric_key: str
    actual_value: Number | None = None
    threshold: Number
    operator: str
    severity: str
    enforcement_mode: str
    passed: bool
    eval_passed: bool | None = None
    lifecycle_phase: str | None = None
    lifecycle_phases: list[str] | None = None  # when the control applies in several phases
    risk_id: str | None = None
    article: str | None = None
    frameworks: list[str] = Field(default_factory=list)
    power: Power | None = None
    underpowered: bool | None = None
    failure: str | None = None


class Dimension(Record):
    """One dimension (individual, society, organization) of a risk's level."""

    dimension: str
    impact: str | None = None
    appetite: str | None = None
    inherent_level: str | None = None
    inherent_eval: str | None = None
    residual_level: str | None = None
    residual_eval: str | None = None


class Cycle(Record):
    """Where a risk is in its treatment cycle."""

    status: str


class RiskAssessment(Record):
    """One risk's analysis: inherent and residual level against the appetite."""

    risk_id: str
    kind: str | None = None
    provenance: str | None = None
    likelihood: str | None = None
    residual_declared_likelihood: str | None = None
    dimensions: list[Dimension] = Field(default_factory=list)
    inherent_overall: str | None = None
    residual_overall: str | None = None
    requires_treatment: bool | None = None
    control_confirmed: bool | None = None
    cycle: Cycle | None = None
    priority: int | None = None

    @property
    def has_residual(self) -> bool:
        """Whether a residual level was evaluated for this risk."""
        return "residual_overall" in self.model_fields_set


class OverallResidual(Record):
    """The system's overall residual risk against its criterion."""

    level: str | None = None
    criterion: str | None = None
    evaluation: str | None = None
    contributing: list[str] = Field(default_factory=list)


class TreatmentEvent(Record):
    """A control that failed in the evidence made before the treatment in force and passes
    now: the values before and now, the treatment commit, the commit of the earlier evidence."""

    control_id: str
    risk_id: str | None = None
    kind: str | None = None
    previous_value: Number | None = None
    current_value: Number | None = None
    anchored_commit: str | None = None
    previous_commit: str | None = None


class Triple(Record):
    """What the evidence is about: code commit, model, dataset digest."""

    code: str | None = None
    model: str | None = None
    dataset: str | None = None


class Assessor(Record):
    """Who produced the evidence."""

    name: str | None = None
    email: str | None = None
    organization: str | None = None


class Misuse(Record):
    """A foreseeable misuse and the risks that address it."""

    id: str
    description: str | None = None
    addressed_by: list[str] = Field(default_factory=list)


class RiskRef(Record):
    """A declared risk, as the bundle names it."""

    id: str
    domain: str | None = None
    title: str | None = None
    rationale: str | None = None


class MeansOfConformance(Record):
    """Per article: whether the controls that evidence it passed."""

    article: str
    status: str
    presumption: bool | None = None
    control_count: int | None = None
    passed_count: int | None = None


class PostMarketMeasure(Record):
    """A measure declared for post-market monitoring (AI Act Art. 72)."""

    id: str
    metric: str | None = None
    article: str | None = None
    standard_clauses: list[str] = Field(default_factory=list)
    trigger: str | None = None
    frequency: str | None = None
    metric_threshold: str | Number | None = None
    art72_citation: str | None = None


class ManifestExtension(Record):
    """A manifest key the schema does not know, kept as declared; no verdict reads it."""

    key: str
    measure: str | None = None
    risk: str | None = None
    misuse: str | None = None
    value: Any = None
    line: int | None = None


class BomSummary(Record):
    """The bill of materials the bundle points to."""

    format_version: str | None = None
    digest: str | None = None
    components: list[dict[str, Any]] = Field(default_factory=list)


class Pipeline(Record):
    """How the metrics were obtained: the tool, whether it re-ran, its own run records."""

    tool: str
    reproduced: bool
    metrics: str | None = None
    #: `reproduced` (the tool ran for this evidence) or `supplied` (`--no-repro`).
    metrics_source: str | None = None
    metrics_digest: str | None = None

    @property
    def supplied(self) -> bool:
        """Whether the metrics were supplied rather than reproduced by the pipeline tool."""
        return self.metrics_source == "supplied" or not self.reproduced


class Bundle(Record):
    """The evidence bundle."""

    schema_version: str | None = None
    system_name: str
    intended_purpose: str | None = None
    foreseeable_misuse: list[Misuse] = Field(default_factory=list)
    assessor: Assessor | None = None
    triple: Triple = Field(default_factory=Triple)
    classification: dict[str, Any] | None = None
    risks: list[RiskRef] = Field(default_factory=list)
    data_governance: dict[str, Any] | None = None
    measurement: Any = None
    control_results: list[ControlResult] = Field(default_factory=list)
    treatment_events: list[TreatmentEvent] = Field(default_factory=list)
    risk_analysis: list[RiskAssessment] = Field(default_factory=list)
    overall_residual: OverallResidual | None = None
    pipeline_lock_digest: str | None = None
    pipeline: Pipeline | None = None
    sections: dict[str, str] | None = None
    power_stats: Any = None
    means_of_conformance: list[MeansOfConformance] = Field(default_factory=list)
    post_market_measures: list[PostMarketMeasure] | None = None
    bom: BomSummary | None = None
    applicable_standards: list[str] = Field(default_factory=list)
    review_interval: str | None = None
    gate: Literal["green", "red"] | None = None
    gate_failures: list[str] | None = None
    generated_at: str | None = None
    roles: list[dict[str, Any]] | None = None
    manifest_extensions: list[ManifestExtension] | None = None
    #: The evidence set the bundle belongs to (`id`, also recorded in the signed index's run):
    #: without that index, or with another set's, the bundle does not verify.
    evidence_set: dict[str, Any] | None = None

    @property
    def failing(self) -> list[str]:
        """The blocking controls that did not pass (the gate rule of `core.gate`)."""
        from sei_assets.core.gate import failing_blocking

        return failing_blocking(r.to_json() for r in self.control_results)

    @property
    def verdict(self) -> str:
        """The gate: this engine's `gate` field, else derived from the blocking results (the
        reference's bundles carry no gate field)."""
        return self.gate or ("red" if self.failing else "green")


@overload
def as_bundle(value: Bundle | dict[str, Any]) -> Bundle: ...
@overload
def as_bundle(value: None) -> None: ...
@overload
def as_bundle(value: Bundle | dict[str, Any] | None) -> Bundle | None: ...
def as_bundle(value: Bundle | dict[str, Any] | None) -> Bundle | None:
    """``value`` as a Bundle (plain JSON data is validated), or None."""
    if value is None or isinstance(value, Bundle):
        return value
    return Bundle.model_validate(value)
