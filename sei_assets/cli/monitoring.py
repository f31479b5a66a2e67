"""`sei monitoring summary`: the monthly post-market summary of a system (Art. 72, Annex IV
point 9), signed into the evidence set and printed.

Exit 0 when the months shown hold no breach that fires a trigger and no missed report deadline;
1 otherwise; 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode

monitoring_app = typer.Typer(
    no_args_is_help=True, help="Post-market monitoring (EU AI Act Art. 72): monthly summaries."
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _lines(doc: dict) -> list[str]:
    t = doc["totals"]
    lines = [
        f"{doc['month']}: {t['periods']} period(s) monitored, as of {doc['as_of']}",
    ]
    for m in doc["measures"]:
        runs = "; ".join(
            f"{r['first']}..{r['last']} ({r['periods']})" if r["first"] != r["last"] else r["first"]
            for r in m["breaches"]
        )
        state = f"BREACH {runs}" if runs else "within"
        lines.append(
            f"  {m['measure']} [{m['frequency']}] {m['threshold']}: {m['periods_monitored']} "
            f"measured, {m['periods_not_measured']} not measured; {state}"
        )
    for i in doc["incidents"]:
        lines.append(
            f"  incident {i['id']} [{i['class']}] {i['status']}: deadline {i['deadline']} "
            f"{i['deadline_outcome']}"
        )
    return lines


@monitoring_app.command("summary")
def summary(
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM; default every month with evidence.")
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="The AI system's repository.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per month and measure: the periods monitored and the breaches (first and last day); the
    incidents opened or closed, with their Art. 73 deadline met or missed. Signed into the
    evidence set."""
    from sei_assets.core import postmarket_summary

    try:
        months = [postmarket_summary.check_month(month)] if month else None
        docs = postmarket_summary.write(repo, months)
    except SeiError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
        raise typer.Exit(exc.exit_code) from None
    if as_json:
        sys.stdout.write(json.dumps(docs, indent=2, ensure_ascii=False) + "\n")
    elif not docs:
        out.print("no monitored period and no incident: nothing to summarize")
    for doc in [] if as_json else docs:
        for line in _lines(doc):
            out.print(escape(line))
    bad = any(d["totals"]["triggered_breaches"] or d["totals"]["deadlines_missed"] for d in docs)
    raise typer.Exit(ExitCode.FAILED if bad else ExitCode.OK)
