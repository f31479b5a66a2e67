"""The conformance decisions of `core/conformance.py` pinned (issue 32): the precedence of the
module docstring (criterion, declaration, citing measures, artefact, gap), the ``cited`` rule,
the two combinators and each rule of the vocabulary. Manifests and bundles are built in memory;
no catalogue, no file, no subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sei_assets.core import conformance
from sei_assets.core.counting import NO_ROSTER
from sei_assets.core.errors import SeiError
from sei_assets.core.manifest import LoadedManifest, Manifest
from sei_assets.core.model.bundle import as_bundle

pytestmark = pytest.mark.fast

STD = "iso/23894@2023"


def _measure(mid: str, **extra: Any) -> dict[str, Any]:
    return {"id": mid, "metric": mid, "constraint": "< 0.5", "enforcement": "gate", **extra}


def _manifest(
    risks: list[dict[str, Any]] | None = None,
    system: dict[str, Any] | None = None,
    program: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"system": {"name": "sys", **(system or {})}, **top}
    if risks is not None or program is not None:
        doc["risk"] = {
            "appetite": {"individual": "MEDIUM"},
            "risks": risks or [],
            **(program or {}),
        }
    return doc


def _risk(rid: str, measures: list[dict[str, Any]] = (), **treat: Any) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "id": rid,
        "likelihood": "POSSIBLE",
        "impact": {"individual": "HIGH"},
        "treat": [{"method": "REDUCE", "measures": list(measures), **treat}],
    }


def _result(cid: str, passed: bool, mode: str = "block", risk_id: str = "r", **extra: Any) -> dict:
    return {
        "control_id": cid,
        "metric_key": cid,
        "threshold": 0.5,
        "operator": "lt",
        "severity": "high",
        "enforcement_mode": mode,
        "passed": passed,
        "risk_id": risk_id,
        **extra,
    }


def _ctx(
    manifest: dict[str, Any] | None = None,
    bundle: dict[str, Any] | None = None,
    *,
    approval: dict[str, Any] | None = None,
    signed: bool = True,
    rollup: bool = False,
    has_bundle: bool = True,
    verified: bool | None = None,
    note: str = "",
    post_market: dict[str, Any] | None = None,
) -> conformance.Context:
    parsed = Manifest.model_validate(manifest or _manifest())
    loaded = LoadedManifest(path=Path("sei.yaml"), raw=b"", data={}, manifest=parsed)
    return conformance.Context(
        loaded,
        as_bundle({"system_name": "sys", **(bundle or {})}),
        STD,
        approval,
        signed,
        rollup,
        has_bundle,
        verified,
        note,
        post_market,
    )


def _rule(ctx: conformance.Context, spec: Any, clause: str = "6.4") -> conformance.Outcome:
    return conformance._evaluate(ctx, clause, spec)


def _decision(ctx: conformance.Context, spec: Any, clause: str = "6.4") -> str:
    return _rule(ctx, spec, clause).decision


# --------------------------------------------------------------------------- cited


def _citing(**where: Any) -> dict[str, Any]:
    return _manifest([_risk("r", [_measure("m1", **where)])])


@pytest.mark.parametrize(
    ("where", "clause", "rollup", "cites"),
    [
        ({"standard_clauses": [f"{STD}#6.4"]}, "6.4", False, True),
        ({"frameworks": [f"{STD}#6.4"]}, "6.4", False, True),
        ({"standard_clauses": [f"{STD}#6.4.2"]}, "6.4", True, True),
        ({"standard_clauses": [f"{STD}#6.4.2"]}, "6.4", False, False),
        ({"standard_clauses": [f"{STD}#6.40"]}, "6.4", True, False),
        ({"standard_clauses": [f"{STD}#6.4"]}, "6.4.2", True, False),
        ({"standard_clauses": ["eu/dora@2022#6.4"]}, "6.4", True, False),
        ({"standard_clauses": [f"{STD}#6.5"]}, "6.4", False, False),
        ({"article": "9"}, "6.4", False, False),
    ],
)
def test_which_references_cite_a_clause(
    where: dict[str, Any], clause: str, rollup: bool, cites: bool
) -> None:
    outcome = _rule(_ctx(_citing(**where), rollup=rollup), "cited", clause)
    assert outcome.measures == (["m1"] if cites else [])
    assert outcome.decision == ("covered_attested" if cites else "gap")


def test_a_treatments_controls_and_articles_cite_too() -> None:
    manifest = _manifest([_risk("r", [_measure("m1")], controls=[f"{STD}#6.4"])])
    assert _rule(_ctx(manifest), "cited").measures == ["m1"]
    by_article = _citing(article=9)
    assert _rule(_ctx(by_article), {"cited": {"articles": [9]}}).measures == ["m1"]
    assert _rule(_ctx(by_article), {"cited": {"articles": ["10"]}}).measures == []


def test_cited_decision_by_the_evaluated_measures() -> None:
    refs = {"standard_clauses": [f"{STD}#6.4"], "frameworks": [f"{STD}#6.4"]}
    manifest = _manifest([_risk("r", [_measure(m, **refs) for m in ("m3", "m1", "m2")])])

    def outcome(results: list[dict]) -> conformance.Outcome:
        return _rule(_ctx(manifest, {"control_results": results}), "cited")

    none = outcome([])
    assert none.decision == "covered_attested"
    assert none.measures == ["m1", "m2", "m3"]  # each once, sorted
    assert "3 measure(s) cite the clause, not evaluated yet" in none.basis
    assert outcome([_result("m1", True), _result("m2", True)]).decision == "covered"
    partial = outcome([_result("m1", True), _result("m2", False), _result("m3", False)])
    assert partial.decision == "partial"
    assert "1 of 3 citing evaluated measure(s) pass" in partial.basis
    assert outcome([_result("m1", False), _result("m2", False)]).decision == "gap"
    # a result of a measure that does not cite the clause counts for nothing
    assert outcome([_result("m1", True), _result("other", False)]).decision == "covered"
    assert outcome([_result("other", True)]).decision == "covered_attested"


def test_no_citation_is_a_gap() -> None:
    outcome = _rule(_ctx(_manifest([_risk("r", [_measure("m1")])])), "cited")
    assert (outcome.decision, outcome.measures) == ("gap", [])
    assert outcome.basis == "no measure cites the clause"
    assert _rule(_ctx(_manifest()), "cited").decision == "gap"  # no risk program at all


# --------------------------------------------------------------------------- precedence


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("risk_estimation", "criterion"),
        ("control_hierarchy", "criterion"),
        ("residual_present", "criterion"),
        ("overall_residual", "criterion"),
        ("misuses_addressed", "criterion"),
        ("stakeholders", "declaration"),
        ("intended_purpose", "declaration"),
        ("misuses_declared", "declaration"),
        ("classification", "declaration"),
        ("roles_declared", "declaration"),
        ({"standards_declared": None}, "declaration"),
        ({"all_of": ["bom"]}, "all_of"),
        ({"any_of": ["bom"]}, "any_of"),
        (None, "citing measures"),
        ("cited", "citing measures"),
        ("signed_bundle", "citing measures"),
        ({"controls": {"blocking": True}}, "citing measures"),
        ("approval", "citing measures"),
    ],
)
def test_precedence(spec: Any, kind: str) -> None:
    assert conformance.precedence(spec) == kind


def test_a_declaration_or_criterion_decides_alone() -> None:
    manifest = _citing(standard_clauses=[f"{STD}#6.2"])
    manifest["system"]["affected_persons"] = ["applicants"]
    out = conformance.decide(_ctx(manifest), "6.2", "stakeholders")
    assert out.decision == "covered"
    assert out.basis.startswith("declaration stakeholders: ")
    assert out.measures == []
    out = conformance.decide(_ctx(manifest), "6.2", "risk_estimation")
    assert out.basis == "criterion risk_estimation: criterion risk_estimation met"


def test_citing_measures_come_before_an_artefact_rule() -> None:
    manifest = _citing(standard_clauses=[f"{STD}#6.4"])
    out = conformance.decide(_ctx(manifest), "6.4", "signed_bundle")
    assert out.decision == "covered_attested"
    assert out.basis.startswith("citing measures: 1 measure(s) cite")
    assert out.measures == ["m1"]
    # no citation: the artefact decides, and says so
    out = conformance.decide(_ctx(manifest), "7.1", "signed_bundle")
    assert out.decision == "covered"
    assert out.basis.startswith("artefact signed_bundle: signed evidence bundle present")
    # the cited rule itself, uncited: a gap of the citing measures
    for spec in ("cited", None):
        out = conformance.decide(_ctx(manifest), "7.1", spec)
        assert (out.decision, out.basis) == ("gap", "citing measures: no measure cites the clause")


def test_a_combinator_is_decided_as_written() -> None:
    manifest = _citing(standard_clauses=[f"{STD}#6.4"])
    out = conformance.decide(_ctx(manifest, signed=False), "6.4", {"all_of": ["signed_bundle"]})
    assert out.decision == "gap"
    assert out.basis == "all_of: no signed evidence bundle"
    out = conformance.decide(_ctx(manifest), "6.4", {"any_of": ["signed_bundle", "cited"]})
    assert out.decision == "covered"
    assert out.basis.startswith("any_of: signed evidence bundle present")


# --------------------------------------------------------------------------- rule specs


def test_parse_rule_specs() -> None:
    assert conformance._parse(None) == ("cited", {})
    assert conformance._parse("bom") == ("bom", {})
    assert conformance._parse({"bom": None}) == ("bom", {})
    assert conformance._parse({"controls": {"blocking": True}}) == ("controls", {"blocking": True})
    for bad in ({"bom": {}, "cited": {}}, {}, ["bom"], 3):
        with pytest.raises(SeiError, match="a name or a one-key mapping"):
            conformance._parse(bad)


def test_check_rule_knows_the_vocabulary() -> None:
    for name in conformance.RULES:
        conformance.check_rule(name)
        conformance.check_rule({name: {}})
    conformance.check_rule({"all_of": ["bom", {"any_of": [{"controls": {"blocking": True}}]}]})
    conformance.check_rule(None)
    with pytest.raises(SeiError, match="unknown conformance rule 'nope'"):
        conformance.check_rule("nope")
    with pytest.raises(SeiError, match="unknown conformance rule 'nope'"):
        conformance.check_rule({"any_of": ["bom", "nope"]})
    with pytest.raises(SeiError, match="all_of takes a non-empty list of rules"):
        conformance.check_rule({"all_of": []})
    with pytest.raises(SeiError, match="any_of takes a non-empty list of rules"):
        conformance.check_rule({"any_of": "bom"})
    with pytest.raises(SeiError, match="rule signed_bundle takes a mapping of parameters"):
        conformance.check_rule({"signed_bundle": True})


def test_the_vocabulary_is_the_documented_one() -> None:
    documented = (
        "cited stakeholders intended_purpose misuses_declared misuses_addressed classification "
        "roles_declared standards_declared risk_estimation criteria_applied control_hierarchy "
        "residual_present overall_residual power_stats controls treatment_events "
        "data_governance monitoring signed_bundle bom approval"
    ).split()
    assert sorted(conformance.RULES) == sorted(documented)
    assert conformance.COMBINATORS == ("all_of", "any_of")
    for name, rule in conformance.RULES.items():
        assert rule.__name__ == f"_{name}"  # each name runs its own rule
    assert conformance.DECISIONS == ("gap", "partial", "covered_attested", "covered")


# --------------------------------------------------------------------------- combinators


def _fixed(decision: str) -> dict:
    """A spec whose outcome is ``decision`` in the context of `_combinable`."""
    return {
        "covered": {"cited": {"articles": ["1"]}},
        "covered_attested": {"cited": {"articles": ["2"]}},
        "partial": {"cited": {"articles": ["3"]}},
        "gap": {"cited": {"articles": ["4"]}},
    }[decision]


def _combinable() -> conformance.Context:
    risks = [
        _risk(
            "r",
            [_measure("a1", article="1"), _measure("a3", article="3"), _measure("b3", article="3")],
        ),
        _risk("s", [_measure("a2", article="2")]),
    ]
    results = [_result("a1", True), _result("a3", True), _result("b3", False)]
    return _ctx(_manifest(risks), {"control_results": results})


@pytest.mark.parametrize(
    ("parts", "all_of", "any_of"),
    [
        (["covered"], "covered", "covered"),
        (["covered", "covered"], "covered", "covered"),
        (["covered", "covered_attested"], "covered_attested", "covered"),
        (["covered_attested"], "covered_attested", "covered_attested"),
        (["gap"], "gap", "gap"),
        (["gap", "gap"], "gap", "gap"),
        (["gap", "covered"], "partial", "covered"),
        (["covered_attested", "gap"], "partial", "covered_attested"),
        (["partial"], "partial", "partial"),
        (["partial", "gap"], "partial", "partial"),
        (["covered", "partial"], "partial", "covered"),
    ],
)
def test_combinators(parts: list[str], all_of: str, any_of: str) -> None:
    ctx = _combinable()
    assert [_decision(ctx, _fixed(p)) for p in parts] == parts
    assert _decision(ctx, {"all_of": [_fixed(p) for p in parts]}) == all_of
    assert _decision(ctx, {"any_of": [_fixed(p) for p in parts]}) == any_of


def test_combinators_keep_measures_and_bases() -> None:
    ctx = _combinable()
    both = _rule(ctx, {"all_of": [_fixed("partial"), _fixed("covered")]})
    assert both.measures == ["a1", "a3", "b3"]
    assert (
        both.basis
        == "1 of 2 citing evaluated measure(s) pass; 1 of 1 citing evaluated measure(s) pass"
    )
    best = _rule(ctx, {"any_of": [_fixed("partial"), _fixed("covered_attested")]})
    assert (best.decision, best.measures) == ("covered_attested", ["a2"])
    gaps = _rule(ctx, {"any_of": [_fixed("gap"), "bom"]})
    assert gaps.decision == "gap"
    assert gaps.basis == "no measure cites the clause; no signed component inventory (BOM)"
    assert gaps.measures == []


# --------------------------------------------------------------------------- declarations


def test_declaration_rules() -> None:
    bare = _ctx(_manifest(system={"intended_purpose": "  "}))
    for name in ("stakeholders", "intended_purpose", "misuses_declared", "classification"):
        assert _decision(bare, name) == "gap", name
    assert _decision(bare, "roles_declared") == "gap"
    assert _decision(bare, "standards_declared") == "gap"
    full = _ctx(
        _manifest(
            system={
                "intended_purpose": "credit scoring",
                "affected_persons": ["applicants", "staff"],
                "potential_misuses": [{"id": "x"}],
            },
            classification={"tier": "high", "basis": ["Annex III 5(b)"]},
            roles=[{"role": "provider"}, {"role": "deployer"}],
            context={"applicable_standards": [STD]},
        )
    )
    for name in (
        "stakeholders",
        "intended_purpose",
        "misuses_declared",
        "classification",
        "roles_declared",
        "standards_declared",
    ):
        assert _decision(full, name) == "covered", name
    assert "(applicants, staff)" in _rule(full, "stakeholders").basis
    assert "(provider, deployer)" in _rule(full, "roles_declared").basis
    no_basis = _ctx(_manifest(classification={"tier": "limited"}))
    assert _decision(no_basis, "classification") == "partial"


@pytest.mark.parametrize(
    ("addressed", "expected"),
    [
        ([["r"], ["r", "s"]], "covered"),
        ([["r"], []], "partial"),
        ([["r"], ["undeclared"]], "partial"),
        ([[], ["undeclared"]], "gap"),
    ],
)
def test_misuses_addressed(addressed: list[list[str]], expected: str) -> None:
    misuses = [{"id": f"x{i}", "addressed_by": a} for i, a in enumerate(addressed)]
    ctx = _ctx(_manifest([_risk("r"), _risk("s")], system={"potential_misuses": misuses}))
    assert _decision(ctx, "misuses_addressed") == expected


def test_misuses_addressed_without_misuses_or_risks() -> None:
    assert _decision(_ctx(_manifest([_risk("r")])), "misuses_addressed") == "gap"
    no_program = _manifest(system={"potential_misuses": [{"id": "x", "addressed_by": ["r"]}]})
    assert _decision(_ctx(no_program), "misuses_addressed") == "gap"


# --------------------------------------------------------------------------- criteria


def test_risk_estimation() -> None:
    assert _decision(_ctx(_manifest()), "risk_estimation") == "gap"
    assert _decision(_ctx(_manifest([])), "risk_estimation") == "gap"
    assert _decision(_ctx(_manifest([_risk("r")])), "risk_estimation") == "covered"


def test_criteria_applied() -> None:
    assert _decision(_ctx(_manifest()), "criteria_applied") == "gap"
    no_appetite = _manifest([_risk("r")], program={"appetite": {}})
    assert (
        _decision(
            _ctx(no_appetite, {"overall_residual": {"evaluation": "within"}}), "criteria_applied"
        )
        == "gap"
    )
    manifest = _manifest([_risk("r")])
    assert _decision(_ctx(manifest), "criteria_applied") == "partial"
    assert (
        _decision(_ctx(manifest, {"overall_residual": {"level": "LOW"}}), "criteria_applied")
        == "partial"
    )
    evaluated = {"overall_residual": {"evaluation": "exceeds"}}
    assert _decision(_ctx(manifest, evaluated), "criteria_applied") == "covered"


@pytest.mark.parametrize(
    "tier", ["inherent", "design", "protective", "information", "informative", "organizational"]
)
def test_control_hierarchy_tiers(tier: str) -> None:
    ok = _manifest([_risk("r", [_measure("m", control_tier=tier)])])
    assert _decision(_ctx(ok), "control_hierarchy") == "covered"
    bad = _manifest([_risk("r", [_measure("m", control_tier=f"{tier}-ish")])])
    out = _rule(_ctx(bad), "control_hierarchy")
    assert out.decision == "gap"
    assert f"m (tier {tier}-ish)" in out.basis


def test_control_hierarchy_treatment() -> None:
    assert _decision(_ctx(_manifest()), "control_hierarchy") == "gap"
    assert _decision(_ctx(_manifest([])), "control_hierarchy") == "gap"
    acting = _manifest([_risk("r", [_measure("m")])])
    assert _decision(_ctx(acting), "control_hierarchy") == "covered"
    for method in ("ACCEPT", "RETAIN"):
        passive = _manifest([_risk("r", [_measure("m")], method=method)])
        out = _rule(_ctx(passive), "control_hierarchy")
        assert out.decision == "gap", method
        assert out.basis == "criterion control_hierarchy NOT met: r"
    empty = _manifest([_risk("r")])
    assert _decision(_ctx(empty), "control_hierarchy") == "gap"
    # a risk the analysis finds within appetite needs no treatment; one it does not say needs it
    within = {"risk_analysis": [{"risk_id": "r", "requires_treatment": False}]}
    assert _decision(_ctx(empty, within), "control_hierarchy") == "covered"
    unsaid = {"risk_analysis": [{"risk_id": "r"}]}
    assert _decision(_ctx(empty, unsaid), "control_hierarchy") == "gap"
    needs = {"risk_analysis": [{"risk_id": "r", "requires_treatment": True}]}
    assert _decision(_ctx(empty, needs), "control_hierarchy") == "gap"


def test_criteria_name_themselves_in_their_basis() -> None:
    acting = _ctx(_manifest([_risk("r", [_measure("m")])]))
    assert _rule(acting, "control_hierarchy").basis == "criterion control_hierarchy met"
    assert _rule(_ctx(), "control_hierarchy").basis == "criterion control_hierarchy NOT met"
    assert _rule(acting, "residual_present").basis == "criterion residual_present NOT met"
    evaluated = {"risk_analysis": [{"risk_id": "r", "residual_overall": "LOW"}]}
    met = _rule(_ctx(bundle=evaluated), "residual_present")
    assert met.basis == "criterion residual_present met"
    within = {"overall_residual": {"evaluation": "within"}}
    assert _rule(_ctx(bundle=within), "overall_residual").basis == "criterion overall_residual met"
    assert _rule(_ctx(), "overall_residual").basis == "criterion overall_residual NOT met"
    assert _rule(_ctx(), "risk_estimation").basis == "criterion risk_estimation NOT met"


def test_residual_present() -> None:
    manifest = _manifest([_risk("r"), _risk("s")])
    assert _decision(_ctx(manifest), "residual_present") == "gap"
    some = {
        "risk_analysis": [{"risk_id": "r", "residual_overall": "LOW"}, {"risk_id": "s"}],
        "control_results": [_result("m1", True, risk_id="r"), _result("m2", True, "warn", "s")],
    }
    assert _decision(_ctx(manifest, some), "residual_present") == "covered"
    some["control_results"].append(_result("m3", True, risk_id="s"))
    out = _rule(_ctx(manifest, some), "residual_present")
    assert (out.decision, out.basis) == (
        "gap",
        "criterion residual_present NOT met: no residual for s",
    )


def test_overall_residual_rule() -> None:
    assert _decision(_ctx(_manifest([_risk("r")])), "overall_residual") == "gap"
    within = {"overall_residual": {"evaluation": "within"}}
    assert _decision(_ctx(_manifest([_risk("r")]), within), "overall_residual") == "covered"
    exceeds = {"overall_residual": {"evaluation": "exceeds"}}
    assert _decision(_ctx(_manifest([_risk("r")]), exceeds), "overall_residual") == "gap"


# --------------------------------------------------------------------------- artefacts


def test_power_stats_and_treatment_events() -> None:
    plain = {"control_results": [_result("m", True)]}
    assert _decision(_ctx(bundle=plain), "power_stats") == "gap"
    powered = {"control_results": [_result("m", True), _result("n", False, power={"n": 100})]}
    assert _decision(_ctx(bundle=powered), "power_stats") == "covered"
    assert _decision(_ctx(), "treatment_events") == "gap"
    events = {"treatment_events": [{"control_id": "m"}]}
    assert _decision(_ctx(bundle=events), "treatment_events") == "covered"


@pytest.mark.parametrize(
    ("rows", "everything", "blocking"),
    [
        ([], "gap", "gap"),
        ([("a", True, "block"), ("b", True, "warn")], "covered", "covered"),
        ([("a", True, "block"), ("b", False, "warn")], "partial", "covered"),
        ([("a", False, "block"), ("b", True, "warn")], "partial", "gap"),
        ([("a", False, "block"), ("b", False, "warn")], "gap", "gap"),
        ([("b", True, "warn")], "covered", "gap"),
        ([("a", True, "block"), ("c", False, "block")], "partial", "partial"),
    ],
)
def test_controls_rule(rows: list[tuple[str, bool, str]], everything: str, blocking: str) -> None:
    ctx = _ctx(bundle={"control_results": [_result(c, p, m) for c, p, m in rows]})
    assert _decision(ctx, "controls") == everything
    assert _decision(ctx, {"controls": {"blocking": True}}) == blocking
    assert _decision(ctx, {"controls": {"blocking": False}}) == everything


def test_data_governance() -> None:
    assert _decision(_ctx(), "data_governance") == "gap"
    declared = _manifest(dataset={"croissant": "data/croissant.json"})
    assert _decision(_ctx(declared), "data_governance") == "partial"
    assert (
        _decision(_ctx(declared, {"data_governance": {"name": "loans"}}), "data_governance")
        == "covered"
    )
    assert (
        _decision(_ctx(bundle={"data_governance": {"name": "loans"}}), "data_governance")
        == "covered"
    )


def test_monitoring() -> None:
    none = _ctx(_manifest([_risk("r", [_measure("m")])]))
    assert _decision(none, "monitoring") == "gap"
    assert _decision(_ctx(), "monitoring") == "gap"
    interval = _ctx(_manifest([_risk("r")], program={"review_interval": "P1M"}))
    assert _decision(interval, "monitoring") == "covered"
    assert "audit only" in _rule(interval, "monitoring").basis
    assert _decision(interval, {"monitoring": {"require_art72": True}}) == "partial"
    post = _ctx(_manifest([_risk("r", [_measure("m", lifecycle=["monitoring"])])]))
    assert _decision(post, "monitoring") == "covered"
    assert _decision(post, {"monitoring": {"require_art72": True}}) == "partial"
    plan = {"trigger": "drift", "frequency": "P1D", "art72_citation": "Art. 72(1)"}
    art72 = _ctx(_manifest([_risk("r", [_measure("m", **plan)])]))
    assert _decision(art72, {"monitoring": {"require_art72": True}}) == "covered"
    assert "Art. 72 semantics" in _rule(art72, "monitoring").basis
    partial_plan = _ctx(_manifest([_risk("r", [_measure("m", trigger="drift", frequency="P1D")])]))
    assert _decision(partial_plan, {"monitoring": {"require_art72": True}}) == "gap"


@pytest.mark.parametrize(
    ("has_bundle", "signed", "verified", "needs", "expected", "says"),
    [
        (False, True, True, False, "gap", "no signed evidence bundle"),
        (True, False, True, False, "gap", "no signed evidence bundle"),
        (True, True, None, False, "covered", "signatures not checked against a trusted key"),
        (True, True, True, False, "covered", "; signatures verify with a trusted key"),
        (True, True, False, False, "covered", "signatures do not verify with a trusted key: why"),
        (True, True, None, True, "partial", "(the clause needs verified evidence)"),
        (True, True, False, True, "partial", "do not verify with a trusted key: why (the clause"),
        (True, True, True, True, "covered", "signatures verify with a trusted key"),
    ],
)
def test_signed_bundle(
    has_bundle: bool, signed: bool, verified: bool | None, needs: bool, expected: str, says: str
) -> None:
    ctx = _ctx(has_bundle=has_bundle, signed=signed, verified=verified, note="why")
    out = _rule(ctx, {"signed_bundle": {"verified": needs}})
    assert out.decision == expected
    assert says in out.basis


def test_unverified_without_a_note() -> None:
    out = _rule(_ctx(verified=False), "signed_bundle")
    assert out.basis.endswith("signatures do not verify with a trusted key")


def test_bom() -> None:
    bom = {"bom": {"components": [{"name": "scikit-learn"}]}}
    assert _decision(_ctx(bundle=bom), "bom") == "covered"
    assert "signatures verify" in _rule(_ctx(bundle=bom, verified=True), "bom").basis
    assert _decision(_ctx(bundle=bom, signed=False), "bom") == "gap"
    assert _decision(_ctx(bundle={"bom": {"components": []}}), "bom") == "gap"
    assert _decision(_ctx(), "bom") == "gap"


@pytest.mark.parametrize(
    ("approval", "expected", "says"),
    [
        (None, "gap", "no management approval (lifecycle state: draft)"),
        ({"state": "requested", "by": "A"}, "gap", "(lifecycle state: requested)"),
        ({"approver": "Ann"}, "gap", "by Ann does not count: " + NO_ROSTER),
        (
            {"state": "approved", "by": "Bo", "approver": "Ann", "counted": True},
            "covered",
            "(Sei-Approved-by: Bo)",
        ),
        ({"state": "approved", "counted": True}, "covered", "(Sei-Approved-by: ?)"),
        ({"approver": "Ann", "counted": True}, "covered", "Sei-Approved-by: Ann"),
        (
            {"approver": "Ann", "counted": False, "counting": "no quorum"},
            "gap",
            "by Ann does not count: no quorum",
        ),
        (
            {"approver": "Ann", "stale": True},
            "gap",
            "by Ann is stale: the evidence changed after it",
        ),
        ({"approver": "Ann", "stale": True, "stale_reason": "new run"}, "gap", "is stale: new run"),
        (
            {"state": "draft", "approver": "Ann", "counted": False},
            "gap",
            "(lifecycle state: draft)",
        ),
        ({"state": "draft", "approver": "Ann", "stale": False}, "gap", "(lifecycle state: draft)"),
    ],
)
def test_approval(approval: dict[str, Any] | None, expected: str, says: str) -> None:
    out = _rule(_ctx(approval=approval), "approval")
    assert out.decision == expected
    assert says in out.basis


# --------------------------------------------------------------------------- post-market

SOURCE = {"source": {"path": "decisions"}, "start": "2026-01-01"}
CURRENT = {"frequency": "P1D", "last_period": "2026-12-06", "post_market_current": True}
STALE = {"frequency": "P1M", "last_period": "2026-10", "post_market_current": False}
PLAN = {"post_market": {"plan": "approval"}}


def _pm(state: dict[str, Any] | None, *, source: bool = True, **kw: Any) -> conformance.Context:
    manifest = _manifest([_risk("r")], monitoring=SOURCE) if source else _manifest([_risk("r")])
    return _ctx(manifest, approval={"approver": "Ann", "counted": True}, post_market=state, **kw)


def test_post_market_without_a_production_source_the_plan_decides() -> None:
    out = _rule(_pm(None, source=False), PLAN)
    assert out.decision == "covered"
    assert out.basis.startswith("no production source declared (monitoring.source), the plan")
    assert _decision(_ctx(_manifest(), post_market=None), PLAN) == "gap"  # no approval


@pytest.mark.parametrize(
    ("state", "verified", "says"),
    [
        (None, None, "no signed monitoring period of the production source"),
        ({"periods": 0, "currency": [CURRENT]}, None, "no signed monitoring period"),
        ({"periods": 3, "currency": [CURRENT]}, False, "3 monitoring period(s), signatures do not"),
        ({"periods": 3, "currency": [CURRENT, STALE]}, None, "not current (P1M last 2026-10)"),
        ({"periods": 3, "currency": []}, None, "not current ()"),
        ({"periods": 3}, True, "not current ()"),
        (
            {"periods": 3, "currency": [CURRENT], "deadlines_missed": ["inc-1", "inc-2"]},
            None,
            "deadline missed: inc-1, inc-2",
        ),
    ],
)
def test_post_market_results_that_do_not_count(
    state: dict[str, Any] | None, verified: bool | None, says: str
) -> None:
    out = _rule(_pm(state, verified=verified), PLAN)
    assert out.decision == "gap"
    assert out.basis.startswith("production source declared; ")
    assert says in out.basis
    assert conformance.post_market_results(_pm(state, verified=verified)).decision == "gap"


def test_post_market_results_that_count() -> None:
    state = {"periods": 2, "currency": [CURRENT], "incidents": 1, "deadlines_missed": []}
    results = conformance.post_market_results(_pm(state, verified=True))
    assert results.decision == "covered"
    assert results.basis == (
        "2 signed monitoring period(s), current; 1 serious incident(s), no report deadline missed"
    )
    assert (
        "0 serious incident(s)"
        in conformance.post_market_results(_pm({"periods": 2, "currency": [CURRENT]})).basis
    )
    # the plan decides by default, or the results alone
    plan = _rule(_pm(state), PLAN)
    assert plan.decision == "covered"
    assert plan.basis.startswith("2 signed monitoring period(s), current;")
    assert plan.basis.endswith("(Sei-Approved-by: Ann)")
    draft = _rule(_ctx(_manifest([_risk("r")], monitoring=SOURCE), post_market=state), PLAN)
    assert draft.decision == "gap"
    results_only = {"post_market": {"plan": "approval", "decides": "results"}}
    alone = _rule(_ctx(_manifest([_risk("r")], monitoring=SOURCE), post_market=state), results_only)
    assert (alone.decision, alone.basis) == ("covered", results.basis)
    explicit = {"post_market": {"plan": "approval", "decides": "plan"}}
    assert (
        _decision(_ctx(_manifest([_risk("r")], monitoring=SOURCE), post_market=state), explicit)
        == "gap"
    )


def test_post_market_keeps_the_plans_measures() -> None:
    manifest = _manifest([_risk("r", [_measure("m1", article="72")])], monitoring=SOURCE)
    spec = {"post_market": {"plan": {"cited": {"articles": ["72"]}}}}
    state = {"periods": 1, "currency": [CURRENT]}
    assert _rule(_ctx(manifest, post_market=state), spec).measures == ["m1"]
    assert _rule(_ctx(manifest, post_market=None), spec).measures == ["m1"]
    alone = {"post_market": {"plan": {"cited": {"articles": ["72"]}}, "decides": "results"}}
    assert _rule(_ctx(manifest, post_market=state), alone).measures == ["m1"]


def test_post_market_rule_specs() -> None:
    assert conformance.precedence(PLAN) == "post_market"
    out = conformance.decide(_pm(None, source=False), "72", PLAN)
    assert out.basis.startswith("post_market: no production source declared")
    conformance.check_rule(PLAN)
    conformance.check_rule({"post_market": {"plan": {"all_of": ["bom"]}, "decides": "results"}})
    for bad in (
        {"post_market": {}},
        {"post_market": ["approval"]},
        {"post_market": "approval"},
    ):
        with pytest.raises(SeiError, match="post_market takes a mapping with the rule of its plan"):
            conformance.check_rule(bad)
    for bad in (
        {"post_market": {"plan": "bom", "decides": "neither"}},
        {"post_market": {"plan": "bom", "extra": 1}},
    ):
        with pytest.raises(SeiError, match="post_market: expected plan and decides"):
            conformance.check_rule(bad)
    with pytest.raises(SeiError, match="unknown conformance rule 'nope'"):
        conformance.check_rule({"post_market": {"plan": "nope"}})
