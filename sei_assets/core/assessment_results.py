"""The evidence as an OSCAL assessment-results document, built with compliance-trestle's models.

One result per run: the plan's controls as reviewed controls, one observation (what was measured
or examined) and one finding (satisfied or not) per control result, each finding linked by uuid
to its observation and to the plan's implemented requirement. The back matter names the bundle
and the plan with their sha256 digests. A pure function of the plan's text and the bundle's
bytes: UUIDv5 and the bundle's own timestamp, so the same bundle gives the same bytes.
Paths (`import-ap`, evidence, back matter) are relative to the repository's root.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import yaml

from sei_assets.core.errors import SeiError
from sei_assets.core.layout import BUNDLE, EVIDENCE_DIR

#: How a control was assessed, from the plan's `evaluation_method` prop: a metric the pipeline
#: measured is a test; a declared or manual one is examined.
TESTED = frozenset({"automated"})
BUNDLE_HREF = f"{EVIDENCE_DIR}/{BUNDLE}"


def _text(value: Any) -> str:
    """A prop value: JSON spelling for numbers and booleans, else the text itself."""
    return json.dumps(value) if isinstance(value, bool | int | float) else str(value)


def plan_requirements(plan_text: str, where: str = "the assessment plan") -> tuple[Any, list[Any]]:
    """The trestle ComponentDefinition of a compiled plan and its implemented requirements."""
    from trestle.oscal.component import ComponentDefinition

    try:
        docs = [d for d in yaml.safe_load_all(plan_text) if d]
        plan = ComponentDefinition.model_validate(docs[0]["component-definition"])
    except (yaml.YAMLError, IndexError, KeyError, TypeError, ValueError) as exc:
        reason = " ".join(str(exc).splitlines()[:3])
        raise SeiError(f"{where}: not an OSCAL component-definition: {reason}") from None
    requirements = [
        req
        for comp in plan.components or []
        for impl in comp.control_implementations or []
        for req in impl.implemented_requirements
    ]
    return plan, requirements


def build_results(plan_text: str, plan_href: str, bundle_bytes: bytes) -> Any:
    """The trestle AssessmentResults of one evidence bundle against its compiled plan."""
    from trestle.oscal import OSCAL_VERSION
    from trestle.oscal import common as oc
    from trestle.oscal.assessment_results import AssessmentResults, ImportAp, Result

    from sei_assets.core.model import Bundle
    from sei_assets.core.oscal import PLAN_EPOCH, program_uid

    try:
        bundle = Bundle.from_bytes(bundle_bytes)
    except ValueError as exc:
        reason = " ".join(str(exc).splitlines()[:3])
        raise SeiError(f"{BUNDLE_HREF}: not a valid evidence bundle: {reason}") from None
    plan, requirements = plan_requirements(plan_text, plan_href)
    by_control = {req.control_id: req for req in requirements}
    system = bundle.system_name
    digest = hashlib.sha256(bundle_bytes).hexdigest()
    plan_digest = hashlib.sha256(plan_text.encode("utf-8")).hexdigest()
    ns = program_uid(system)
    moment = bundle.generated_at or PLAN_EPOCH

    def uid(*parts: str) -> str:
        return str(uuid.uuid5(ns, "/".join(("assessment-results", *parts, digest))))

    def props(pairs: list[tuple[str, Any]]) -> list[Any] | None:
        out = [oc.Property(name=k, value=_text(v)) for k, v in pairs if v not in (None, "")]
        return out or None

    bundle_resource, plan_resource = uid("resource", "bundle"), uid("resource", "plan")
    observations, findings = [], []
    for r in bundle.control_results:
        req = by_control.get(r.control_id)
        if req is None:
            raise SeiError(
                f"{plan_href}: control {r.control_id!r} of the evidence bundle is not in the "
                f"plan (its controls: {', '.join(sorted(by_control)) or 'none'}): run "
                "`sei compile`, then `sei run`"
            )
        plan_props = {p.name: p.value for p in req.props or []}
        method = "TEST" if plan_props.get("evaluation_method", "automated") in TESTED else "EXAMINE"
        constraint = f"{r.metric_key} {r.operator} {_text(r.threshold)}"
        verdict = "satisfied" if r.passed else "not-satisfied"
        measured = "not reported" if r.actual_value is None else _text(r.actual_value)
        observation = oc.Observation(
            uuid=uid("observation", r.control_id),
            title=f"{r.control_id}: {constraint}",
            description=(
                f"{'Measured' if method == 'TEST' else 'Examined'} {r.metric_key} = {measured} "
                f"against {r.operator} {_text(r.threshold)}: "
                f"{'passed' if r.passed else 'failed'}"
                + (f" ({r.failure})" if r.failure else "")
                + (" (underpowered)" if r.underpowered else "")
                + "."
            ),
            props=props(
                [
                    ("metric_key", r.metric_key),
                    ("actual_value", r.actual_value),
                    ("operator", r.operator),
                    ("threshold", r.threshold),
                    ("enforcement_mode", r.enforcement_mode),
                    ("severity", r.severity),
                    ("passed", r.passed),
                    ("underpowered", r.underpowered),
                    ("risk_id", r.risk_id),
                ]
            ),
            methods=[method],
            types=["control-objective"],
            relevant_evidence=[
                oc.RelevantEvidence(
                    href=BUNDLE_HREF,
                    description=f"The signed evidence bundle: control_results[{r.control_id}].",
                    links=[oc.Link(href=f"#{bundle_resource}", rel="reference")],
                )
            ],
            collected=moment,
            remarks=r.failure,
        )
        observations.append(observation)
        findings.append(
            oc.Finding(
                uuid=uid("finding", r.control_id),
                title=f"{r.control_id}: {verdict}",
                description=(
                    f"{req.description or r.control_id}, {r.operator} {_text(r.threshold)}: "
                    f"{verdict} (enforcement {r.enforcement_mode})."
                ),
                props=props([("enforcement_mode", r.enforcement_mode), ("risk_id", r.risk_id)]),
                target=oc.FindingTarget(
                    type="objective-id",
                    target_id=r.control_id,
                    status=oc.ObjectiveStatus(state=verdict, reason="pass" if r.passed else "fail"),
                ),
                implementation_statement_uuid=req.uuid,
                related_observations=[oc.RelatedObservation(observation_uuid=observation.uuid)],
            )
        )
    result = Result(
        uuid=uid("result"),
        title=f"Evidence of '{system}' at {moment}",
        description=(
            f"The controls of the compiled plan evaluated by `sei run` on commit "
            f"{bundle.triple.code or 'unknown'}: gate {bundle.verdict}."
        ),
        start=moment,
        end=moment,
        props=props(
            [
                ("gate", bundle.verdict),
                ("gate_failures", ",".join(bundle.failing)),
                ("commit", bundle.triple.code),
                ("metrics_source", getattr(bundle.pipeline, "metrics_source", None)),
            ]
        ),
        links=[oc.Link(href=f"#{plan_resource}", rel="reference", text="the assessment plan")],
        reviewed_controls=oc.ReviewedControls(
            control_selections=[
                oc.ControlSelections(
                    include_controls=[
                        oc.SelectControlById(control_id=req.control_id) for req in requirements
                    ]
                )
            ]
        ),
        observations=observations or None,
        findings=findings or None,
    )

    def resource(rid: str, title: str, href: str, media: str, hexdigest: str) -> Any:
        return oc.Resource(
            uuid=rid,
            title=title,
            rlinks=[
                oc.Rlink(
                    href=href,
                    media_type=media,
                    hashes=[oc.Hash(algorithm="SHA-256", value=hexdigest)],
                )
            ],
        )

    return AssessmentResults(
        uuid=uid("document"),
        metadata=oc.Metadata(
            title=f"Assessment results of '{system}'",
            last_modified=moment,
            version=plan.metadata.version,
            oscal_version=OSCAL_VERSION,
        ),
        import_ap=ImportAp(
            href=plan_href,
            remarks="The plan compiled by `sei compile` (an OSCAL component-definition); "
            "paths in this document are relative to the repository's root.",
        ),
        results=[result],
        back_matter=oc.BackMatter(
            resources=[
                resource(
                    bundle_resource, "Evidence bundle", BUNDLE_HREF, "application/json", digest
                ),
                resource(
                    plan_resource, "Assessment plan", plan_href, "application/yaml", plan_digest
                ),
            ]
        ),
    )


def render_results(plan_text: str, plan_href: str, bundle_bytes: bytes) -> bytes:
    """The document's bytes (JSON, written like the other evidence): same inputs, same bytes."""
    from sei_assets.core.evidence import dump

    return dump(build_results(plan_text, plan_href, bundle_bytes).oscal_dict())
