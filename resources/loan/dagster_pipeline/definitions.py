"""The loan-scoring pipeline as Dagster assets (pipeline.tool: dagster).

``credit_features`` loads German Credit through Croissant (``featurize.py``) and writes
``data/features.parquet``; ``compliance_evaluation`` runs the shared ``compliance_eval.py``
with ``train.py``'s model builder and writes ``metrics.json``. Its ``code_version`` is derived
from the hash of ``train.py`` (the treatment) and of the evaluation and its parameters, so
replacing ``train.py`` marks it stale and nothing else. The demographic-parity gate is also a
native asset check (WARN severity: it reports, the sei engine decides the gate); its bound is
read from the compiled OSCAL plan. The engine runs
``dagster asset materialize -f dagster_pipeline/definitions.py --select '*'`` in-process.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import compliance_eval  # noqa: E402
import featurize  # noqa: E402
import train  # noqa: E402

GATE = "unfair-credit-exclusion"
# the compiled plan's operators (and the older two-letter spellings)
OPS = {
    **{"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "==", "ne": "!="},
    **{"le": "<=", "ge": ">="},
}


def _hash(*names: str) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:12]


FEATURES_CODE_VERSION = "featurize-" + _hash("featurize.py")
TREATMENT_CODE_VERSION = (
    f"train-{_hash('train.py')}.eval-{_hash('compliance_eval.py', 'params.yaml')}"
)


def _value(entry: Any) -> float | None:
    value = entry.get("value") if isinstance(entry, dict) else entry
    return None if value is None else float(value)


def _plan_bound(control_id: str) -> tuple[str, float] | None:
    """(operator, threshold) of a control in the compiled plan; None without a plan."""
    manifest = yaml.safe_load((ROOT / "sei.yaml").read_text(encoding="utf-8"))
    rel = (manifest.get("oscal") or {}).get("assessment_plan", "assessment_plan.oscal.yaml")
    path = ROOT / rel
    if not path.is_file():
        return None
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    for component in plan["component-definition"]["components"]:
        for impl in component.get("control-implementations", []):
            for req in impl.get("implemented-requirements", []):
                if req["control-id"] == control_id:
                    props = {p["name"]: p["value"] for p in req.get("props", [])}
                    return props["operator"], float(props["threshold"])
    return None


@dg.asset(code_version=FEATURES_CODE_VERSION, kinds={"parquet"})
def credit_features() -> dg.MaterializeResult:
    """German Credit loaded through its Croissant description and one-hot encoded."""
    frame, text_fields = featurize.load_records()
    table = featurize.encode(frame, text_fields)
    featurize.OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(featurize.OUTPUT, index=False)
    return dg.MaterializeResult(
        metadata={
            "rows": len(table),
            "columns": table.shape[1],
            "path": dg.MetadataValue.path(str(featurize.OUTPUT)),
        }
    )


@dg.asset(deps=[credit_features], code_version=TREATMENT_CODE_VERSION, kinds={"sklearn"})
def compliance_evaluation() -> dg.MaterializeResult:
    """The shared compliance evaluation of the current ``train.py``: ``metrics.json``."""
    metrics = compliance_eval.evaluate(train.build_model)
    metadata: dict[str, Any] = {
        measure_id: dg.MetadataValue.float(float(entry["value"]))
        for measure_id, entry in metrics.items()
    }
    metadata["treatment"] = train.TREATMENT
    metadata["metrics"] = dg.MetadataValue.path(str(ROOT / "metrics.json"))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=compliance_evaluation,
    description="The demographic-parity gate as a native Dagster check (WARN: sei decides).",
)
def unfair_credit_exclusion_gate() -> dg.AssetCheckResult:
    """Demographic-parity difference against the compiled plan's bound."""
    metrics = json.loads((ROOT / "metrics.json").read_text(encoding="utf-8"))
    value = _value(metrics.get(GATE))
    bound = _plan_bound(GATE)
    metadata: dict[str, Any] = {"control_id": GATE, "demographic_parity_diff": value}
    if bound is None or value is None:
        metadata["reason"] = "no compiled plan" if bound is None else "no measured value"
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
        )
    op, threshold = bound
    passed = {
        "<": value < threshold,
        "<=": value <= threshold,
        ">": value > threshold,
        ">=": value >= threshold,
        "==": value == threshold,
        "!=": value != threshold,
    }[OPS[op]]
    metadata.update({"operator": OPS[op], "threshold": threshold})
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )


defs = dg.Definitions(
    assets=[credit_features, compliance_evaluation],
    asset_checks=[unfair_credit_exclusion_gate],
    executor=dg.in_process_executor,
)
