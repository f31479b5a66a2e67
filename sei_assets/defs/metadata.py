"""How evidence reads in the UI: tables and pictures built from the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.constraint import SYMBOLS
from sei_assets.core.controls import CONTROL_TABLE, control_table
from sei_assets.core.model import Bundle


def controls_table(bundle: Bundle) -> dg.TableMetadataValue:
    """The control results as a typed table (the same rows the CLI prints; `result` says
    PASS or FAIL, so the table fits a 1600 px page)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in CONTROL_TABLE])
    records = [dg.TableRecord(row) for row, _tone in control_table(bundle.control_results)]
    return dg.MetadataValue.table(records, schema=schema)


def gate_line(bundle: Bundle) -> str:
    """The gate in one line, readable at a glance: verdict and the failing controls' values."""
    if bundle.verdict == "green":
        n = len(bundle.control_results)
        return f"GREEN: every blocking control passes ({n} controls evaluated)"
    failing = {r.control_id: r for r in bundle.control_results if r.control_id in bundle.failing}
    parts = []
    for cid in bundle.failing:
        r = failing.get(cid)
        if r is None or r.actual_value is None:
            parts.append(cid)
        else:
            bound = f"{SYMBOLS[r.operator]} {r.threshold:g}"
            parts.append(f"{cid} ({r.actual_value:.3f}, needs {bound})")
    return "RED: release blocked by " + "; ".join(parts or ["a failing blocking control"])


def check_line(control: Any, result: Any, unreadable: str | None = None) -> str:
    """One control check's outcome as a sentence (the check's description in the UI)."""
    bound = f"{SYMBOLS[control.operator]} {control.threshold_text}"
    if result is None:
        return f"FAIL {control.control_id}: {unreadable or 'no result in the bundle'}"
    verdict = "PASS" if result.passed else "FAIL"
    if control.enforcement_mode == "monitor":
        verdict = "MONITORED (" + ("within" if result.passed else "outside") + " the threshold)"
    actual = "—" if result.actual_value is None else f"{result.actual_value:.4f}"
    text = f"{verdict} {control.control_id}: {control.metric_key} = {actual} (needs {bound})"
    return text + (f"; {result.failure}" if result.failure else "")


def control_values(bundle: Bundle) -> dict[str, float]:
    """Each control's actual value as numeric metadata (the UI plots it across runs)."""
    return {
        f"value/{r.control_id}": float(r.actual_value)
        for r in bundle.control_results
        if isinstance(r.actual_value, int | float)
    }


def group_rates(repo: Path) -> dict[str, float]:
    """Each group's selection rate as numeric metadata (plotted across materializations)."""
    return {f"selection_rate/{g}": rate for g, rate in _group_rates(repo)}


def png_markdown(png: Path, table: str | None = None) -> str:
    """A PNG inline in markdown (a base64 data URI the UI renders), above its data table."""
    import base64

    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return f"![{png.stem}](data:image/png;base64,{data})" + (f"\n\n{table}" if table else "")


def risk_table(bundle: Bundle) -> str:
    """The risk analysis by priority, as markdown."""
    rows = [
        "| priority | risk | inherent | residual | treatment needed | cycle |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(bundle.risk_analysis, key=lambda x: x.priority or 0):
        rows.append(
            f"| {r.priority} | {r.risk_id} | {r.inherent_overall} | "
            f"{r.residual_overall or '—'} | {r.requires_treatment} | "
            f"{r.cycle.status if r.cycle else '—'} |"
        )
    return "\n".join(rows)


def _group_rates(repo: Path) -> list[tuple[str, float]]:
    src = repo / "fairness_by_group.json"
    if not src.is_file():
        return []
    try:
        doc = json.loads(src.read_text())
    except ValueError:
        return []
    if isinstance(doc, dict):  # {group: {selection_rate: ...}}
        doc = [{"group": g, **v} for g, v in doc.items() if isinstance(v, dict)]
    rows = []
    for rec in doc if isinstance(doc, list) else []:
        if isinstance(rec, dict) and "selection_rate" in rec:
            group = rec.get("group") or next(
                (str(v) for k, v in rec.items() if isinstance(v, str)), "?"
            )
            rows.append((str(group), float(rec["selection_rate"])))
    return rows


def fairness_plot(repo: Path, out: Path) -> tuple[str | None, Path | None]:
    """Selection rate per group (when the pipeline reports `fairness_by_group.json`): a markdown
    bar chart, and a PNG beside the evidence."""
    rows = _group_rates(repo)
    if not rows:
        return None, None
    lines = ["| group | selection rate | |", "|---|---|---|"]
    lines += [f"| {g} | {rate:.3f} | {'█' * round(rate * 40)} |" for g, rate in rows]
    png = None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 2.2))
        ax.barh([g for g, _ in rows], [rate for _, rate in rows])
        ax.set_xlabel("selection rate (share approved)")
        ax.set_xlim(0, 1)
        fig.tight_layout()
        png = out / "fairness_by_group.png"
        fig.savefig(png, dpi=100)
        plt.close(fig)
    except Exception:  # noqa: BLE001 - the markdown chart stands on its own
        png = None
    return "\n".join(lines), png


def signed_file(path: Path) -> dict[str, Any]:
    """Metadata naming a signed evidence file and its signature."""
    return {
        "file": dg.MetadataValue.path(str(path)),
        "signature": dg.MetadataValue.path(str(path) + ".sig"),
    }
