"""Errors speak the user's language: no internal class path in any message the CLI prints, and
each backend's error says what the tool needs of the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sei_assets.core.errors import plain_message
from tests.systems import make_system

ROOT = Path(__file__).resolve().parent.parent
LOAN_SEED = ROOT / "resources" / "loan"
#: `package.module.Class` of an exception, as a serialized error prints it.
CLASS_PATH = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\.[A-Z]\w*(?:Error|Exception|Failure)\b")


def _clean(text: str) -> None:
    assert not CLASS_PATH.search(text), text
    assert "sei_assets." not in text and "Traceback" not in text, text


def _git(repo: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    return repo


def test_a_missing_mlflow_project_says_what_mlflow_needs(tmp_path: Path, sei) -> None:
    repo = _git(tmp_path / "ml")
    shutil.copy(LOAN_SEED / "sei_mlflow.yaml", repo / "sei.yaml")
    result = sei("run", "--repo", str(repo))
    assert result.exit_code == 2
    _clean(result.stdout + result.stderr)
    assert "mlflow_project/MLproject does not exist" in result.stderr
    assert "registered_model_name=" in result.stderr and "mlflow.log_metric" in result.stderr


def test_a_file_backend_without_metrics_says_what_it_needs(tmp_path: Path, sei) -> None:
    repo = make_system(tmp_path / "sys", "sys_x")
    manifest = yaml.safe_load((repo / "sei.yaml").read_text())
    del manifest["pipeline"]["command"]  # the metrics are read as they are: there are none
    (repo / "sei.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    result = sei("run", "--repo", str(repo))
    assert result.exit_code == 2
    _clean(result.stdout + result.stderr)
    assert "pipeline.command must write the metrics file" in result.stderr


def test_no_class_path_in_the_quick_errors(tmp_path: Path, sei) -> None:
    """Bad input on the verbs that fail before any run: each message is clean."""
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "sei.yaml").write_text("kind: AISystem\nsystem: [1]\nrisk: 3\n")
    registry = tmp_path / "systems.yaml"
    registry.write_text("systems:\n  - name: 1x\n    repo: .\n")
    calls = [
        ("compile", "--repo", str(bad)),
        ("compile", "--repo", str(empty)),
        ("status", "--repo", str(empty)),
        ("status", "--all", "--systems", str(registry)),
        ("verify", "--repo", str(empty)),
        ("reconstruct", "--repo", str(empty)),
        ("init", "--systems", str(registry)),
    ]
    for args in calls:
        result = sei(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        _clean(result.stdout + result.stderr)


@pytest.mark.parametrize(
    "message,cls,expected",
    [
        (
            "sei_assets.core.reproducers.base.ReproducerError: mlflow: x",
            "ReproducerError",
            "mlflow: x",
        ),
        ("sei_assets.core.errors.SeiError: a: b", "SeiError", "a: b"),
        ("builtins.KeyError: 'k'", "KeyError", "KeyError: 'k'"),
        ("KeyError: 'k'\n", "KeyError", "KeyError: 'k'"),
        ("no prefix here", "ValueError", "no prefix here"),
    ],
)
def test_plain_message(message: str, cls: str, expected: str) -> None:
    assert plain_message(message, cls) == expected


def test_a_failed_steps_error_loses_its_class_path() -> None:
    """What Dagster serializes of a step's error (`package.module.Class: text`) reaches the
    user as the text alone (bad input), or with the short class name (a crash)."""
    import sys

    from dagster._utils.error import serializable_error_info_from_exc_info

    from sei_assets.core.errors import deepest_message
    from sei_assets.core.reproducers.base import ReproducerError

    def info(exc: Exception):
        try:
            try:
                raise exc
            except Exception as inner:
                raise RuntimeError("step failed") from inner
        except RuntimeError:
            return serializable_error_info_from_exc_info(sys.exc_info())

    bad = info(ReproducerError("mlflow: the project is missing"))
    assert "sei_assets.core.reproducers.base.ReproducerError" in bad.cause.message
    assert deepest_message(bad) == "mlflow: the project is missing"
    assert deepest_message(info(KeyError("k"))) == "KeyError: 'k'"
