"""CLI behaviour: exit codes, bad input keeps earlier evidence intact, light read-only verbs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reference import replay

HEAVY = ("dagster", "sklearn", "pandas", "mlflow", "dvc")
LEAN = ("typer", "rich", "pydantic", "click", "msgspec")  # not even these in `sei` entry point
#: `sei status` checks the bundle's signature without `cryptography` (core/dsse.py): its import
#: costs more than the whole command.
STATUS_LEAN = ("cryptography",)


@pytest.fixture
def evaluated(tmp_path: Path, sei) -> Path:
    replay("quickstart", tmp_path, upto=8)
    assert sei("run", "--repo", str(tmp_path), "--no-repro").exit_code == 0
    return tmp_path


@pytest.mark.parametrize("front", ["entry", "typer"])
@pytest.mark.parametrize("verb", ["status", "status --all", "verify", "pubkey", "verify --log"])
def test_read_only_verbs_stay_light(evaluated: Path, verb: str, front: str) -> None:
    """The read-only verbs import neither Dagster nor the ML stack; the `sei` entry point's lean
    verbs (status, status --all, pubkey) no CLI framework either (verify is the typer app's:
    its trust decision lives there, one rule in one place)."""
    args = [verb] if verb == "pubkey" else [verb.split()[0], "--repo", str(evaluated)]
    if verb == "verify --log":  # the transparency log's inclusion check of `sei run`'s index
        args += ["--log", "last"]
    if verb == "status --all":
        registry = evaluated / "fleet.yaml"
        registry.write_text(f"systems:\n  - name: education\n    repo: {evaluated}\n")
        args = ["status", "--all", "--systems", str(registry)]
    forbidden = HEAVY + (LEAN if front == "entry" and not verb.startswith("verify") else ())
    forbidden += STATUS_LEAN if front == "entry" and verb == "status" else ()
    call = "rc = run(args)" if front == "entry" else "app(args)"
    code = (
        "import sys\n"
        + ("from sei_assets.entry import run\n" if front == "entry" else "")
        + ("from sei_assets.cli import app\n" if front == "typer" else "")
        + f"args = {args!r}\n"
        + f"try:\n    {call}\nexcept SystemExit as e:\n    rc = e.code\n"
        + f"heavy = [m for m in {forbidden!r} if m in sys.modules]\n"
        + "print('HEAVY', heavy, 'RC', rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] RC 0" in out.stdout, out.stdout + out.stderr


def _evidence(repo: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (repo / ".sei").iterdir()} | {
        "sei.lock": (repo / "sei.lock").read_bytes()
    }


@pytest.mark.parametrize(
    "breakage,message",
    [
        (lambda r: (r / "metrics.json").unlink(), "metrics file"),
        (lambda r: (r / "metrics.json").write_text("{not json"), "not valid JSON"),
        (lambda r: (r / "metrics.json").write_text("[1, 2]"), "keyed by measure id"),
        (
            lambda r: (r / "froga.yaml").write_text(
                (r / "froga.yaml").read_text().replace("tool: dvc", "tool: airflow")
            ),
            "unknown backend",
        ),
    ],
)
def test_bad_input_exits_2_and_keeps_evidence(evaluated: Path, sei, breakage, message: str) -> None:
    before = _evidence(evaluated)
    breakage(evaluated)
    result = sei("run", "--repo", str(evaluated), "--no-repro")
    assert result.exit_code == 2
    assert message in result.stderr
    assert _evidence(evaluated) == before
    assert sei("verify", "--repo", str(evaluated)).exit_code == 0


def test_failing_pipeline_exits_2_with_tool_stderr(evaluated: Path, sei) -> None:
    """A real `dvc repro` that fails (its stage commands are absent) is named with its stderr."""
    before = _evidence(evaluated)
    result = sei("run", "--repo", str(evaluated))
    assert result.exit_code == 2
    assert "dvc:" in result.stderr and "dvc repro" in result.stderr
    assert _evidence(evaluated) == before


def test_missing_metric_fails_closed(evaluated: Path, sei) -> None:
    metrics = json.loads((evaluated / "metrics.json").read_text())
    del metrics["fairness-parity"]
    (evaluated / "metrics.json").write_text(json.dumps(metrics))
    code, doc = sei.json("run", "--repo", str(evaluated), "--no-repro")
    assert code == 1 and doc["gate"] == "red" and doc["gate_failures"] == ["fairness-parity"]


def test_verify_json_and_pinned_key(evaluated: Path, sei) -> None:
    code, doc = sei.json("verify", "--repo", str(evaluated))
    assert code == 0 and doc["ok"] and doc["pubkey_source"] == "repository"
    names = {Path(f["path"]).name for f in doc["files"]}
    assert names == {"bundle.json", "bom.cdx.json", "assessment-results.oscal.json", "index.json"}
    pub = sei("pubkey").stdout.strip()
    code, doc = sei.json("verify", "--repo", str(evaluated), "--pubkey", pub)
    assert code == 0 and doc["pubkey_source"] == "pinned"
    other = (evaluated / ".froga" / "PUBKEY.txt").read_text().strip()
    assert sei("verify", "--repo", str(evaluated), "--pubkey", other).exit_code == 1


def test_tampered_bundle_fails_verify(evaluated: Path, sei) -> None:
    bundle = evaluated / ".sei" / "bundle.json"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    bundle.write_bytes(bytes(data))
    result = sei("verify", "--repo", str(evaluated))
    assert result.exit_code == 1 and "NOT verified" in result.stdout
