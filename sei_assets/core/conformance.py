"""Conformance: project a system's evidence onto a standard's clause catalogue.

Each catalogue is data (``knowledge/standards/<slug>.yaml``): per clause an id, a title, the
phase of the risk cycle it belongs to and the rule that decides it. A clause gets one decision:

- ``covered``: its rule holds (or every evaluated measure citing it passes);
- ``covered_attested``: measures cite it but none is evaluated yet (declared, not measured);
- ``partial``: some of what the rule needs holds (some citing measures pass);
- ``gap``: nothing evidences it.

The rules are of four kinds; the precedence between them, stated once, decides which one
applies to a clause, and the clause's ``basis`` starts by naming it (``criterion``,
``declaration``, ``citing measures``, ``artefact``, or the combinator):

1. a **criterion** (:data:`CRITERIA`: a condition on the whole risk program, such as "every
   hazard's residual is evaluated") decides alone: measures citing the clause cannot show that
   it holds for every risk (prEN 18228 6.3, 9.1.2, 9.3, 10);
2. a **declaration** (:data:`DECLARATIONS`: what the manifest states about the system, such as
   the stakeholders it identifies or its foreseeable misuse) decides alone too: the manifest is
   the whole of that evidence, and a measure citing the clause neither adds to it nor takes from
   it (ISO/IEC 23894 6.2 is decided by the stakeholders the manifest identifies, not by an
   unevaluated measure that cites it);
3. else the **measures citing the clause** decide (``cited``): they are the means the provider
   assigned to it, and their results (or their being declared, not yet measured) are its state;
4. else the clause's **artefact** rule (evidence that exists: a signed bundle, a monitoring
   plan, power statistics, an approval, the dataset's description) decides;
5. else it is a gap.

Signed evidence is read wherever the reference keeps it (``.sei/``, ``.venth/``, ``.froga/``:
the folder of the bundle projected). Two facts are kept apart and both go into the basis:
*a signed bundle is present* (its ``bundle.json.sig`` lies beside it: the reference's rule, and
what ``signed_bundle`` and ``bom`` need) and *its signatures verify with a trusted key* (the
rule of ``sei verify``); a clause that needs the second says so (``signed_bundle: {verified:
true}``) and is ``partial`` when the bundle is signed but not verified.

So a bare artifact rule (``rule: signed_bundle``) yields to citations when there are any, and
a combinator (``all_of``, ``any_of``) is decided exactly as written. The rule vocabulary
(interpreted by :data:`RULES`), with two combinators:
``all_of`` (all covered → covered; all covered or attested → covered_attested; all gap → gap;
else partial) and ``any_of`` (the strongest decision):

==================  ==========================================================================
``cited``           measures citing ``<standard>#<clause>`` (standard_clauses, frameworks, or
                    their treatment's ``controls``; ``articles: [..]`` adds measures by EU AI
                    Act article): all evaluated pass → covered, some → partial, none → gap;
                    cited but none evaluated → covered_attested. The default when no rule.
``stakeholders``    affected persons declared
``intended_purpose`` intended purpose declared
``misuses_declared`` reasonably foreseeable misuse declared
``misuses_addressed`` every declared misuse addressed by a declared risk (some → partial)
``classification``  classification tier with its basis
``roles_declared``  operator roles (provider, deployer, ...) declared
``standards_declared`` applicable standards declared
``risk_estimation`` every declared risk has a likelihood and an impact
``criteria_applied`` risk appetite declared and the overall residual evaluated against it
``control_hierarchy`` every risk that needs treatment has a treatment with measures, and every
                    declared control tier belongs to the hierarchy of risk control
``residual_present`` residual risk evaluated, for every risk with a blocking control
``overall_residual`` overall residual risk within its criterion
``power_stats``     statistical power reported for at least one control
``controls``        the evaluated controls (optionally ``blocking: true``) pass
``treatment_events`` a failed control passes after a treatment (corrective action recorded)
``data_governance`` the dataset documented (Croissant) in the bundle
``monitoring``      review_interval or lifecycle monitoring measures (``require_art72: true``:
                    only a measure's post-market plan with trigger, frequency and Art. 72
                    citation is covered)
``signed_bundle``   a signed evidence bundle is present (``verified: true``: and its signatures
                    verify with a trusted key)
``bom``             a component inventory (CycloneDX BOM) in the signed bundle
``approval``        management approval recorded and not stale
==================  ==========================================================================

One more rule wraps another: ``post_market: {plan: SPEC, decides: plan|results}`` decides a
post-market clause (Art. 72, Art. 73, ISO/IEC 42001 9.1). A system that declares no production
source (``monitoring.source``) has only its plan to show: ``SPEC`` decides. A system that
declares one must show the monitoring's results too: the clause is a **gap** unless signed
monitoring periods exist, their signatures are not refused, the newest of each frequency is
current, and no serious-incident report deadline is missed (:func:`post_market_results`, the
rule once); when they are met, ``SPEC`` decides (``decides: plan``, the default) or the results
alone cover it (``decides: results``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.evidence import dump, write_signed
from sei_assets.core.layout import EVIDENCE_DIR
from sei_assets.core.manifest import LoadedManifest, Manifest, Measure, Treatment
from sei_assets.core.model import Bundle, ConformanceDoc, ControlResult
from sei_assets.core.model.bundle import as_bundle

SCHEMA_VERSION = 1
KIND = "conformance"
DECISIONS = ("gap", "partial", "covered_attested", "covered")
#: The hierarchy of risk control (ISO 14971 / prEN 18228 9.1.2) a declared control tier names.
CONTROL_TIERS = ("inherent", "design", "protective", "information", "informative", "organizational")
_NO_TREATMENT = {"ACCEPT", "RETAIN"}


def standard_slug(standard_id: str) -> str:
    """File-name slug of a standard id: ``eu/dora@2022`` → ``eu_dora_2022``."""
    return standard_id.replace("/", "_").replace("@", "_")


# --------------------------------------------------------------------------- catalogues


def catalogue(standard_id: str) -> dict[str, Any] | None:
    """The clause catalogue of ``standard_id`` (validated), or None when there is none."""
    from sei_assets.core.knowledge import standard_catalogue

    slug = standard_slug(standard_id)
    data = standard_catalogue(slug)
    if data is not None and data.get("standard") != standard_id:
        raise SeiError(f"catalogue {slug}.yaml declares {data.get('standard')!r}")
    return data


def catalogues() -> list[str]:
    """Every standard id that has a catalogue, sorted."""
    from sei_assets.core.knowledge import standard_catalogue, standard_slugs

    found = (standard_catalogue(s) for s in standard_slugs())
    return sorted(c["standard"] for c in found if c is not None)


def applicable(loaded: LoadedManifest) -> list[str]:
    """The manifest's applicable standards that have a catalogue, in manifest order."""
    return [s for s in loaded.manifest.context.applicable_standards if catalogue(s) is not None]


# --------------------------------------------------------------------------- evaluation


@dataclass
class Outcome:
    """One rule's verdict on a clause."""

    decision: str
    basis: str
    measures: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What the rules see: the manifest, the bundle, the approval and the citations."""

    loaded: LoadedManifest
    bundle: Bundle
    standard: str
    approval: dict[str, Any] | None
    evidence_signed: bool
    rollup: bool
    has_bundle: bool = True
    #: whether the signatures verify with a trusted key (None: not checked), and why not
    evidence_verified: bool | None = None
    verification_note: str = ""
    #: the post-market monitoring's results (`postmarket.results`; None: not read)
    post_market: dict[str, Any] | None = None

    @property
    def manifest(self) -> Manifest:
        return self.loaded.manifest

    @property
    def results(self) -> dict[str, ControlResult]:
        return {r.control_id: r for r in self.bundle.control_results}


Rule = Callable[[Context, str, dict[str, Any]], Outcome]


def _met(name: str, ok: bool) -> Outcome:
    if ok:
        return Outcome("covered", f"criterion {name} met")
    return Outcome("gap", f"criterion {name} NOT met")


def _treated_measures(m: Manifest) -> list[tuple[Treatment, Measure]]:
    if not m.risk:
        return []
    return [(t, x) for r in m.risk.risks for t in r.treat for x in t.measures]


def _cites(ref: str, standard: str, clause: str, rollup: bool) -> bool:
    sid, _, cid = ref.partition("#")
    return sid == standard and (cid == clause or (rollup and cid.startswith(clause + ".")))


def _cited(ctx: Context, clause: str, params: dict[str, Any]) -> Outcome:
    articles = {str(a) for a in params.get("articles", [])}
    citing = []
    for treat, measure in _treated_measures(ctx.manifest):
        refs = [*measure.standard_clauses, *measure.frameworks, *treat.controls]
        if any(_cites(r, ctx.standard, clause, ctx.rollup) for r in refs) or (
            measure.article in articles
        ):
            citing.append(measure.id)
    citing = sorted(set(citing))
    if not citing:
        return Outcome("gap", "no measure cites the clause")
    results = ctx.results
    evaluated = [m for m in citing if m in results]
    if not evaluated:
        return Outcome(
            "covered_attested",
            f"{len(citing)} measure(s) cite the clause, not evaluated yet (declared, not measured)",
            citing,
        )
    passed = sum(1 for m in evaluated if results[m].passed is True)
    decision = "covered" if passed == len(evaluated) else "partial" if passed else "gap"
    return Outcome(
        decision, f"{passed} of {len(evaluated)} citing evaluated measure(s) pass", citing
    )


def _stakeholders(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    persons = ctx.manifest.system.affected_persons
    if persons:
        return Outcome("covered", f"affected persons identified ({', '.join(persons)})")
    return Outcome("gap", "no affected persons declared")


def _intended_purpose(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    if ctx.manifest.system.intended_purpose.strip():
        return Outcome("covered", "intended purpose declared")
    return Outcome("gap", "no intended purpose declared")


def _misuses_declared(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    misuses = ctx.manifest.system.potential_misuses
    if misuses:
        return Outcome("covered", f"reasonably foreseeable misuse declared ({len(misuses)})")
    return Outcome("gap", "no reasonably foreseeable misuse declared")


def _misuses_addressed(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    misuses = ctx.manifest.system.potential_misuses
    if not misuses:
        return Outcome("gap", "no reasonably foreseeable misuse declared")
    declared = {r.id for r in ctx.manifest.risk.risks} if ctx.manifest.risk else set()
    open_ = [x.id for x in misuses if not (set(x.addressed_by) & declared)]
    if not open_:
        return Outcome("covered", f"all {len(misuses)} foreseeable misuse(s) addressed by risks")
    done = len(misuses) - len(open_)
    return Outcome(
        "partial" if done else "gap",
        f"{done} of {len(misuses)} foreseeable misuse(s) addressed; "
        f"unaddressed: {', '.join(open_)}",
    )


def _classification(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    c = ctx.manifest.classification
    if c is None:
        return Outcome("gap", "no classification declared")
    if not c.basis:
        return Outcome("partial", f"classification tier {c.tier} declared without its basis")
    return Outcome("covered", f"classification tier {c.tier} declared with its basis")


def _roles_declared(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    roles = [r.role for r in ctx.manifest.roles]
    if roles:
        return Outcome("covered", f"operator role(s) declared ({', '.join(roles)})")
    return Outcome("gap", "no operator role declared")


def _standards_declared(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    n = len(ctx.manifest.context.applicable_standards)
    return (
        Outcome("covered", f"{n} applicable standard(s) declared")
        if n
        else Outcome("gap", "no applicable standard declared")
    )


def _risk_estimation(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    risks = ctx.manifest.risk.risks if ctx.manifest.risk else []
    return _met("risk_estimation", bool(risks) and all(r.likelihood and r.impact for r in risks))


def _criteria_applied(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    program = ctx.manifest.risk
    if not program or not program.appetite:
        return Outcome("gap", "no risk appetite declared")
    overall = ctx.bundle.overall_residual
    if overall and overall.evaluation:
        return Outcome("covered", "criteria established and applied (overall residual evaluated)")
    return Outcome("partial", "criteria established, overall residual not evaluated")


def _control_hierarchy(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    program = ctx.manifest.risk
    if not program or not program.risks:
        return _met("control_hierarchy", False)
    needs = {
        a.risk_id: a.requires_treatment if "requires_treatment" in a.model_fields_set else True
        for a in ctx.bundle.risk_analysis
    }
    findings = []
    for risk in program.risks:
        acting = [t for t in risk.treat if t.method not in _NO_TREATMENT and t.measures]
        if needs.get(risk.id, True) and not acting:
            findings.append(risk.id)
        for measure in risk.measures:
            if measure.control_tier and measure.control_tier not in CONTROL_TIERS:
                findings.append(f"{measure.id} (tier {measure.control_tier})")
    if findings:
        return Outcome("gap", f"criterion control_hierarchy NOT met: {', '.join(findings)}")
    return _met("control_hierarchy", True)


def _residual_present(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    evaluated = {a.risk_id for a in ctx.bundle.risk_analysis if a.has_residual}
    if not evaluated:
        return _met("residual_present", False)
    blocking = {r.risk_id for r in ctx.bundle.control_results if r.enforcement_mode == "block"}
    missing = sorted(rid for rid in blocking if rid is not None and rid not in evaluated)
    if missing:  # 9.3 asks it of each hazard: one without is the criterion unmet
        return Outcome(
            "gap", f"criterion residual_present NOT met: no residual for {', '.join(missing)}"
        )
    return _met("residual_present", True)


def _overall_residual(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    overall = ctx.bundle.overall_residual
    return _met("overall_residual", overall is not None and overall.evaluation == "within")


def _power_stats(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    if any(r.power for r in ctx.bundle.control_results):
        return Outcome("covered", "statistical power reported for at least one control")
    return Outcome("gap", "no control reports statistical power")


def _controls(ctx: Context, _c: str, params: dict[str, Any]) -> Outcome:
    rows = ctx.bundle.control_results
    if params.get("blocking"):
        rows = [r for r in rows if r.enforcement_mode == "block"]
    if not rows:
        return Outcome("gap", "no control evaluated")
    passed = sum(1 for r in rows if r.passed is True)
    decision = "covered" if passed == len(rows) else "partial" if passed else "gap"
    return Outcome(decision, f"{passed} of {len(rows)} evaluated control(s) pass")


def _treatment_events(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    events = ctx.bundle.treatment_events
    if events:
        return Outcome("covered", f"{len(events)} corrective treatment(s) recorded (FAIL → PASS)")
    return Outcome("gap", "no corrective treatment recorded")


def _data_governance(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    if ctx.bundle.data_governance:
        return Outcome("covered", "dataset documented (Croissant) in the evidence")
    if ctx.manifest.dataset.croissant:
        return Outcome("partial", "dataset description declared, not in the evidence")
    return Outcome("gap", "no dataset documentation")


def _art72_plans(ctx: Context) -> list[str]:
    """Measures with a complete post-market plan (trigger, frequency, Art. 72 citation)."""
    return [m.id for _r, m in ctx.manifest.measures if m.plan is not None and m.plan.complete]


def _monitoring(ctx: Context, _c: str, params: dict[str, Any]) -> Outcome:
    if _art72_plans(ctx):
        return Outcome(
            "covered", "post-market plan with Art. 72 semantics (citation, trigger, frequency)"
        )
    program = ctx.manifest.risk
    declared = bool(program and program.review_interval) or any(
        m.is_monitoring for _r, m in ctx.manifest.measures
    )
    if not declared:
        return Outcome("gap", "no monitoring plan (no review_interval, no monitoring measure)")
    basis = "monitoring plan declared (review_interval or lifecycle monitoring measures)"
    if params.get("require_art72"):
        return Outcome("partial", f"{basis}; no Art. 72 trigger and frequency declared")
    return Outcome("covered", f"{basis}; no verifiable Art. 72 semantics, audit only")


def _verification(ctx: Context) -> str:
    if ctx.evidence_verified is None:
        return "signatures not checked against a trusted key"
    if ctx.evidence_verified:
        return "signatures verify with a trusted key"
    note = f": {ctx.verification_note}" if ctx.verification_note else ""
    return f"signatures do not verify with a trusted key{note}"


def _signed_bundle(ctx: Context, _c: str, params: dict[str, Any]) -> Outcome:
    if not (ctx.has_bundle and ctx.evidence_signed):
        return Outcome("gap", "no signed evidence bundle")
    basis = f"signed evidence bundle present; {_verification(ctx)}"
    if params.get("verified") and not ctx.evidence_verified:
        return Outcome("partial", f"{basis} (the clause needs verified evidence)")
    return Outcome("covered", basis)


def _bom(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    bom = ctx.bundle.bom
    if bom and bom.components and ctx.evidence_signed:
        return Outcome(
            "covered", f"signed component inventory (BOM) in the bundle; {_verification(ctx)}"
        )
    return Outcome("gap", "no signed component inventory (BOM)")


def _approval(ctx: Context, _c: str, _p: dict[str, Any]) -> Outcome:
    a = ctx.approval or {}
    state = a.get("state") or ("approved" if a.get("approver") else "draft")
    by = a.get("by") or a.get("approver") or "?"
    if state == "approved" and a.get("stale"):
        why = a.get("stale_reason") or "the evidence changed after it"
        return Outcome("gap", f"management approval by {by} is stale: {why}")
    if state == "approved" and a.get("counted") is not True:
        from sei_assets.core.counting import why_not

        return Outcome("gap", f"management approval by {by} does not count: {why_not(a)}")
    if state == "approved":
        return Outcome("covered", f"management approval recorded (Sei-Approved-by: {by})")
    return Outcome("gap", f"no management approval (lifecycle state: {state})")


def post_market_results(ctx: Context) -> Outcome:
    """Whether the post-market monitoring of a system with a production source has results
    that count: signed periods, not refused by the signature check, current in each frequency,
    and no serious-incident report deadline missed (covered), else a gap saying what is not."""
    state = ctx.post_market or {}
    periods = state.get("periods", 0)
    if not periods:
        return Outcome("gap", "no signed monitoring period of the production source")
    if ctx.evidence_verified is False:
        return Outcome("gap", f"{periods} monitoring period(s), {_verification(ctx)}")
    stale = [c for c in state.get("currency") or [] if not c.get("post_market_current")]
    if stale or not state.get("currency"):
        newest = ", ".join(f"{c['frequency']} last {c['last_period']}" for c in stale)
        return Outcome("gap", f"{periods} signed monitoring period(s), not current ({newest})")
    missed = state.get("deadlines_missed") or []
    if missed:
        return Outcome(
            "gap",
            f"{periods} signed, current monitoring period(s); serious-incident report "
            f"deadline missed: {', '.join(missed)}",
        )
    incidents = state.get("incidents", 0)
    return Outcome(
        "covered",
        f"{periods} signed monitoring period(s), current; {incidents} serious incident(s), "
        "no report deadline missed",
    )


def _post_market(ctx: Context, clause: str, params: dict[str, Any]) -> Outcome:
    plan = _evaluate(ctx, clause, params["plan"])
    if ctx.manifest.monitoring is None:
        plan.basis = (
            f"no production source declared (monitoring.source), the plan decides: {plan.basis}"
        )
        return plan
    results = post_market_results(ctx)
    if results.decision != "covered":
        return Outcome("gap", f"production source declared; {results.basis}", plan.measures)
    if params.get("decides") == "results":
        return Outcome(results.decision, results.basis, plan.measures)
    return Outcome(plan.decision, f"{results.basis}; {plan.basis}", plan.measures)


RULES: dict[str, Rule] = {
    "cited": _cited,
    "stakeholders": _stakeholders,
    "intended_purpose": _intended_purpose,
    "misuses_declared": _misuses_declared,
    "misuses_addressed": _misuses_addressed,
    "classification": _classification,
    "roles_declared": _roles_declared,
    "standards_declared": _standards_declared,
    "risk_estimation": _risk_estimation,
    "criteria_applied": _criteria_applied,
    "control_hierarchy": _control_hierarchy,
    "residual_present": _residual_present,
    "overall_residual": _overall_residual,
    "power_stats": _power_stats,
    "controls": _controls,
    "treatment_events": _treatment_events,
    "data_governance": _data_governance,
    "monitoring": _monitoring,
    "signed_bundle": _signed_bundle,
    "bom": _bom,
    "approval": _approval,
}
COMBINATORS = ("all_of", "any_of")
#: A rule that wraps a rule (its ``plan``) and adds the monitoring's results.
WRAPPERS = {"post_market": _post_market}
#: Rules that are conditions on the whole risk program: they decide a clause alone.
CRITERIA = frozenset(
    {"risk_estimation", "control_hierarchy", "residual_present", "overall_residual"}
    | {"misuses_addressed"}
)
#: Rules on what the manifest declares: they decide a clause alone as well.
DECLARATIONS = frozenset(
    {"stakeholders", "intended_purpose", "misuses_declared", "classification"}
    | {"roles_declared", "standards_declared"}
)


def precedence(spec: Any) -> str:
    """Which kind of rule decides a clause with this rule spec, before any evidence is read:
    ``criterion``, ``declaration``, ``citing measures`` (they decide first when there are
    any), or the combinator (``all_of``, ``any_of``: decided exactly as written)."""
    name, _params = _parse(spec)
    if name in CRITERIA:
        return "criterion"
    if name in DECLARATIONS:
        return "declaration"
    if name in COMBINATORS or name in WRAPPERS:
        return name
    return "citing measures"


def _parse(spec: Any) -> tuple[str, Any]:
    """A rule spec (``name`` or ``{name: params}``) as (name, params)."""
    if spec is None:
        return "cited", {}
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and len(spec) == 1:
        name, params = next(iter(spec.items()))
        return name, params if params is not None else {}
    raise SeiError(f"a conformance rule is a name or a one-key mapping, got {spec!r}")


def check_rule(spec: Any) -> None:
    """Raise SeiError unless ``spec`` uses only the known rule vocabulary."""
    name, params = _parse(spec)
    if name in COMBINATORS:
        if not isinstance(params, list) or not params:
            raise SeiError(f"{name} takes a non-empty list of rules")
        for sub in params:
            check_rule(sub)
    elif name in WRAPPERS:
        if not isinstance(params, dict) or "plan" not in params:
            raise SeiError(f"{name} takes a mapping with the rule of its plan: {{plan: RULE}}")
        unknown = set(params) - {"plan", "decides"}
        if unknown or params.get("decides", "plan") not in ("plan", "results"):
            raise SeiError(f"{name}: expected plan and decides (plan or results), got {params!r}")
        check_rule(params["plan"])
    elif name not in RULES:
        raise SeiError(f"unknown conformance rule {name!r}: expected one of {sorted(RULES)}")
    elif not isinstance(params, dict):
        raise SeiError(f"rule {name} takes a mapping of parameters, got {params!r}")


def _combine_all(outcomes: list[Outcome]) -> Outcome:
    decisions = {o.decision for o in outcomes}
    if decisions == {"covered"}:
        decision = "covered"
    elif decisions <= {"covered", "covered_attested"}:
        decision = "covered_attested"
    elif decisions == {"gap"}:
        decision = "gap"
    else:
        decision = "partial"
    measures = sorted({m for o in outcomes for m in o.measures})
    return Outcome(decision, "; ".join(o.basis for o in outcomes), measures)


def _evaluate(ctx: Context, clause: str, spec: Any) -> Outcome:
    name, params = _parse(spec)
    if name == "all_of":
        return _combine_all([_evaluate(ctx, clause, s) for s in params])
    if name == "any_of":
        outcomes = [_evaluate(ctx, clause, s) for s in params]
        best = max(outcomes, key=lambda o: DECISIONS.index(o.decision))
        if best.decision == "gap":
            return Outcome("gap", "; ".join(o.basis for o in outcomes))
        return best
    if name in WRAPPERS:
        return WRAPPERS[name](ctx, clause, params)
    return RULES[name](ctx, clause, params)


def decide(ctx: Context, clause: str, spec: Any) -> Outcome:
    """One clause's decision by the precedence of the module docstring; its basis starts by
    naming the rule that applied."""
    name, _params = _parse(spec)
    kind = precedence(spec)
    if kind == "citing measures":
        citing = _cited(ctx, clause, {})
        if citing.measures or name == "cited":
            citing.basis = f"citing measures: {citing.basis}"
            return citing
        kind = f"artefact {name}"
    elif kind in ("criterion", "declaration"):
        kind = f"{kind} {name}"
    outcome = _evaluate(ctx, clause, spec)
    outcome.basis = f"{kind}: {outcome.basis}"
    return outcome


def project(
    loaded: LoadedManifest,
    bundle: Bundle | dict[str, Any] | None,
    standard_id: str,
    approval: dict[str, Any] | None = None,
    evidence_signed: bool = True,
    evidence_verified: bool | None = None,
    verification_note: str = "",
    post_market: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The conformance document of ``standard_id`` for this system and its evidence bundle.
    ``evidence_signed``: a signed bundle is present; ``evidence_verified``: its signatures
    verify with a trusted key (None: not checked), ``verification_note`` saying why not;
    ``post_market``: the monitoring's results (`postmarket.results`)."""
    cat = catalogue(standard_id)
    if cat is None:
        raise SeiError(f"no clause catalogue for {standard_id}: known {', '.join(catalogues())}")
    present = bool(bundle)
    bundle = as_bundle(bundle or {"system_name": loaded.manifest.system.name})
    ctx = Context(
        loaded,
        bundle,
        standard_id,
        approval,
        evidence_signed,
        bool(cat.get("rollup")),
        present,
        evidence_verified,
        verification_note,
        post_market,
    )
    clauses = []
    for clause in cat["clauses"]:
        cid = str(clause["id"])
        outcome = decide(ctx, cid, clause.get("rule"))
        if outcome.decision == "gap" and clause.get("rule") is None and not outcome.measures:
            outcome.basis = (
                "citing measures: no measure cites the clause and no criterion or artefact applies"
            )
        clauses.append(
            {
                "basis": outcome.basis,
                "clause_id": cid,
                "cycle_phase": clause["cycle_phase"],
                "decision": outcome.decision,
                "measures": outcome.measures,
                "title": clause["title"],
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "system": loaded.manifest.system.name,
        "payload": {"clauses": clauses, "standard": standard_id},
    }


def path_for(repo: Path, standard_id: str) -> Path:
    """Where the conformance document of ``standard_id`` is written."""
    return Path(repo) / EVIDENCE_DIR / "conformance" / f"{standard_slug(standard_id)}.json"


def write(repo: Path, doc: dict[str, Any], key: Any) -> Path:
    """Write ``.sei/conformance/<slug>.json`` and its detached signature; return the JSON path."""
    from sei_assets.core import signing

    target = path_for(repo, doc["payload"]["standard"])
    write_signed(target, dump(ConformanceDoc.model_validate(doc)), key)
    signing.write_pubkey(Path(repo) / EVIDENCE_DIR, key)
    return target
