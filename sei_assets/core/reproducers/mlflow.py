"""MLflow (category 2, experiment → registry): `mlflow run`, anchored by the run's metrics.

The system ships an MLflow project in ``mlflow_project/`` (``MLproject`` and its entry point).
The reproducer runs it offline with ``mlflow run mlflow_project --env-manager local`` against
a SQLite store inside the repository (``mlflow_project/mlflow.db``; MLflow 3 refuses the
``./mlruns`` file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set, so the database is used).
It then reads the run back from that store with MLflow's client API: the metrics it logged,
the model version registered by the run and whether it holds the ``champion`` alias. That
record is written to ``mlflow_project/last_run.json``; the lock digest is the sha256 of the
canonical JSON of the run's metrics, and ``metrics.json`` must agree with them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from sei_assets.core.reproducers.base import (
    OFFLINE_ENV,
    ReproducerError,
    canonical_json,
    code_files,
    digest_bytes,
    needs,
    read_metrics,
    read_record,
    require_file,
    run_tool,
    write_record,
)

PROJECT = "mlflow_project"
STORE = "mlflow.db"
RECORD = "last_run.json"
ALIAS = "champion"
_RUN_ID = re.compile(r"=== Run \(ID '([0-9a-f]+)'\) succeeded ===")


def tracking_uri(repo: Path) -> str:
    """The SQLite store of ``repo``'s MLflow project (an absolute SQLAlchemy URI)."""
    return "sqlite:///" + (Path(repo).resolve() / PROJECT / STORE).as_posix()


class MlflowReproducer:
    """Run the system's MLflow project, read the run from the local store, check the metrics."""

    tool = "mlflow"
    executable = "mlflow"

    def reproduce(self, repo: Path, pipeline: dict[str, Any]) -> str:
        project = repo / PROJECT
        spec = require_file(project / "MLproject", self.tool, "the MLflow project")
        name = self._experiment(spec)
        log = run_tool(
            self.tool,
            [
                self.executable,
                "run",
                ".",
                "--env-manager",
                "local",
                "--experiment-name",
                name,
            ],
            project,
            env={**OFFLINE_ENV, "MLFLOW_TRACKING_URI": tracking_uri(repo)},
        )
        found = _RUN_ID.findall(log)
        if not found:
            raise ReproducerError(
                f"mlflow: `mlflow run` did not report a run id; {needs('mlflow')}\n{log}"
            )
        record = self._read_run(repo, found[-1])
        self._check_metrics(repo, pipeline, record)
        write_record(project / RECORD, record)
        return log

    def lock_digest(self, repo: Path, pipeline: dict[str, Any]) -> str:
        return digest_bytes(canonical_json(self._record(repo)["metrics"]))

    def details(self, repo: Path, pipeline: dict[str, Any]) -> dict[str, Any]:
        """What the bundle's ``pipeline`` section records: run id, model version, alias."""
        record = self._record(repo)
        return {
            "mlflow_run_id": record["run_id"],
            "mlflow_experiment_id": record["experiment_id"],
            "mlflow_tracking_uri": f"sqlite:///{PROJECT}/{STORE}",
            "registered_model": record["registered_model"],
            "model_version": record["model_version"],
            "champion": record["champion"],
        }

    def treatment_files(self, repo: Path, pipeline: dict[str, Any], data: set[Path]) -> list[Path]:
        project = repo / PROJECT
        return code_files(repo, pipeline, [project / "MLproject", *project.glob("*.py")], data)

    def _experiment(self, spec: Path) -> str:
        try:
            doc = yaml.safe_load(spec.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ReproducerError(f"mlflow: {spec} is not valid YAML: {exc}") from None
        name = doc.get("name") if isinstance(doc, dict) else None
        if not isinstance(name, str) or not name:
            raise ReproducerError(f"mlflow: {spec} must name the project (`name:`)")
        return name

    def _record(self, repo: Path) -> dict[str, Any]:
        record = read_record(repo / PROJECT / RECORD, self.tool, "the record of the last run")
        missing = [
            k
            for k in ("run_id", "experiment_id", "registered_model", "model_version", "metrics")
            if k not in record
        ]
        if missing or not isinstance(record.get("metrics"), dict):
            raise ReproducerError(
                f"mlflow: {repo / PROJECT / RECORD} lacks {', '.join(missing) or 'metrics'}"
            )
        return record

    def _read_run(self, repo: Path, run_id: str) -> dict[str, Any]:
        """The run as the local store holds it (MLflow's client API, no server)."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        uri = tracking_uri(repo)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            run = client.get_run(run_id)
            versions = client.search_model_versions(f"run_id = '{run_id}'")
        except MlflowException as exc:
            raise ReproducerError(f"mlflow: cannot read run {run_id} from {uri}: {exc}") from None
        if run.info.status != "FINISHED":
            raise ReproducerError(f"mlflow: run {run_id} ended {run.info.status}")
        if len(versions) != 1:
            raise ReproducerError(
                f"mlflow: run {run_id} registered {len(versions)} model versions; the MLflow "
                "project must register exactly one model version per run: add "
                'mlflow.sklearn.log_model(model, name="model", registered_model_name="<name>")'
                " once in its entry point"
            )
        version = versions[0]
        try:
            holder = client.get_model_version_by_alias(version.name, ALIAS).version
        except MlflowException:
            holder = None
        return {
            "run_id": run_id,
            "experiment_id": run.info.experiment_id,
            "registered_model": version.name,
            "model_version": str(version.version),
            "champion": holder is not None and str(holder) == str(version.version),
            "metrics": dict(run.data.metrics),
        }

    def _check_metrics(self, repo: Path, pipeline: dict[str, Any], record: dict[str, Any]) -> None:
        """The metrics file must say what the run logged, measure by measure."""
        path = repo / pipeline.get("metrics", "metrics.json")
        metrics = read_metrics(path, self.tool)
        logged = record["metrics"]
        for measure_id, entry in metrics.items():
            value: Any = entry.get("value") if isinstance(entry, dict) else entry
            if measure_id not in logged:
                raise ReproducerError(
                    f"mlflow: run {record['run_id']} logged no metric '{measure_id}' of {path}: "
                    f"log each value of the metrics file under its measure id "
                    f'(mlflow.log_metric("{measure_id}", value))'
                )
            try:
                a, b = float(value), float(logged[measure_id])
                same = a == b or (math.isnan(a) and math.isnan(b))
            except (TypeError, ValueError):
                same = False
            if not same:
                raise ReproducerError(
                    f"mlflow: {path} says {measure_id} = {value!r} but run "
                    f"{record['run_id']} logged {logged[measure_id]!r}"
                )


def set_alias(repo: Path, model: str, version: str, alias: str) -> None:
    """Point ``alias`` of registered model ``model`` at ``version`` in ``repo``'s registry
    (the release does it on a green gate)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(repo)
    try:
        MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(
            model, alias, version
        )
    except MlflowException as exc:
        raise ReproducerError(
            f"mlflow: cannot set alias {alias!r} of {model} version {version} in {uri}: {exc}"
        ) from None
