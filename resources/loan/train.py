"""Model builder, V1 (untreated): standardised logistic regression, no fairness mitigation.

The shared evaluation (``compliance_eval.py``) only relies on this interface:
``build_model(seed)`` returns an unfitted :class:`LoanModel`; ``fit(X, y, sensitive_features,
seed)`` builds and fits one. A fitted model offers ``predict(X, sensitive_features=...)``
(1 = approve / good payer, 0 = decline) and ``predict_score(X)`` (estimated probability of
being a good payer, used for ROC AUC). The treatment replaces this file with
``treatment/train.py``, which keeps the same interface.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

TREATMENT = "none"


def _scorer(seed: int) -> Pipeline:
    """Standardise the features, then fit an L2 logistic regression."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))


class LoanModel:
    """Untreated credit model; ``sensitive_features`` is accepted but not used."""

    treatment = TREATMENT

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.scorer = _scorer(seed)

    def fit(self, X: np.ndarray, y: np.ndarray, sensitive_features: np.ndarray) -> LoanModel:
        """Fit the logistic regression on the training split."""
        self.scorer.fit(X, y)
        return self

    def predict(self, X: np.ndarray, sensitive_features: np.ndarray | None = None) -> np.ndarray:
        """Return the credit decisions (1 = approve)."""
        return self.scorer.predict(X).astype(int)

    def predict_score(self, X: np.ndarray) -> np.ndarray:
        """Return the estimated probability of the positive class (good payer)."""
        return self.scorer.predict_proba(X)[:, 1]


def build_model(seed: int) -> LoanModel:
    """Return an unfitted V1 model."""
    return LoanModel(seed)


def fit(X: np.ndarray, y: np.ndarray, sensitive_features: np.ndarray, seed: int) -> LoanModel:
    """Build and fit a V1 model."""
    return build_model(seed).fit(X, y, sensitive_features)
