"""Model builder, V2 (treated): logistic regression post-processed for demographic parity.

Same interface as the V1 ``train.py`` it replaces (``build_model``, ``fit``, ``predict`` with
``sensitive_features`` and ``predict_score``). The treatment (ISO/IEC 23894 §6.5) fits
group-specific decision thresholds with ``fairlearn.postprocessing.ThresholdOptimizer``
under a demographic-parity constraint, on the training split only. Its randomised
decisions use a fixed ``random_state`` so the pipeline stays deterministic.
"""

from __future__ import annotations

import numpy as np
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

TREATMENT = "fairlearn.postprocessing.ThresholdOptimizer(demographic_parity)"


def _scorer(seed: int) -> Pipeline:
    """Standardise the features, then fit an L2 logistic regression."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))


class LoanModel:
    """Credit model with demographic-parity thresholds per group of the protected attribute."""

    treatment = TREATMENT

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.scorer = _scorer(seed)
        self.postprocessor: ThresholdOptimizer | None = None

    def fit(self, X: np.ndarray, y: np.ndarray, sensitive_features: np.ndarray) -> LoanModel:
        """Fit the scorer, then the group thresholds, both on the training split."""
        self.scorer.fit(X, y)
        self.postprocessor = ThresholdOptimizer(
            estimator=self.scorer,
            constraints="demographic_parity",
            objective="accuracy_score",
            predict_method="predict_proba",
            prefit=True,
        )
        self.postprocessor.fit(X, y, sensitive_features=sensitive_features)
        return self

    def predict(self, X: np.ndarray, sensitive_features: np.ndarray | None = None) -> np.ndarray:
        """Return the post-processed credit decisions (1 = approve)."""
        if self.postprocessor is None:
            raise RuntimeError("model is not fitted")
        if sensitive_features is None:
            raise ValueError("the treated model needs sensitive_features to decide")
        decisions = self.postprocessor.predict(
            X, sensitive_features=sensitive_features, random_state=self.seed
        )
        return np.asarray(decisions).astype(int)

    def predict_score(self, X: np.ndarray) -> np.ndarray:
        """Return the scorer's probability of the positive class (before the thresholds)."""
        return self.scorer.predict_proba(X)[:, 1]


def build_model(seed: int) -> LoanModel:
    """Return an unfitted V2 model."""
    return LoanModel(seed)


def fit(X: np.ndarray, y: np.ndarray, sensitive_features: np.ndarray, seed: int) -> LoanModel:
    """Build and fit a V2 model."""
    return build_model(seed).fit(X, y, sensitive_features)
