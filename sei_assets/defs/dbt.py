"""A dbt system's models in its asset graph, through dagster-dbt.

The manifest is prepared at build time (`sei init` seeds and prepares it; deployments run
`dagster-dbt project prepare-and-package`); loading the definitions only reads it, and under
`dg dev` / `dagster dev` `DbtProject.prepare_if_dev` refreshes it as dagster-dbt recommends.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.registry import SystemEntry
from sei_assets.defs.keys import system_key


def dbt_assets_for(repo: Path, name: str) -> dg.AssetsDefinition | None:
    """One asset per dbt model of system ``name`` (keys ``[name, "dbt", <model>]``), the dbt
    tests as checks, the project's source mapped onto the system's ``dataset``; None when the
    manifest has not been prepared."""
    from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

    from sei_assets.core.reproducers.base import tool_executable
    from sei_assets.core.reproducers.dbt import PROJECT

    project_dir = (Path(repo) / PROJECT).resolve()
    if not (project_dir / "dbt_project.yml").is_file():
        return None
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    project.prepare_if_dev()
    if not project.manifest_path.is_file():
        return None
    executable = tool_executable("dbt")

    class Translator(DagsterDbtTranslator):
        def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
            if dbt_resource_props["resource_type"] == "source":
                return system_key(name, "dataset")
            return system_key(name, "dbt", dbt_resource_props["name"])

        def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
            return name

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=Translator(),
        name=f"{name}__dbt",
    )
    def _dbt_assets(context):  # unannotated: Dagster rejects string (postponed) annotations
        dbt = DbtCliResource(
            project_dir=project, profiles_dir=str(project_dir), dbt_executable=executable
        )
        yield from dbt.cli(["build"], context=context).stream()

    return _dbt_assets


def tool_assets(entry: SystemEntry, tool: str) -> list:
    """The pipeline tool's own models as assets, when its row in the table of tools names a
    function that gives them (dbt: `dbt_assets_for`)."""
    from importlib import import_module

    from sei_assets.core.reproducers.tools import tool_named

    row = tool_named(tool)
    if row is None or row.native_assets is None or not (entry.repo / ".git").exists():
        return []
    module, _, name = row.native_assets.partition(":")
    try:
        found = getattr(import_module(module), name)(entry.repo, entry.name)
    except Exception as exc:  # noqa: BLE001 - a broken project must not fail the location
        warnings.warn(f"{entry.name}: the {tool} models are not in the graph: {exc}", stacklevel=2)
        return []
    if found is None:
        warnings.warn(
            f"{entry.name}: the {tool} project is not prepared (run `sei init`): "
            f"the {tool} models are not in the graph",
            stacklevel=2,
        )
        return []
    return [found]
