"""The files of deploy/ against Dagster's own config schemas (the Postgres + celery profile
itself runs in tests/test_production.py), and the teams' code locations side by side."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, validate_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PG_ENV = {
    "DAGSTER_PG_HOST": "127.0.0.1",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "x",
    "DAGSTER_PG_DB": "dagster",
    "SEI_CELERY_BROKER": "redis://127.0.0.1:6379/0",
    "SEI_CELERY_BACKEND": "redis://127.0.0.1:6379/1",
    "SEI_MAX_CONCURRENT_RUNS": "8",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _valid(schema, value) -> None:
    result = validate_config(schema, value)
    assert result.success, [e.message for e in result.errors]


@pytest.mark.parametrize("profile", ["dagster.yaml", "single-host/dagster.yaml"])
def test_instance_profiles_are_valid_instance_config(profile: str, monkeypatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    for k, v in PG_ENV.items():
        monkeypatch.setenv(k, v)
    config, _custom = dagster_instance_config(str((DEPLOY / profile).parent), Path(profile).name)
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    assert {"key": "sei/system", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert "postgres" in config["storage"]
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False


def test_celery_worker_config_is_the_executors() -> None:
    from dagster_celery.cli import get_config_value_from_yaml
    from dagster_celery.executor import celery_executor

    value = get_config_value_from_yaml(str(DEPLOY / "celery.yaml"))
    _valid(celery_executor.config_schema.config_type, value)
    assert value["config_source"]["task_acks_late"] is False


def _helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())


def test_helm_run_launcher_is_valid_k8s_run_launcher_config() -> None:
    """The chart renders `runLauncher.config.k8sRunLauncher` into the instance's K8sRunLauncher
    config: keys camelCase to snake_case, config maps and secrets as lists of names."""
    from dagster_k8s import K8sRunLauncher

    values = _helm_values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    rendered = {}
    for key, value in values["runLauncher"]["config"]["k8sRunLauncher"].items():
        if key in ("envConfigMaps", "envSecrets"):
            value = [item["name"] for item in value]
        rendered[_snake(key)] = value
    rendered |= {"instance_config_map": "dagster-instance", "service_account_name": "dagster"}
    rendered |= {"dagster_home": values["global"]["dagsterHome"]}
    rendered |= {"postgres_password_secret": values["global"]["postgresqlSecretName"]}
    _valid(dg.Shape(K8sRunLauncher.config_type()), rendered)


def test_helm_daemon_is_valid_instance_config() -> None:
    """`dagsterDaemon` renders into the instance's run_coordinator, run_monitoring and
    run_retries; the per-system limit is the same as deploy/dagster.yaml's."""
    from dagster._core.instance.config import dagster_instance_config_schema
    from dagster._core.run_coordinator import QueuedRunCoordinator

    daemon = _helm_values()["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = {_snake(k): v for k, v in queued.items()}
    _valid(dg.Shape(QueuedRunCoordinator.config_type()), coordinator)
    shipped = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_coordinator"]["config"]
    assert coordinator["tag_concurrency_limits"] == shipped["tag_concurrency_limits"]
    schema = dagster_instance_config_schema()
    instance = {
        "run_monitoring": {_snake(k): v for k, v in daemon["runMonitoring"].items()},
        "run_retries": {_snake(k): v for k, v in daemon["runRetries"].items()},
    }
    assert process_config(schema, instance).success


def test_k8s_job_executor_run_config_is_valid_for_the_code_location(monkeypatch) -> None:
    """deploy/k8s/run_config.yaml against the real job of a code location built with
    SEI_EXECUTOR=k8s (dagster-k8s's k8s_job_executor)."""
    from sei_assets.defs import build_definitions

    monkeypatch.setenv("SEI_EXECUTOR", "k8s")
    defs = build_definitions([])
    job = defs.resolve_job_def("compliance_sweep")
    assert job.executor_def.name == "k8s"
    run_config = yaml.safe_load((DEPLOY / "k8s" / "run_config.yaml").read_text())
    dg.validate_run_config(job, run_config)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"execution": {"config": {"max_concurent": 4}}})


def test_an_unknown_executor_or_mode_is_refused_by_name(monkeypatch) -> None:
    from sei_assets.core.errors import SeiError
    from sei_assets.defs import build_definitions

    for env, value in (
        ("SEI_EXECUTOR", "threads"),
        ("SEI_AUTOMATION", "eager"),
        ("SEI_SWEEP_MODE", "all"),
    ):
        with monkeypatch.context() as m:
            m.setenv(env, value)
            with pytest.raises(SeiError, match=rf"\${env}='{value}': expected one of"):
                build_definitions([])
    for env, value in (("SEI_SWEEP_BATCH", "0"), ("SEI_SWEEP_KEEP_DAYS", "-1")):
        with monkeypatch.context() as m:
            m.setenv(env, value)
            with pytest.raises(SeiError, match=rf"\${env}='{value}': expected a whole number"):
                build_definitions([])


def test_each_team_is_a_code_location_of_its_own(tmp_path: Path, monkeypatch) -> None:
    """The Helm user deployments and deploy/workspace.yaml name `sei_assets.team_location` with
    the team as attribute: each loads only its team's systems, under its own sweep summary, so
    the locations share an instance without a common asset key."""
    import importlib

    from tests.systems import make_system

    teams = tmp_path / "teams"
    teams.mkdir()
    for team in ("credit", "retail"):
        names = [f"{team}_sys_00{i}" for i in range(2)]
        for name in names:
            make_system(tmp_path / name, name)
        systems = [{"name": n, "repo": str(tmp_path / n)} for n in names]
        (teams / f"{team}.yaml").write_text(yaml.safe_dump({"systems": systems}))
    monkeypatch.setenv("SEI_TEAMS_DIR", str(teams))
    import sei_assets.team_location as location

    importlib.reload(location)
    deployments = _helm_values()["dagster-user-deployments"]["deployments"]
    keys = {}
    for deployment in deployments:
        args = deployment["dagsterApiGrpcArgs"]
        module, attribute = args[args.index("-m") + 1], args[args.index("-a") + 1]
        assert module == "sei_assets.team_location"
        defs = getattr(importlib.import_module(module), attribute)()
        graph = defs.resolve_asset_graph()
        keys[attribute] = set(graph.get_all_asset_keys())
        assert dg.AssetKey([attribute, "sweep_summary"]) in keys[attribute]
        systems = {k.path[0] for k in keys[attribute]} - {attribute}
        assert systems == {f"{attribute}_sys_000", f"{attribute}_sys_001"}
        assert {s.name for s in defs.sensors} >= {"sei_observe", "sei_automation"}
    assert not keys["credit"] & keys["retail"]
