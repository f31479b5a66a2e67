"""The lifecycle dialect (seed 004): verdict rules, interpolation, captures, timeouts, validate
rules, tag expressions, the Dagster job, and the resilience suite of the engine itself.

Rule tests use tiny synthetic scenarios over the fs/process providers (no sandbox, no engine
run); the resilience suite runs the real `sei` on seeded sandboxes.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sei_assets.cli import app
from sei_assets.core.exitcodes import ExitCode
from sei_assets.scenarios.dialects.lifecycle.interpolate import render, scope_names
from sei_assets.scenarios.dialects.lifecycle.model import load_catalog
from sei_assets.scenarios.dialects.lifecycle.result import verify_result
from sei_assets.scenarios.dialects.lifecycle.runner import run_scenario
from sei_assets.scenarios.dialects.lifecycle.tags import TagExpressionError, parse
from sei_assets.scenarios.dialects.lifecycle.validate import validate

ROOT = Path(__file__).resolve().parent.parent
HEAD = "apiVersion: sei/v1\nkind: Scenario\n"


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _scenario(tmp_path: Path, body: str, name: str = "s", extra: dict[str, str] | None = None):
    folder = tmp_path / "lifecycle"
    _write(folder, f"{name}.yaml", HEAD + f"name: {name}\n" + textwrap.dedent(body))
    for file, text in (extra or {}).items():
        _write(folder, file, text)
    catalog = load_catalog(folder)
    return catalog


def _run(tmp_path: Path, body: str, keep_up: bool = False, **kw):
    catalog = _scenario(tmp_path, body, **kw)
    errors = [p for p in validate(catalog) if p.severity == "error"]
    assert not errors, errors
    return run_scenario(catalog.scenarios[0], catalog, keep_up=keep_up)


def _by(doc: dict, section: str) -> list[dict]:
    return [s for s in doc["steps"] if s["section"] == section]


OK = "- {run: fs.write, with: {path: ok.txt, content: done}}\n"
BAD = "- {run: fs.read, with: missing.txt}\n"


# ----------------------------------------------------------------------------- verdicts


def test_passed_with_observation_envelope(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        """
        teardown: []
        setup:
          - {run: fs.write, with: {path: a.json, content: {n: 1}}}
        steadyState:
          - {run: fs.read, with: a.json, as: rsp, expect: '.value.n == 1'}
        verify:
          - {run: fs.exists, with: a.json, expect: '.value == true'}
        """,
    )
    assert doc["verdict"] == "PASSED" and doc["reason"] == ""
    rsp = doc["outputs"]["rsp"]
    assert rsp["value"] == {"n": 1}
    assert rsp["meta"]["status"] == "ok" and isinstance(rsp["meta"]["durationMs"], int)
    assert set(rsp) == {"value", "output", "meta"}
    # steadyState ran twice: before and after the method
    assert [s["section"] for s in doc["steps"]] == [
        "setup",
        "steadyState.before",
        "steadyState.after",
        "verify",
    ]


def test_failing_steady_state_before_is_inconclusive(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        f"""
        steadyState:
          {BAD}
        method:
          - phase: never
            steps:
              {OK}
        verify:
          {OK}
        teardown:
          - {{run: fs.write, with: {{path: torn.txt, content: down}}}}
        """,
    )
    assert doc["verdict"] == "INCONCLUSIVE"
    assert "before the method" in doc["reason"]
    assert [s["status"] for s in _by(doc, "method")] == ["skipped"]
    assert [s["status"] for s in _by(doc, "verify")] == ["skipped"]
    assert [s["status"] for s in _by(doc, "teardown")] == ["passed"]


def test_failing_steady_state_after_is_failed_and_verify_still_runs(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        f"""
        teardown: []
        setup:
          - {{run: fs.write, with: {{path: state.txt, content: up}}}}
        steadyState:
          - {{run: fs.read, with: state.txt}}
        method:
          - phase: break it
            steps:
              - {{run: fs.delete, with: state.txt}}
        verify:
          {OK}
        """,
    )
    assert doc["verdict"] == "FAILED" and "did not recover" in doc["reason"]
    assert [s["status"] for s in _by(doc, "steadyState.before")] == ["passed"]
    assert [s["status"] for s in _by(doc, "steadyState.after")] == ["error"]
    assert [s["status"] for s in _by(doc, "verify")] == ["passed"]


def test_method_stops_at_first_failure(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        f"""
        teardown: []
        method:
          - phase: first
            steps:
              {OK}
              {BAD}
              {OK}
          - phase: second
            steps:
              {OK}
        verify:
          {OK}
        """,
    )
    assert doc["verdict"] == "FAILED"
    assert "method[0].steps[1]" in doc["reason"]
    assert [s["status"] for s in _by(doc, "method")] == ["passed", "error", "skipped", "skipped"]
    assert [s["status"] for s in _by(doc, "verify")] == ["skipped"]


def test_verify_runs_every_step_and_accumulates(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        f"""
        teardown: []
        verify:
          {BAD}
          {OK}
          - {{run: fs.exists, with: nothing.txt, expect: '.value'}}
          - {{run: fs.exists, with: nope.txt, expect: '.value', finding: true}}
        """,
    )
    assert doc["verdict"] == "FAILED"
    assert [s["status"] for s in _by(doc, "verify")] == ["error", "passed", "failed", "failed"]
    assert len(doc["failures"]) == 2 and len(doc["findings"]) == 1


def test_a_failing_finding_alone_keeps_passed(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        "teardown: []\nverify:\n  - {run: fs.exists, with: x, expect: '.value', finding: true}\n",
    )
    assert doc["verdict"] == "PASSED" and len(doc["findings"]) == 1


def test_setup_failure_is_errored_and_teardown_still_runs(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        f"""
        setup:
          {BAD}
          {OK}
        steadyState:
          {OK}
        verify:
          {OK}
        teardown:
          - {{run: fs.write, with: {{path: torn.txt, content: down}}}}
          - {{run: fs.exists, with: torn.txt, expect: '.value'}}
        """,
    )
    assert doc["verdict"] == "ERRORED"
    assert [s["status"] for s in _by(doc, "setup")] == ["error", "skipped"]
    assert {s["status"] for s in _by(doc, "steadyState.before") + _by(doc, "verify")} == {"skipped"}
    assert [s["status"] for s in _by(doc, "teardown")] == ["passed", "passed"]


def test_failing_teardown_is_recorded_but_never_changes_the_verdict(tmp_path: Path) -> None:
    doc = _run(tmp_path, f"verify:\n  {OK}teardown:\n  {BAD}")
    assert doc["verdict"] == "PASSED"
    assert [s["status"] for s in _by(doc, "teardown")] == ["error"]


def test_teardown_runs_after_failed(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        f"""
        method:
          - phase: fail
            steps:
              {BAD}
        teardown:
          - {{run: fs.write, with: {{path: torn.txt, content: down}}}}
        """,
    )
    assert doc["verdict"] == "FAILED"
    assert [s["status"] for s in _by(doc, "teardown")] == ["passed"]


@pytest.mark.parametrize("how", ["option", "env"])
def test_teardown_skipped_under_keep_up(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "env":
        monkeypatch.setenv("KEEP_UP", "1")
    body = f"verify:\n  {OK}teardown:\n  - {{run: fs.write, with: {{path: t.txt, content: x}}}}\n"
    catalog = _scenario(tmp_path, body)
    doc = run_scenario(catalog.scenarios[0], catalog, keep_up=True if how == "option" else None)
    assert doc["verdict"] == "PASSED" and doc["keepUp"] is True
    [teardown] = _by(doc, "teardown")
    assert teardown["status"] == "skipped" and "keep-up" in teardown["message"]


def test_default_teardown_is_lifecycle_down_and_an_empty_key_replaces_it(tmp_path: Path) -> None:
    doc = _run(tmp_path / "a", f"verify:\n  {OK}")
    [teardown] = _by(doc, "teardown")
    assert teardown["run"] == "lifecycle.down" and teardown["status"] == "passed"
    doc = _run(tmp_path / "b", f"verify:\n  {OK}teardown: []\n")
    assert _by(doc, "teardown") == []


def test_default_teardown_is_the_configured_composed_lifecycle(tmp_path: Path) -> None:
    provider = """\
        apiVersion: sei/v1
        kind: Provider
        name: box
        verbs:
          up:
            steps: [{run: fs.write, with: {path: box.txt, content: up}}]
          down:
            steps: [{run: fs.write, with: {path: box.txt, content: down}}]
        """
    doc = _run(
        tmp_path,
        "providers: {box: {}}\nsetup:\n  - {run: box.up}\n",
        extra={"box.yaml": provider},
    )
    [teardown] = _by(doc, "teardown")
    assert teardown["run"] == "box.down" and teardown["status"] == "passed"
    assert teardown["steps"][0]["observation"]["value"]["path"] == "box.txt"


# ----------------------------------------------------------------------------- interpolation


def test_interpolation_typing() -> None:
    scope = {
        "vars": {"n": 3, "obj": {"a": [1, 2]}, "flag": False, "none": None, "s": "x"},
        "outputs": {"rsp": {"value": {"total": 7}, "meta": {"status": "ok"}}},
        "env": {},
        "params": {},
    }
    assert render("${.vars.n}", scope) == 3
    assert render("${.vars.obj}", scope) == {"a": [1, 2]}
    assert render("${.vars.flag}", scope) is False
    assert render("${.vars.none}", scope) is None
    assert render("${ .outputs.rsp.value.total }", scope) == 7
    assert render("n=${.vars.n} o=${.vars.obj} f=${.vars.flag} z=[${.vars.none}]", scope) == (
        'n=3 o={"a":[1,2]} f=false z=[]'
    )
    assert render("${.outputs.missing.value // 0}", scope) == 0
    assert render("${.vars.obj.a | length}", scope) == 2
    assert render({"k": ["${.vars.s}-${.vars.n}"]}, scope) == {"k": ["x-3"]}
    assert render("${ {a: .vars.n} }", scope) == {"a": 3}


def test_reference_names_read_from_the_scope() -> None:
    assert scope_names(".outputs.rsp.value.total") == [("outputs", "rsp")]
    assert scope_names(".vars.a + .vars.b") == [("vars", "a"), ("vars", "b")]
    assert scope_names(".vars.x | .y") == [("vars", "x")]
    assert scope_names("map(.x)") == []
    assert scope_names('.foo == ".vars.z"') == [("foo", None)]


def test_interpolated_values_keep_their_type_in_a_run(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        """
        teardown: []
        vars: {n: 3, word: hi, nothing: null}
        setup:
          - run: fs.write
            with:
              path: a.json
              content: {n: "${.vars.n}", text: "${.vars.word} ${.vars.n}", e: "<${.vars.nothing}>"}
          - {run: fs.read, with: a.json, as: doc}
        verify:
          - run: fs.read
            with: a.json
            expect: '.value == {"n": 3, "text": "hi 3", "e": "<>"}'
        """,
    )
    assert doc["verdict"] == "PASSED", doc["reason"]


def test_captures_are_global_ordered_last_write_wins(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        """
        teardown: []
        setup:
          - {run: fs.write, with: {path: a.json, content: {v: 1}}}
          - {run: fs.read, with: a.json, capture: {x: .v, first: .v}}
        method:
          - phase: rebind
            steps:
              - {run: fs.write, with: {path: a.json, content: {v: "${.outputs.x + 1}"}}}
              - {run: fs.read, with: a.json, capture: {x: .v}, read: .v, as: got}
        verify:
          - {run: fs.exists, with: a.json, expect: ['${.outputs.x} == 2', '${.outputs.first} == 1']}
          - {run: fs.exists, with: a.json, expect: '${.outputs.got.value} == 2'}
        """,
    )
    assert doc["verdict"] == "PASSED", doc["reason"]
    assert doc["outputs"]["x"] == 2 and doc["outputs"]["first"] == 1
    assert doc["outputs"]["got"]["value"] == 2  # read: replaced the payload
    assert list(doc["outputs"]) == ["x", "first", "got"]


def test_project_vars_env_and_composed_verbs_with_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_GREETING", "hello")
    project = """\
        apiVersion: sei/v1
        kind: Project
        vars: {a: project, b: project}
        env: {LC_GREETING: null, LC_DEFAULTED: fallback}
        """
    provider = """\
        apiVersion: sei/v1
        kind: Provider
        name: note
        verbs:
          put:
            params: {file: null, text: default text}
            steps:
              - {run: fs.write, with: {path: "${.params.file}", content: "${.params.text}"}}
              - {run: fs.read, with: "${.params.file}"}
        """
    doc = _run(
        tmp_path,
        """
        teardown: []
        vars: {b: scenario}
        setup:
          - {run: note.put, with: {file: one.txt}, as: one}
          - run: note.put
            with:
              file: two.txt
              text: "${.vars.a}/${.vars.b}/${.env.LC_GREETING}/${.env.LC_DEFAULTED}"
            as: two
        """,
        extra={"project.yaml": project, "note.yaml": provider},
    )
    assert doc["verdict"] == "PASSED", doc["reason"]
    assert doc["outputs"]["one"]["value"] == "default text"
    assert doc["outputs"]["two"]["value"] == "project/scenario/hello/fallback"


# ----------------------------------------------------------------------------- timeouts


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1].startswith("Z")


def test_step_timeout_kills_the_verbs_subprocesses(tmp_path: Path) -> None:
    start = time.monotonic()
    doc = _run(
        tmp_path,
        """
        teardown: []
        method:
          - phase: hang
            steps:
              - run: process.exec
                with: {cmd: "sleep 30 & echo $! > child.pid; wait"}
                timeout: 0.5
        """,
    )
    assert time.monotonic() - start < 10
    assert doc["verdict"] == "FAILED"
    [step] = _by(doc, "method")
    assert step["status"] == "timeout" and "timed out after 0.5s" in step["message"]
    assert step["observation"]["meta"]["status"] == "timeout"
    workdir = Path(doc["result"]).parent.parent.parent
    time.sleep(0.2)
    assert _dead(int((workdir / "child.pid").read_text()))


def test_an_expected_timeout_passes(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        "teardown: []\nverify:\n  - {run: process.sleep, with: 5, timeout: 0.2, "
        "expect: '.meta.status == \"timeout\"'}\n",
    )
    assert doc["verdict"] == "PASSED"


def test_scenario_timeout_fails_and_teardown_still_runs(tmp_path: Path) -> None:
    start = time.monotonic()
    doc = _run(
        tmp_path,
        f"""
        timeout: 0.5
        method:
          - phase: too long
            steps:
              - {{run: process.sleep, with: 5}}
              {OK}
        verify:
          {OK}
        teardown:
          - {{run: fs.write, with: {{path: torn.txt, content: down}}}}
        """,
    )
    assert time.monotonic() - start < 4
    assert doc["verdict"] == "FAILED" and doc["reason"] == "scenario exceeded timeout 0.5s"
    assert [s["status"] for s in _by(doc, "method")] == ["timeout", "skipped"]
    assert [s["status"] for s in _by(doc, "teardown")] == ["passed"]


# ----------------------------------------------------------------------------- providers


def test_process_kill_on_an_output_marker_and_fs_verbs(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        """
        teardown: []
        method:
          - phase: start and kill on marker
            steps:
              - {run: process.start, with: {name: w, cmd: "echo ready; sleep 30"}}
              - {run: process.kill, with: {name: w, marker: {output: ready}}, as: k}
              - {run: process.wait, with: w, expect: '.value.exitCode == -9'}
          - phase: files
            steps:
              - {run: fs.write, with: {path: f.bin, content: abcdef}}
              - {run: fs.copy, with: {from: f.bin, to: g.bin}}
              - {run: fs.corrupt, with: {path: g.bin, offset: 0}}
              - {run: fs.read, with: g.bin, expect: '.value == "`bcdef"'}
              - {run: fs.truncate, with: {path: g.bin, size: 2}}
              - {run: fs.read, with: g.bin, expect: '.value == "`b"'}
              - {run: fs.delete, with: g.bin}
              - {run: fs.exists, with: g.bin, expect: '.value == false'}
              - {run: fs.read, with: ../../outside, expect: 'true'}
        """,
    )
    assert doc["outputs"]["k"]["value"]["killed"] is True
    method = _by(doc, "method")
    assert [s["status"] for s in method[:-1]] == ["passed"] * (len(method) - 1)
    assert (
        method[-1]["status"] == "error" and "leaves the scenario workspace" in method[-1]["message"]
    )


def test_http_get_is_loopback_only(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    doc = _run(
        tmp_path,
        f"""
        teardown: []
        vars: {{port: {port}}}
        setup:
          - {{run: fs.write, with: {{path: www/hello.json, content: {{hello: world}}}}}}
          - run: process.start
            with: {{name: web, cwd: www, cmd: [python, -m, http.server, --bind, 127.0.0.1,
                    "${{.vars.port}}"]}}
          - name: wait until the server listens
            run: process.exec
            timeout: 30
            with:
              cmd:
                - python
                - -c
                - |
                  import socket, time
                  while True:
                      try:
                          socket.create_connection(("127.0.0.1", {port}), 0.2).close()
                          break
                      except OSError:
                          time.sleep(0.05)
        verify:
          - run: http.get
            with: "http://127.0.0.1:${{.vars.port}}/hello.json"
            timeout: 10
            expect: '.value.status == 200 and .value.json.hello == "world"'
          - run: http.get
            with: http://10.1.2.3/
            expect: 'true'
        """,
    )
    verify = _by(doc, "verify")
    assert verify[0]["status"] == "passed", verify[0]
    assert verify[1]["status"] == "error" and "not a loopback" in verify[1]["message"]
    assert doc["stoppedProcesses"] == ["web"]


# ----------------------------------------------------------------------------- validate


RULES = [
    (1, "apiVersion: sei/v9\nkind: Scenario\nname: x\n"),
    (1, "apiVersion: sei/v1\nkind: Scenario\nname: [unclosed\n"),
    (2, "apiVersion: sei/v1\nkind: Scenario\nsetup: []\n"),
    (3, HEAD + "name: x\nsetps: []\n"),
    (4, HEAD + "name: x\nmethod: {phase: a}\n"),
    (5, HEAD + "name: x\nsetup:\n  - {with: a}\n"),
    (6, HEAD + "name: x\nsetup:\n  - {run: fs.wirte, with: {path: a}}\n"),
    (7, HEAD + "name: x\nsetup:\n  - {run: fs.write, with: {paht: a}}\n"),
    (7, HEAD + "name: x\nsetup:\n  - {run: sei.run, with: {noRepo: true}}\n"),
    (8, HEAD + "name: x\ntimeout: -3\n"),
    (10, HEAD + "name: x\nsetup:\n  - {run: fs.read, with: '${.vars.nope}'}\n"),
    (10, HEAD + "name: x\nsetup:\n  - {run: fs.read, with: '${.outputs.never}'}\n"),
    (10, HEAD + "name: x\nsetup:\n  - {run: fs.read, with: '${.env.UNDECLARED}'}\n"),
    (10, HEAD + "name: x\nsetup:\n  - {run: fs.read, with: '${.params.p}'}\n"),
    (10, HEAD + "name: x\nsetup:\n  - {run: fs.read, with: '${.job}'}\n"),
    (11, HEAD + "name: x\nsetup:\n  - {run: fs.read, with: a, read: '.a |||'}\n"),
    (11, HEAD + "name: x\nsetup:\n  - {run: fs.read, with: '${.vars.a | }'}\nvars: {a: 1}\n"),
    (13, HEAD + "name: x\nsetup:\n  - {run: fs.read, with: a, as: 'not-an-ident'}\n"),
    (14, HEAD + "name: x\ntags: [ok, 'has space']\n"),
    (14, HEAD + "name: x\ntags: ['a&b']\n"),
]


@pytest.mark.parametrize("rule,text", RULES)
def test_validate_rule(tmp_path: Path, rule: int, text: str) -> None:
    path = _write(tmp_path / "lifecycle", "bad.yaml", text)
    problems = [p for p in validate(load_catalog(tmp_path / "lifecycle")) if p.rule == rule]
    assert problems, validate(load_catalog(tmp_path / "lifecycle"))
    assert problems[0].severity == "error" and problems[0].file == str(path)
    assert f"[rule {rule}, error]" in str(problems[0])


def test_rule_10_names_the_file_path_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "lifecycle",
        "s.yaml",
        HEAD + "name: x\nvars: {a: 1}\nverify:\n  - run: fs.read\n    with: '${.vars.b}'\n",
    )
    [problem] = validate(load_catalog(tmp_path / "lifecycle"))
    assert (problem.rule, problem.path, problem.line) == (10, "verify[0]", 6)
    assert str(problem).startswith(f"{path}:6: verify[0]: ${{.vars.b}}: '.vars.b' is not declared")


def test_rule_9_warns_on_a_mutating_steady_state(tmp_path: Path) -> None:
    provider = (
        "apiVersion: sei/v1\nkind: Provider\nname: p\nverbs:\n"
        "  act: {steps: [{run: fs.delete, with: a}]}\n"
        "  look: {steps: [{run: fs.read, with: a}]}\n"
    )
    _write(tmp_path / "lifecycle", "p.yaml", provider)
    _write(
        tmp_path / "lifecycle",
        "s.yaml",
        HEAD + "name: x\nsteadyState:\n  - {run: fs.write, with: {path: a}}\n"
        "  - {run: fs.read, with: a}\n  - {run: p.act}\n  - {run: p.look}\n"
        "  - {run: sei.run}\n  - {run: sei.verify}\n",
    )
    problems = validate(load_catalog(tmp_path / "lifecycle"))
    assert {(p.rule, p.severity, p.path) for p in problems} == {
        (9, "warning", "steadyState[0]"),
        (9, "warning", "steadyState[2]"),
        (9, "warning", "steadyState[4]"),
    }


def test_rules_12_15_16(tmp_path: Path) -> None:
    folder = tmp_path / "lifecycle"
    _write(folder, "a.yaml", HEAD + "name: twin\n")
    _write(folder, "b.yaml", HEAD + "name: twin\nproviders: {lifecycle: {}, box: {}}\n")
    _write(
        folder,
        "box.yaml",
        "apiVersion: sei/v1\nkind: Provider\nname: box\nverbs:\n"
        "  up: {steps: [{run: box.down}]}\n  down: {steps: [{run: box.up}]}\n",
    )
    rules = {p.rule for p in validate(load_catalog(folder))}
    assert {12, 15, 16} <= rules


def test_the_shipped_suite_validates(tmp_path: Path) -> None:
    catalog = load_catalog(ROOT / "scenarios" / "lifecycle")
    assert validate(catalog) == []
    assert len([s for s in catalog.scenarios if "resilience" in s.tags]) >= 8


# ----------------------------------------------------------------------------- tags


@pytest.mark.parametrize(
    "expr,tags,expected",
    [
        ("slow and not network", {"slow"}, True),
        ("slow and not network", {"slow", "network"}, False),
        ("a or b and c", {"a"}, True),
        ("a or b and c", {"b"}, False),
        ("(a or b) and c", {"b", "c"}, True),
        ("not (a or b)", {"c"}, True),
        ("needs-lock", {"needs-lock"}, True),
        ("x/y.z", {"x/y.z"}, True),
    ],
)
def test_tag_expressions(expr: str, tags: set[str], expected: bool) -> None:
    assert parse(expr)(tags) is expected


@pytest.mark.parametrize("expr", ["", "a and", "(a", "a b", "and", "a & b"])
def test_bad_tag_expressions(expr: str) -> None:
    with pytest.raises(TagExpressionError):
        parse(expr)


# ----------------------------------------------------------------------------- CLI


def _cli(*args: str):
    return CliRunner().invoke(app, ["scenario", *args], catch_exceptions=False)


VERDICT_SCENARIOS = {
    "passes": f"tags: [fast, good]\nteardown: []\nverify:\n  {OK}",
    "fails": f"tags: [fast]\nteardown: []\nverify:\n  {BAD}",
    "errors": f"tags: [slow]\nteardown: []\nsetup:\n  {BAD}",
    "gated": f"tags: [slow, network]\nteardown: []\nsteadyState:\n  {BAD}",
}


@pytest.fixture
def verdict_dir(tmp_path: Path) -> Path:
    for name, body in VERDICT_SCENARIOS.items():
        _write(tmp_path / "lifecycle", f"{name}.yaml", HEAD + f"name: {name}\n" + body)
    return tmp_path / "lifecycle"


def test_cli_list_with_tag_expressions(verdict_dir: Path) -> None:
    result = _cli("list", "--dir", str(verdict_dir), "--include-tags", "slow and not network",
                  "--json")  # fmt: skip
    assert [s["name"] for s in json.loads(result.stdout)] == ["errors"]
    result = _cli("list", "--dir", str(verdict_dir), "--exclude-tags", "fast", "--json")
    assert [s["name"] for s in json.loads(result.stdout)] == ["errors", "gated"]
    result = _cli("list", "--dir", str(verdict_dir), "--include-tags", "fast and")
    assert result.exit_code == 2 and "ends too early" in result.stderr


@pytest.mark.parametrize(
    "name,verdict,code",
    [("passes", "PASSED", ExitCode.OK), ("fails", "FAILED", ExitCode.FAILED),
     ("errors", "ERRORED", ExitCode.ERRORED), ("gated", "INCONCLUSIVE", ExitCode.INCONCLUSIVE)],
)  # fmt: skip
def test_cli_run_exit_code_per_verdict(verdict_dir: Path, name: str, verdict: str, code: int):
    result = _cli("run", name, "--dir", str(verdict_dir), "--json")
    assert result.exit_code == code, result.output
    [doc] = json.loads(result.stdout)
    assert doc["verdict"] == verdict and doc["dagsterRun"]["success"] is (verdict == "PASSED")
    assert verify_result(Path(doc["result"]))


def test_cli_validate_and_run_refuse_a_malformed_scenario_before_any_step(tmp_path: Path) -> None:
    folder = tmp_path / "lifecycle"
    marker = tmp_path / "ran.txt"
    _write(
        folder,
        "bad.yaml",
        HEAD + "name: bad\ntags: ['no spaces allowed']\nsetup:\n"
        f"  - {{run: process.exec, with: 'touch {marker}'}}\n"
        "  - {run: fs.read, with: '${.outputs.undeclared}'}\n",
    )
    result = _cli("validate", "--dir", str(folder))
    assert result.exit_code == 2
    assert f"{folder / 'bad.yaml'}:" in result.stderr
    assert "[rule 14, error]" in result.stderr and "[rule 10, error]" in result.stderr
    assert "setup[1]" in result.stderr
    result = _cli("run", "bad", "--dir", str(folder))
    assert result.exit_code == 2 and "refused" in result.stderr
    assert not marker.exists()


def test_result_document_is_signed_with_a_throwaway_key(
    tmp_path: Path, _isolated_key: Path
) -> None:
    from sei_assets.core import signing

    doc = _run(tmp_path, f"teardown: []\nverify:\n  {OK}")
    path = Path(doc["result"])
    assert path.parent.name == "scenarios" and path.parent.parent.name == ".sei"
    assert verify_result(path)
    pubkey = (path.parent.parent / "PUBKEY.txt").read_text().strip()
    machine = signing.public_key_hex(signing.load_or_create_key(_isolated_key))
    assert pubkey != machine
    assert not any(p.suffix == ".pem" for p in path.parent.parent.parent.rglob("*"))
    data = json.loads(path.read_text())
    data["verdict"] = "FAILED"
    path.write_text(json.dumps(data))
    assert not verify_result(path)


# ----------------------------------------------------------------------------- Dagster


def test_dagster_job_of_one_scenario(tmp_path: Path) -> None:
    import dagster as dg

    from sei_assets.scenarios.dialects.lifecycle.jobs import build_job, pop_result

    catalog = _scenario(
        tmp_path,
        f"""
        tags: [fast, synthetic]
        setup:
          {OK}
        steadyState:
          - {{run: fs.read, with: ok.txt, as: rsp}}
        method:
          - phase: break
            steps:
              - {{run: fs.delete, with: ok.txt}}
        teardown:
          - {{run: fs.write, with: {{path: torn.txt, content: down}}}}
        """,
        name="dagster-shape",
    )
    job = build_job(catalog.scenarios[0], catalog)
    assert job.name == "lifecycle_dagster_shape"
    assert (
        job.tags["sei-tag/fast"] == "true"
        and job.tags["sei/tags"] == "fast,synthetic"
        and job.tags["sei/scenario"] == "dagster-shape"
    )
    stages = {node.name for node in job.graph.nodes}
    assert stages == {
        "dagster_shape__start",
        "dagster_shape__setup",
        "dagster_shape__steadyState_before",
        "dagster_shape__method",
        "dagster_shape__steadyState_after",
        "dagster_shape__teardown",
        "dagster_shape__verdict",
    }
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success  # the verdict is the run's outcome: FAILED
    doc = pop_result(result.run_id)
    assert doc is not None and doc["verdict"] == "FAILED" and "did not recover" in doc["reason"]
    events = {
        e.step_key: e.step_materialization_data if False else e
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT"
    }
    key = "dagster_shape__steadyState_before.dagster_shape__steadyState_before__00_fs_read"
    metadata = events[key].event_specific_data.metadata
    assert metadata["status"].value == "passed"
    assert metadata["observation"].value["value"] == "done"
    assert "dagster_shape__teardown.dagster_shape__teardown__00_fs_write" in events


def test_both_dialects_load_from_the_scenarios_folder() -> None:
    from sei_assets.scenarios import all_scenario_jobs

    jobs, problems = all_scenario_jobs(ROOT / "scenarios")
    names = {j.name for j in jobs}
    assert problems == []
    assert "scenario_loan" in names and "lifecycle_resilience_kill9_during_run" in names


# ----------------------------------------------------------------------------- the suite


RESILIENCE = sorted(s.name for s in load_catalog().scenarios if "resilience" in s.tags)


def test_the_resilience_suite_covers_the_faults() -> None:
    """The shipped suite: at least nine faults, the kill during evidence writing among them."""
    assert len(RESILIENCE) >= 9
    assert "resilience/kill9-mid-evidence" in RESILIENCE


@pytest.mark.parametrize("name", RESILIENCE)
def test_resilience_scenario_through_the_cli(name: str) -> None:
    """Each resilience scenario through the CLI, as its Dagster job (one test each: the
    workers share the suite)."""
    result = _cli("run", name, "--json")
    (doc,) = json.loads(result.stdout)
    failed = [s for s in doc["steps"] if s["status"] not in ("passed", "skipped")]
    assert result.exit_code == 0 and doc["verdict"] == "PASSED", failed
    assert doc["scenario"] == name and doc["dagsterRun"]["success"]


def test_the_seed_example_shape_runs_as_written(tmp_path: Path) -> None:
    """The seed's shapes: `shinari/v1`, a `/` in the name, tags, vars, timeout, a phase whose
    step takes a scalar `with:`."""
    folder = tmp_path / "lifecycle"
    _write(
        folder,
        "worker.yaml",
        """\
        apiVersion: shinari/v1
        kind: Scenario
        name: data-loss/worker-killed
        description: a worker is killed; a peer takes its job
        tags: [slow, network]
        vars:
          sleepSecs: 30
        timeout: 120
        setup:
          - run: process.start
            with: {name: worker-a, cmd: ["sleep", "${.vars.sleepSecs}"]}
        steadyState:
          - run: fs.exists
            with: processes/worker-a.log
            expect: .value
        method:
          - phase: "SIGKILL worker-a; a peer recovers the job"
            steps:
              - run: process.kill
                with: worker-a
              - run: process.wait
                with: worker-a
                as: waited
                expect: '.value.exitCode == -9'
        verify:
          - run: fs.exists
            with: processes/worker-a.log
            expect: '"${.outputs.waited.meta.status}" == "failed"'
        """,
    )
    catalog = load_catalog(folder)
    assert validate(catalog) == []
    doc = run_scenario(catalog.scenarios[0], catalog)
    assert doc["verdict"] == "PASSED", doc["reason"]
    assert [s["run"] for s in _by(doc, "teardown")] == ["lifecycle.down"]


def test_a_json_scenario_file(tmp_path: Path) -> None:
    folder = tmp_path / "lifecycle"
    doc = {
        "apiVersion": "sei/v1",
        "kind": "Scenario",
        "name": "json-form",
        "vars": {"n": 2},
        "teardown": [],
        "verify": [{"run": "fs.write", "with": {"path": "n.txt", "content": "${.vars.n}"}}],
    }
    folder.mkdir()
    (folder / "json-form.json").write_text(json.dumps(doc, indent=2))
    (folder / "data.json").write_text('{"not": "a resource"}')
    catalog = load_catalog(folder)
    assert [s.name for s in catalog.scenarios] == ["json-form"] and validate(catalog) == []
    assert run_scenario(catalog.scenarios[0], catalog)["verdict"] == "PASSED"


def test_cli_keep_up_skips_teardown(verdict_dir: Path) -> None:
    result = _cli("run", "passes", "--dir", str(verdict_dir), "--keep-up", "--json")
    [doc] = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["keepUp"] is True


def test_process_kill_on_a_file_marker(tmp_path: Path) -> None:
    doc = _run(
        tmp_path,
        """
        teardown: []
        method:
          - phase: kill when the marker file appears
            steps:
              - {run: process.start, with: {name: m, cmd: "sleep 0.3; touch mark; sleep 30"}}
              - {run: process.kill, with: {name: m, marker: {file: mark}}, as: k}
        verify:
          - {run: fs.exists, with: mark, expect: '.value'}
        """,
    )
    assert doc["verdict"] == "PASSED", doc["reason"]
    kill = doc["outputs"]["k"]["value"]
    # measured from the kill step's start, which follows the start of the process
    assert kill["killed"] is True and kill["atSeconds"] > 0.1


def test_git_verbs_in_a_repository(tmp_path: Path) -> None:
    from sei_assets.scenarios.dialects.lifecycle.providers import VERBS
    from sei_assets.scenarios.dialects.lifecycle.providers.base import Context, Sandbox

    repo = tmp_path / "repo"
    repo.mkdir()
    ctx = Context(tmp_path, tmp_path)
    ctx.sandbox = Sandbox(tmp_path, repo, {})
    assert ctx.run(["git", "init", "-q", "-b", "main"])[0] == 0
    (repo / "a.txt").write_text("one")
    commit = VERBS["git.commit"].handler(ctx, {"message": "first"})
    assert commit.ok and len(commit.value["commit"]) == 40
    assert VERBS["git.head"].handler(ctx, {}).value == commit.value["commit"]
    (repo / "a.txt").write_text("two")
    assert VERBS["git.status"].handler(ctx, {}).value == ["a.txt"]
    assert VERBS["git.restore"].handler(ctx, {"paths": ["a.txt"]}).ok
    assert (repo / "a.txt").read_text() == "one"
    assert VERBS["git.log"].handler(ctx, {"n": 5}).value[0]["subject"] == "first"


def test_sei_verbs_observe_the_real_cli_with_json(tmp_path: Path) -> None:
    from sei_assets.scenarios.dialects.lifecycle.providers import VERBS
    from sei_assets.scenarios.dialects.lifecycle.providers.base import Context, sei_executable
    from sei_assets.scenarios.dialects.lifecycle.providers.sei import ENGINE_VERBS, argv

    ctx = Context(tmp_path, tmp_path)
    assert argv(ctx, "run", {"noRepro": True, "pubkey": "", "standard": ["a", "b"]}) == [
        sei_executable(), "run", "--repo", str(tmp_path), "--no-repro",
        "--standard", "a", "--standard", "b", "--json",
    ]  # fmt: skip
    assert Path(sei_executable()).parent == Path(os.sys.executable).parent
    assert {f"sei.{v}" for v in ENGINE_VERBS} <= set(VERBS)
    result = VERBS["sei.pubkey"].handler(ctx, {})
    assert result.ok and len(result.value["pubkey"]) == 130
    refused = VERBS["sei.verify"].handler(ctx, {})
    assert refused.exit_code == 2 and "no evidence directory" in refused.output
