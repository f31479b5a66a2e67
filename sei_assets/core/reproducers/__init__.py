"""Reproducers: one module per MLOps tool behind one protocol; `pipeline.tool` picks one from
the table of tools (:mod:`sei_assets.core.reproducers.tools`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sei_assets.core.reproducers.base import PipelineRun, Reproducer, ReproducerError
from sei_assets.core.reproducers.tools import TOOLS


def reproducer_for(tool: str) -> Reproducer:
    """The reproducer for ``pipeline.tool`` (imported only now); a clear error for an unknown
    tool."""
    if tool not in TOOLS:
        raise ReproducerError(
            f"pipeline.tool: unknown backend '{tool}': expected one of {', '.join(sorted(TOOLS))}"
        )
    module, _, name = TOOLS[tool].reproducer.partition(":")
    from importlib import import_module

    reproducer: Reproducer = getattr(import_module(module), name)()
    return reproducer


def pipeline_details(
    reproducer: Reproducer, repo: Path, pipeline: dict[str, Any]
) -> dict[str, Any]:
    """The backend's own record of its last run (run ids, model version...), for the bundle's
    ``pipeline`` section; {} for a backend that records none (DVC: dvc.lock is the record)."""
    details = getattr(reproducer, "details", None)
    return dict(details(repo, pipeline)) if details else {}


__all__ = ["PipelineRun", "Reproducer", "ReproducerError", "pipeline_details", "reproducer_for"]
