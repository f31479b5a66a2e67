"""Exit codes with one meaning each (issue 18, items 3 and 5): 0 green / verified / fresh,
1 red / not verified / stale, 2 bad input (file, field, line), 3 internal error (a short message
and where the full trace is; never a traceback). Hostile manifests never crash, errors are
bounded, a typo gets its did-you-mean where it is, and `status` reports a failed last run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reference import replay

ID = "Quality Lead <quality@example.com>"
VERBS = [
    ["compile"],
    ["run"],
    ["run", "--no-repro"],
    ["status"],
    ["verify"],
    ["reconstruct"],
    ["conformance"],
    ["impact"],
    ["assess"],
    ["lifecycle"],
    ["request", "--by", ID],
    ["approve", "--by", ID],
    ["review", "--by", ID],
    ["reject", "--by", ID, "--reason", "no"],
    ["retire", "--by", ID],
]


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: "-".join(v[:2]))
@pytest.mark.parametrize("where", ["missing", "empty"])
def test_every_verb_exits_2_on_bad_input(tmp_path: Path, sei, verb: list[str], where: str):
    repo = tmp_path / "nope" if where == "missing" else tmp_path
    result = sei(*verb, "--repo", str(repo))
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and str(tmp_path) in result.stderr
    assert "Traceback" not in result.output


def test_init_and_pubkey_exit_2_on_bad_input(tmp_path: Path, sei, monkeypatch) -> None:
    result = sei("init", "--systems", str(tmp_path / "none.yaml"))
    assert result.exit_code == 2 and "none.yaml" in result.stderr
    bad_key = tmp_path / "key.pem"
    bad_key.write_text("not a key\n")
    monkeypatch.setenv("SEI_SIGNING_KEY", str(bad_key))
    result = sei("pubkey")
    assert result.exit_code == 2 and "key.pem" in result.stderr


def test_an_internal_error_exits_3_with_the_trace_on_disk(tmp_path: Path) -> None:
    """A crash in any command: one short line, the trace in a file, exit 3 (not 1 = red)."""
    code = (
        "from sei_assets import cli\n"
        "@cli.app.command('boom')\n"
        "def boom() -> None:\n"
        "    {}['missing']\n"
        "cli.main()\n"
    )
    env = {**__import__("os").environ, "SEI_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run(
        [sys.executable, "-c", code, "boom"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "internal error: KeyError: 'missing'" in proc.stderr
    trace = Path(proc.stderr.split("full trace: ")[1].strip())
    assert trace.is_relative_to(tmp_path / "state")
    assert "Traceback" in trace.read_text() and "boom" in trace.read_text()


def test_a_crashed_dagster_step_is_an_internal_error_not_bad_input() -> None:
    from dagster._utils.error import serializable_error_info_from_exc_info

    from sei_assets.core.errors import ManifestError
    from sei_assets.defs.launch import _is_bad_input

    def info(exc: Exception):
        try:
            try:
                raise exc
            except Exception as inner:
                raise RuntimeError("step failed") from inner
        except RuntimeError:
            return serializable_error_info_from_exc_info(sys.exc_info())

    assert _is_bad_input(info(ManifestError("sei.yaml", "system", "missing", 3)))
    assert not _is_bad_input(info(ValueError("max() arg is an empty sequence")))


def _manifest(tmp_path: Path, text: str) -> Path:
    (tmp_path / "sei.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("verb", ["compile", "status"])
def test_a_nul_byte_is_located_not_a_crash(tmp_path: Path, sei, verb: str) -> None:
    repo = _manifest(tmp_path, 'apiVersion: v1\nsystem:\n  name: "a\x00b"\n')
    result = sei(verb, "--repo", str(repo))
    assert result.exit_code == 2
    assert "sei.yaml:3" in result.stderr and "U+0000" in result.stderr


@pytest.mark.parametrize("verb", ["compile", "status"])
def test_deep_nesting_is_refused_not_a_segfault(tmp_path: Path, verb: str) -> None:
    depth = 100_000
    _manifest(tmp_path, "system: " + "[" * depth + "]" * depth + "\n")
    sei_exe = Path(sys.executable).parent / "sei"
    proc = subprocess.run(
        [str(sei_exe), verb, "--repo", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr[-500:]
    assert "sei.yaml:1" in proc.stderr and "nesting deeper than" in proc.stderr


def test_a_typo_gets_did_you_mean_where_it_is(tmp_path: Path) -> None:
    from sei_assets.core.errors import ManifestError
    from sei_assets.core.manifest import load_manifest

    text = (Path(__file__).parent.parent / "resources" / "loan" / "sei.yaml").read_text(
        encoding="utf-8"
    )
    assert text.startswith("apiVersion") and "\nsystem:" in text
    line = text[: text.index("\nsystem:")].count("\n") + 2
    _manifest(tmp_path, text.replace("\nsystem:", "\nsystme:", 1))
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path)
    assert caught.value.line == line
    assert caught.value.suggestion == "system"
    assert "unknown key 'systme'" in str(caught.value)


def _bomb(levels: int) -> str:
    """An alias bomb of ``levels`` levels as the value of system.name (about 1 KB)."""
    parts = ['&a ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]']
    for prev, name in zip("abcdefgh", "bcdefgh"[: levels - 1], strict=False):
        parts.append(f"&{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "apiVersion: v1\nkind: AISystem\nsystem:\n  name: [" + ", ".join(parts) + "]\n"


@pytest.mark.parametrize("verb", ["compile", "status"])
def test_errors_are_bounded(tmp_path: Path, sei, verb: str) -> None:
    """A 1 KB alias bomb in system.name: a short located message, never megabytes."""
    small = _bomb(4)  # 9**4 leaves: expands to ~330 KB, within the node limit
    assert len(small) < 1200
    result = sei(verb, "--repo", str(_manifest(tmp_path, small)))
    assert result.exit_code == 2 if verb == "compile" else result.exit_code in (1, 2)
    assert len(result.output) < 3000
    big = _bomb(8)  # 9**8 leaves: refused before it is expanded
    result = sei(verb, "--repo", str(_manifest(tmp_path, big)))
    assert result.exit_code == 2
    assert "sei.yaml:4" in result.stderr and "aliases expand the document" in result.stderr
    assert len(result.output) < 3000


def test_empty_impact_is_located(tmp_path: Path) -> None:
    from sei_assets.core.errors import ManifestError
    from sei_assets.core.manifest import load_manifest

    text = (Path(__file__).parent.parent / "resources" / "loan" / "sei.yaml").read_text()
    start = text.index("impact:", text.index("risks:"))
    end = text.index("\n", start)
    _manifest(tmp_path, text[:start] + "impact: {}" + text[end:])
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path)
    assert caught.value.line == text[:start].count("\n") + 1
    assert caught.value.key_path.endswith(".impact")


def _evidence(repo: Path) -> dict[str, bytes]:
    files = [p for p in (repo / ".sei").rglob("*") if p.is_file()] + [repo / "sei.lock"]
    return {str(p): p.read_bytes() for p in files}


def test_status_reports_a_failed_run_after_the_evidence(tmp_path: Path, sei) -> None:
    from sei_assets.core.last_run import record_path

    replay("quickstart", tmp_path, upto=8)
    assert sei("run", "--repo", str(tmp_path), "--no-repro").exit_code == 0
    code, doc = sei.json("status", "--repo", str(tmp_path))
    assert code == 0 and doc["last_run_failure"] is None
    evidence_time = doc["generated_at"]
    metrics = tmp_path / "metrics.json"
    good = metrics.read_text()
    before = _evidence(tmp_path)
    metrics.write_text('{"fairness-parity": 0.01, "fairness-parity": 0.5}')
    failed = sei("run", "--repo", str(tmp_path), "--no-repro")
    assert failed.exit_code == 2 and "'fairness-parity' appears twice" in failed.stderr
    assert _evidence(tmp_path) == before  # the failed run wrote nothing in the repository
    record = json.loads(record_path(tmp_path).read_text())
    assert record["repo"] == str(tmp_path.resolve())
    assert record["failed"] and record["exit_code"] == 2 and "appears twice" in record["reason"]
    result = sei("status", "--repo", str(tmp_path))
    assert result.exit_code == 1
    assert f"last run failed at {record['at']} (sei run, exit 2): " in result.stdout
    assert f"evidence below is from {evidence_time}" in result.stdout
    assert "last gate: green" in result.stdout
    code, doc = sei.json("status", "--repo", str(tmp_path))
    assert code == 1 and doc["last_run_failure"]["reason"] == record["reason"]
    metrics.write_text(good)  # a run with a verdict replaces the failure
    assert sei("run", "--repo", str(tmp_path), "--no-repro").exit_code == 0
    assert sei("status", "--repo", str(tmp_path)).exit_code == 0
    assert sei("verify", "--repo", str(tmp_path)).exit_code == 0


# --- One enum for every code (issue 32, item 6) -------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sei_assets"
#: Where a verb or a dialect decides its exit code: every `return` of a function there that
#: returns an exit code counts, as well as every `exit_code` property anywhere.
VERB_SOURCES = [
    PACKAGE / "cli",
    PACKAGE / "entry.py",
    PACKAGE / "defs" / "launch.py",
    PACKAGE / "scenarios" / "dialects",
    PACKAGE / "core" / "control" / "run_evidence.py",
    PACKAGE / "core" / "model" / "__main__.py",
]
_EXIT_CALLS = {"Exit", "exit", "SystemExit"}
_CODES = {"code", "exit_code"}
#: Providers that judge another program's exit status (git, any process), not a `sei` code.
_OTHER_PROGRAMS = {
    PACKAGE / "scenarios" / "dialects" / "lifecycle" / "providers" / "git.py",
    PACKAGE / "scenarios" / "dialects" / "lifecycle" / "providers" / "process.py",
}


def _int_literals(node) -> list:
    """The int literals that are ``node``'s value: itself, a conditional's branches, or the
    first item of a tuple (``(code, message)``)."""
    import ast

    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [node]
    if isinstance(node, ast.IfExp):
        return _int_literals(node.body) + _int_literals(node.orelse)
    if isinstance(node, ast.Tuple) and node.elts:
        return _int_literals(node.elts[0])
    return []


def _name(node) -> str:
    import ast

    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def bare_exit_codes(path: Path, verb_source: bool) -> list[str]:
    """``file:line: what`` for each exit code written as a bare integer in ``path``."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and _name(node.func) in _EXIT_CALLS:
            found += [(n, "exit with an int") for a in node.args for n in _int_literals(a)]
        elif isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names = {_name(t) for t in targets}
            if "exit_code" in names or (verb_source and "code" in names):
                found += [(n, f"{'/'.join(names)} = an int") for n in _int_literals(node.value)]
        elif isinstance(node, ast.Compare) and verb_source and _name(node.left) in _CODES:
            found += [
                (n, "compared with an int") for c in node.comparators for n in _int_literals(c)
            ]
        elif isinstance(node, ast.Call) and _name(node.func) == "record" and len(node.args) > 2:
            found += [(n, "recorded as an int") for n in _int_literals(node.args[2])]
        elif isinstance(node, ast.FunctionDef):
            returns = ast.unparse(node.returns) if node.returns else ""
            decides = node.name == "exit_code" or (
                verb_source and ("int" in returns or "ExitCode" in returns)
            )
            if decides:
                for r in ast.walk(node):
                    if isinstance(r, ast.Return) and r.value is not None:
                        found += [
                            (n, f"{node.name} returns an int") for n in _int_literals(r.value)
                        ]
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [f"{where}:{n.lineno}: {what}" for n, what in sorted(found, key=lambda f: f[0].lineno)]


def _verb_files() -> set[Path]:
    files = {f for s in VERB_SOURCES for f in ([s] if s.is_file() else s.rglob("*.py"))}
    return files - _OTHER_PROGRAMS


def test_no_verb_or_dialect_exits_with_a_bare_integer() -> None:
    """Every exit code a verb or a dialect ends with is an `ExitCode` member: no
    `typer.Exit(1)`, `sys.exit(2)`, `return 0` from a main or `exit_code = 3` is left."""
    verbs = _verb_files()
    assert PACKAGE / "cli" / "scenario.py" in verbs and PACKAGE / "entry.py" in verbs
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        for hit in bare_exit_codes(path, path in verbs)
    ]
    assert found == []


def test_the_scanner_finds_bare_codes(tmp_path: Path) -> None:
    """The scan above would see each form of a bare exit code."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sys, typer\n"
        "def a() -> None:\n    raise typer.Exit(1 if x else 0)\n"
        "def b() -> None:\n    sys.exit(2)\n"
        "def main() -> int:\n    return 3\n"
        "def launch() -> tuple[int, str]:\n    return 0, 'ok'\n"
        "class E:\n    exit_code = 2\n"
        "    @property\n    def exit_code(self):\n        return 1\n"
        "def c(code: int) -> None:\n    code = 1 if code == 3 else 0\n"
        "    record(repo, 'run', 3, 'why')\n"
    )
    hits = bare_exit_codes(sample, verb_source=True)
    assert [h.split(":")[1] for h in hits] == [
        "3",
        "3",
        "5",
        "7",
        "9",
        "11",
        "14",
        "16",
        "16",
        "16",
        "17",
    ], hits


def test_lifecycle_verdicts_have_codes_of_their_own() -> None:
    """ERRORED and INCONCLUSIVE collide with no other code: 3 stays an internal error."""
    from sei_assets.core.exitcodes import ExitCode
    from sei_assets.scenarios.dialects.lifecycle.runner import EXIT_CODES, VERDICTS

    assert set(EXIT_CODES) == set(VERDICTS)
    assert all(isinstance(code, ExitCode) for code in EXIT_CODES.values())
    assert len(set(EXIT_CODES.values())) == len(VERDICTS)
    shared = {ExitCode.BAD_INPUT, ExitCode.INTERNAL_ERROR}
    assert not shared & set(EXIT_CODES.values())
    own = {EXIT_CODES["ERRORED"], EXIT_CODES["INCONCLUSIVE"]}
    assert own.isdisjoint({ExitCode.OK, ExitCode.FAILED, *shared})
    assert len({int(c) for c in ExitCode}) == len(ExitCode)  # no alias hides a reused number


def _readme_exit_table() -> list[tuple[int, str]]:
    """(code, member name) of each row of the README's exit-code table."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("| code | `ExitCode` | means |", 1)[1].split("\n\n", 1)[0]
    return [(int(n), name) for n, name in re.findall(r"^\| (\d+) \| `(\w+)` \|", table, re.M)]


def test_the_readme_and_help_document_every_code_of_the_enum(sei) -> None:
    """One table in the README, the epilog of `sei --help`, and every code a verb documents in
    the README's command table, all drawn from `ExitCode`."""
    import re

    from sei_assets.core.exitcodes import MEANINGS, ExitCode

    assert _readme_exit_table() == [(int(c), c.name) for c in ExitCode]
    assert list(MEANINGS) == list(ExitCode)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = text.split("| command | does | exit code |", 1)[1].split("\n\n", 1)[0]
    documented = {
        int(n)
        for row in commands.splitlines()[2:]
        for n in re.findall(r"\b\d+\b", row.rsplit("|", 2)[1])
    }
    assert documented and documented <= {int(c) for c in ExitCode}
    result = sei("--help")
    assert result.exit_code == ExitCode.OK
    help_text = " ".join(result.stdout.split())
    for code, meaning in MEANINGS.items():
        assert f"{int(code)} {' '.join(meaning.replace('`', '').split())[:30]}" in help_text


def test_a_green_gate_held_by_its_signature_check_is_not_a_pass(
    tmp_path: Path, sei, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The machine's signing key replaced without the new key being accepted: the gate's
    controls are green, but its blocking `signature_valid` check fails (KEY CHANGED), so the run
    is held (exit 1, with the check's reason), not reported as a pass."""
    replay("quickstart", tmp_path, upto=8)
    assert sei("run", "--repo", str(tmp_path), "--no-repro").exit_code == 0
    monkeypatch.setenv("SEI_SIGNING_KEY", str(tmp_path.parent / "another-key.pem"))
    held = sei("run", "--repo", str(tmp_path), "--no-repro")
    assert held.exit_code == 1, held.output
    assert "gate: GREEN" in held.stdout
    assert "the run is held: signature_valid failed" in held.stderr
    code, doc = sei.json("run", "--repo", str(tmp_path), "--no-repro")
    assert code == 1 and doc["gate"] == "green" and "signature_valid" in doc["held"]
