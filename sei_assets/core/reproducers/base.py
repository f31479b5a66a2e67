"""What every reproducer shares: the run record, subprocess handling, metrics reading, digests."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write, sha256_bytes

DEFAULT_TIMEOUT = float(os.environ.get("SEI_PIPELINE_TIMEOUT", "1800"))
# Pipelines run offline: no usage statistics sent by the tools that honour these variables.
OFFLINE_ENV = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


class ReproducerError(SeiError):
    """The pipeline could not be reproduced: missing tool, failing command, unusable metrics."""


def needs(tool: str) -> str:
    """What backend ``tool`` needs of the repository (empty for an unknown one)."""
    from sei_assets.core.reproducers.tools import tool_named

    row = tool_named(tool)
    return row.needs if row else ""


@dataclass
class PipelineRun:
    """What a reproduction left behind for the engine to evaluate."""

    tool: str
    metrics: dict[str, Any]
    metrics_path: Path
    lock_digest: str
    reproduced: bool
    log_tail: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class Reproducer(Protocol):
    """One MLOps tool's way of re-running the pipeline and anchoring its lock."""

    tool: str

    def reproduce(self, repo: Path, pipeline: dict[str, Any]) -> str:
        """Re-run the pipeline in ``repo``; return the tail of its log."""

    def lock_digest(self, repo: Path, pipeline: dict[str, Any]) -> str:
        """`sha256:<hex>` of the tool's own record of what ran."""

    def treatment_files(self, repo: Path, pipeline: dict[str, Any], data: set[Path]) -> list[Path]:
        """The files whose change is a change of the treatment (code, params, pipeline)."""


def tool_env() -> dict[str, str]:
    """The environment for pipeline commands: this project's interpreter first on PATH."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def tail(text: str, lines: int = 20) -> str:
    """The last lines of a command's output."""
    return "\n".join(text.strip().splitlines()[-lines:])


def tool_executable(command: str) -> str:
    """A tool's command: the one next to this project's interpreter when there, else by name."""
    candidate = Path(sys.executable).parent / command
    return str(candidate) if candidate.exists() else command


def run_tool(
    tool: str,
    args: list[str],
    cwd: Path,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a backend's command; raise ReproducerError naming the backend and its stderr tail.

    ``env`` adds variables to the tool environment (a backend's store, its instance folder).
    """
    try:
        proc = subprocess.run(
            [tool_executable(args[0]), *args[1:]],
            cwd=cwd,
            env={**tool_env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise ReproducerError(
            f"{tool}: the command '{args[0]}' is not installed: install it in the environment "
            f"sei runs in (e.g. `pip install {PACKAGES.get(args[0], args[0])}`)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ReproducerError(
            f"{tool}: '{' '.join(args)}' did not finish in {timeout:.0f} s"
        ) from None
    if proc.returncode != 0:
        raise ReproducerError(
            f"{tool}: '{' '.join(args)}' exited {proc.returncode} in {cwd}\n"
            f"{tail(proc.stderr or proc.stdout)}"
        )
    return tail(proc.stdout + proc.stderr)


#: The package that installs a backend's command.
PACKAGES = {"dbt": "dbt-duckdb", "dagster": "dagster"}


def read_metrics(path: Path, tool: str) -> dict[str, Any]:
    """Read the metrics contract (JSON keyed by measure id); a clear error when unusable."""
    from sei_assets.core import safeload
    from sei_assets.core.errors import ManifestError

    if not Path(path).is_file():
        raise ReproducerError(f"{tool}: the metrics file {path} does not exist; {needs(tool)}")
    try:  # bounded like every input; NaN passes through, to fail its control closed
        data = safeload.load_json(path, "metrics file", finite=False)
    except ManifestError as exc:
        raise ReproducerError(f"{tool}: the metrics file {exc}") from None
    if not isinstance(data, dict):
        raise ReproducerError(
            f"{tool}: the metrics file {path} must be a JSON object keyed by measure id"
        )
    return data


def digest_bytes(data: bytes) -> str:
    """`sha256:<hex>` of some bytes."""
    return "sha256:" + sha256_bytes(data)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces) for digests."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(
        clean(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def read_record(path: Path, tool: str, what: str) -> dict[str, Any]:
    """A JSON object a backend recorded after its run; a clear error when absent or unusable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReproducerError(
            f"{tool}: {path} does not exist: the pipeline has not been reproduced ({what})"
        ) from None
    except (OSError, ValueError) as exc:
        raise ReproducerError(f"{tool}: {path} ({what}) is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReproducerError(f"{tool}: {path} ({what}) must be a JSON object")
    return data


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write a backend's record of its run (JSON, atomically)."""
    atomic_write(path, json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def code_files(
    repo: Path, pipeline: dict[str, Any], definitions: Iterable[Path], data: set[Path]
) -> list[Path]:
    """Treatment files of a backend that declares no dependencies of its own: its pipeline
    definition files, the Python modules at the repository root and the params file."""
    files = {p for p in definitions if p.is_file()}
    files.update(p for p in repo.glob("*.py") if p.is_file())
    params = pipeline.get("params")
    if params and (repo / params).is_file():
        files.add(repo / params)
    return sorted(p for p in files if p not in data)


def require_file(path: Path, tool: str, what: str) -> Path:
    """``path`` when it is a file; else a ReproducerError naming the backend."""
    if not path.is_file():
        raise ReproducerError(
            f"{tool}: {path} does not exist ({what}; pipeline.tool is {tool}); {needs(tool)}"
        )
    return path
