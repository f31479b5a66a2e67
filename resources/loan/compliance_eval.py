"""Shared compliance evaluation of the loan model (V1 and V2 use this same file).

Steps: stratified train/test split of ``data/features.parquet`` (seed from ``params.yaml``),
fit through the model builder of ``train.py``, predict on the held-out set, compute every
measured control with fairlearn / scikit-learn, attach a vectorised bootstrap percentile
interval to each value, and write ``metrics.json`` (keyed by measure id),
``fairness_by_group.json`` and ``model.pkl``.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import yaml
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    selection_rate,
    true_positive_rate,
)
from scipy.stats import rankdata
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
FEATURES = HERE / "data" / "features.parquet"
PARAMS = HERE / "params.yaml"
SENSITIVE = "gender"
TARGET = "target"
# Cost matrix documented with the data set: approving a bad payer costs 5, declining a good one 1.
COST_FALSE_APPROVAL = 5.0
COST_FALSE_DECLINE = 1.0

# Measure id (as declared in sei.yaml) -> metric computed for it.
MEASURES: dict[str, str] = {
    "unfair-credit-exclusion": "demographic_parity_diff",
    "equalized-odds-gap": "equalized_odds_diff",
    "disparate-impact-ratio": "demographic_parity_ratio",
    "accuracy-floor": "accuracy_score",
    "roc-auc-floor": "roc_auc_score",
    "good-payer-recall": "recall_score",
    "expected-credit-cost": "expected_misclassification_cost",
    "group-sample-floor": "min_group_count",
    "missing-value-rate": "missing_value_rate",
    "prediction-stability": "prediction_stability",
}
GROUP_METRICS = {
    "demographic_parity_diff",
    "equalized_odds_diff",
    "demographic_parity_ratio",
    "min_group_count",
}


class Model(Protocol):
    """What the evaluation needs from ``train.py``'s model."""

    def fit(self, X: np.ndarray, y: np.ndarray, sensitive_features: np.ndarray) -> Any: ...

    def predict(self, X: np.ndarray, sensitive_features: np.ndarray | None = ...) -> np.ndarray: ...

    def predict_score(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class HeldOut:
    """Everything measured on the held-out set, plus the per-row missingness of the data."""

    y: np.ndarray  # true labels (1 = good payer)
    pred: np.ndarray  # decisions (1 = approve)
    score: np.ndarray  # probability of being a good payer
    groups: np.ndarray  # protected-attribute value per row (str)
    stable: np.ndarray  # decision unchanged under the input perturbation (bool)
    row_missing: np.ndarray  # share of missing cells per row of the whole feature table


def load_params(path: Path = PARAMS) -> dict[str, Any]:
    """Read ``params.yaml``."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rates(hit: np.ndarray, base: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-resample, per-group ratio ``sum(hit & base & g) / sum(base & g)``: shape (B, K)."""
    out = np.empty((hit.shape[0], n_groups))
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(n_groups):
            member = base & (codes == k)
            out[:, k] = (hit & member).sum(axis=1) / member.sum(axis=1)
    return out


def _spread(rates: np.ndarray) -> np.ndarray:
    """Largest minus smallest group value per resample."""
    return rates.max(axis=1) - rates.min(axis=1)


def resampled_metrics(data: HeldOut, idx: np.ndarray, row_idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric on each resample (rows of ``idx``), vectorised with numpy.

    ``idx`` indexes the held-out set, ``row_idx`` the whole feature table (missingness).
    Applied to the identity index it reproduces the library point values.
    """
    names, codes_all = np.unique(data.groups, return_inverse=True)
    n_groups = len(names)
    y = data.y[idx].astype(bool)
    pred = data.pred[idx].astype(bool)
    codes = codes_all[idx]
    everyone = np.ones_like(y)
    selection = _rates(pred, everyone, codes, n_groups)
    tpr = _rates(pred, y, codes, n_groups)
    fpr = _rates(pred, ~y, codes, n_groups)
    counts = np.stack([(codes == k).sum(axis=1) for k in range(n_groups)], axis=1)

    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    ranks = rankdata(data.score[idx], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        recall = (pred & y).sum(axis=1) / n_pos
        ratio = selection.min(axis=1) / selection.max(axis=1)
    cost = (COST_FALSE_APPROVAL * (pred & ~y) + COST_FALSE_DECLINE * (~pred & y)).mean(axis=1)
    return {
        "demographic_parity_diff": _spread(selection),
        "equalized_odds_diff": np.maximum(_spread(tpr), _spread(fpr)),
        "demographic_parity_ratio": ratio,
        "accuracy_score": (pred == y).mean(axis=1),
        "roc_auc_score": auc,
        "recall_score": recall,
        "expected_misclassification_cost": cost,
        "min_group_count": counts.min(axis=1).astype(float),
        "missing_value_rate": data.row_missing[row_idx].mean(axis=1),
        "prediction_stability": data.stable[idx].mean(axis=1),
    }


def point_metrics(data: HeldOut) -> dict[str, float]:
    """Every metric on the held-out set, computed with fairlearn and scikit-learn."""
    y, pred, groups = data.y, data.pred, data.groups
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    cost = (COST_FALSE_APPROVAL * fp + COST_FALSE_DECLINE * fn) / len(y)
    frame = MetricFrame(metrics={"count": count}, y_true=y, y_pred=pred, sensitive_features=groups)
    return {
        "demographic_parity_diff": demographic_parity_difference(
            y, pred, sensitive_features=groups
        ),
        "equalized_odds_diff": equalized_odds_difference(y, pred, sensitive_features=groups),
        "demographic_parity_ratio": demographic_parity_ratio(y, pred, sensitive_features=groups),
        "accuracy_score": accuracy_score(y, pred),
        "roc_auc_score": roc_auc_score(y, data.score),
        "recall_score": recall_score(y, pred, pos_label=1),
        "expected_misclassification_cost": cost,
        "min_group_count": float(frame.by_group["count"].min()),
        "missing_value_rate": float(data.row_missing.mean()),
        "prediction_stability": float(data.stable.mean()),
    }


def fairness_by_group(data: HeldOut) -> list[dict[str, Any]]:
    """Selection rate, true-positive rate and count per group (for the by-group plot)."""
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "count": count,
        },
        y_true=data.y,
        y_pred=data.pred,
        sensitive_features=pd.Series(data.groups, name=SENSITIVE),
    )
    table = frame.by_group.sort_index()
    return [
        {
            SENSITIVE: str(group),
            "selection_rate": float(row["selection_rate"]),
            "true_positive_rate": float(row["true_positive_rate"]),
            "count": int(row["count"]),
        }
        for group, row in table.iterrows()
    ]


def perturb(X: np.ndarray, numeric: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Add Gaussian noise of ``scale`` standard deviations to the numeric columns."""
    rng = np.random.default_rng([seed, 1])
    noisy = X.copy()
    std = X[:, numeric].std(axis=0)
    noisy[:, numeric] += rng.normal(size=(X.shape[0], numeric.size)) * (scale * std)
    return noisy


def _check_consistency(points: dict[str, float], data: HeldOut) -> None:
    """The vectorised bootstrap statistic must equal the library value on the sample itself."""
    identity = np.arange(len(data.y))[None, :]
    rows = np.arange(len(data.row_missing))[None, :]
    for name, values in resampled_metrics(data, identity, rows).items():
        if not np.isclose(values[0], points[name], rtol=0, atol=1e-9):
            raise RuntimeError(
                f"bootstrap statistic for {name} disagrees: {values[0]} != {points[name]}"
            )


def measure(data: HeldOut, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every measure's point value (fairlearn / scikit-learn) with its bootstrap interval, keyed
    by measure id: the metrics contract the engine reads."""
    seed = int(params["seed"])
    n_boot = int(params["n_boot"])
    ci_level = float(params["ci_level"])
    points = point_metrics(data)
    _check_consistency(points, data)
    rng = np.random.default_rng(seed)
    n, rows = len(data.y), len(data.row_missing)
    idx = rng.integers(0, n, size=(n_boot, n))
    row_idx = rng.integers(0, rows, size=(n_boot, rows))
    boot = resampled_metrics(data, idx, row_idx)
    alpha = (1.0 - ci_level) / 2.0
    names, counts = np.unique(data.groups, return_counts=True)
    group_counts = {str(k): int(v) for k, v in zip(names, counts, strict=True)}
    metrics: dict[str, dict[str, Any]] = {}
    for measure_id, name in MEASURES.items():
        low, high = np.nanquantile(boot[name], [alpha, 1.0 - alpha])
        metrics[measure_id] = {
            "value": float(points[name]),
            "power": {
                "n": int(rows if name == "missing_value_rate" else n),
                "n_clusters": None,
                "groups": dict(group_counts) if name in GROUP_METRICS else {},
                "ci_low": float(low),
                "ci_high": float(high),
                "ci_level": ci_level,
                "method": "bootstrap",
                "n_boot": n_boot,
                "seed": seed,
            },
        }
    return metrics


def evaluate(
    build_model: Callable[[int], Model],
    features_path: Path = FEATURES,
    params: dict[str, Any] | None = None,
    out_dir: Path = HERE,
) -> dict[str, dict[str, Any]]:
    """Run the evaluation and write ``metrics.json``, ``fairness_by_group.json``, ``model.pkl``."""
    params = load_params() if params is None else params
    seed = int(params["seed"])

    table = pd.read_parquet(features_path)
    feature_cols = [c for c in table.columns if c not in (SENSITIVE, TARGET)]
    X = table[feature_cols].to_numpy(dtype=float)
    y = table[TARGET].to_numpy(dtype=int)
    groups = table[SENSITIVE].to_numpy(dtype=str)
    row_missing = table.isna().mean(axis=1).to_numpy(dtype=float)
    numeric = np.array([i for i, c in enumerate(feature_cols) if "=" not in c])

    X_train, X_test, y_train, y_test, g_train, g_test = train_test_split(
        X, y, groups, test_size=float(params["test_size"]), random_state=seed, stratify=y
    )
    model = build_model(seed)
    model.fit(X_train, y_train, sensitive_features=g_train)
    pred = np.asarray(model.predict(X_test, sensitive_features=g_test)).astype(int)
    noisy = perturb(X_test, numeric, float(params["perturbation_scale"]), seed)
    pred_noisy = np.asarray(model.predict(noisy, sensitive_features=g_test)).astype(int)
    data = HeldOut(
        y=y_test,
        pred=pred,
        score=np.asarray(model.predict_score(X_test), dtype=float),
        groups=g_test,
        stable=pred == pred_noisy,
        row_missing=row_missing,
    )

    metrics = measure(data, params)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", "utf-8")
    by_group = fairness_by_group(data)
    (out_dir / "fairness_by_group.json").write_text(json.dumps(by_group, indent=2) + "\n", "utf-8")
    with (out_dir / "model.pkl").open("wb") as handle:
        pickle.dump(model, handle)
    return metrics


def summary(metrics: dict[str, dict[str, Any]]) -> str:
    """One line per measure: value and interval."""
    return "\n".join(
        f"{mid:<26} {m['value']:.4f}  [{m['power']['ci_low']:.4f}, {m['power']['ci_high']:.4f}]"
        for mid, m in metrics.items()
    )
