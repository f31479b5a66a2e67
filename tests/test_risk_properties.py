"""Properties of the risk analysis over generated risk programs (the rules of core/risk.py):
`contributing` is exactly the risks at the overall level, priority is a total order 1..n that
follows the stated criteria, the overall level is the highest effective residual."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sei_assets.core.controls import compile_controls, evaluate_controls
from sei_assets.core.manifest import Manifest
from sei_assets.core.risk import analyse, overall_residual

LEVELS = ["NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
LIKELIHOODS = ["RARE", "UNLIKELY", "POSSIBLE", "LIKELY", "ALMOST_CERTAIN"]
DIMENSIONS = ["individual", "society", "organization"]

levels = st.sampled_from(LEVELS)
likelihoods = st.sampled_from(LIKELIHOODS)


@st.composite
def measures(draw: st.DrawFn, prefix: str) -> list[dict[str, Any]]:
    """Zero to two measures: gate or audit, measured or declared for monitoring."""
    out = []
    for k in range(draw(st.integers(0, 2))):
        monitoring = draw(st.booleans())
        out.append(
            {
                "id": f"{prefix}-m{k}",
                "metric": f"{prefix}_m{k}",
                "constraint": "< 0.5",
                "enforcement": draw(st.sampled_from(["gate", "audit"])),
                "lifecycle": ["monitoring"] if monitoring else ["validation"],
            }
        )
    return out


@st.composite
def risk_programs(draw: st.DrawFn) -> dict[str, Any]:
    """A risk program of zero to seven risks, declared in a random order of ids."""
    names = draw(st.lists(st.text("abcdefgh-", min_size=1, max_size=6), max_size=7, unique=True))
    risks = []
    for name in names:
        rid = f"risk.{name}"
        impact = draw(st.dictionaries(st.sampled_from(DIMENSIONS), levels, min_size=1, max_size=3))
        treat = []
        for t in range(draw(st.integers(0, 2))):
            treatment: dict[str, Any] = {
                "method": "REDUCE",
                "measures": draw(measures(f"{name}-t{t}")),
            }
            if draw(st.booleans()):
                treatment["residual_likelihood"] = draw(likelihoods)
            treat.append(treatment)
        risks.append({"id": rid, "impact": impact, "likelihood": draw(likelihoods), "treat": treat})
    return {
        "appetite": draw(
            st.dictionaries(st.sampled_from(DIMENSIONS), levels, min_size=1, max_size=3)
        ),
        "overall_residual_criterion": draw(levels),
        "risks": risks,
    }


def _analysed(program: dict[str, Any], failing: set[str]) -> tuple[Manifest, list, dict]:
    manifest = Manifest.model_validate(
        {"system": {"name": "generated", "intended_purpose": "properties"}, "risk": program}
    )
    controls = compile_controls(manifest)
    metrics = {c.control_id: (0.9 if c.control_id in failing else 0.1) for c in controls}
    results = evaluate_controls(controls, metrics)
    analysis = analyse(manifest.risk, results)
    return manifest, analysis, overall_residual(manifest.risk, analysis)


def _effective(entry: dict[str, Any]) -> str:
    """Residual when a treatment declares one, else inherent (written here independently)."""
    return entry["residual_overall"] if "residual_overall" in entry else entry["inherent_overall"]


@st.composite
def analysed(draw: st.DrawFn) -> tuple[Manifest, list, dict]:
    program = draw(risk_programs())
    ids = [m["id"] for r in program["risks"] for t in r["treat"] for m in t["measures"]]
    failing = set(draw(st.lists(st.sampled_from(ids), unique=True))) if ids else set()
    return _analysed(program, failing)


@settings(max_examples=150, deadline=None)
@given(analysed())
def test_contributing_is_exactly_the_risks_at_the_overall_level(case) -> None:
    manifest, analysis, overall = case
    expected = [e["risk_id"] for e in analysis if _effective(e) == overall["level"]]
    assert overall["contributing"] == expected
    # declaration order, and a risk under the overall level never contributes
    declared = [r.id for r in manifest.risk.risks]
    assert overall["contributing"] == [r for r in declared if r in expected]
    assert bool(analysis) == bool(overall["contributing"])


@settings(max_examples=150, deadline=None)
@given(analysed())
def test_overall_level_is_the_highest_effective_residual(case) -> None:
    manifest, analysis, overall = case
    effective = [LEVELS.index(_effective(e)) for e in analysis]
    assert overall["level"] == (LEVELS[max(effective)] if effective else "NEGLIGIBLE")
    above = LEVELS.index(overall["level"]) > LEVELS.index(overall["criterion"])
    assert overall["evaluation"] == ("exceeds" if above else "within")
    assert overall["criterion"] == manifest.risk.overall_residual_criterion
    # the residual is there exactly when a treatment declares a residual likelihood
    declares = {r.id: any(t.residual_likelihood for t in r.treat) for r in manifest.risk.risks}
    assert {e["risk_id"]: "residual_overall" in e for e in analysis} == declares


@settings(max_examples=150, deadline=None)
@given(analysed())
def test_priority_is_a_total_order_following_the_criteria(case) -> None:
    _manifest, analysis, _overall = case
    assert sorted(e["priority"] for e in analysis) == list(range(1, len(analysis) + 1))
    ranked = sorted(analysis, key=lambda e: e["priority"])

    def now(e: dict[str, Any]) -> str:  # the residual counts once the treatment is confirmed
        closed = e["cycle"]["status"] == "closed" and "residual_overall" in e
        return e["residual_overall"] if closed else e["inherent_overall"]

    keys = [
        (
            -LEVELS.index(now(e)),
            not e["requires_treatment"],
            e["cycle"]["status"] != "open",
            e["risk_id"],
        )
        for e in ranked
    ]
    assert keys == sorted(keys)  # each criterion in turn, the risk id breaking ties


@settings(max_examples=60, deadline=None)
@given(risk_programs(), st.randoms(use_true_random=False))
def test_priority_does_not_depend_on_declaration_order(program, rnd) -> None:
    _m, analysis, overall = _analysed(program, set())
    shuffled = {**program, "risks": rnd.sample(program["risks"], len(program["risks"]))}
    _m2, again, overall2 = _analysed(shuffled, set())
    assert {e["risk_id"]: e["priority"] for e in again} == {
        e["risk_id"]: e["priority"] for e in analysis
    }
    assert overall2["level"] == overall["level"]
    assert set(overall2["contributing"]) == set(overall["contributing"])


@settings(max_examples=150, deadline=None)
@given(risk_programs(), st.data())
def test_only_a_blocking_control_closes_a_risk(program, data) -> None:
    """closed iff a blocking control passes and none fails; open iff a blocking one fails;
    a risk whose measured controls are all warnings is monitored, whatever they say."""
    ids = [m["id"] for r in program["risks"] for t in r["treat"] for m in t["measures"]]
    failing = set(data.draw(st.lists(st.sampled_from(ids), unique=True))) if ids else set()
    manifest, analysis, _overall = _analysed(program, failing)
    controls = compile_controls(manifest)
    for entry in analysis:
        mine = [c for c in controls if c.risk_id == entry["risk_id"]]
        gates = [c.control_id in failing for c in mine if c.blocking]
        expected = "open" if any(gates) else "closed" if gates else "monitored"
        assert entry["cycle"]["status"] == expected
        measured = bool(mine) and not any(c.control_id in failing for c in mine)
        assert entry["control_confirmed"] == measured
