"""Reproducers: one module per MLOps tool behind one protocol; `pipeline.tool` picks one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sei_assets.core.reproducers.base import PipelineRun, Reproducer, ReproducerError

# pipeline.tool -> "module:class". Modules are imported only when their tool is used.
KNOWN = {
    "dvc": "sei_assets.core.reproducers.dvc:DvcReproducer",
    "mlflow": "sei_assets.core.reproducers.mlflow:MlflowReproducer",
    "dagster": "sei_assets.core.reproducers.dagster_tool:DagsterReproducer",
    "dbt": "sei_assets.core.reproducers.dbt:DbtReproducer",
    "file": "sei_assets.core.reproducers.file:FileReproducer",
}


def reproducer_for(tool: str) -> Reproducer:
    """The reproducer for ``pipeline.tool``; a clear error for an unknown tool."""
    if tool not in KNOWN:
        raise ReproducerError(
            f"pipeline.tool: unknown backend '{tool}': expected one of {', '.join(sorted(KNOWN))}"
        )
    module, _, name = KNOWN[tool].partition(":")
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
