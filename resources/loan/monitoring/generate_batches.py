"""Production batches of the loan system: 120 days of credit decisions, deterministic.

Usage: ``python monitoring/generate_batches.py [OUT_DIR] [--days N] [--first N] [--outcome-lag
DAYS] [--shift-day N] [--degrade-day N]`` (default ``production/``, 120 days from 2026-01-01,
outcomes known for all but the last 30, the faults on their days below).

Each day is one file ``<YYYY-MM-DD>.csv`` of 300 applications drawn (with replacement, seeded
per day) from ``data/german_credit.csv``, the training data: the 20 input attributes, ``gender``,
the deployed model's ``score`` and decision ``prediction`` (1 = approve), ``reviewed`` (1 when a
credit officer reviewed a denial) and ``outcome`` (1 = repaid) where it is already known (empty
for the last ``--outcome-lag`` days: repayment is observed later).

The decisions follow V2's treatment: a score, then a per-group threshold approving the best 70 %
of each gender group, so the approval rates of women and men match. Two faults are injected:

- from day ``SHIFT_DAY`` (2026-03-02) the population shifts: applications are drawn towards long,
  large loans and every amount is 60 % higher, duration 12 months longer (input drift);
- from day ``DEGRADE_DAY`` (2026-04-06) women are approved at 45 % while men stay at 70 % (a
  fairness degradation, as when a stale per-group threshold is deployed).

``--shift-day`` and ``--degrade-day`` move a fault to another day (0-based; past the last day:
never), so that a test can land one fault without the other.

Only numpy and pandas; the same arguments always give the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent / "data" / "german_credit.csv"
START = dt.date(2026, 1, 1)
DAYS = 120
BATCH = 300
SEED = 2026
SHIFT_DAY = 60  # 2026-03-02
DEGRADE_DAY = 95  # 2026-04-06
APPROVE = 0.70
APPROVE_WOMEN_DEGRADED = 0.45
OUTCOME_LAG = 30

# A readable stand-in for the deployed model's score: log-odds of repaying.
_CHECKING = {"A11": -0.8, "A12": -0.4, "A13": 0.2, "A14": 0.9}
_HISTORY = {"A30": -0.9, "A31": -0.7, "A32": 0.0, "A33": 0.1, "A34": 0.6}
_SAVINGS = {"A61": -0.3, "A62": 0.0, "A63": 0.3, "A64": 0.5, "A65": 0.3}


def score(frame: pd.DataFrame) -> np.ndarray:
    """Probability of repaying, from the account status, history, savings, duration, amount."""
    logit = (
        0.9
        + frame["checking_status"].map(_CHECKING).fillna(0.0)
        + frame["credit_history"].map(_HISTORY).fillna(0.0)
        + frame["savings"].map(_SAVINGS).fillna(0.0)
        - 0.03 * (frame["duration_months"] - 20)
        - 0.00008 * (frame["credit_amount"] - 3000)
        + 0.01 * (frame["age_years"] - 35)
    )
    return (1.0 / (1.0 + np.exp(-logit.to_numpy(dtype=float)))).round(4)


def decide(scores: np.ndarray, groups: np.ndarray, rates: dict[str, float]) -> np.ndarray:
    """Approve the best ``rates[g]`` share of each group ``g`` (ties by position)."""
    out = np.zeros(len(scores), dtype=int)
    for group, rate in rates.items():
        idx = np.flatnonzero(groups == group)
        order = idx[np.argsort(-scores[idx], kind="stable")]
        out[order[: int(round(rate * len(idx)))]] = 1
    return out


def batch(
    reference: pd.DataFrame,
    day: int,
    outcome_known: bool,
    shift_day: int = SHIFT_DAY,
    degrade_day: int = DEGRADE_DAY,
) -> pd.DataFrame:
    """The applications and decisions of day ``day`` (0-based); the population shifts from
    ``shift_day``, women's approvals degrade from ``degrade_day``."""
    rng = np.random.default_rng([SEED, day])
    weights = np.ones(len(reference))
    if day >= shift_day:
        long_ = reference["duration_months"].rank(pct=True)
        large = reference["credit_amount"].rank(pct=True)
        weights = np.exp(2.5 * (long_ + large).to_numpy())
    rows = rng.choice(len(reference), size=BATCH, replace=True, p=weights / weights.sum())
    frame = reference.iloc[rows].reset_index(drop=True)
    if day >= shift_day:
        frame["credit_amount"] = (frame["credit_amount"] * 1.6).round().astype(int)
        frame["duration_months"] = frame["duration_months"] + 12
    women = APPROVE_WOMEN_DEGRADED if day >= degrade_day else APPROVE
    scores = score(frame)
    decided = decide(scores, frame["gender"].to_numpy(), {"female": women, "male": APPROVE})
    out = frame.drop(columns=["target"])
    when = START + dt.timedelta(days=day)
    out.insert(0, "application_id", [f"{when:%Y%m%d}-{i:04d}" for i in range(len(out))])
    out["score"] = scores
    out["prediction"] = decided
    out["reviewed"] = (decided == 0).astype(int)
    out["outcome"] = frame["target"].astype("Int64") if outcome_known else pd.NA
    return out


def generate(
    out_dir: Path,
    days: int = DAYS,
    outcome_lag: int = OUTCOME_LAG,
    first: int = 0,
    shift_day: int = SHIFT_DAY,
    degrade_day: int = DEGRADE_DAY,
) -> list[Path]:
    """Write the batches of days ``first`` .. ``days - 1`` into ``out_dir``; return their paths."""
    reference = pd.read_csv(REFERENCE)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for day in range(first, days):
        known = day < days - outcome_lag
        frame = batch(reference, day, known, shift_day, degrade_day)
        path = out_dir / f"{START + dt.timedelta(days=day):%Y-%m-%d}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="production", type=Path)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--first", type=int, default=0, help="first day to write (0-based)")
    parser.add_argument("--outcome-lag", type=int, default=OUTCOME_LAG)
    parser.add_argument("--shift-day", type=int, default=SHIFT_DAY, help="0-based")
    parser.add_argument("--degrade-day", type=int, default=DEGRADE_DAY, help="0-based")
    args = parser.parse_args()
    paths = generate(
        args.out, args.days, args.outcome_lag, args.first, args.shift_day, args.degrade_day
    )
    print(f"{len(paths)} batch(es) -> {args.out}")


if __name__ == "__main__":
    main()
