"""Mutation testing of the core's rule modules, one module at a time, with its fast unit tests.

Usage (from the project root)::

    .venv/bin/python bench/mutation.py                      # every module below
    .venv/bin/python bench/mutation.py constraint gate      # some of them
    .venv/bin/python bench/mutation.py risk --tests tests/test_risk_rules.py --marks ""

For each module the script parses its source, makes one mutant per change listed below (only in
the module's rule code: its ``scope``), and runs the module's tests against each mutant. The
source file is never touched: a forked child process imports the mutant from memory in place of
the module (an import hook), runs pytest in-process and reports its exit status; the parent has
the slow third-party imports done once and compiles the project's modules to a temporary
bytecode cache, so each mutant costs little more than its tests. One mutant runs at a time: the
whole run uses one core.

A mutant is *killed* when a test fails (or collection fails, or it runs past the time limit),
*survives* when every test passes. The unmutated module must pass first, or the module is
reported as broken.

The changes (AST level):

- operators: ``+``/``-``, ``*``/``/``, ``//``/``/``, ``%``/``*``, ``<<``/``>>``, ``&``/``|``,
  ``and``/``or``; ``not x`` becomes ``x``;
- comparisons: ``<``/``<=``, ``>``/``>=`` (the boundaries), ``==``/``!=``, ``in``/``not in``,
  ``is``/``is not``;
- constants: ``True``/``False``, an integer ``n`` becomes ``n + 1``, a symbol-like string
  (no white space: operator names, decisions, levels, dictionary keys) gets ``XX`` around it;
  prose (messages, bases) and docstrings are left alone;
- ``max``/``min`` and ``any``/``all`` swapped;
- entries swapped: two neighbouring values of a dictionary, two neighbouring items of a tuple,
  list or set;
- statements removed (``pass`` instead): each statement of a function body but docstrings.

Annotations are not mutated (``from __future__ import annotations`` makes them strings).
"""

from __future__ import annotations

import argparse
import ast
import importlib.abc
import importlib.util
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Target:
    """One rule module: its source, the tests that pin it, and what of it is rule code."""

    module: str
    tests: list[str]
    #: top-level names (functions, classes, assigned constants) mutated; None: all of them
    scope: frozenset[str] | None = None
    #: (scope name, change) of mutants with no observable effect, and why
    equivalent: dict[tuple[str, str], str] = field(default_factory=dict)


TARGETS: dict[str, Target] = {
    "constraint": Target("sei_assets.core.constraint", ["tests/test_rules_constraint.py"]),
    "gate": Target(
        "sei_assets.core.gate",
        ["tests/test_rules_gate.py"],
        scope=frozenset({"alarm", "failing_blocking", "warnings", "verdict"}),
    ),
    "risk": Target(
        "sei_assets.core.risk",
        ["tests/test_rules_risk.py"],
        equivalent={
            ("BANDS", "constant: 16 -> 17"): "no likelihood x impact product lies in 17..19",
            ("BANDS", "constant: 25 -> 26"): "25 is the largest product of the 5x5 matrix",
        },
    ),
    "envelope": Target(
        "sei_assets.core.dsse",
        ["tests/test_rules_envelope.py"],
        # the envelope checks; the P-256 arithmetic is held to `cryptography` elsewhere
        scope=frozenset(
            {
                "PAYLOAD_TYPE",
                "STATEMENT_TYPE",
                "PREDICATE_TYPE",
                "BYTE_ORDER_MARK",
                "MAX_DEPTH",
                "_refuse_constant",
                "strict_json",
                "canonical_b64",
                "pae",
                "check_statement",
                "open_envelope",
                "verify_envelope",
            }
        ),
        equivalent={
            ("strict_json", "entries swapped: ValueError, RecursionError -> swapped"): "the order "
            "of the exception types caught does not matter",
            ("canonical_b64", "entries swapped: binascii.Error, ValueError -> swapped"): "the "
            "order of the exception types caught does not matter",
        },
    ),
    "strict-json": Target(
        "sei_assets.core.jsonread",
        ["tests/test_rules_envelope.py"],
        # the two rules every strict reader shares (the envelope's, the bounded loader's)
        scope=frozenset({"DuplicateKey", "unique_object", "_NESTING", "nesting_beyond"}),
        equivalent={
            ("nesting_beyond", "constant: '[{' -> 'XX[{XX'"): "a match is one bracket or a "
            "quoted string, never an X",
            ("nesting_beyond", "constant: ']}' -> 'XX]}XX'"): "a match is one bracket or a "
            "quoted string, never an X",
            ("nesting_beyond", "statement removed: return None -> pass"): "a function that "
            "ends returns None",
        },
    ),
    "conformance": Target(
        "sei_assets.core.conformance",
        ["tests/test_rules_conformance.py"],
        # the decisions; catalogue loading, the document's assembly and writing are not rules
        scope=frozenset(
            {
                "DECISIONS",
                "CONTROL_TIERS",
                "_NO_TREATMENT",
                "Context",
                "_met",
                "_treated_measures",
                "_cites",
                "_cited",
                "_stakeholders",
                "_intended_purpose",
                "_misuses_declared",
                "_misuses_addressed",
                "_classification",
                "_roles_declared",
                "_standards_declared",
                "_risk_estimation",
                "_criteria_applied",
                "_control_hierarchy",
                "_residual_present",
                "_overall_residual",
                "_power_stats",
                "_controls",
                "_treatment_events",
                "_data_governance",
                "_art72_plans",
                "_monitoring",
                "_verification",
                "_signed_bundle",
                "_bom",
                "_approval",
                "RULES",
                "COMBINATORS",
                "CRITERIA",
                "DECLARATIONS",
                "precedence",
                "_parse",
                "check_rule",
                "_combine_all",
                "_evaluate",
                "decide",
                "post_market_results",
                "_post_market",
                "WRAPPERS",
            }
        ),
        equivalent={
            (
                "CONTROL_TIERS",
                "entries swapped: 'inherent', 'design' -> swapped",
            ): "the order of a tuple tested with `in` does not matter",
            (
                "CONTROL_TIERS",
                "entries swapped: 'design', 'protective' -> swapped",
            ): "the order of a tuple tested with `in` does not matter",
            (
                "CONTROL_TIERS",
                "entries swapped: 'protective', 'information' -> swapped",
            ): "the order of a tuple tested with `in` does not matter",
            (
                "CONTROL_TIERS",
                "entries swapped: 'information', 'informative' -> swapped",
            ): "the order of a tuple tested with `in` does not matter",
            (
                "CONTROL_TIERS",
                "entries swapped: 'informative', 'organizational' -> swapped",
            ): "the order of a tuple tested with `in` does not matter",
            (
                "_NO_TREATMENT",
                "entries swapped: 'ACCEPT', 'RETAIN' -> swapped",
            ): "a set's order does not matter",
            (
                "CRITERIA",
                "entries swapped: 'risk_estimation', 'control_hierarchy' -> swapped",
            ): "a set's order does not matter",
            (
                "CRITERIA",
                "entries swapped: 'control_hierarchy', 'residual_present' -> swapped",
            ): "a set's order does not matter",
            (
                "CRITERIA",
                "entries swapped: 'residual_present', 'overall_residual' -> swapped",
            ): "a set's order does not matter",
            (
                "DECLARATIONS",
                "entries swapped: 'stakeholders', 'intended_purpose' -> swapped",
            ): "a set's order does not matter",
            (
                "DECLARATIONS",
                "entries swapped: 'intended_purpose', 'misuses_declared' -> swapped",
            ): "a set's order does not matter",
            (
                "DECLARATIONS",
                "entries swapped: 'misuses_declared', 'classification' -> swapped",
            ): "a set's order does not matter",
            (
                "DECLARATIONS",
                "entries swapped: 'roles_declared', 'standards_declared' -> swapped",
            ): "a set's order does not matter",
            (
                "_combine_all",
                "entries swapped: 'covered', 'covered_attested' -> swapped",
            ): "a set's order does not matter",
            (
                "decide",
                "entries swapped: 'criterion', 'declaration' -> swapped",
            ): "the order of a tuple tested with `in` does not matter",
            ("check_rule", "entries swapped: 'plan', 'decides' -> swapped"): "a set's order "
            "does not matter",
            ("check_rule", "entries swapped: 'plan', 'results' -> swapped"): "the order of a "
            "tuple tested with `in` does not matter",
            (
                "_cited",
                "entries swapped: *measure.standard_clauses, *measure.frameworks -> swapped",
            ): "the references are only tested with `any`",
            (
                "_cited",
                "entries swapped: *measure.frameworks, *treat.controls -> swapped",
            ): "the references are only tested with `any`",
            (
                "_risk_estimation",
                "call: all((r.likelihood and r.impact for r in risks)) -> "
                "any((r.likelihood and r.impact for r in risks))",
            ): "the manifest schema requires each risk's likelihood and impact: every term is true",
            (
                "_risk_estimation",
                "operator: r.likelihood and r.impact -> r.likelihood or r.impact",
            ): "the manifest schema requires both, so both are always true",
            (
                "Context",
                "constant: True -> False",
            ): "the default of has_bundle: the one caller, project, always passes it",
        },
    ),
}

# --------------------------------------------------------------------------- mutations

_BINOP = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
}
_CMPOP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BOOLOP = {ast.And: ast.Or, ast.Or: ast.And}
_CALLS = {"max": "min", "min": "max", "any": "all", "all": "any"}
_ANNOTATION_FIELDS = {"annotation", "returns"}


@dataclass
class Mutant:
    """One change: where it is, what it does, and the mutated module source."""

    scope: str
    line: int
    change: str
    source: str


def _show(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _is_docstring(node: ast.AST, parent: ast.AST | None) -> bool:
    body = getattr(parent, "body", None)
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and isinstance(body, list)
        and body
        and body[0] is node
    )


def _walk(node: ast.AST, parent: ast.AST | None, in_function: bool, out: list) -> None:
    """Every (node, parent, in_function) to consider, in a fixed order; annotations, docstrings
    and f-strings' parts skipped."""
    if _is_docstring(node, parent) or isinstance(node, ast.JoinedStr):
        return
    out.append((node, parent, in_function))
    inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
    for name, value in ast.iter_fields(node):
        if name in _ANNOTATION_FIELDS:
            continue
        if isinstance(value, list):
            for item in value:
                if isinstance(item, ast.AST):
                    _walk(item, node, inner, out)
        elif isinstance(value, ast.AST):
            _walk(value, node, inner, out)


def _changes(node: ast.AST, parent: ast.AST | None, in_function: bool) -> list[tuple[str, object]]:
    """The changes of one node: (description, how), ``how`` applied by :func:`_apply`."""
    out: list[tuple[str, object]] = []
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
        out.append(("operator", ("binop",)))
    elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP:
        out.append(("operator", ("augop",)))
    elif isinstance(node, ast.BoolOp):
        out.append(("operator", ("boolop",)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("not removed", ("unnot",)))
    elif isinstance(node, ast.Compare):
        out += [("comparison", ("cmp", i)) for i, op in enumerate(node.ops) if type(op) in _CMPOP]
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            out.append(("constant", ("const", not value)))
        elif isinstance(value, int):
            out.append(("constant", ("const", value + 1)))
        elif isinstance(value, str) and value and not any(c.isspace() for c in value):
            out.append(("constant", ("const", f"XX{value}XX")))
        elif isinstance(value, bytes) and value:
            out.append(("constant", ("const", b"XX" + value)))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in _CALLS:
            out.append(("call", ("call",)))
    elif isinstance(node, ast.Dict):
        for i in range(len(node.values) - 1):
            if ast.dump(node.values[i]) != ast.dump(node.values[i + 1]):
                out.append(("entries swapped", ("dswap", i)))
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and not isinstance(
        getattr(node, "ctx", None), ast.Store
    ):
        for i in range(len(node.elts) - 1):
            if ast.dump(node.elts[i]) != ast.dump(node.elts[i + 1]):
                out.append(("entries swapped", ("eswap", i)))
    if (
        in_function
        and isinstance(node, ast.stmt)
        and not isinstance(node, (ast.Pass, ast.FunctionDef, ast.ClassDef))
        and isinstance(getattr(parent, "body", None), list)
    ):
        out.append(("statement removed", ("remove",)))
    return out


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
        elif value is old:
            setattr(parent, name, new)
            return
    raise AssertionError("node not found in its parent")


def _apply(node: ast.AST, parent: ast.AST, how: tuple) -> None:
    kind = how[0]
    if kind in ("binop", "augop"):
        node.op = _BINOP[type(node.op)]()
    elif kind == "boolop":
        node.op = _BOOLOP[type(node.op)]()
    elif kind == "unnot":
        _replace(parent, node, node.operand)
    elif kind == "cmp":
        node.ops[how[1]] = _CMPOP[type(node.ops[how[1]])]()
    elif kind == "const":
        node.value = how[1]
    elif kind == "call":
        node.func.id = _CALLS[node.func.id]
    elif kind == "dswap":
        i = how[1]
        node.values[i], node.values[i + 1] = node.values[i + 1], node.values[i]
    elif kind == "eswap":
        i = how[1]
        node.elts[i], node.elts[i + 1] = node.elts[i + 1], node.elts[i]
    elif kind == "remove":
        _replace(parent, node, ast.Pass())


def _top_name(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return stmt.name
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    return names[0] if names else None


def _points(tree: ast.Module, scope: frozenset[str] | None) -> list[tuple]:
    """(scope name, node, parent, in_function) of every node in scope, in a fixed order."""
    out = []
    for stmt in tree.body:
        name = _top_name(stmt)
        if name is None or (scope is not None and name not in scope):
            continue
        nodes: list = []
        _walk(stmt, tree, False, nodes)
        out += [(name, *n) for n in nodes]
    return out


def mutants(source: str, scope: frozenset[str] | None) -> list[Mutant]:
    """Every mutant of ``source`` within ``scope``."""
    plan = []
    for index, (name, node, parent, in_function) in enumerate(_points(ast.parse(source), scope)):
        for k, (what, _how) in enumerate(_changes(node, parent, in_function)):
            plan.append((index, k, name, getattr(node, "lineno", 0), what))
    out = []
    for index, k, name, line, what in plan:
        tree = ast.parse(source)
        _name, node, parent, in_function = _points(tree, scope)[index]
        before = _show(node)
        how = _changes(node, parent, in_function)[k][1]
        if how[0] == "dswap":
            i = how[1]
            keys = [_show(k) if k is not None else "**" for k in node.keys[i : i + 2]]
            before = f"{keys[0]}: {_show(node.values[i])}, {keys[1]}: {_show(node.values[i + 1])}"
        elif how[0] == "eswap":
            before = ", ".join(_show(e) for e in node.elts[how[1] : how[1] + 2])
        if how[0] in ("dswap", "eswap"):
            after = "swapped"
            _apply(node, parent, how)
        elif how[0] in ("remove", "unnot"):
            after = "pass" if how[0] == "remove" else _show(node.operand)
            _apply(node, parent, how)
        else:
            _apply(node, parent, how)
            after = _show(node)
        change = f"{what}: {before} -> {after}"
        out.append(Mutant(name, line, change, ast.unparse(ast.fix_missing_locations(tree))))
    return out


# --------------------------------------------------------------------------- running


class _Serve(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``module`` from ``source`` (in memory) instead of its file."""

    def __init__(self, module: str, source: str, path: str) -> None:
        self.module, self.source, self.path = module, source, path

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001, ANN201
        if fullname != self.module:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=self.path)

    def create_module(self, spec):  # noqa: ANN001, ANN201
        return None

    def exec_module(self, module) -> None:  # noqa: ANN001
        module.__file__ = self.path
        exec(compile(self.source, self.path, "exec"), module.__dict__)  # noqa: S102


def _purge() -> None:
    for name in [m for m in sys.modules if m.split(".")[0] in ("sei_assets", "tests")]:
        del sys.modules[name]


def _warm(pytest_args: list[str]) -> None:
    """Collect the tests once in the parent, so that each child starts with pytest's own
    modules and plugins imported; the project's modules are dropped again afterwards."""
    import pytest

    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        pytest.main([*pytest_args, "--collect-only"])
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(null)
    _purge()


def _child(target: Target, source: str, path: str, pytest_args: list[str]) -> int:
    import pytest
    from hypothesis import settings

    _purge()
    sys.meta_path.insert(0, _Serve(target.module, source, path))
    settings.register_profile("mutation", database=None, derandomize=True, deadline=None)
    settings.load_profile("mutation")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    return int(pytest.main(pytest_args))


def run_one(target: Target, source: str, path: str, pytest_args: list[str], limit: float) -> str:
    """``killed``, ``survived``, ``timeout`` or ``error:<exit code>`` for one source."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            code = _child(target, source, path, pytest_args)
        finally:
            os._exit(code)
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.02)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return "survived"
    if code in (1, 2):  # tests failed; collection (the import) failed
        return "killed"
    return f"error:{code}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(TARGETS)}")
    parser.add_argument("--tests", nargs="+", help="test files instead of the module's own")
    parser.add_argument("--marks", default="fast", help='pytest -m expression ("" for all)')
    parser.add_argument("--conftest", action="store_true", help="load tests/conftest.py")
    parser.add_argument("--list", action="store_true", help="only count and list the mutants")
    parser.add_argument("--only", help="only the mutants whose scope or change contains this")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        parser.error(
            f"unknown module(s) {', '.join(unknown)}: expected some of {', '.join(TARGETS)}"
        )
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    cache = tempfile.mkdtemp(prefix="sei-mutation-pyc-")
    sys.pycache_prefix, sys.dont_write_bytecode = cache, False
    import hypothesis  # noqa: F401  (the slow imports, once, in the parent)
    import pydantic  # noqa: F401
    import pytest  # noqa: F401
    import yaml  # noqa: F401

    try:
        import cryptography.hazmat.primitives.asymmetric.ec  # noqa: F401
    except ImportError:  # pragma: no cover - only the envelope tests use it
        pass

    failed = False
    for key in args.modules or list(TARGETS):
        target = TARGETS[key]
        spec = importlib.util.find_spec(target.module)
        path = str(spec.origin)
        original = Path(path).read_text(encoding="utf-8")
        found = mutants(original, target.scope)
        if args.only:
            found = [m for m in found if args.only in f"{m.scope} {m.change}"]
        print(f"== {key} ({target.module}): {len(found)} mutants", flush=True)
        if args.list:
            for m in found:
                print(f"   {m.scope} L{m.line} {m.change}")
            continue
        pytest_args = [
            *(args.tests or target.tests),
            "-q",
            "-x",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
        ]
        if args.marks:
            pytest_args += ["-m", args.marks]
        if not args.conftest:
            pytest_args.append("--noconftest")
        _warm(pytest_args)
        start = time.monotonic()
        base = ast.unparse(ast.parse(original))
        verdict = run_one(target, base, path, pytest_args, limit=600)
        took = time.monotonic() - start
        if verdict != "survived":
            print(f"   the unmutated module does not pass its tests ({verdict}): skipped")
            failed = True
            continue
        limit = max(10.0, 10 * took)
        killed, survivors, equivalent = 0, [], []
        for m in found:
            outcome = run_one(target, m.source, path, pytest_args, limit)
            if outcome.startswith("error"):
                print(f"   {outcome} for {m.scope} L{m.line} {m.change}")
                failed = True
            if outcome == "survived":
                why = target.equivalent.get((m.scope, m.change))
                (equivalent if why else survivors).append((m, why))
            else:
                killed += 1
        counted = len(found) - len(equivalent)
        score = 100.0 * killed / counted if counted else 100.0
        print(
            f"   mutants {len(found)}  killed {killed}  survived {len(survivors)}  "
            f"equivalent {len(equivalent)}  score {score:.1f}%  "
            f"({time.monotonic() - start:.0f} s)",
            flush=True,
        )
        for m, _why in survivors:
            print(f"   SURVIVED {m.scope} L{m.line} {m.change}")
        for m, why in equivalent:
            print(f"   equivalent {m.scope} L{m.line} {m.change} ({why})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
