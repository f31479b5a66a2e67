"""The lean `sei` entry point prints what the typer app prints, byte for byte, same exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sei_assets import entry
from sei_assets.cli import app
from tests.reference import replay
from tests.test_reconstruct import treated_history

FORBIDDEN = ("typer", "rich", "pydantic", "click", "dagster", "sklearn", "pandas")


def _lean(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = entry.run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _typer(sei, *args: str) -> tuple[int, str, str]:
    result = sei(*args)
    return result.exit_code, result.stdout, result.stderr


def _same(sei, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    typer_side = _typer(sei, *args)
    assert _lean(capsys, *args) == typer_side, args
    return typer_side


def _edit(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\n# edited\n")


@pytest.fixture
def replayed(tmp_path: Path) -> Path:
    """The reference quickstart after its first run: reference lock and `.froga` evidence."""
    replay("quickstart", tmp_path, upto=8)
    return tmp_path


@pytest.fixture
def evaluated(replayed: Path, sei) -> Path:
    assert sei("run", "--repo", str(replayed), "--no-repro").exit_code == 0
    return replayed


STATES: dict[str, Callable[[Path], None]] = {
    "fresh": lambda r: None,
    "class B (params)": lambda r: _edit(r / "params.yaml"),
    "class C (data)": lambda r: _edit(r / "data" / "student-mat.csv"),
    "no lock": lambda r: (r / "sei.lock").unlink(),
}


@pytest.mark.parametrize("state", list(STATES))
def test_status_matches_typer(evaluated: Path, sei, capsys, state: str) -> None:
    STATES[state](evaluated)
    for args in (["--repo", str(evaluated)], [f"--repo={evaluated}", "--json"]):
        code, out, _ = _same(sei, capsys, "status", *args)
        assert out and code == (0 if state == "fresh" else 1)


def test_status_of_reference_evidence_and_bad_input(replayed: Path, tmp_path: Path, sei, capsys):
    code, out, _ = _same(sei, capsys, "status", "--repo", str(replayed))
    assert "last gate: green" in out
    _same(sei, capsys, "status", "--repo", str(replayed), "--json")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = _same(sei, capsys, "status", "--repo", str(empty))
    assert code == 2 and out == "" and err.startswith("error: ")
    assert _same(sei, capsys, "status", "--repo", str(empty), "--json")[0] == 2
    # a repeated option: the last one wins, as in click
    last = _same(sei, capsys, "status", "--repo", str(empty), f"--repo={replayed}")
    assert last == _same(sei, capsys, "status", "--repo", str(replayed))


def test_verify_is_served_by_the_typer_app() -> None:
    """`sei verify` is not a lean verb: its trust decision (known and organisation keys, the
    evidence index, currency) is the typer app's and core.trust's, one rule in one place."""
    for argv in (["verify"], ["verify", "--repo", ".", "--json"], ["verify", "--pubkey", "ab"]):
        with pytest.raises(entry._Unsupported):
            entry.parse(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--help"],
        ["status", "--bogus"],
        ["status", "--repo"],
        ["status", "extra"],
        ["verify", "--pubkey", "--json"],
        ["lifecycle", "--help"],
    ],
)
def test_everything_else_goes_to_typer(argv: list[str], sei, capsys) -> None:
    with pytest.raises(entry._Unsupported):
        entry.parse(argv)
    result = sei.runner.invoke(app, argv, prog_name="sei")
    assert _lean(capsys, *argv) == (result.exit_code, result.stdout, result.stderr)


def test_reconstruct_matches_typer(tmp_path: Path, sei, capsys) -> None:
    repo = tmp_path / "repo"
    treated_history(repo)
    out = tmp_path / "out" / "reconstruct.json"
    code, text, _ = _same(sei, capsys, "reconstruct", "--repo", str(repo))
    assert code == 0 and "treatment arc: parity FAIL → PASS" in text
    assert _same(sei, capsys, "reconstruct", f"--repo={repo}", "--out", str(out), "--json")[0] == 0
    assert out.is_file() and out.with_name("reconstruct.json.sig").is_file()
    not_git = tmp_path / "plain"
    not_git.mkdir()
    code, _, err = _same(sei, capsys, "reconstruct", "--repo", str(not_git))
    assert code == 2 and "not a git repository" in err


def test_entry_verbs_import_no_cli_framework(tmp_path: Path) -> None:
    """`sei reconstruct` through the entry point: no typer, rich, pydantic, Dagster, sklearn."""
    treated_history(tmp_path)
    code = (
        "import sys\n"
        "from sei_assets.entry import run\n"
        f"rc = run(['reconstruct', '--repo', {str(tmp_path)!r}])\n"
        f"print('HEAVY', [m for m in {FORBIDDEN!r} if m in sys.modules], 'RC', rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] RC 0" in done.stdout, done.stdout + done.stderr


def test_colours_match_rich(evaluated: Path) -> None:
    """With colour forced (FORCE_COLOR, as on a terminal), the same escape codes as rich's."""
    _edit(evaluated / "params.yaml")
    env = dict(os.environ, FORCE_COLOR="1")
    lean = [sys.executable, "-m", "sei_assets.entry"]
    typer = [sys.executable, "-c", "from sei_assets.cli import main; main()"]
    for args in (["status"], ["status", "--repo", str(evaluated / "nowhere")]):
        argv = [*args, "--repo", str(evaluated)] if len(args) == 1 else args
        ours, theirs = (
            subprocess.run([*front, *argv], capture_output=True, text=True, env=env)
            for front in (lean, typer)
        )
        assert (ours.returncode, ours.stdout, ours.stderr) == (
            theirs.returncode,
            theirs.stdout,
            theirs.stderr,
        )
        assert "\x1b[" in ours.stdout + ours.stderr


def test_the_typer_app_runs_outside_the_lean_parsers_handler(monkeypatch) -> None:
    """An error in a verb the typer app serves chains onto nothing of the lean parser's (a
    Dagster run's failure would otherwise show `_Unsupported` as its cause)."""
    import sei_assets.cli

    def crash(argv, prog_name):
        raise RuntimeError("inside the app")

    monkeypatch.setattr(sei_assets.cli, "app", crash)
    with pytest.raises(RuntimeError) as raised:
        entry.run(["compile"])
    assert raised.value.__context__ is None and raised.value.__cause__ is None
