"""Controls: measures compiled from the risk program, and their evaluation against metrics.

The engine fails closed: a control whose metric is missing, not a number, not finite or outside
its metric's declared domain (`knowledge/metric_domains.yaml`) fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sei_assets.core.constraint import SYMBOLS, holds
from sei_assets.core.manifest import ENFORCEMENT_MODE, Manifest, parse_constraint


@dataclass(frozen=True)
class Control:
    """A compiled control: one measure of the risk program with an ex-ante lifecycle stage."""

    control_id: str
    metric_key: str
    operator: str
    threshold: float
    threshold_text: str
    severity: str
    enforcement_mode: str
    evaluation_method: str
    lifecycle_phase: str
    risk_id: str
    risk_title: str = ""
    control_tier: str | None = None
    article: str | None = None
    frameworks: tuple[str, ...] = ()
    standard_clauses: tuple[str, ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()
    #: The measure's further plan phases (a control may apply in several: the SDK reads the
    #: repeated `lifecycle_phase` prop as a list).
    extra_phases: tuple[str, ...] = ()

    @property
    def blocking(self) -> bool:
        return self.enforcement_mode == "block"

    @property
    def phases(self) -> tuple[str, ...]:
        """Every plan phase of the control, the first one first."""
        return (self.lifecycle_phase, *self.extra_phases)

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies this control's constraint."""
        return holds(self.operator, value, self.threshold)

    def props(self) -> list[tuple[str, str]]:
        """The OSCAL props of this control, in the reference's order (empty ones left out)."""
        out = [
            ("metric_key", self.metric_key),
            ("operator", self.operator),
            ("threshold", self.threshold_text),
            ("severity", self.severity),
            ("enforcement_mode", self.enforcement_mode),
            ("evaluation_method", self.evaluation_method),
            *(("lifecycle_phase", p) for p in self.phases),
            ("risk_id", self.risk_id),
            ("control_tier", self.control_tier or ""),
            ("article", self.article or ""),
            ("frameworks", ",".join(self.frameworks)),
            ("standard_clauses", ",".join(self.standard_clauses)),
        ]
        out += [(f"input.{slot}", value) for slot, value in sorted(self.inputs)]
        return [(k, v) for k, v in out if v]


def compile_controls(manifest: Manifest) -> list[Control]:
    """The controls of the risk program: every measure not declared for post-market only."""
    controls = []
    for risk, measure in manifest.measures:
        if measure.is_monitoring:
            continue
        c = parse_constraint(measure.constraint)
        controls.append(
            Control(
                control_id=measure.id,
                metric_key=measure.metric,
                operator=c.operator,
                threshold=c.threshold,
                threshold_text=c.threshold_text,
                severity=measure.severity,
                enforcement_mode=ENFORCEMENT_MODE[measure.enforcement],
                evaluation_method=measure.evaluation,
                lifecycle_phase=measure.phases[0],
                risk_id=risk.id,
                risk_title=risk.title,
                control_tier=measure.control_tier or "protective",
                article=measure.article,
                frameworks=tuple(measure.frameworks),
                standard_clauses=tuple(measure.standard_clauses),
                inputs=tuple(measure.inputs.items()),
                extra_phases=tuple(measure.phases[1:]),
            )
        )
    return controls


@dataclass
class ControlResult:
    """The verdict of one control on one run's metrics."""

    control: Control
    actual_value: float | None
    passed: bool
    power: dict[str, Any] | None = None
    underpowered: bool = False
    failure: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The bundle's `control_results[]` entry, with the reference's field names."""
        c = self.control
        out: dict[str, Any] = {
            "control_id": c.control_id,
            "metric_key": c.metric_key,
            "actual_value": self.actual_value,
            "threshold": c.threshold,
            "operator": c.operator,
            "severity": c.severity,
            "enforcement_mode": c.enforcement_mode,
            "passed": self.passed,
            "eval_passed": None,
            "lifecycle_phase": c.lifecycle_phase,
            "risk_id": c.risk_id,
            "article": c.article,
        }
        if c.extra_phases:
            out["lifecycle_phases"] = list(c.phases)
        if c.frameworks:
            out["frameworks"] = list(c.frameworks)
        if self.power is not None:
            out["power"] = self.power
            out["underpowered"] = self.underpowered
        if self.failure:
            out["failure"] = self.failure
        if self.extra:  # e.g. the attestation a manual control was evaluated from
            out.update(self.extra)
        return out


def _power(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    out = {k: v for k, v in raw.items() if v is not None}
    # Evidence is strict JSON: a NaN or infinite statistic is dropped, with the reason.
    not_finite = {
        k: str(v) for k, v in out.items() if isinstance(v, float) and not math.isfinite(v)
    }
    for k in not_finite:
        out.pop(k)
    groups = out.get("groups")
    if isinstance(groups, dict):
        if groups:
            out["groups"] = {k: groups[k] for k in sorted(groups)}
        else:
            out.pop("groups")
    order = ["n", "groups", "ci_low", "ci_high", "ci_level", "method", "n_boot", "seed"]
    power = {k: out[k] for k in order if k in out} | {
        k: v for k, v in out.items() if k not in order
    }
    if not_finite:
        power["not_finite"] = {
            k: f"{v}: not a finite number, left out" for k, v in not_finite.items()
        }
    return power


def _number(raw: Any) -> tuple[float | None, str | None]:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, f"metric value is not a number ({type(raw).__name__})"
    try:
        value = float(raw)
    except OverflowError:
        return None, f"metric value is not finite (an integer of {len(str(raw))} digits)"
    if not math.isfinite(value):
        return None, f"metric value is not finite ({raw})"
    return value, None


def _attested(control: Control, attestation: dict[str, Any] | None) -> ControlResult:
    """A manual control without a metric, evaluated from its attestation (`core.attest`):
    passed while the attestation is current; failed, saying why, when it is stale or absent."""
    if attestation is None:
        why = "manual measure: no attestation by a person (`sei attest`)"
        return ControlResult(control, None, False, failure=why)
    if not attestation["current"]:
        why = "manual measure: its attestation is stale: " + "; ".join(attestation["why_stale"])
        return ControlResult(control, None, False, failure=why)
    record = {k: attestation[k] for k in ("by", "at", "evidence", "file")}
    return ControlResult(control, None, True, extra={"attestation": record})


def evaluate_control(
    control: Control,
    metrics: dict[str, Any],
    attestations: dict[str, dict[str, Any] | None] | None = None,
) -> ControlResult:
    """Evaluate one control against the metrics file (keyed by measure id); fail closed. A
    manual control with no metric is evaluated from ``attestations`` when they are given."""
    if control.control_id not in metrics:
        if control.evaluation_method == "manual" and attestations is not None:
            return _attested(control, attestations.get(control.control_id))
        return ControlResult(control, None, False, failure="no metric reported for this measure")
    raw = metrics[control.control_id]
    power = None
    if isinstance(raw, dict):
        power = _power(raw.get("power"))
        raw = raw.get("value")
    value, problem = _number(raw)
    if problem or value is None:  # _number gives a value or a problem
        return ControlResult(control, None, False, power=power, failure=problem)
    from sei_assets.core.knowledge import metric_domain

    domain = metric_domain(control.metric_key)
    if domain is not None and not domain.contains(value):
        return ControlResult(
            control,
            value,
            False,
            power=power,
            failure=f"metric {control.metric_key} = {value:g} is outside its domain "
            f"({domain.describe()})",
        )
    passed = control.holds(value)
    underpowered = False
    if power and passed:
        lo, hi = power.get("ci_low"), power.get("ci_high")
        if isinstance(lo, int | float) and isinstance(hi, int | float):
            underpowered = not (control.holds(lo) and control.holds(hi))
    return ControlResult(control, value, passed, power=power, underpowered=underpowered)


def evaluate_controls(
    controls: list[Control],
    metrics: dict[str, Any],
    attestations: dict[str, dict[str, Any] | None] | None = None,
) -> list[ControlResult]:
    """Evaluate every control (manual ones without a metric from ``attestations``)."""
    return [evaluate_control(c, metrics, attestations) for c in controls]


def gate(results: list[ControlResult]) -> str:
    """`red` when a blocking control fails, else `green` (the rule: `sei_assets.core.gate`)."""
    from sei_assets.core.gate import verdict

    return verdict(r.to_json() for r in results)


def gate_failures(results: list[ControlResult]) -> list[str]:
    """Ids of the blocking controls that failed."""
    from sei_assets.core.gate import failing_blocking

    return failing_blocking(r.to_json() for r in results)


CONTROL_TABLE = ("control", "metric", "actual", "constraint", "mode", "result")


def control_table(control_results: list[Any]) -> list[tuple[dict[str, str], str]]:
    """The bundle's control results (`model.ControlResult`) as table rows (columns
    `CONTROL_TABLE`) with each row's tone: ``pass``, ``fail`` (it blocks or warns) or
    ``monitored`` (evaluated and reported, never a failure: `core.gate`). The one rendering the
    CLI and the UI show."""
    from sei_assets.core.gate import alarm

    rows = []
    for r in control_results:
        monitored = r.enforcement_mode == "monitor"
        if monitored:
            result = "MONITORED: " + ("within" if r.passed else "outside") + " the threshold"
        else:
            result = "PASS" if r.passed else "FAIL"
        if r.underpowered:
            result += " (underpowered)"
        if r.failure:
            result += f" ({r.failure})"
        row = {
            "control": r.control_id,
            "metric": r.metric_key,
            "actual": "—" if r.actual_value is None else f"{r.actual_value:.4f}",
            "constraint": f"{SYMBOLS[r.operator]} {r.threshold:g}",
            "mode": r.enforcement_mode,
            "result": result,
        }
        tone = "fail" if alarm(r.enforcement_mode, r.passed) else "pass"
        rows.append((row, "monitored" if monitored else tone))
    return rows
