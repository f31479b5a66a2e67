"""Held-out decisions of train.py's model (the treatment), as a table.

The same stratified split, seed and robustness probe as compliance_eval.evaluate: the model
is fitted on the training split and scored on the held-out applications, in split order.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split


def model(dbt, session):
    dbt.config(materialized="table")
    root = Path(dbt.config.get("repo_root")).resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import compliance_eval
    import train

    params = compliance_eval.load_params()
    seed = int(params["seed"])
    table = dbt.ref("features").df().sort_values("applicant_id", kind="stable")
    ids = table.pop("applicant_id").to_numpy(dtype=np.int64)
    feature_cols = [
        c for c in table.columns if c not in (compliance_eval.SENSITIVE, compliance_eval.TARGET)
    ]
    X = table[feature_cols].to_numpy(dtype=float)
    y = table[compliance_eval.TARGET].to_numpy(dtype=int)
    groups = table[compliance_eval.SENSITIVE].to_numpy(dtype=str)
    numeric = np.array([i for i, c in enumerate(feature_cols) if "=" not in c])
    X_train, X_test, y_train, _, g_train, g_test, _, id_test = train_test_split(
        X, y, groups, ids, test_size=float(params["test_size"]), random_state=seed, stratify=y
    )
    fitted = train.build_model(seed)
    fitted.fit(X_train, y_train, sensitive_features=g_train)
    pred = np.asarray(fitted.predict(X_test, sensitive_features=g_test)).astype(int)
    noisy = compliance_eval.perturb(X_test, numeric, float(params["perturbation_scale"]), seed)
    pred_noisy = np.asarray(fitted.predict(noisy, sensitive_features=g_test)).astype(int)
    return pd.DataFrame(
        {
            "applicant_id": id_test,
            "holdout_rank": np.arange(len(id_test), dtype=np.int64),
            "prediction": pred,
            "score": np.asarray(fitted.predict_score(X_test), dtype=float),
            "prediction_perturbed": pred_noisy,
            "treatment": train.TREATMENT,
        }
    )
