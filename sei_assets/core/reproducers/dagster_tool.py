"""Dagster as the system's pipeline tool (category 3, asset graph with lineage).

The system ships its pipeline as Dagster assets in ``dagster_pipeline/definitions.py``. The
reproducer runs ``dagster asset materialize -f dagster_pipeline/definitions.py --select '*'``
(the file sets the in-process executor) on the pipeline's own instance,
``dagster_pipeline/.dagster_home`` (not the engine's: two writers on one SQLite instance
lock), so its history, code versions and staleness survive between runs. It then reads that
run's events from the instance: the materializations with their code versions and the native
asset checks with their results, recorded in ``dagster_pipeline/last_run.json``. The lock
digest is the sha256 of the metrics file the materialization wrote.

This module is named ``dagster_tool`` so that it never shadows the ``dagster`` package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sei_assets.core.reproducers.base import (
    OFFLINE_ENV,
    ReproducerError,
    code_files,
    digest_bytes,
    read_record,
    require_file,
    run_tool,
    write_record,
)

PIPELINE = "dagster_pipeline"
DEFINITIONS = "definitions.py"
HOME = ".dagster_home"
RECORD = "last_run.json"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_RUN = re.compile(rf"- ({_UUID}) - .*RUN_SUCCESS")


def instance_home(repo: Path) -> Path:
    """The pipeline's own Dagster instance folder (created with telemetry off)."""
    home = Path(repo).resolve() / PIPELINE / HOME
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


class DagsterReproducer:
    """Materialize the system's Dagster assets; record the run, its code versions and checks."""

    tool = "dagster"
    executable = "dagster"

    def reproduce(self, repo: Path, pipeline: dict[str, Any]) -> str:
        definitions = require_file(
            repo / PIPELINE / DEFINITIONS, self.tool, "the pipeline's Dagster definitions"
        )
        home = instance_home(repo)
        log = run_tool(
            self.tool,
            [
                self.executable,
                "asset",
                "materialize",
                "-f",
                definitions.relative_to(repo).as_posix(),
                "--select",
                "*",
            ],
            repo,
            env={**OFFLINE_ENV, "DAGSTER_HOME": str(home)},
        )
        found = _RUN.findall(log)
        if not found:
            raise ReproducerError(f"dagster: `dagster asset materialize` reported no run\n{log}")
        record = self._read_run(home, found[-1])
        if not record["code_versions"]:
            raise ReproducerError(f"dagster: run {found[-1]} materialized no asset\n{log}")
        metrics = repo / pipeline.get("metrics", "metrics.json")
        if not metrics.is_file():
            raise ReproducerError(
                f"dagster: run {found[-1]} succeeded but wrote no metrics file {metrics}"
            )
        write_record(repo / PIPELINE / RECORD, record)
        return log

    def lock_digest(self, repo: Path, pipeline: dict[str, Any]) -> str:
        metrics = repo / pipeline.get("metrics", "metrics.json")
        if not metrics.is_file():
            raise ReproducerError(f"dagster: {metrics} does not exist: nothing was materialized")
        return digest_bytes(metrics.read_bytes())

    def details(self, repo: Path, pipeline: dict[str, Any]) -> dict[str, Any]:
        """The pipeline's own Dagster run: id, code versions, native checks and their results."""
        record = read_record(repo / PIPELINE / RECORD, self.tool, "the record of the last run")
        return {
            "dagster_pipeline_run_id": record.get("run_id"),
            "code_versions": record.get("code_versions", {}),
            "asset_checks": record.get("asset_checks", []),
        }

    def treatment_files(self, repo: Path, pipeline: dict[str, Any], data: set[Path]) -> list[Path]:
        return code_files(repo, pipeline, (repo / PIPELINE).glob("*.py"), data)

    def _read_run(self, home: Path, run_id: str) -> dict[str, Any]:
        """Materializations (with code versions) and check evaluations of one run."""
        from dagster import DagsterEventType, DagsterInstance

        kinds = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION}
        with DagsterInstance.from_config(str(home)) as instance:
            run = instance.get_run_by_id(run_id)
            if run is None:
                raise ReproducerError(f"dagster: run {run_id} is not in the instance at {home}")
            events = instance.all_logs(run_id, of_type=kinds)
        versions: dict[str, str] = {}
        checks: list[dict[str, Any]] = []
        for record in events:
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                mat = event.materialization
                versions[mat.asset_key.to_user_string()] = (mat.tags or {}).get(
                    "dagster/code_version", ""
                )
            else:
                check = event.asset_check_evaluation_data
                checks.append(
                    {
                        "asset": check.asset_key.to_user_string(),
                        "check": check.check_name,
                        "passed": bool(check.passed),
                        "severity": check.severity.value,
                        "metadata": {k: _plain(v.value) for k, v in check.metadata.items()},
                    }
                )
        return {
            "run_id": run_id,
            "status": run.status.value,
            "code_versions": versions,
            "asset_checks": sorted(checks, key=lambda c: (c["asset"], c["check"])),
        }


def _plain(value: Any) -> Any:
    """A metadata value as plain JSON data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
