"""Evaluation of the lakehouse pipeline: metrics.json from the tables `dbt build` left.

Reads ``applicant_outcomes`` (predictions per held-out applicant with gender and target, in
split order) and ``features`` (for missingness) from ``loan.duckdb``, then computes every
measure with the shared ``compliance_eval.py``: its point metrics (fairlearn/scikit-learn),
its vectorised bootstrap and the same interval layout as ``compliance_eval.evaluate``.
Checks that ``outcomes_by_group`` agrees with fairlearn's per-group rates. Writes
``metrics.json`` and ``fairness_by_group.json`` at the repository root.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATABASE = HERE / "loan.duckdb"
sys.path.insert(0, str(ROOT))

import compliance_eval  # noqa: E402


def load(database: Path = DATABASE) -> tuple[compliance_eval.HeldOut, list[dict[str, Any]]]:
    """The held-out outcomes as compliance_eval's HeldOut, and the per-group table."""
    with duckdb.connect(str(database), read_only=True) as con:
        outcomes = con.sql("select * from applicant_outcomes order by holdout_rank").df()
        features = con.sql("select * exclude (applicant_id) from features order by applicant_id")
        row_missing = features.df().isna().mean(axis=1).to_numpy(dtype=float)
        by_group = con.sql("select * from outcomes_by_group order by gender").df()
    data = compliance_eval.HeldOut(
        y=outcomes["target"].to_numpy(dtype=int),
        pred=outcomes["prediction"].to_numpy(dtype=int),
        score=outcomes["score"].to_numpy(dtype=float),
        groups=outcomes["gender"].to_numpy(dtype=str),
        stable=outcomes["stable"].to_numpy(dtype=bool),
        row_missing=row_missing,
    )
    return data, by_group.to_dict("records")


def measure(data: compliance_eval.HeldOut, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Point value and bootstrap interval of every measure (compliance_eval's layout)."""
    seed = int(params["seed"])
    n_boot = int(params["n_boot"])
    ci_level = float(params["ci_level"])
    points = compliance_eval.point_metrics(data)
    compliance_eval._check_consistency(points, data)
    rng = np.random.default_rng(seed)
    n, rows = len(data.y), len(data.row_missing)
    idx = rng.integers(0, n, size=(n_boot, n))
    row_idx = rng.integers(0, rows, size=(n_boot, rows))
    boot = compliance_eval.resampled_metrics(data, idx, row_idx)
    alpha = (1.0 - ci_level) / 2.0
    names, counts = np.unique(data.groups, return_counts=True)
    group_counts = {str(k): int(v) for k, v in zip(names, counts, strict=True)}
    metrics: dict[str, dict[str, Any]] = {}
    for measure_id, name in compliance_eval.MEASURES.items():
        low, high = np.nanquantile(boot[name], [alpha, 1.0 - alpha])
        metrics[measure_id] = {
            "value": float(points[name]),
            "power": {
                "n": int(rows if name == "missing_value_rate" else n),
                "n_clusters": None,
                "groups": dict(group_counts) if name in compliance_eval.GROUP_METRICS else {},
                "ci_low": float(low),
                "ci_high": float(high),
                "ci_level": ci_level,
                "method": "bootstrap",
                "n_boot": n_boot,
                "seed": seed,
            },
        }
    return metrics


def main() -> None:
    """Write metrics.json and fairness_by_group.json from the dbt tables."""
    data, by_group = load()
    metrics = measure(data, compliance_eval.load_params())
    groups = compliance_eval.fairness_by_group(data)
    table = {row["gender"]: row for row in by_group}
    for row in groups:
        other = table.get(row["gender"])
        if other is None or abs(other["selection_rate"] - row["selection_rate"]) > 1e-12:
            raise SystemExit(f"outcomes_by_group disagrees with the outcomes for {row['gender']}")
    (ROOT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", "utf-8")
    (ROOT / "fairness_by_group.json").write_text(json.dumps(groups, indent=2) + "\n", "utf-8")
    print(compliance_eval.summary(metrics))


if __name__ == "__main__":
    main()
