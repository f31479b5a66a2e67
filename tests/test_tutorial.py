"""docs/tutorial.md is a test: its shell commands run literally, in order, in one shell, from an
empty folder; each must exit as the guide says (0, or the `# exit N` it is marked with)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)
EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


def commands(text: str) -> list[tuple[str, int]]:
    """Every command of the guide's `sh` blocks, with the exit code it is expected to give."""
    found = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            marked = EXIT.search(line)
            found.append((line, int(marked.group(1)) if marked else 0))
    return found


def script(steps: list[tuple[str, int]]) -> str:
    """One bash script: each command, then a check of its exit code (stop at the first miss)."""
    out = []
    for n, (line, code) in enumerate(steps, 1):
        out += [
            f"echo {shlex.quote(f'### {n}: {line}')}",
            line,
            f"rc=$?; if [ $rc -ne {code} ]; then echo "
            f"{shlex.quote(f'tutorial step {n} ({line})')} exited $rc, expected {code} >&2; "
            "exit 97; fi",
        ]
    return "\n".join(out) + "\n"


def test_the_tutorial_is_parsed_into_its_journey() -> None:
    steps = commands(TUTORIAL.read_text())
    lines = [line for line, _ in steps]
    for needed in ("sei new .", "sei compile", "sei verify", "sei register", "sei status --all"):
        assert any(line.startswith(needed) for line in lines), needed
    # the dossier comes after the green run (the last `sei run`) and before the verify
    dossier = lines.index("sei dossier")
    green = max(i for i, line in enumerate(lines) if line.startswith("sei run"))
    assert green < dossier < lines.index("sei verify")
    assert [c for _, c in steps].count(1) == 2  # red: `sei run` and `sei status`
    assert any("dagster asset materialize" in line for line in lines)


def test_the_tutorial_runs_from_an_empty_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SEI_SYSTEMS_FILE", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "-c", script(commands(TUTORIAL.read_text()))],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
    repo = work / "screening"
    assert (repo / ".sei" / "bundle.json").is_file() and (repo / "sei.lock").is_file()
    # the dossier's HTML and PDF exist and are named, with their digests, by the signed index
    index = json.loads((repo / ".sei" / "index.json").read_text())
    for rel in (".sei/dossier/dossier.html", ".sei/dossier/dossier.pdf", ".sei/soa.json"):
        data = (repo / rel).read_bytes()
        assert index["files"][rel] == hashlib.sha256(data).hexdigest(), rel
        assert index["files"][rel + ".sig"], rel
    assert (repo / ".sei" / "dossier" / "dossier.pdf").read_bytes().startswith(b"%PDF-")
    html = (repo / ".sei" / "dossier" / "dossier.html").read_text()
    assert "screening" in html and "Annex IV" in html
    committed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", ".sei/dossier"], capture_output=True, text=True
    ).stdout.split()
    assert committed == [
        ".sei/dossier/dossier.html",
        ".sei/dossier/dossier.html.sig",
        ".sei/dossier/dossier.pdf",
        ".sei/dossier/dossier.pdf.sig",
    ]
    assert "gate: GREEN" in done.stdout and "gate: RED" in done.stdout
    assert "screening" in done.stdout.split("### ")[-1]  # the status table lists the system
