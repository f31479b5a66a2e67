"""The per-group rates behind the fairness measures, as signed evidence (`.sei/groups.json`).

A pipeline that measures fairness reports, beside its metrics file, the rate of each group
(`fairness_by_group.json`: one record per group with its rates and count, as fairlearn's
``MetricFrame.by_group`` gives them). `sei run` reads it through the bounded loader, keeps the
numbers with the source's sha256, and names, for each fairness control of the run, the rate its
metric is built from and the lowest rate its bound allows beside the highest group. The file is
written into the evidence set beside the bundle (the bundle itself is unchanged), so that the
dossier draws signed numbers, not a pipeline output that may have changed since.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sei_assets.core import safeload
from sei_assets.core.errors import ManifestError
from sei_assets.core.fsutil import sha256_bytes

#: The per-group file a pipeline writes beside its metrics file.
SOURCE = "fairness_by_group.json"
#: The signed file of the evidence set.
GROUPS = "groups.json"
SCHEMA = "sei-assets/groups/v1"
#: The per-group rate each fairness metric is built from.
RATE_OF = {
    "demographic_parity_diff": "selection_rate",
    "demographic_parity_difference": "selection_rate",
    "demographic_parity_ratio": "selection_rate",
    "disparate_impact_ratio": "selection_rate",
    "equalized_odds_diff": "true_positive_rate",
    "equalized_odds_difference": "true_positive_rate",
    "equal_opportunity_diff": "true_positive_rate",
    "equal_opportunity_difference": "true_positive_rate",
}
#: What the drawn rate leaves out of a metric.
NOTES = {
    m: "the metric is the larger of the gaps in true-positive and false-positive rates; "
    "the true-positive rates are shown"
    for m in ("equalized_odds_diff", "equalized_odds_difference")
}
#: Metrics that bound a ratio of the lowest to the highest rate (others bound a difference).
RATIOS = {"demographic_parity_ratio", "disparate_impact_ratio"}
_WHAT = "per-group rates"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _records(path: Path, doc: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """(the group attribute, the groups with their rates and counts) of a parsed source."""
    if isinstance(doc, dict):  # {group: {rate: value, ...}}
        doc = [{"group": g, **v} if isinstance(v, dict) else v for g, v in doc.items()]
    if not isinstance(doc, list):
        raise ManifestError(path, "", "expected a list of groups, each with its rates")
    attribute: str | None = None
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(doc):
        if not isinstance(rec, dict):
            raise ManifestError(path, f"[{i}]", "expected an object (a group and its rates)")
        names = [k for k, v in rec.items() if isinstance(v, str)]
        key = "group" if "group" in names else (names[0] if len(names) == 1 else None)
        if key is None:
            raise ManifestError(
                path, f"[{i}]", "expected one text field naming the group (e.g. gender: female)"
            )
        if key != "group":
            attribute = attribute or key
        rates: dict[str, float] = {}
        count: int | None = None
        for k, v in rec.items():
            if k == key:
                continue
            if k == "count":
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise ManifestError(path, f"[{i}].count", "expected a whole number ≥ 0")
                count = v
            elif _number(v):
                rates[str(k)] = float(v)
            elif not isinstance(v, str):
                raise ManifestError(path, f"[{i}].{k}", "expected a finite number")
        out.append({"group": rec[key], "count": count, "rates": dict(sorted(rates.items()))})
    names_seen = [g["group"] for g in out]
    if len(set(names_seen)) != len(names_seen):
        raise ManifestError(path, "", "a group is listed twice: expected one record per group")
    return attribute, sorted(out, key=lambda g: g["group"])


def _control(result: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What a fairness control's bound means for the per-group rates, or None when the rate
    its metric is built from is not reported for every group."""
    metric = str(result.get("metric_key"))
    rate = RATE_OF.get(metric)
    if rate is None or len(groups) < 2 or any(rate not in g["rates"] for g in groups):
        return None
    values = [g["rates"][rate] for g in groups]
    threshold = result.get("threshold")
    top = max(values)
    floor: float | None = None
    if _number(threshold):
        floor = top * threshold if metric in RATIOS else top - threshold
    return {
        "control_id": result.get("control_id"),
        "metric_key": metric,
        "rate": rate,
        "operator": result.get("operator"),
        "threshold": threshold,
        "kind": "ratio" if metric in RATIOS else "difference",
        "highest": top,
        "lowest_allowed": floor,
        **({"note": NOTES[metric]} if metric in NOTES else {}),
    }


def document(
    repo: Path, metrics: str, control_results: list[dict[str, Any]], system: str | None = None
) -> dict[str, Any]:
    """The signed per-group document of a run, or an empty dict when the pipeline reports no
    per-group file beside ``metrics`` (repository-relative). A malformed file is refused
    (ManifestError: file and field)."""
    repo = Path(repo).resolve()
    rel = (Path(metrics).parent / SOURCE).as_posix().removeprefix("./")
    path = repo / rel
    if not path.is_file() or not path.resolve().is_relative_to(repo):
        return {}
    try:
        with open(path, "rb") as fh:  # bounded: never more than the limit is read
            raw = fh.read(safeload.MAX_BYTES + 1)
    except OSError as exc:
        raise ManifestError(path, "", f"cannot read the {_WHAT}: {exc.strerror or exc}") from None
    doc = safeload.parse_json(path, safeload.decode(path, raw, _WHAT), _WHAT)
    attribute, groups = _records(path, doc)
    controls = [c for r in control_results if (c := _control(r, groups)) is not None]
    return {
        "schema_version": SCHEMA,
        "kind": "per-group-rates",
        "system": system,
        "payload": {
            "source": {"path": rel, "sha256": sha256_bytes(raw)},
            "attribute": attribute,
            "groups": groups,
            "controls": controls,
        },
    }
