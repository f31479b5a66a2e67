"""DVC stage ``evaluate``: run the shared compliance evaluation with ``train.py``'s model."""

from __future__ import annotations

import time

import compliance_eval
from train import TREATMENT, build_model


def main() -> None:
    """Evaluate the current model builder and print the measured controls."""
    start = time.perf_counter()
    metrics = compliance_eval.evaluate(build_model)
    print(f"evaluate: treatment={TREATMENT}")
    print(compliance_eval.summary(metrics))
    print(f"evaluate: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
