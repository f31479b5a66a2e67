"""`sei run` says what it is doing: each step as it starts, on stderr; nothing with --json."""

from __future__ import annotations

import io
from pathlib import Path

from sei_assets.cli.progress import _Printer
from sei_assets.core import progress
from tests.systems import make_system

STEPS = ["compile", "reproduce", "evaluate", "analyse", "sign"]


def test_run_prints_its_steps_in_order_and_json_stays_clean(tmp_path: Path, sei) -> None:
    repo = make_system(tmp_path / "sys", "sys_p")
    result = sei("run", "--repo", str(repo))
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("sei: ")]
    assert [line.split(":")[1].strip() for line in lines] == STEPS
    assert "sei: reproduce: with file" in lines
    quiet = sei("run", "--repo", str(repo), "--json")
    assert quiet.exit_code == 0 and "sei: " not in quiet.stderr
    compiled = sei("compile", "--repo", str(repo))
    assert "sei: compile: the risk program into the OSCAL plan" in compiled.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_each_step_ends_with_its_time() -> None:
    stream = _Terminal()
    printer = _Printer(stream)
    with progress.listening(printer.step):
        progress.report("compile", "the plan")
        progress.report("sign", "")
    printer.close()
    text = stream.getvalue()
    assert text.startswith("▸ compile: the plan …\r✓ compile: the plan (")
    assert text.rstrip().endswith("s)") and "\r✓ sign (" in text
    progress.report("nobody", "listens")  # no listener: nothing happens
