"""`sei status --all`: one table of every registered system, on the lean path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sei_assets import entry
from sei_assets.core import engine, fleet, governance
from tests.systems import make_registry
from tests.test_entry import FORBIDDEN

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs


@pytest.fixture
def fleet_of_three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three evaluated systems (sys_001 red), registered in `$SEI_SYSTEMS_FILE`."""
    registry = make_registry(tmp_path / "systems", 3, red=frozenset({1}))
    for i in range(3):
        engine.run(tmp_path / "systems" / f"sys_{i:03d}")
    monkeypatch.setenv("SEI_SYSTEMS_FILE", str(registry))
    monkeypatch.setattr(fleet, "RACY_SECONDS", 0.0)  # rows are remembered at once
    return registry


def _lean(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = entry.run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_one_row_per_system_and_the_worst_exit_code(fleet_of_three: Path, sei, capsys) -> None:
    root = fleet_of_three.parent
    code, out, _ = _lean(capsys, "status", "--all", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["exit_code"] == 1 and not doc["ok"]
    gates = {s["name"]: s["status"]["gate"] for s in doc["systems"]}
    assert gates == {"sys_000": "green", "sys_001": "red", "sys_002": "green"}
    assert all(s["approval"]["state"] == "draft" for s in doc["systems"])
    assert fleet.cache_path().is_file()

    # the text table: a row each, the same bytes through the typer app
    code, text, _ = _lean(capsys, "status", "--all")
    lines = text.splitlines()
    assert lines[0].split() == ["SYSTEM", "GATE", "FRESHNESS", "DRIFT", "LAST", "RUN", "APPROVAL"]
    assert lines[2].split()[:4] == ["sys_001", "red", "fresh", "-"]
    assert "2 of 3 systems fresh and green" in lines[-1]
    result = sei("status", "--all")
    assert (result.exit_code, result.stdout) == (code, text)

    # a data edit makes a remembered row stale; an approval request shows at once
    data = root / "sys_002" / "data" / "records.csv"
    data.write_text(data.read_text() + "a,1\n")
    subprocess.run(["git", "-C", str(root / "sys_000"), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root / "sys_000"), "commit", "-qm", "evidence"], check=True)
    governance.request(root / "sys_000", "Dev <dev@example.test>")
    code, out, _ = _lean(capsys, "status", "--all", "--json")
    rows = {s["name"]: s for s in json.loads(out)["systems"]}
    assert rows["sys_002"]["status"]["stale_classes"] == ["C"]
    assert rows["sys_000"]["approval"]["state"] == "requested"
    code, text, _ = _lean(capsys, "status", "--all")
    assert "stale: measurement-data" in text and "requested" in text

    # only green and fresh systems: exit 0 (a registry's paths are relative to it)
    green = root / "green.yaml"
    green.write_text(yaml.safe_dump({"systems": [{"name": "sys_000", "repo": "sys_000"}]}))
    code, out, _ = _lean(capsys, "status", "--all", f"--systems={green}")
    assert code == 0 and "1 of 1 systems fresh and green" in out, out


def test_an_unreadable_system_and_a_bad_registry(tmp_path: Path, sei, capsys) -> None:
    registry = tmp_path / "systems.yaml"
    registry.write_text(yaml.safe_dump({"systems": [{"name": "ghost", "repo": "nowhere"}]}))
    code, out, _ = _lean(capsys, "status", "--all", "--systems", str(registry))
    assert code == 2 and "ghost: error:" in out and "no such repository" in out
    registry.write_text("systems:\n  - name: 1bad\n    repo: x\n")
    code, out, err = _lean(capsys, "status", "--all", "--systems", str(registry))
    assert code == 2 and out == "" and f"{registry}:2: systems[0].name: must be letters" in err
    result = sei("status", "--all", "--systems", str(registry))
    assert (result.exit_code, result.stderr) == (code, err)


def test_status_all_imports_no_heavy_module(fleet_of_three: Path) -> None:
    code = (
        "import sys\n"
        "from sei_assets.entry import run\n"
        "rc = run(['status', '--all'])\n"
        f"print('HEAVY', [m for m in {FORBIDDEN!r} if m in sys.modules], 'RC', rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] RC 1" in done.stdout, done.stdout + done.stderr
