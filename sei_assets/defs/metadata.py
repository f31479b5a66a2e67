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


def caveats(bundle: Bundle) -> tuple[list[str], list[str]]:
    """(warnings, underpowered passes): the warn-level controls that fail, and the controls
    that pass with a confidence interval reaching past their bound."""
    warnings = [
        r.control_id
        for r in bundle.control_results
        if r.enforcement_mode == "warn" and not r.passed
    ]
    weak = [
        r.control_id
        for r in bundle.control_results
        if r.passed and r.underpowered and r.enforcement_mode != "monitor"
    ]
    return warnings, weak


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def gate_line(bundle: Bundle) -> str:
    """The gate in one line, readable at a glance: verdict, the failing controls' values, and
    how many warnings and underpowered passes stand beside it."""
    from sei_assets.defs.verdict import bound, interval, text

    warnings, weak = caveats(bundle)
    notes = []
    if warnings:
        notes.append(_count(len(warnings), "warning", "warnings"))
    if weak:
        notes.append(_count(len(weak), "underpowered pass", "underpowered passes"))
    if bundle.verdict == "green":
        n = len(bundle.control_results)
        if notes:
            return f"GREEN — {', '.join(notes)} ({n} controls evaluated)"
        return f"GREEN — every control passes ({n} controls evaluated)"
    failing = {r.control_id: r for r in bundle.control_results if r.control_id in bundle.failing}
    parts = []
    for cid in bundle.failing:
        r = failing.get(cid)
        if r is None or r.actual_value is None:
            parts.append(cid)
        else:
            span = interval(r.power)
            parts.append(
                f"{cid} ({text(r.actual_value)}, needs {bound(r)}"
                + (f", interval {span}" if span else "")
                + ")"
            )
    line = "RED — release blocked by " + "; ".join(parts or ["a failing blocking control"])
    return line + (f"; {', '.join(notes)}" if notes else "")


def check_line(control: Any, result: Any, unreadable: str | None = None) -> str:
    """One control check's outcome as a sentence (the check's description in the UI)."""
    from sei_assets.defs.verdict import interval, text

    bound = f"{SYMBOLS[control.operator]} {control.threshold_text}"
    if result is None:
        return f"FAIL {control.control_id}: {unreadable or 'no result in the bundle'}"
    verdict = "PASS" if result.passed else "FAIL"
    span = interval(result.power)
    if control.enforcement_mode == "monitor":
        verdict = "MONITORED (" + ("within" if result.passed else "outside") + " the threshold)"
    elif result.passed and result.underpowered:
        verdict = "UNDERPOWERED PASS"
    actual = text(result.actual_value)
    line = f"{verdict} {control.control_id}: {control.metric_key} = {actual} (needs {bound})"
    if span:
        line += f", interval {span}"
        if result.passed and result.underpowered:
            line += " reaches past the bound"
    return line + (f"; {result.failure}" if result.failure else "")


def control_values(bundle: Bundle) -> dict[str, float]:
    """Each control's actual value, and its bound beside it, as numeric metadata (the UI plots
    each across materializations: `value/<control>` and `bound/<control>`)."""
    from sei_assets.defs.verdict import figure

    out: dict[str, float] = {}
    for r in bundle.control_results:
        if isinstance(r.actual_value, int | float):
            out[f"value/{r.control_id}"] = figure(float(r.actual_value))
            if isinstance(r.threshold, int | float):
                out[f"bound/{r.control_id}"] = figure(float(r.threshold))
    return out


def group_rates(repo: Path) -> dict[str, float]:
    """Each group's selection rate as numeric metadata (plotted across materializations)."""
    from sei_assets.defs.verdict import figure

    return {f"selection_rate/{g}": figure(rate) for g, rate in _group_rates(repo)}


def fairness_table(repo: Path) -> dg.TableMetadataValue | None:
    """The selection rate per group as a table the UI shows inline (a bar per group), or None
    when the pipeline reports no `fairness_by_group.json`."""
    rows = _group_rates(repo)
    if not rows:
        return None
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("group", "string"),
            dg.TableColumn("selection_rate", "float"),
            dg.TableColumn("share approved", "string"),
        ]
    )
    records = [
        dg.TableRecord(
            {
                "group": g,
                "selection_rate": float(f"{rate:.4g}"),
                "share approved": "█" * round(rate * 40) or "·",
            }
        )
        for g, rate in rows
    ]
    return dg.MetadataValue.table(records, schema=schema)


def relative_path(repo: Path, path: Path) -> dg.PathMetadataValue:
    """A path as the system's repository names it (`.sei/bundle.json`); outside it, as is."""
    try:
        return dg.MetadataValue.path(Path(path).resolve().relative_to(repo.resolve()).as_posix())
    except ValueError:
        return dg.MetadataValue.path(str(path))


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
    lines += [f"| {g} | {rate:.4g} | {'█' * round(rate * 40)} |" for g, rate in rows]
    from sei_assets.core.fsutil import atomic_write
    from sei_assets.core.memo import package_version, remembered_bytes

    # the chart is a function of the rates and matplotlib's version: remembered, so that a run
    # whose rates did not change does not import matplotlib again
    key = {"rows": rows, "matplotlib": package_version("matplotlib"), "rules": 1}
    drawn = remembered_bytes("fairness-chart", key, lambda: _bar_chart(rows))
    png = None
    if drawn is not None:
        png = out / "fairness_by_group.png"
        atomic_write(png, drawn)
    return "\n".join(lines), png


def _bar_chart(rows: list[tuple[str, float]]) -> bytes | None:
    """The PNG of the selection rate per group, or None when matplotlib cannot draw it."""
    import io

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 2.2))
        ax.barh([g for g, _ in rows], [rate for _, rate in rows])
        ax.set_xlabel("selection rate (share approved)")
        ax.set_xlim(0, 1)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        return buffer.getvalue()
    except Exception:  # noqa: BLE001 - the markdown chart stands on its own
        return None


def signed_file(path: Path, repo: Path | None = None) -> dict[str, Any]:
    """Metadata naming a signed evidence file and its signature (relative to ``repo``)."""
    shown = relative_path(repo, path).path if repo is not None else str(path)
    return {
        "file": dg.MetadataValue.path(shown),
        "signature": dg.MetadataValue.path(shown + ".sig"),
    }
