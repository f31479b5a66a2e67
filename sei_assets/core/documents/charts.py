"""Pictures for the dossier, as inline SVG whose bytes depend only on the data.

matplotlib's SVG writer with a fixed hash salt (element ids), no date or creator metadata and
text kept as text (``svg.fonttype: none``: the reader's own sans-serif shows it, nothing is
loaded, and the words can be searched and read aloud); no pyplot, so no global figure state.
"""

from __future__ import annotations

import io
import re
from typing import Any

LIKELIHOODS = ("RARE", "UNLIKELY", "POSSIBLE", "LIKELY", "ALMOST_CERTAIN")
IMPACTS = ("NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL")
PASS, FAIL, NEUTRAL = "#1a7f37", "#cf222e", "#57606a"
LEVEL_COLOURS = {
    "NEGLIGIBLE": "#dafbe1",
    "LOW": "#aceebb",
    "MEDIUM": "#fff8c5",
    "HIGH": "#ffd8b5",
    "CRITICAL": "#ffcecb",
}


def _svg(fig: Any, name: str, label: str) -> str:
    """The figure as an inline ``<svg>`` element with a text alternative."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(
        {
            "svg.hashsalt": "sei-dossier",
            "svg.fonttype": "none",
            "font.family": "sans-serif",
            "path.simplify": True,
        }
    ):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # ids are unique within one picture only: prefix them with the picture's name
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{name}-{m.group(1)}"', text)
    text = re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{name}-{m.group(2)}", text)
    safe = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return text.replace("<svg ", f'<svg role="img" aria-label="{safe}" ', 1)


def _t(text: Any) -> str:
    """A label from the evidence as plain text (a ``$`` never starts matplotlib's mathtext)."""
    return str(text).replace("$", r"\$")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=72)


def controls_over_versions(series: list[dict[str, Any]], versions: list[str]) -> str:
    """One small panel per control: its value in each evidence version, the 95 % interval as a
    bar, the bound as a dashed line; green where it passed, red where it failed."""
    n = max(1, len(series))
    cols = 2
    rows = (n + cols - 1) // cols
    fig = _figure(9, 1.9 * rows + 0.4)
    for i, s in enumerate(series):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs, ys, lo, hi, colours = [], [], [], [], []
        for j, point in enumerate(s["points"]):
            if point is None:
                continue
            xs.append(j)
            ys.append(point["value"])
            lo.append(point["value"] - point["ci_low"] if point.get("ci_low") is not None else 0)
            hi.append(point["ci_high"] - point["value"] if point.get("ci_high") is not None else 0)
            colours.append(PASS if point["passed"] else FAIL)
        for x, y, a, b, c in zip(xs, ys, lo, hi, colours, strict=True):
            ax.errorbar([x], [y], yerr=[[max(a, 0)], [max(b, 0)]], fmt="o", color=c, capsize=4)
        if s.get("threshold") is not None:
            ax.axhline(s["threshold"], color=NEUTRAL, linestyle="--", linewidth=1)
        ax.set_title(_t(f"{s['control_id']} ({s['operator']} {s['threshold']:g})"), fontsize=9)
        ax.set_xticks(range(len(versions)))
        ax.set_xticklabels([_t(v) for v in versions], fontsize=7)
        ax.set_xlim(-0.5, len(versions) - 0.5)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    label = "Control values per evidence version with their confidence intervals and bounds"
    return _svg(fig, "controls", label)


def risk_matrix(analysis: list[dict[str, Any]]) -> str:
    """Likelihood × impact: each risk's inherent cell (circle) and, where declared, its
    residual cell (square), joined by an arrow."""
    from sei_assets.core.risk import level

    fig = _figure(7, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    for i, lk in enumerate(LIKELIHOODS):
        for j, im in enumerate(IMPACTS):
            colour = LEVEL_COLOURS[level(lk, im)]
            ax.add_patch(_rect(j, i, colour))
    placed: dict[tuple[int, int], int] = {}
    for n, r in enumerate(analysis, start=1):
        impact = _worst_impact(r)
        if impact is None or r.get("likelihood") not in LIKELIHOODS:
            continue
        x, y = IMPACTS.index(impact), LIKELIHOODS.index(r["likelihood"])
        k = placed.get((x, y), 0)
        placed[(x, y)] = k + 1
        dx = -0.3 + 0.2 * (k % 4)
        ax.plot(x + 0.5 + dx, y + 0.5, "o", color=FAIL, markersize=12)
        ax.text(x + 0.5 + dx, y + 0.5, str(n), ha="center", va="center", fontsize=7, color="white")
        residual = r.get("residual_declared_likelihood")
        if residual in LIKELIHOODS:
            ry = LIKELIHOODS.index(residual)
            ax.annotate(
                "",
                xy=(x + 0.5 + dx, ry + 0.55),
                xytext=(x + 0.5 + dx, y + 0.35),
                arrowprops={"arrowstyle": "->", "color": NEUTRAL},
            )
            ax.plot(x + 0.5 + dx, ry + 0.5, "s", color=PASS, markersize=11)
            ax.text(
                x + 0.5 + dx, ry + 0.5, str(n), ha="center", va="center", fontsize=7, color="white"
            )
    ax.set_xlim(0, len(IMPACTS))
    ax.set_ylim(0, len(LIKELIHOODS))
    ax.set_xticks([i + 0.5 for i in range(len(IMPACTS))])
    ax.set_xticklabels([i.title() for i in IMPACTS], fontsize=8)
    ax.set_yticks([i + 0.5 for i in range(len(LIKELIHOODS))])
    ax.set_yticklabels([lk.replace("_", " ").title() for lk in LIKELIHOODS], fontsize=8)
    ax.set_xlabel("impact (highest dimension)", fontsize=8)
    ax.set_ylabel("likelihood", fontsize=8)
    fig.tight_layout()
    return _svg(
        fig, "matrix", "Risk matrix: inherent risks as numbered circles, residual as squares"
    )


def _rect(x: int, y: int, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white")


def _worst_impact(r: dict[str, Any]) -> str | None:
    impacts = [d.get("impact") for d in r.get("dimensions") or [] if d.get("impact") in IMPACTS]
    return max(impacts, key=IMPACTS.index) if impacts else None


def group_sizes(rows: list[dict[str, Any]]) -> str:
    """Per fairness control, the evaluated records of each group (the power of the evidence)."""
    fig = _figure(7, 0.5 + 0.45 * max(1, sum(len(r["groups"]) for r in rows)))
    ax = fig.add_subplot(1, 1, 1)
    labels, values = [], []
    for r in rows:
        for g, n in sorted(r["groups"].items()):
            labels.append(_t(f"{r['control_id']}: {g}"))
            values.append(n)
    ax.barh(range(len(values)), values, color=NEUTRAL)
    ax.set_yticks(range(len(values)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, f" {v}", va="center", fontsize=7)
    ax.set_xlabel("records evaluated", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return _svg(fig, "groups", "Records evaluated per group for each fairness control")


def group_rates(panels: list[dict[str, Any]]) -> str:
    """One panel per fairness control: each group's rate as a bar with its value, and the
    lowest rate the control's bound allows beside the highest group as a dashed line."""
    n = max(1, len(panels))
    heights = [0.55 + 0.32 * max(1, len(p["groups"])) for p in panels] or [1.0]
    fig = _figure(7, sum(heights) + 0.25 * n)
    grid = fig.add_gridspec(n, 1, height_ratios=heights)
    for i, p in enumerate(panels):
        ax = fig.add_subplot(grid[i, 0])
        names = [_t(g["group"]) for g in p["groups"]]
        values = [g["value"] for g in p["groups"]]
        floor = p.get("lowest_allowed")
        colours = [FAIL if g.get("below") else NEUTRAL for g in p["groups"]]
        ax.barh(range(len(values)), values, color=colours)
        ax.set_yticks(range(len(values)))
        ax.set_yticklabels(names, fontsize=7)
        ax.invert_yaxis()
        for k, v in enumerate(values):
            ax.text(v, k, f" {v:.3f}", va="center", fontsize=7)
        top = max([*values, floor or 0.0, 1e-9])
        ax.set_xlim(0, top * 1.18)
        if floor is not None:
            ax.axvline(floor, color=NEUTRAL, linestyle="--", linewidth=1)
        allowed = f"; lowest allowed {floor:.3f}" if floor is not None else ""
        title = f"{p['control_id']}: {p['rate'].replace('_', ' ')} ({p['bound']}{allowed})"
        ax.set_title(_t(title), fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    label = "Per-group rates of the fairness measures, with the lowest rate each bound allows"
    return _svg(fig, "rates", label)


def timeline(events: list[dict[str, Any]]) -> str:
    """Runs, treatments and decisions in order of their commits (one row per kind)."""
    kinds = ["evidence", "treatment", "decision"]
    fig = _figure(9, 2.2)
    ax = fig.add_subplot(1, 1, 1)
    colours = {"evidence": NEUTRAL, "treatment": PASS, "decision": "#0969da"}
    for i, e in enumerate(events):
        y = kinds.index(e["kind"])
        ax.plot(i, y, "o", color=colours[e["kind"]], markersize=9)
        ax.text(i, y + 0.25, _t(e["label"][:28]), ha="center", fontsize=6)
    ax.set_yticks(range(len(kinds)))
    ax.set_yticklabels(kinds, fontsize=8)
    ax.set_ylim(-0.6, len(kinds) - 0.2)
    ax.set_xlim(-0.8, max(len(events), 1) - 0.2)
    ax.set_xticks(range(len(events)))
    ax.set_xticklabels([_t(e["sha"][:7]) for e in events], fontsize=6, rotation=45)
    fig.tight_layout()
    return _svg(fig, "timeline", "Timeline of evidence runs, treatments and decisions by commit")
