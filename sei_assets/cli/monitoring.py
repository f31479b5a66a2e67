"""`sei monitoring`: the post-market monitoring of a system (Art. 72) on the command line.

- `run`: evaluate periods of production data and sign them into the evidence set, through the
  core function the Dagster `<system>/monitoring` asset uses. Exit 0 when no period evaluated
  holds a breach that fires a trigger, 1 when one does, 2 on bad input.
- `summary`: the monthly summary (Annex IV point 9), signed into the evidence set and printed.
  Exit 0 when the months shown hold no breach that fires a trigger and no missed report
  deadline; 1 otherwise; 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode

monitoring_app = typer.Typer(
    no_args_is_help=True,
    help="Post-market monitoring (EU AI Act Art. 72): run the periods, monthly summaries.",
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


def _day(text: str, option: str) -> Any:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SeiError(f"{option} {text!r}: expected a day, YYYY-MM-DD") from None


def _wanted(mon: Any, frequency: str, repo: Path, first: Any, last: Any) -> list[str]:
    """The periods of one frequency a run asks for: those holding a day of the range, else
    every period whose data is new or changed since its document (what the sensor asks)."""
    from sei_assets.core import monitoring

    if first is None:
        return list(monitoring.stale(repo, mon, frequency))
    return monitoring.holding(mon, frequency, first, last)


def _period_line(doc: dict, frequency: str) -> str:
    acting = [r for r in doc["results"] if r["breach"] and r["severity"] == "error"]
    other = [r for r in doc["results"] if r["breach"] and r["severity"] != "error"]
    parts = [
        f"BREACH {r['measure']} {r['value']:.4g} ({r['threshold']}; {r['risk']})" for r in acting
    ]
    parts += [f"{r['severity']} {r['measure']} {r['value']:.4g} ({r['threshold']})" for r in other]
    state = "; ".join(parts) if parts else "within thresholds"
    return f"{doc['period']} [{frequency}] {doc['source']['rows']} rows: {state}"


@monitoring_app.command("run")
def run(
    day: Annotated[
        str | None, typer.Option("--day", help="YYYY-MM-DD: the periods holding this day.")
    ] = None,
    first: Annotated[
        str | None, typer.Option("--from", help="YYYY-MM-DD: a range's first day (with --to).")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="YYYY-MM-DD: a range's last day (with --from).")
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="The AI system's repository.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Evaluate monitoring periods on the production data and sign each one into the evidence
    set (`.sei/monitoring/<day>.json`), as the Dagster `<system>/monitoring` asset does, without
    Dagster. Without --day or --from/--to: every period whose batch is new or changed since it
    was last evaluated (what the `sei_monitoring` sensor requests).

    Exit 0 when no period evaluated holds a breach that fires a trigger, 1 when one does, 2 on
    bad input (a day or a range with no production batch among them)."""
    from sei_assets.core import monitoring
    from sei_assets.core.manifest import load_manifest
    from sei_assets.core.signing import load_or_create_key

    try:
        if day is not None and (first is not None or last is not None):
            raise SeiError("--day or --from/--to, not both")
        if (first is None) != (last is None):
            raise SeiError("a range needs both --from and --to")
        given_start, given_end = day or first, day or last
        start = _day(given_start, "--day" if day else "--from") if given_start else None
        end = _day(given_end, "--day" if day else "--to") if given_end else None
        loaded = load_manifest(repo)
        mon = loaded.manifest.monitoring
        if mon is None:
            raise SeiError(
                f"{repo}: the manifest declares no monitoring.source: nothing to monitor"
            )
        runs = []
        key = None
        for frequency in monitoring.frequencies(loaded.manifest):
            wanted = _wanted(mon, frequency, repo, start, end)
            if wanted and key is None:
                key = load_or_create_key()
            runs.append(monitoring.run(repo, loaded, wanted, key, frequency))
        if start is not None and not any(r.documents for r in runs):
            asked = str(start) if start == end else f"from {start} to {end}"
            where = (
                f"path {mon.source.path!r}" if mon.source.path else f"table {mon.source.table!r}"
            )
            raise SeiError(f"monitoring.source {where}: no production data {asked}")
    except SeiError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
        raise typer.Exit(exc.exit_code) from None
    triggered = [
        {"period": d["period"], "frequency": r.frequency, "measure": x["measure"]}
        for r in runs
        for d in r.documents
        for x in d["results"]
        if x["breach"] and x["severity"] == "error"
    ]
    if as_json:
        doc = {
            "periods": [
                {"file": monitoring.period_path(d["period"], r.frequency), **d}
                for r in runs
                for d in r.documents
            ],
            "absent": [{"period": p, "frequency": r.frequency} for r in runs for p in r.absent],
            "triggered": triggered,
        }
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        evaluated = [(d, r.frequency) for r in runs for d in r.documents]
        if not evaluated:
            out.print("nothing new: every production batch is evaluated")
        for d, frequency in evaluated:
            out.print(escape(_period_line(d, frequency)))
        for r in runs:
            if r.absent and start is not None:
                out.print(f"no (complete) production data [{r.frequency}]: {', '.join(r.absent)}")
        if evaluated:
            out.print(f"{len(evaluated)} period(s) signed into {repo / '.sei' / 'monitoring'}")
    raise typer.Exit(ExitCode.FAILED if triggered else ExitCode.OK)
