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


def main() -> None:
    """Write metrics.json and fairness_by_group.json from the dbt tables."""
    data, by_group = load()
    metrics = compliance_eval.measure(data, compliance_eval.load_params())
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
