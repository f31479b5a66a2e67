"""Each pipeline tool's facts in one table (`core/reproducers/tools.py`): the reproducer `sei
run` uses, what the tool needs, the status command a check may collect, the stages file a
lifecycle fault replaces, and the tool's own Dagster assets all come from the tool's row; a new
backend is one module and one row."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from sei_assets.core.reproducers import ReproducerError, reproducer_for, tools
from sei_assets.core.reproducers.base import needs
from sei_assets.scenarios.dialects.checks.collect import Call, UntrustedValue, build_argv


def test_every_row_names_a_reproducer_of_its_own_tool() -> None:
    assert set(tools.TOOLS) == {"dvc", "mlflow", "dagster", "dbt", "file"}
    for name, row in tools.TOOLS.items():
        assert reproducer_for(name).tool == name
        assert needs(name) == row.needs and row.needs
    assert tools.with_("status") == ["dvc"] and tools.with_("stages_file") == ["dvc"]
    assert tools.with_("native_assets") == ["dbt"]
    with pytest.raises(ReproducerError, match="unknown backend 'airflow': expected one of dagster"):
        reproducer_for("airflow")


def test_a_new_backend_is_one_module_and_one_row(tmp_path: Path, monkeypatch) -> None:
    module = types.ModuleType("sei_test_backend")

    class KedroReproducer:
        tool = "kedro"

    module.KedroReproducer = KedroReproducer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sei_test_backend", module)
    row = tools.Tool(
        "kedro",
        "sei_test_backend:KedroReproducer",
        "Kedro needs a kedro project with a node writing the metrics file",
        status=("registry", "list"),
    )
    monkeypatch.setitem(tools.TOOLS, "kedro", row)
    monkeypatch.setattr(
        "sei_assets.scenarios.dialects.checks.collect._tool", lambda name: f"/usr/bin/{name}"
    )
    assert isinstance(reproducer_for("kedro"), KedroReproducer)
    assert needs("kedro").startswith("Kedro needs")
    argv = build_argv(Call("pipeline_status"), tmp_path, "kedro")
    assert argv == ["/usr/bin/kedro", "registry", "list"]
    with pytest.raises(UntrustedValue, match="mlflow has no status command of its own \\(only dvc"):
        build_argv(Call("pipeline_status"), tmp_path, "mlflow")
