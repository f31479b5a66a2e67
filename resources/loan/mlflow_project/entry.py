"""MLflow entry point of loan-scoring: the shared evaluation inside an MLflow run.

Run by ``mlflow run`` (which opens the run and passes its id in ``MLFLOW_RUN_ID``). Steps:
``featurize.py`` (German Credit through Croissant), then ``compliance_eval.evaluate`` with
``train.py``'s model builder (the same code as the DVC stages); every measure is logged as a
metric keyed by its measure id (plus ``<id>.ci_low`` and ``<id>.ci_high``), ``metrics.json``
and ``fairness_by_group.json`` as artifacts, and the fitted model is logged and registered
under the system's name. The new version gets the ``champion`` alias only when every
blocking control of the compiled plan passes (the demographic-parity gate among them); the
thresholds come from the plan, not from this file.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow import MlflowClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import compliance_eval  # noqa: E402
import featurize  # noqa: E402
import train  # noqa: E402

ALIAS = "champion"
OPS = {  # the compiled plan's operators (and the older two-letter spellings)
    "lt": lambda v, t: v < t,
    "lte": lambda v, t: v <= t,
    "le": lambda v, t: v <= t,
    "gt": lambda v, t: v > t,
    "gte": lambda v, t: v >= t,
    "ge": lambda v, t: v >= t,
    "eq": lambda v, t: v == t,
    "ne": lambda v, t: v != t,
}


def manifest() -> dict[str, Any]:
    """The system's manifest (sei.yaml at the repository root)."""
    return yaml.safe_load((ROOT / "sei.yaml").read_text(encoding="utf-8"))


def blocking_controls(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The blocking controls (id, operator, threshold) of the compiled OSCAL plan, or []."""
    rel = (doc.get("oscal") or {}).get("assessment_plan", "assessment_plan.oscal.yaml")
    path = ROOT / rel
    if not path.is_file():
        return []
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for component in plan["component-definition"]["components"]:
        for impl in component.get("control-implementations", []):
            for req in impl.get("implemented-requirements", []):
                props = {p["name"]: p["value"] for p in req.get("props", [])}
                if props.get("enforcement_mode") == "block":
                    out.append({"id": req["control-id"], **props})
    return out


def failing(controls: list[dict[str, str]], metrics: dict[str, Any]) -> list[str]:
    """Ids of the controls whose measured value violates the plan's bound (missing fails)."""
    out = []
    for c in controls:
        entry = metrics.get(c["id"])
        value = entry.get("value") if isinstance(entry, dict) else entry
        op = OPS.get(c.get("operator", ""))
        if value is None or op is None or not op(float(value), float(c["threshold"])):
            out.append(c["id"])
    return out


def requirements() -> list[str]:
    """Pinned requirements of the logged model (no inference: faster, offline)."""
    pins = []
    for dist in ("scikit-learn", "fairlearn", "numpy", "cloudpickle"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return pins


def main() -> None:
    """Evaluate, log, register, promote when the gate passes."""
    doc = manifest()
    name = doc["system"]["name"]
    built: list[Any] = []

    def build_model(seed: int) -> Any:
        model = train.build_model(seed)
        built.append(model)
        return model

    with mlflow.start_run() as run:
        mlflow.set_tags({"sei.system": name, "sei.treatment": train.TREATMENT})
        mlflow.log_params(compliance_eval.load_params())
        featurize.main()
        metrics = compliance_eval.evaluate(build_model)
        logged: dict[str, float] = {}
        for measure_id, entry in metrics.items():
            logged[measure_id] = float(entry["value"])
            logged[f"{measure_id}.ci_low"] = float(entry["power"]["ci_low"])
            logged[f"{measure_id}.ci_high"] = float(entry["power"]["ci_high"])
        mlflow.log_metrics(logged)
        mlflow.log_artifact(str(ROOT / "metrics.json"))
        mlflow.log_artifact(str(ROOT / "fairness_by_group.json"))
        info = mlflow.sklearn.log_model(
            built[-1],
            name="model",
            registered_model_name=name,
            serialization_format="cloudpickle",
            code_paths=[str(ROOT / "train.py")],
            pip_requirements=requirements(),
        )
        model_version = str(info.registered_model_version)
        controls = blocking_controls(doc)
        failures = failing(controls, metrics) if controls else ["<no compiled plan>"]
        client = MlflowClient()
        client.set_model_version_tag(name, model_version, "sei.gate_failures", ",".join(failures))
        promoted = not failures
        if promoted:
            client.set_registered_model_alias(name, ALIAS, model_version)
        mlflow.set_tag("sei.champion", str(promoted).lower())
    print(f"mlflow: run {run.info.run_id}, {name} version {model_version}, champion={promoted}")


if __name__ == "__main__":
    main()
