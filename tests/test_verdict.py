"""The verdict where people look: versions named from the treatment's history, numbers and
intervals as people read them, the red gate's failure as a sentence."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

from sei_assets.core.version import treatment_version
from sei_assets.defs.verdict import figure, interval, red_failure, run_name


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_a_version_counts_the_treatment_commits(tmp_path: Path) -> None:
    repo = tmp_path / "sys"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.test")
    _git(repo, "config", "user.name", "T")
    assert treatment_version(repo, ["train.py"]).label == "V? (unversioned)"
    (repo / "train.py").write_text("v1\n")
    (repo / "notes.txt").write_text("a\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v1")
    v1 = treatment_version(repo, ["train.py"])
    assert v1.number == 1 and v1.commit == _git(repo, "rev-parse", "--short=7", "HEAD")
    (repo / "notes.txt").write_text("b\n")  # not the treatment: still V1
    _git(repo, "commit", "-qam", "notes")
    assert treatment_version(repo, ["train.py"]) == v1
    (repo / "train.py").write_text("v2\n")
    assert treatment_version(repo, ["train.py"]).label == "V2 (uncommitted)"
    _git(repo, "commit", "-qam", "treatment")
    v2 = treatment_version(repo, ["train.py"])
    assert v2.label == f"V2 ({_git(repo, 'rev-parse', '--short=7', 'HEAD')})"
    assert run_name("loan_scoring", v2, "green") == f"loan_scoring {v2.label}: GREEN"


def test_numbers_and_intervals_read_to_four_significant_digits() -> None:
    assert figure(0.7433333333333333) == 0.7433 and figure(3) == 3 and figure(True) is True
    power = SimpleNamespace(ci_low=0.0021341, ci_high=0.12509)
    assert interval(power) == "[0.002134, 0.1251]"
    assert interval(SimpleNamespace(ci_low=None, ci_high=0.1)) is None


def test_a_red_failure_names_control_value_bound_and_interval() -> None:
    control = SimpleNamespace(
        control_id="unfair-credit-exclusion",
        metric_key="demographic_parity_diff",
        operator="lt",
        threshold_text="0.03",
    )
    result = SimpleNamespace(
        actual_value=0.11764705882352944,
        power=SimpleNamespace(ci_low=0.0601, ci_high=0.1712),
        failure=None,
    )
    failure = red_failure([(control, result)])
    assert failure.description == (
        "RED gate, release blocked: unfair-credit-exclusion: demographic_parity_diff = 0.1176, "
        "needs < 0.03, interval [0.0601, 0.1712]"
    )
    assert failure.metadata["unfair-credit-exclusion"].value.startswith("unfair-credit")
