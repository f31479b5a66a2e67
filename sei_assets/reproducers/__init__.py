"""Reproducers: one module per MLOps tool behind one protocol; `pipeline.tool` picks one."""

from __future__ import annotations

from sei_assets.reproducers.base import PipelineRun, Reproducer, ReproducerError

KNOWN = {
    "dvc": "sei_assets.reproducers.dvc:DvcReproducer",
    "file": "sei_assets.reproducers.file:FileReproducer",
}


def reproducer_for(tool: str) -> Reproducer:
    """The reproducer for ``pipeline.tool``; a clear error for an unknown tool."""
    if tool not in KNOWN:
        raise ReproducerError(
            f"pipeline.tool: unknown backend '{tool}': expected one of {', '.join(sorted(KNOWN))}"
        )
    module, _, name = KNOWN[tool].partition(":")
    from importlib import import_module

    return getattr(import_module(module), name)()


__all__ = ["PipelineRun", "Reproducer", "ReproducerError", "reproducer_for"]
