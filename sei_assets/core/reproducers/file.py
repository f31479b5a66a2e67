"""The plain-file reproducer: run one command (if any) that writes the metrics file.

For systems whose pipeline is a script, and for generated test systems. The lock digest is the
sha256 of the metrics file; the treatment is the files the command names, plus the params file.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from sei_assets.core.reproducers.base import ReproducerError, digest_bytes, needs, run_tool


class FileReproducer:
    """`pipeline: {tool: file, metrics: metrics.json, command: "python make_metrics.py"}`."""

    tool = "file"

    def reproduce(self, repo: Path, pipeline: dict[str, Any]) -> str:
        command = pipeline.get("command")
        if not command:
            return "no command: metrics read as they are"
        return run_tool(self.tool, shlex.split(command), repo)

    def lock_digest(self, repo: Path, pipeline: dict[str, Any]) -> str:
        metrics = repo / pipeline.get("metrics", "metrics.json")
        if not metrics.is_file():
            raise ReproducerError(
                f"file: the metrics file {metrics} does not exist; {needs('file')}"
            )
        return digest_bytes(metrics.read_bytes())

    def treatment_files(self, repo: Path, pipeline: dict[str, Any], data: set[Path]) -> list[Path]:
        named = [repo / part for part in shlex.split(pipeline.get("command") or "")]
        if pipeline.get("params"):
            named.append(repo / pipeline["params"])
        return sorted(p for p in named if p.is_file() and p not in data)
