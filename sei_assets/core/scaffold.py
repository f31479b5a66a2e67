"""`sei new`: a system scaffolded in an existing or empty repository, for one backend.

It writes a commented manifest (system, classification and a starter risk program: a
performance floor, a fairness bound, a data-quality measure), the metrics contract (a JSON
Schema of the metrics file, keyed by measure id), an evaluation script that trains a
scikit-learn model on the user's table and measures it with fairlearn, the backend's pipeline
definition, a Croissant description of the table (fields and types read from the data, its
sha256; checked with mlcroissant), `.gitignore` entries and `params.yaml`. Files that already
exist are never overwritten (unless asked); nothing is half-written (atomic writes).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write

if TYPE_CHECKING:
    import pandas as pd

BACKENDS = ("dvc", "mlflow", "dagster", "dbt", "file")
TIERS = ("prohibited", "high", "limited", "minimal")
METRICS = "metrics.json"
CONTRACT = "metrics.contract.json"
#: The starter program's measures: id -> (metric, constraint, what it checks).
MEASURES = {
    "performance-floor": ("accuracy_score", ">= 0.70", "accuracy on the held-out split"),
    "fairness-bound": (
        "demographic_parity_diff",
        "< 0.10",
        "gap between the groups' selection rates",
    ),
    "data-completeness": ("missing_value_rate", "<= 0.05", "share of empty cells in the table"),
}
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
#: The Croissant 1.0 JSON-LD context (the vocabulary the format defines).
CROISSANT_CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileObject": "cr:fileObject",
    "fileProperty": "cr:fileProperty",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


@dataclass
class Request:
    """What `sei new` was asked for."""

    repo: Path
    backend: str
    data: Path
    target: str
    sensitive: str
    name: str
    purpose: str = "Describe what the system is for, whom it serves and who reviews it."
    organization: str = "Your organisation"
    tier: str = "high"
    force: bool = False


@dataclass
class Scaffold:
    """What was written, and what to do next."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


def default_name(repo: Path) -> str:
    """A system name from the folder's name (lower case, digits and dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", repo.resolve().name.lower()).strip("-")
    return slug if _NAME.match(slug or "") else f"system-{slug}".strip("-")[:63] or "system"


def _table(path: Path) -> pd.DataFrame:  # pandas is imported here only
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many kinds
        raise SeiError(f"--data: {path}: cannot be read as a table ({exc})") from None


def _data_type(dtype: object) -> str:
    kind = getattr(dtype, "kind", "O")
    return {"b": "sc:Boolean", "i": "sc:Integer", "u": "sc:Integer", "f": "sc:Float"}.get(
        kind, "sc:Text"
    )


def croissant(name: str, table_path: Path, frame: pd.DataFrame, url: str) -> dict[str, Any]:
    """A Croissant 1.0 description of one table: its file (sha256) and one field a column."""
    encoding = (
        "application/x-parquet" if table_path.suffix.lower() in (".parquet", ".pq") else "text/csv"
    )
    file_id = table_path.name
    fields = [
        {
            "@type": "cr:Field",
            "@id": f"records/{column}",
            "name": str(column),
            "dataType": _data_type(dtype),
            "source": {"fileObject": {"@id": file_id}, "extract": {"column": str(column)}},
        }
        for column, dtype in frame.dtypes.items()
    ]
    return {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": f"{name}-data",
        "description": f"The table {name} is trained and evaluated on (describe its origin).",
        "license": "https://creativecommons.org/publicdomain/zero/1.0/",
        "url": url,
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": file_id,
                "name": file_id,
                "contentUrl": file_id,
                "encodingFormat": encoding,
                "sha256": hashlib.sha256(table_path.read_bytes()).hexdigest(),
            }
        ],
        "recordSet": [
            {"@type": "cr:RecordSet", "@id": "records", "name": "records", "field": fields}
        ],
    }


def _check(req: Request, frame: pd.DataFrame) -> None:
    if req.backend not in BACKENDS:
        raise SeiError(f"--backend: {req.backend!r} is not one of {', '.join(BACKENDS)}")
    if req.tier not in TIERS:
        raise SeiError(f"--tier: {req.tier!r} is not one of {', '.join(TIERS)}")
    if not _NAME.match(req.name):
        raise SeiError(
            f"--name: {req.name!r}: lower-case letters, digits and dashes, starting with a letter"
        )
    columns = [str(c) for c in frame.columns]
    for flag, column in (("--target", req.target), ("--sensitive", req.sensitive)):
        if column not in columns:
            raise SeiError(
                f"{flag}: {req.data} has no column {column!r} (columns: {', '.join(columns)})"
            )
    if req.target == req.sensitive:
        raise SeiError("--target and --sensitive name the same column")
    labels = frame[req.target].dropna().unique()
    if len(labels) != 2:
        raise SeiError(
            f"--target: the column {req.target!r} holds {len(labels)} distinct values; the "
            "starter program measures a binary classifier (two values)"
        )
    if req.backend == "dbt" and DBT_ROW in columns:
        raise SeiError(f"--data: the dbt backend adds the column {DBT_ROW!r}; rename yours")


def _positive(frame: pd.DataFrame, target: str) -> object:
    """The positive label: 1 / True when the target holds them, else the rarer value."""
    values = frame[target].dropna()
    labels = set(values.unique().tolist())
    for candidate in (1, True, "1", "yes", "true"):
        if candidate in labels:
            return candidate
    return values.value_counts().idxmin()


def _manifest(req: Request, data_rel: str, croissant_rel: str) -> str:
    j = json.dumps
    command = ', command: "python evaluate.py"' if req.backend == "file" else ""
    fair, perf, quality = (
        MEASURES[k] for k in ("fairness-bound", "performance-floor", "data-completeness")
    )
    return f"""apiVersion: venturalitica.ai/v1alpha1
kind: AISystem
# The manifest of {req.name}, scaffolded by `sei new` (backend: {req.backend}).
# Every value below is a starting point: read each comment, then make it true of your system.
# Reference of every key: the README's manifest tables; `sei standards` lists the standards and
# their clause ids, `sei metrics` the metric names and their domains.

# ── What the system is ───────────────────────────────────────────────────────────────────────
system:
  name: {req.name}                      # letters, digits and dashes: the system's id everywhere
  intended_purpose: {j(req.purpose)}
  organization: {j(req.organization)}
  version: "0.1.0"
  decisions: [{j(req.target + "_prediction")}]  # the decisions the system takes or supports
  affected_persons: [data_subjects]     # the people those decisions affect
  # Foreseeable misuse (AI Act Art. 9(2)(b)), each with the risks that address it.
  potential_misuses:
    - id: mu.unmeasured-groups
      description: "Applying the model to groups its fairness was never measured on."
      addressed_by: [risk.unfair-outcomes]

task: {{ modality: tabular, type: classification }}

# Standards the evidence is projected onto (`sei conformance`); `sei standards` lists them all.
context:
  applicable_standards: [eu/ai-act@2024, iso/23894@2023]

# ── Data, pipeline, plan ─────────────────────────────────────────────────────────────────────
# The Croissant file describes the table (fields, types, sha256): `sei new` generated it from
# {data_rel}; fill in its description, license and url. A change of the data is drift class C.
dataset: {{ croissant: {croissant_rel} }}
# The evaluation script: a change of it is drift class B (the treatment).
eval: {{ script: evaluate.py }}
# The pipeline writes {METRICS}, a JSON object keyed by measure id ({CONTRACT} is its schema):
# a number, or {{value, power}} with a bootstrap confidence interval.
pipeline: {{ tool: {req.backend}, metrics: {METRICS}, params: params.yaml{command} }}
oscal: {{ assessment_plan: assessment_plan.oscal.yaml }}

# ── Classification (AI Act Art. 6, Annex III) ────────────────────────────────────────────────
classification:
  tier: {req.tier}                      # prohibited, high, limited or minimal
  basis:                                # a list: the legal grounds of the tier
    - "State the Annex III point (or other basis) that makes this tier apply"
  rationale: "Why this tier: the decision, the people it affects, the context of use."

# ── Risk program (AI Act Art. 9, ISO/IEC 23894) ──────────────────────────────────────────────
# Three starter risks, one measure each. A measure's metric name gives its domain
# (`*_score`, `*_diff`, `*_rate`: values in [0, 1]; `sei metrics`); its id is the key in {METRICS}.
# enforcement: gate blocks (a red gate), audit warns, monitor only reports.
risk:
  appetite: {{ individual: MEDIUM, society: MEDIUM, organization: HIGH }}
  overall_residual_criterion: HIGH
  review_interval: P6M                  # periodic review, an ISO 8601 duration
  risks:
    - id: risk.poor-performance
      title: "Predictions too inaccurate to support the decision"
      domain: performance
      impact: {{ individual: MEDIUM, organization: HIGH }}
      likelihood: POSSIBLE
      treat:
        - method: REDUCE
          action: "Validate on a held-out split before release; block below the floor."
          controls: [eu/ai-act@2024#art-15]
          residual_likelihood: UNLIKELY
          measures:
            - id: performance-floor
              metric: {perf[0]}         # {perf[2]}
              constraint: {j(perf[1])}
              severity: high
              enforcement: gate
              article: "15"
              standard_clauses: ["iso/23894@2023#6.4.3"]
    - id: risk.unfair-outcomes
      title: {j("Unequal outcomes between groups of " + req.sensitive)}
      domain: fairness
      impact: {{ individual: HIGH, society: HIGH, organization: HIGH }}
      likelihood: POSSIBLE
      treat:
        - method: REDUCE
          action: {j(f"Bound the gap in selection rates between the groups of {req.sensitive}.")}
          controls: [eu/ai-act@2024#art-10, eu/ai-act@2024#art-15]
          residual_likelihood: UNLIKELY
          measures:
            - id: fairness-bound
              metric: {fair[0]}  # {fair[2]} (fairlearn)
              constraint: {j(fair[1])}
              severity: high
              enforcement: gate
              article: "15"
              standard_clauses: ["iso/23894@2023#6.4.4"]
              inputs: {{ prediction: prediction, dimension: {j(req.sensitive)} }}
    - id: risk.data-quality
      title: "Incomplete training data"
      domain: data
      impact: {{ individual: MEDIUM, organization: MEDIUM }}
      likelihood: POSSIBLE
      treat:
        - method: REDUCE
          action: "Measure the share of empty cells; block above the bound."
          controls: [eu/ai-act@2024#art-10]
          residual_likelihood: UNLIKELY
          measures:
            - id: data-completeness
              metric: {quality[0]}      # {quality[2]}
              constraint: {j(quality[1])}
              severity: medium
              enforcement: gate
              article: "10"
              standard_clauses: ["iso/23894@2023#6.4.2"]
"""


def _contract() -> str:
    value = {
        "oneOf": [
            {"type": "number"},
            {
                "type": "object",
                "required": ["value"],
                "properties": {"value": {"type": "number"}, "power": {"type": "object"}},
            },
        ]
    }
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "The metrics file: one value per measure id of sei.yaml",
        "type": "object",
        "required": list(MEASURES),
        "properties": {k: {"description": f"{m[0]}: {m[2]}", **value} for k, m in MEASURES.items()},
    }
    return json.dumps(doc, indent=2) + "\n"


def _params(req: Request, data_rel: str, positive: object) -> str:
    return (
        "# Parameters of the evaluation (a change is drift class B, the treatment).\n"
        f"data: {json.dumps(data_rel)}\n"
        f"target: {json.dumps(req.target)}\n"
        f"positive: {json.dumps(positive)}\n"
        f"sensitive: {json.dumps(req.sensitive)}\n"
        "# the fairness treatment: none, or threshold_optimizer (fairlearn, demographic parity)\n"
        "treatment: none\n"
        "seed: 42\n"
        "test_size: 0.3\n"
        "n_boot: 200\n"
        "ci_level: 0.95\n"
    )


EVALUATE = '''"""The evaluation of {name}: train, predict on a held-out split, measure, write
the metrics.

Scaffolded by `sei new`; it is yours to change (it is the treatment: drift class B).
Writes {metrics} keyed by the measure ids of sei.yaml ({contract} is its schema): the fairness
bound with a bootstrap confidence interval (`power`), as the engine reads it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from fairlearn.metrics import demographic_parity_difference
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent


def load(params: dict) -> pd.DataFrame:
    path = ROOT / params["data"]
    return pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)


def features(frame: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Every column but the target and the sensitive one; text one-hot, gaps filled."""
    x = frame.drop(columns=[params["target"], params["sensitive"]])
    x = pd.get_dummies(x, dummy_na=True).astype(float)
    return x.fillna(x.median(numeric_only=True)).fillna(0.0)


def parity_interval(y_pred, groups, params: dict) -> dict:
    """A percentile bootstrap of the demographic parity difference (the gap between the
    groups' selection rates, as fairlearn defines it; computed with numpy for speed)."""
    rng = np.random.default_rng(params["seed"])
    n, values = len(y_pred), []
    names, codes = np.unique(groups, return_inverse=True)
    for _ in range(params["n_boot"]):
        pick = rng.integers(0, n, n)
        counts = np.bincount(codes[pick], minlength=len(names))
        if (counts > 0).sum() > 1:
            chosen = np.bincount(codes[pick], weights=y_pred[pick], minlength=len(names))
            rates = chosen[counts > 0] / counts[counts > 0]
            values.append(float(rates.max() - rates.min()))
    tail = (1 - params["ci_level"]) / 2 * 100
    counts = pd.Series(groups).value_counts()
    return {{
        "n": int(n),
        "groups": {{str(k): int(v) for k, v in counts.items()}},
        "ci_low": float(np.percentile(values, tail)),
        "ci_high": float(np.percentile(values, 100 - tail)),
        "ci_level": params["ci_level"],
        "method": "bootstrap",
        "n_boot": params["n_boot"],
        "seed": params["seed"],
    }}


def evaluate(frame: pd.DataFrame | None = None) -> tuple[dict, object]:
    """Measure the table (read from params.yaml's `data` unless given), write the metrics."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    frame = load(params) if frame is None else frame
    missing = float(frame.isna().to_numpy().mean())
    y = (frame[params["target"]].astype(str) == str(params["positive"])).astype(int).to_numpy()
    groups = frame[params["sensitive"]].astype(str).to_numpy()
    x = features(frame, params)
    x_train, x_test, y_train, y_test, g_train, g_test = train_test_split(
        x, y, groups, test_size=params["test_size"], random_state=params["seed"], stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    if params.get("treatment") == "threshold_optimizer":
        # fairness treatment: one decision threshold per group, chosen so that the groups
        # are selected at equal rates (fairlearn's post-processing, demographic parity)
        model = ThresholdOptimizer(
            estimator=model,
            constraints="demographic_parity",
            predict_method="predict_proba",
            prefit=True,
        )
        model.fit(x_train, y_train, sensitive_features=g_train)
        y_pred = model.predict(x_test, sensitive_features=g_test, random_state=params["seed"])
    else:
        y_pred = model.predict(x_test)
    parity = demographic_parity_difference(y_test, y_pred, sensitive_features=g_test)
    metrics = {{
        "performance-floor": float(accuracy_score(y_test, y_pred)),
        "fairness-bound": {{
            "value": float(parity),
            "power": parity_interval(y_pred, g_test, params),
        }},
        "data-completeness": missing,
    }}
    (ROOT / "{metrics}").write_text(json.dumps(metrics, indent=2) + "\\n")
    return metrics, model


def main() -> None:
    metrics, _model = evaluate()
    json.dump(metrics, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
'''

DVC_YAML = """# The pipeline of {name} (`sei run` reproduces it with `dvc repro`).
stages:
  evaluate:
    cmd: python evaluate.py
    deps:
      - evaluate.py
      - {data}
    params:
      - treatment
      - seed
      - test_size
      - n_boot
      - ci_level
    metrics:
      - {metrics}:
          cache: false
"""

MLPROJECT = """# The MLflow project of {name}. `sei run` runs it offline:
#   mlflow run mlflow_project --env-manager local --experiment-name {name}
# against the SQLite store mlflow_project/mlflow.db. Each run must log every metric under its
# measure id and register exactly one model version.
name: {name}

entry_points:
  main:
    command: "python entry.py"
"""

MLFLOW_ENTRY = '''"""One MLflow run of {name}: the evaluation, its metrics logged under their
measure ids, the model registered as one new version of the registered model `{name}`."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import mlflow.sklearn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import evaluate  # noqa: E402 - the repository's own evaluation


def main() -> None:
    with mlflow.start_run():
        metrics, model = evaluate.evaluate()
        mlflow.log_metrics(
            {{k: float(v["value"] if isinstance(v, dict) else v) for k, v in metrics.items()}}
        )
        mlflow.sklearn.log_model(model, name="model", registered_model_name="{name}")


if __name__ == "__main__":
    main()
'''

DAGSTER_DEFINITIONS = '''"""The pipeline of {name} as Dagster assets (pipeline.tool: dagster).

`sei run` materializes them on the pipeline's own instance (dagster_pipeline/.dagster_home):
  dagster asset materialize -f dagster_pipeline/definitions.py --select '*'
``training_table`` describes the table (rows, columns, empty cells; its sha256 is the data
version); ``evaluation`` runs the repository's evaluate.py and writes {metrics}. Its code version
follows evaluate.py and params.yaml (the treatment): changing either marks it stale and
nothing else. The fairness bound is also a native asset check (WARN: it reports, the sei
engine decides the gate), its bound read from sei.yaml. Scaffolded by `sei new`; yours to
change.
"""

from __future__ import annotations

import hashlib
import json
import operator
import sys
from pathlib import Path

import dagster as dg
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import evaluate  # noqa: E402 - the repository's own evaluation

FAIRNESS = "fairness-bound"
OPERATORS = {{
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq
}}


def _hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


@dg.asset(code_version="load-" + _hash(ROOT / "evaluate.py"), kinds={{"pandas"}})
def training_table() -> dg.MaterializeResult:
    """The table the model is trained and evaluated on (params.yaml's `data`)."""
    params = _params()
    frame = evaluate.load(params)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(_hash(ROOT / params["data"])),
        metadata={{
            "rows": len(frame),
            "columns": frame.shape[1],
            "empty_cells": int(frame.isna().to_numpy().sum()),
            "path": dg.MetadataValue.path(str(ROOT / params["data"])),
        }},
    )


@dg.asset(
    deps=[training_table],
    code_version="eval-" + _hash(ROOT / "evaluate.py", ROOT / "params.yaml"),
    kinds={{"sklearn"}},
)
def evaluation() -> dg.MaterializeResult:
    """Train, predict on the held-out split, measure with fairlearn: {metrics}."""
    metrics, _model = evaluate.evaluate()
    metadata: dict = {{
        key: dg.MetadataValue.float(float(v["value"] if isinstance(v, dict) else v))
        for key, v in metrics.items()
    }}
    metadata["metrics"] = dg.MetadataValue.path(str(ROOT / "{metrics}"))
    metadata["treatment"] = str(_params().get("treatment"))
    return dg.MaterializeResult(metadata=metadata)


def _bound(measure_id: str) -> tuple[str, float] | None:
    """(operator, threshold) of a measure's constraint in sei.yaml; None when not declared."""
    manifest = yaml.safe_load((ROOT / "sei.yaml").read_text(encoding="utf-8"))
    for risk in (manifest.get("risk") or {{}}).get("risks", []):
        for treatment in risk.get("treat", []):
            for measure in treatment.get("measures", []):
                if measure.get("id") == measure_id:
                    op, threshold = str(measure["constraint"]).split()
                    return op, float(threshold)
    return None


@dg.asset_check(asset=evaluation, description="The fairness bound as a native check (WARN).")
def fairness_bound_check() -> dg.AssetCheckResult:
    """The demographic parity difference against sei.yaml's bound."""
    metrics = json.loads((ROOT / "{metrics}").read_text(encoding="utf-8"))
    entry = metrics.get(FAIRNESS)
    value = float(entry["value"] if isinstance(entry, dict) else entry)
    bound = _bound(FAIRNESS)
    metadata: dict = {{"measure": FAIRNESS, "demographic_parity_diff": value}}
    passed = False
    if bound is not None and bound[0] in OPERATORS:
        passed = bool(OPERATORS[bound[0]](value, bound[1]))
        metadata.update({{"operator": bound[0], "threshold": bound[1]}})
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )


defs = dg.Definitions(
    assets=[training_table, evaluation],
    asset_checks=[fairness_bound_check],
    executor=dg.in_process_executor,
)
'''

DBT_PROJECT_YML = """# The pipeline of {name} as a dbt project on DuckDB (pipeline.tool: dbt).
# `sei run` runs, from this folder, `dbt build --profiles-dir .` (the models and their
# tests: a failing test fails the run), then `python evaluate.py`, which measures the built
# table with the repository's evaluate.py (scikit-learn, fairlearn) and writes {metrics}.
#   records   the table {data}, one row per record, in file order (sei_row_number)
# Scaffolded by `sei new`; yours to change (a change here is a change of the treatment).
name: {project}
version: "1.0.0"
config-version: 2
profile: {project}

model-paths: ["models"]
test-paths: ["tests"]
target-path: target
clean-targets: ["target"]

flags:
  send_anonymous_usage_stats: false

models:
  {project}:
    +materialized: table
"""

DBT_PROFILES = """# A DuckDB database inside this folder: no server, no credentials.
{project}:
  target: local
  outputs:
    local:
      type: duckdb
      path: {project}.duckdb
      threads: 1
"""

DBT_SOURCES = """version: 2

sources:
  - name: raw
    description: "The table {data}, described by {croissant}."
    tables:
      - name: training_data
        meta:
          external_location: "{reader}('../{data}')"
"""

DBT_RECORDS = """-- The table the model is trained and evaluated on, one row per record, in file
-- order.
select
    row_number() over () - 1 as {row},
    *
from {{{{ source('raw', 'training_data') }}}}
"""

DBT_SCHEMA = """version: 2

models:
  - name: records
    description: "The table {data}; {row} is the record's position in the file."
    columns:
      - name: {row}
        data_tests: [unique, not_null]
"""
#: The label's test, written only when the column's name and values are plain words: dbt renders
#: its YAML with Jinja and pastes the values into SQL, and the table's content is data.
DBT_LABEL_TEST = """      - name: {target}
        description: "The label (evaluate.py compares it with params.yaml's `positive`)."
        data_tests:
          - accepted_values:
              arguments:
                values: {labels}
                quote: {quote}
"""
_PLAIN_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PLAIN_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

DBT_EVALUATE = """\"\"\"The evaluation of {name}'s dbt pipeline: {metrics} from the table that
`dbt build` left.

Reads ``records`` from {project}.duckdb in file order and measures it with the repository's
evaluate.py (scikit-learn, fairlearn: train, predict on the held-out split, measure), which
writes {metrics} at the repository root. Scaffolded by `sei new`; yours to change.
\"\"\"

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATABASE = HERE / "{project}.duckdb"
sys.path.insert(0, str(ROOT))  # the repository's evaluate.py, not this file

import evaluate  # noqa: E402


def main() -> None:
    with duckdb.connect(str(DATABASE), read_only=True) as con:
        frame = con.sql("select * from records order by {row}").df()
    metrics, _model = evaluate.evaluate(frame.drop(columns=["{row}"]))
    json.dump(metrics, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
"""

#: The dbt staging table's column of file positions (must not be one of the user's columns).
DBT_ROW = "sei_row_number"
_DBT_PATH = re.compile(r"^[A-Za-z0-9._/-]+$")

GITIGNORE = [
    "# sei: the evidence (.sei/, sei.lock) is committed; interrupted writes are not",
    ".sei/.*",
    "__pycache__/",
    "mlflow_project/mlflow.db",
    "mlflow_project/mlruns/",
    "mlruns/",
]
#: Per backend, the tool's own state and build products (rebuilt by every run).
GITIGNORE_BACKEND = {
    "dagster": ["dagster_pipeline/.dagster_home/"],
    "dbt": [
        "dbt_project/target/",
        "dbt_project/logs/",
        "dbt_project/.user.yml",
        "dbt_project/*.duckdb",
        "dbt_project/*.duckdb.wal",
    ],
}


def _write(out: Scaffold, path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        out.kept.append(path)
        return
    atomic_write(path, text, mode=0o644)
    out.written.append(path)


def scaffold(req: Request) -> Scaffold:
    """Write the system's files into ``req.repo`` (created when missing)."""
    source = Path(req.data)
    if not source.is_file():
        raise SeiError(f"--data: {source} is not a file (a CSV or Parquet table)")
    frame = _table(source)
    _check(req, frame)
    repo = Path(req.repo)
    repo.mkdir(parents=True, exist_ok=True)
    repo = repo.resolve()
    source = source.resolve()
    out = Scaffold()
    table = source if source.is_relative_to(repo) else repo / "data" / source.name
    data_rel = table.relative_to(repo).as_posix()
    croissant_path = table.with_name(table.stem + ".croissant.json")
    croissant_rel = croissant_path.relative_to(repo).as_posix()
    # the dbt project is made (and its paths checked) before anything is written
    dbt_files = _dbt_project(req, frame, data_rel, croissant_rel) if req.backend == "dbt" else {}
    if table != source:
        if not table.exists() or req.force:
            table.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, table)
            out.written.append(table)
        else:
            out.kept.append(table)
    doc = croissant(req.name, table, frame, f"https://example.org/{req.name}/data")
    _write(out, croissant_path, json.dumps(doc, indent=2) + "\n", req.force)
    _write(out, repo / "sei.yaml", _manifest(req, data_rel, croissant_rel), req.force)
    _write(out, repo / CONTRACT, _contract(), req.force)
    _write(
        out, repo / "params.yaml", _params(req, data_rel, _positive(frame, req.target)), req.force
    )
    fmt = {"name": req.name, "metrics": METRICS, "contract": CONTRACT, "data": data_rel}
    _write(out, repo / "evaluate.py", EVALUATE.format(**fmt), req.force)
    if req.backend == "dvc":
        _write(out, repo / "dvc.yaml", DVC_YAML.format(**fmt), req.force)
    if req.backend == "mlflow":
        _write(out, repo / "mlflow_project" / "MLproject", MLPROJECT.format(**fmt), req.force)
        _write(out, repo / "mlflow_project" / "entry.py", MLFLOW_ENTRY.format(**fmt), req.force)
    if req.backend == "dagster":
        definitions = DAGSTER_DEFINITIONS.format(**fmt)
        _write(out, repo / "dagster_pipeline" / "definitions.py", definitions, req.force)
    if req.backend == "dbt":
        for rel, text in dbt_files.items():
            _write(out, repo / "dbt_project" / rel, text, req.force)
    ignore = repo / ".gitignore"
    present = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    wanted = [*GITIGNORE, *GITIGNORE_BACKEND.get(req.backend, [])]
    missing = [line for line in wanted if line not in present]
    if missing:
        atomic_write(ignore, "\n".join([*present, *missing]) + "\n", mode=0o644)
        out.written.append(ignore)
    from sei_assets.core.croissant import validate_croissant
    from sei_assets.core.progress import report

    report("check", f"{croissant_rel} with mlcroissant")
    validate_croissant(croissant_path)  # what `sei run` will check: mlcroissant accepts it
    prepare_repository(repo, req.backend)
    out.next_steps = [
        f"cd {repo}",
        "git add -A && git commit -m 'declare the system'",
        "sei compile",
        "sei run",
        "sei verify",
        "sei status",
    ]
    return out


def _dbt_project(
    req: Request, frame: pd.DataFrame, data_rel: str, croissant_rel: str
) -> dict[str, str]:
    """The dbt project's files (path inside dbt_project/ -> text): the table as a DuckDB
    source, one staging model with its tests, the evaluation of the built table."""
    if not _DBT_PATH.match(data_rel):
        raise SeiError(
            f"--data: {data_rel}: for the dbt backend the table's path may hold only letters, "
            "digits, '.', '_', '-' and '/' (it is written into the dbt source)"
        )
    labels = sorted(frame[req.target].dropna().unique().tolist(), key=str)
    numeric = all(isinstance(v, bool | int | float) for v in labels)
    suffix = Path(data_rel).suffix.lower()
    fmt = {
        "name": req.name,
        "project": req.name.replace("-", "_"),
        "metrics": METRICS,
        "data": data_rel,
        "croissant": croissant_rel,
        "reader": "read_parquet" if suffix in (".parquet", ".pq") else "read_csv",
        "row": DBT_ROW,
        "target": json.dumps(req.target),
        "labels": json.dumps(labels),
        "quote": "false" if numeric else "true",
    }
    plain = _PLAIN_COLUMN.match(req.target) and all(
        isinstance(v, bool | int | float) or _PLAIN_LABEL.match(str(v)) for v in labels
    )
    label_test = DBT_LABEL_TEST.format(**fmt)
    return {
        "dbt_project.yml": DBT_PROJECT_YML.format(**fmt),
        "profiles.yml": DBT_PROFILES.format(**fmt),
        "models/sources.yml": DBT_SOURCES.format(**fmt),
        "models/records.sql": DBT_RECORDS.format(**fmt),
        "models/schema.yml": DBT_SCHEMA.format(**fmt) + (label_test if plain else ""),
        "evaluate.py": DBT_EVALUATE.format(**fmt),
    }


def prepare_repository(repo: Path, backend: str) -> None:
    """A git repository (created when missing); for DVC, `dvc init` when it has no `.dvc`;
    for dbt, the project's manifest (`dbt parse`), so that Dagster shows its models."""
    from sei_assets.core import gitutil

    if not gitutil.git(repo, "rev-parse", "--git-dir", check=False):
        gitutil.init_repository(repo)
    if backend == "dvc" and not (repo / ".dvc").is_dir():
        from sei_assets.core.reproducers.base import run_tool

        run_tool("dvc", ["dvc", "init", "-q"], repo)
    if backend == "dbt":
        from sei_assets.core.progress import report
        from sei_assets.core.reproducers.dbt import prepare_manifest

        report("prepare", "the dbt manifest (dbt parse), so that Dagster shows the models")
        prepare_manifest(repo)
