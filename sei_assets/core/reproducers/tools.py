"""Each pipeline tool's facts, in one table: a new backend is one reproducer module and one row.

A row says how `sei run` reproduces the pipeline (the reproducer class, imported only when the
tool is used), what the tool needs of the repository (said whenever something is missing),
the tool's own read-only status command (what the checks dialect's `pipeline_status`
collector runs), the file of stage commands that lifecycle scenarios' `pipeline.*` faults
replace, and the function that gives the tool's own models to the Dagster graph (a front
module, named here as text: the core imports no Dagster). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    """One pipeline tool (`pipeline.tool` in the manifest)."""

    name: str
    #: "module:Class" of its reproducer
    reproducer: str
    #: what it needs of the repository, in the user's words
    needs: str
    #: its own read-only status command, after the executable (None: it has none)
    status: tuple[str, ...] | None = None
    #: the file whose stage commands `pipeline.fail` / `pipeline.hang` replace (DVC's format)
    stages_file: str | None = None
    #: "module:function" giving its own models as Dagster assets, (repo, system) -> assets
    native_assets: str | None = None


_BASE = "sei_assets.core.reproducers"

TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "dvc",
            f"{_BASE}.dvc:DvcReproducer",
            "DVC needs `dvc init` and a dvc.yaml whose stages write the metrics file keyed by "
            "measure id (e.g. `dvc stage add -n evaluate -d evaluate.py -d data/train.csv "
            "-M metrics.json python evaluate.py`)",
            status=("status", "--json"),
            stages_file="dvc.yaml",
        ),
        Tool(
            "mlflow",
            f"{_BASE}.mlflow:MlflowReproducer",
            "the MLflow project must live in mlflow_project/: an MLproject file with `name:` "
            "and a `main` entry point that trains, logs each metric under its measure id "
            "(mlflow.log_metric), writes the metrics file, and registers exactly one model "
            'version (mlflow.sklearn.log_model(model, name="model", '
            'registered_model_name="<name>"))',
        ),
        Tool(
            "dagster",
            f"{_BASE}.dagster_tool:DagsterReproducer",
            "the Dagster pipeline must live in dagster_pipeline/definitions.py: a `defs` "
            "Definitions object whose assets write the metrics file keyed by measure id",
        ),
        Tool(
            "dbt",
            f"{_BASE}.dbt:DbtReproducer",
            "the dbt project must live in dbt_project/: dbt_project.yml, a profiles.yml with a "
            "DuckDB target (a plain `path:`), and evaluate.py, which reads the built tables and "
            "writes the metrics file keyed by measure id",
            native_assets="sei_assets.defs.dbt:dbt_assets_for",
        ),
        Tool(
            "file",
            f"{_BASE}.file:FileReproducer",
            "pipeline.command must write the metrics file (a JSON object keyed by measure id); "
            "without a command the file is read as it is",
        ),
    )
}


def tool_named(name: str) -> Tool | None:
    """The row of ``pipeline.tool`` ``name`` (None for a tool we do not know)."""
    return TOOLS.get(name)


def with_(facet: str) -> list[str]:
    """The tools whose row has ``facet`` (e.g. `status`), for messages."""
    return sorted(t.name for t in TOOLS.values() if getattr(t, facet) is not None)
