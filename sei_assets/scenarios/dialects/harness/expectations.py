"""What a step may expect, as one registry: expect field -> checker + the JSON Schema of its value.

A checker compares the expected value with what the step left behind (its exit code and output,
and the evidence in the working repository) and returns a `Verdict` with the actual value.
Bundle-based fields read `<repo>/.sei/bundle.json` after the step. `stdout_contains` and
`drift` search the command's whole output, stdout then stderr (engine errors go to stderr).
A checker may take a snapshot before the step runs (`before`), as `unchanged` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sei_assets.core.exitcodes import ExitCode
from sei_assets.core.layout import BUNDLE as BUNDLE_FILE
from sei_assets.core.layout import EVIDENCE_DIR
from sei_assets.scenarios.dialects.harness.verbs import StepResult

BUNDLE = f"{EVIDENCE_DIR}/{BUNDLE_FILE}"


@dataclass
class Verdict:
    """One expectation's outcome: whether it holds, the actual value, and what differed."""

    ok: bool
    actual: Any
    detail: str = ""


@dataclass
class Observed:
    """What a checker may look at once the step has run."""

    repo: Path
    result: StepResult
    before: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        """The command's stdout followed by its stderr."""
        return self.result.stdout + self.result.stderr

    @cached_property
    def bundle(self) -> dict[str, Any] | str:
        """The evidence bundle after the step (its JSON fields, which expectations name), or the
        reason there is none."""
        from sei_assets.core.errors import SeiError
        from sei_assets.core.evidence import load_bundle

        path = self.repo / BUNDLE
        if not path.is_file():
            return f"no {BUNDLE} in the working repository"
        try:
            return load_bundle(path).to_json()
        except SeiError as exc:
            return str(exc)


Check = Callable[[Observed, Any], Verdict]


@dataclass(frozen=True)
class Expectation:
    """One expect field: the schema of its value, its checker, and an optional snapshot taken
    before the step (stored in ``Observed.before[name]``)."""

    name: str
    schema: dict[str, Any]
    check: Check
    doc: str
    before: Callable[[Path, Any], Any] | None = None


EXPECTATIONS: dict[str, Expectation] = {}


def expectation(
    name: str, schema: dict[str, Any], before: Callable[[Path, Any], Any] | None = None
) -> Callable[[Check], Check]:
    """Register the decorated function as the checker of expect field ``name``."""

    def register(fn: Check) -> Check:
        doc = (fn.__doc__ or "").strip()
        EXPECTATIONS[name] = Expectation(name, {**schema, "description": doc}, fn, doc, before)
        return fn

    return register


def _bundle_verdict(obs: Observed, get: Callable[[dict[str, Any]], Any], expected: Any) -> Verdict:
    """Compare one value of the bundle with ``expected``."""
    bundle = obs.bundle
    if isinstance(bundle, str):
        return Verdict(False, None, bundle)
    actual = get(bundle)
    return Verdict(actual == expected, actual)


def _fields(
    expected: dict[str, Any], actual: dict[str, Any], compare: dict[str, Callable[[Any, Any], bool]]
) -> list[str]:
    """The fields of ``expected`` that ``actual`` does not satisfy (equality unless ``compare``
    says otherwise)."""
    return [
        f"{k}: expected {json.dumps(v)}, actual {json.dumps(actual.get(k), default=str)}"
        for k, v in expected.items()
        if not compare.get(k, lambda a, e: a == e)(actual.get(k), v)
    ]


def _same_items(actual: Any, expected: list[Any]) -> bool:
    return isinstance(actual, list) and sorted(map(str, actual)) == sorted(map(str, expected))


def _per_item(
    obs: Observed,
    expected: dict[str, dict[str, Any]],
    items: Callable[[dict[str, Any]], dict[str, dict[str, Any]]],
    compare: dict[str, Callable[[Any, Any], bool]],
    noun: str,
) -> Verdict:
    """Check selected fields of bundle records (controls, risks) keyed by id."""
    bundle = obs.bundle
    if isinstance(bundle, str):
        return Verdict(False, None, bundle)
    records = items(bundle)
    actual: dict[str, Any] = {}
    problems: list[str] = []
    for key, want in expected.items():
        record = records.get(key)
        if record is None:
            actual[key] = None
            problems.append(f"{key}: no such {noun} (have: {', '.join(records) or 'none'})")
            continue
        actual[key] = {k: record.get(k) for k in want}
        problems += [f"{key}.{p}" for p in _fields(want, record, compare)]
    return Verdict(not problems, actual, "; ".join(problems))


LEVEL = {"enum": ["NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]}
STRINGS = {"type": "array", "items": {"type": "string"}}


@expectation("exit", {"anyOf": [{"enum": ["ok", "fail"]}, {"type": "integer"}]})
def exit_code(obs: Observed, expected: str | int) -> Verdict:
    """The command's exit code: "ok" (0), "fail" (not 0), or an exact integer."""
    code = obs.result.exit_code
    if expected == "ok":
        ok = code == ExitCode.OK
    else:
        ok = code != ExitCode.OK if expected == "fail" else code == expected
    detail = "" if ok or not obs.result.stderr.strip() else obs.result.stderr.strip()[-800:]
    return Verdict(ok, code, detail)


@expectation("gate", {"enum": ["green", "red"]})
def gate(obs: Observed, expected: str) -> Verdict:
    """The risk gate recorded in the bundle."""
    return _bundle_verdict(obs, lambda b: b.get("gate"), expected)


@expectation("classification_tier", {"type": "string"})
def classification_tier(obs: Observed, expected: str) -> Verdict:
    """The system's classification tier in the bundle (e.g. "high")."""
    return _bundle_verdict(obs, lambda b: (b.get("classification") or {}).get("tier"), expected)


@expectation("risks_nonempty", {"type": "boolean"})
def risks_nonempty(obs: Observed, expected: bool) -> Verdict:
    """Whether the bundle names at least one risk."""
    return _bundle_verdict(obs, lambda b: bool(b.get("risks")), expected)


@expectation("pipeline_lock_present", {"type": "boolean"})
def pipeline_lock_present(obs: Observed, expected: bool) -> Verdict:
    """Whether the bundle's pipeline_lock_digest starts with "sha256:"."""
    return _bundle_verdict(
        obs, lambda b: str(b.get("pipeline_lock_digest") or "").startswith("sha256:"), expected
    )


@expectation("control_count", {"type": "integer", "minimum": 0})
def control_count(obs: Observed, expected: int) -> Verdict:
    """The exact number of control results in the bundle."""
    return _bundle_verdict(obs, lambda b: len(b.get("control_results") or []), expected)


CONTROL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "passed": {"type": "boolean"},
        "enforcement_mode": {"enum": ["block", "warn", "monitor"]},
        "severity": {"type": "string"},
        "operator": {"enum": ["lt", "lte", "gt", "gte", "eq", "ne"]},
        "actual_gt": {"type": "number"},
        "actual_lt": {"type": "number"},
        "frameworks": STRINGS,
    },
}


def _above(actual: Any, bound: float) -> bool:
    return isinstance(actual, int | float) and actual > bound


def _below(actual: Any, bound: float) -> bool:
    return isinstance(actual, int | float) and actual < bound


@expectation("controls", {"type": "object", "additionalProperties": CONTROL})
def controls(obs: Observed, expected: dict[str, dict[str, Any]]) -> Verdict:
    """Per control id: passed, enforcement_mode, severity, operator, frameworks (the exact set),
    and bounds on the measured value (actual_gt, actual_lt)."""

    def records(b: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out = {}
        for r in b.get("control_results") or []:
            out[r["control_id"]] = {
                **r,
                "actual_gt": r.get("actual_value"),
                "actual_lt": r.get("actual_value"),
            }
        return out

    return _per_item(
        obs,
        expected,
        records,
        {"actual_gt": _above, "actual_lt": _below, "frameworks": _same_items},
        "control",
    )


@expectation("gate_failures", STRINGS)
def gate_failures(obs: Observed, expected: list[str]) -> Verdict:
    """The exact list (in any order) of blocking controls that failed the gate."""
    bundle = obs.bundle
    if isinstance(bundle, str):
        return Verdict(False, None, bundle)
    actual = bundle.get("gate_failures")
    return Verdict(_same_items(actual, expected), actual)


def _section_line(output: str, section: str) -> str | None:
    """The text after `<section>:` on the line of `sei status` that reports it."""
    match = re.search(rf"^\s*{re.escape(section)}:\s*(.*)$", output, re.MULTILINE)
    return match.group(1).strip() if match else None


@expectation("drift", {"type": "object", "additionalProperties": {"type": "string"}})
def drift(obs: Observed, expected: dict[str, str]) -> Verdict:
    """Per section, text that its line of `sei status` must contain (e.g. "stale (class B")."""
    actual = {s: _section_line(obs.output, s) for s in expected}
    problems = [
        f"{s}: expected {text!r} in {actual[s]!r}"
        for s, text in expected.items()
        if (line := actual[s]) is None or text not in line
    ]
    return Verdict(not problems, actual, "; ".join(problems))


@expectation("stdout_contains", STRINGS)
def stdout_contains(obs: Observed, expected: list[str]) -> Verdict:
    """Strings that must all appear in the command's output (stdout, then stderr)."""
    missing = [s for s in expected if s not in obs.output]
    tail = obs.output.strip()[-1500:]
    return Verdict(not missing, {"missing": missing, "output_tail": tail} if missing else "found")


RISK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "inherent_overall": LEVEL,
        "residual_overall": LEVEL,
        "requires_treatment": {"type": "boolean"},
        "cycle": {"enum": ["open", "closed", "monitored"]},
    },
}


@expectation("risk_analysis", {"type": "object", "additionalProperties": RISK})
def risk_analysis(obs: Observed, expected: dict[str, dict[str, Any]]) -> Verdict:
    """Per risk id: inherent_overall, residual_overall, requires_treatment, cycle (its status)."""

    def records(b: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            r["risk_id"]: {**r, "cycle": (r.get("cycle") or {}).get("status")}
            for r in b.get("risk_analysis") or []
        }

    return _per_item(obs, expected, records, {}, "risk")


@expectation(
    "overall_residual",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "level": LEVEL,
            "criterion": LEVEL,
            "evaluation": {"enum": ["within", "exceeds"]},
            "contributing": STRINGS,
        },
    },
)
def overall_residual(obs: Observed, expected: dict[str, Any]) -> Verdict:
    """The bundle's overall residual: level, criterion, evaluation, contributing (any order)."""
    bundle = obs.bundle
    if isinstance(bundle, str):
        return Verdict(False, None, bundle)
    record = bundle.get("overall_residual") or {}
    problems = _fields(expected, record, {"contributing": _same_items})
    return Verdict(not problems, {k: record.get(k) for k in expected}, "; ".join(problems))


@expectation(
    "treatment_events",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {"count": {"type": "integer", "minimum": 0}, "controls": STRINGS},
    },
)
def treatment_events(obs: Observed, expected: dict[str, Any]) -> Verdict:
    """The bundle's treatment events: their count and (any order) their control ids."""
    bundle = obs.bundle
    if isinstance(bundle, str):
        return Verdict(False, None, bundle)
    events = bundle.get("treatment_events") or []
    record = {"count": len(events), "controls": [e.get("control_id") for e in events]}
    problems = _fields(expected, record, {"controls": _same_items})
    return Verdict(not problems, record, "; ".join(problems))


@expectation("sei_artifacts", {"type": "array", "items": {"$ref": "#/$defs/evidence_path"}})
def sei_artifacts(obs: Observed, expected: list[str]) -> Verdict:
    """Files under .sei/ that must exist, be valid JSON, and whose .sig verifies against
    .sei/PUBKEY.txt."""
    from sei_assets.core.signing import verify_file

    evidence = obs.repo / EVIDENCE_DIR
    pubkey = evidence / "PUBKEY.txt"
    actual: dict[str, str] = {}
    for rel in expected:
        path = evidence / rel
        if not path.is_file():
            actual[rel] = "missing"
            continue
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            actual[rel] = f"not valid JSON: {exc}"
            continue
        if not pubkey.is_file():
            actual[rel] = "no .sei/PUBKEY.txt to verify against"
            continue
        verdict = verify_file(path, pubkey.read_text(encoding="utf-8"))
        actual[rel] = "verified" if verdict.ok else f"signature: {verdict.reason}"
    bad = {k: v for k, v in actual.items() if v != "verified"}
    return Verdict(not bad, actual, "; ".join(f"{k}: {v}" for k, v in bad.items()))


def _digests(repo: Path, paths: list[str]) -> dict[str, str | None]:
    from sei_assets.core.fsutil import sha256_file

    return {p: sha256_file(repo / p) if (repo / p).is_file() else None for p in paths}


@expectation(
    "unchanged", {"type": "array", "items": {"$ref": "#/$defs/repo_path"}}, before=_digests
)
def unchanged(obs: Observed, expected: list[str]) -> Verdict:
    """Files of the working repository whose bytes the step must not change (one absent before
    must stay absent): shows that a read-only verb did not recompute."""
    before: dict[str, str | None] = obs.before["unchanged"]
    after = _digests(obs.repo, expected)

    def state(digest: str | None) -> str:
        return "absent" if digest is None else digest[:12]

    changed = [p for p in expected if before[p] != after[p]]
    actual = {p: "unchanged" if p not in changed else "changed" for p in expected}
    detail = "; ".join(f"{p}: {state(before[p])} -> {state(after[p])}" for p in changed)
    return Verdict(not changed, actual, detail)


@expectation("changed", {"type": "array", "items": {"$ref": "#/$defs/repo_path"}}, before=_digests)
def changed(obs: Observed, expected: list[str]) -> Verdict:
    """Files of the working repository whose bytes the step must change (or create): shows
    which pipeline stages a run really recomputed."""
    before: dict[str, str | None] = obs.before["changed"]
    after = _digests(obs.repo, expected)
    same = [p for p in expected if before[p] == after[p]]
    actual = {p: "unchanged" if p in same else "changed" for p in expected}
    return Verdict(not same, actual, "; ".join(f"{p}: not recomputed" for p in same))


def _evidence(obs: Observed, rel: str) -> dict[str, Any] | str:
    path = obs.repo / EVIDENCE_DIR / rel
    if not path.is_file():
        return f"no .sei/{rel} in the working repository"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return f".sei/{rel} is not valid JSON: {exc}"


@expectation(
    "lifecycle",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {"state": {"type": "string"}, "stale": {"type": "boolean"}},
    },
)
def lifecycle(obs: Observed, expected: dict[str, Any]) -> Verdict:
    """The lifecycle state read from the decisions in git history, and approval staleness."""
    from sei_assets.core.governance import lifecycle as current

    state = current(obs.repo)
    record = {"state": state.get("state"), "stale": bool(state.get("stale"))}
    problems = _fields(expected, record, {})
    return Verdict(not problems, record, "; ".join(problems))


@expectation(
    "conformance",
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": {"enum": ["covered", "covered_attested", "partial", "gap"]},
        },
    },
)
def conformance(obs: Observed, expected: dict[str, dict[str, str]]) -> Verdict:
    """Per standard, per clause: the decision in `.sei/conformance/<standard>.json`."""
    from sei_assets.core.conformance import standard_slug

    actual: dict[str, Any] = {}
    problems = []
    for standard, clauses in expected.items():
        doc = _evidence(obs, f"conformance/{standard_slug(standard)}.json")
        if isinstance(doc, str):
            actual[standard] = doc
            problems.append(doc)
            continue
        decisions = {c["clause_id"]: c["decision"] for c in doc["payload"]["clauses"]}
        actual[standard] = {c: decisions.get(c, "absent") for c in clauses}
        problems += [
            f"{standard} {c}: expected {d}, got {decisions.get(c, 'absent')}"
            for c, d in clauses.items()
            if decisions.get(c) != d
        ]
    return Verdict(not problems, actual, "; ".join(problems))


@expectation(
    "reconstruct",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "snapshots": {"type": "integer"},
            "treatment_arcs": {"type": "integer"},
            "lifecycle": {"type": "string"},
            "risks": STRINGS,
        },
    },
)
def reconstruct(obs: Observed, expected: dict[str, Any]) -> Verdict:
    """Counts and states in `.sei/reconstruct.json`."""
    doc = _evidence(obs, "reconstruct.json")
    if isinstance(doc, str):
        return Verdict(False, None, doc)
    p = doc["payload"]
    record = {
        "snapshots": len(p["snapshots"]),
        "treatment_arcs": len(p.get("treatment_arcs", [])),
        "lifecycle": p["lifecycle"]["state"],
        "risks": [r["risk_id"] for r in p["risks"]],
    }
    problems = _fields(expected, record, {"risks": _same_items})
    return Verdict(not problems, record, "; ".join(problems))


@expectation(
    "impact",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {"findings": {"type": "integer"}, "unaddressed": STRINGS},
    },
)
def impact(obs: Observed, expected: dict[str, Any]) -> Verdict:
    """Findings of `.sei/impact.json` and the misuses no declared risk addresses."""
    doc = _evidence(obs, "impact.json")
    if isinstance(doc, str):
        return Verdict(False, None, doc)
    summary = doc["payload"]["summary"]
    record = {"findings": summary["findings"], "unaddressed": summary["unaddressed"]}
    problems = _fields(expected, record, {"unaddressed": _same_items})
    return Verdict(not problems, record, "; ".join(problems))


@expectation(
    "backlog",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "min_proposals": {"type": "integer"},
            "includes": STRINGS,
            "excludes": STRINGS,
        },
    },
)
def backlog(obs: Observed, expected: dict[str, Any]) -> Verdict:
    """Proposals of `.sei/risk_backlog.json`: at least so many, these in, those out."""
    doc = _evidence(obs, "risk_backlog.json")
    if isinstance(doc, str):
        return Verdict(False, None, doc)
    ids = [p["id"] for p in doc["payload"]["proposals"]]
    problems = []
    if len(ids) < expected.get("min_proposals", 0):
        problems.append(f"{len(ids)} proposals, expected at least {expected['min_proposals']}")
    problems += [f"{i} not proposed" for i in expected.get("includes", []) if i not in ids]
    problems += [
        f"{i} proposed but should not be" for i in expected.get("excludes", []) if i in ids
    ]
    return Verdict(not problems, {"proposals": ids}, "; ".join(problems))


@expectation(
    "expect_metrics",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "gate": {"enum": ["green", "red"]},
            "controls": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"passed": {"type": "boolean"}},
                },
            },
        },
    },
)
def expect_metrics(obs: Observed, expected: dict[str, Any]) -> Verdict:
    """Would the candidate metrics a `dvc_exp` step printed close the gate? Evaluated with the
    engine's own controls (compiled from the working repository's manifest)."""
    from sei_assets.core.controls import compile_controls, evaluate_controls, gate
    from sei_assets.core.manifest import load_manifest

    try:
        metrics = json.loads(obs.result.stdout)["metrics"]
    except (ValueError, KeyError) as exc:
        return Verdict(False, None, f"the step printed no candidate metrics: {exc}")
    results = evaluate_controls(compile_controls(load_manifest(obs.repo).manifest), metrics)
    record: dict[str, Any] = {
        "gate": gate(results),
        "controls": {r.control.control_id: {"passed": r.passed} for r in results},
    }
    problems = []
    if "gate" in expected and expected["gate"] != record["gate"]:
        problems.append(f"gate: expected {expected['gate']}, got {record['gate']}")
    for cid, want in expected.get("controls", {}).items():
        got = record["controls"].get(cid, {"passed": "absent"})
        if got != want:
            problems.append(f"{cid}: expected {want}, got {got}")
    return Verdict(not problems, record, "; ".join(problems))


@expectation(
    "pipeline",
    {"type": "object", "additionalProperties": {"type": ["string", "boolean", "number"]}},
)
def pipeline(obs: Observed, expected: dict[str, Any]) -> Verdict:
    """Fields of the bundle's `pipeline` section: the backend and its record of the run (e.g.
    `tool`, `reproduced`, MLflow's `model_version` and `champion`)."""
    bundle = obs.bundle
    if isinstance(bundle, str):
        return Verdict(False, None, bundle)
    section = bundle.get("pipeline") or {}
    actual = {k: section.get(k) for k in expected}
    return Verdict(actual == expected, actual)
