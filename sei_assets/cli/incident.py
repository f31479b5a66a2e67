"""`sei incident`: open, update, close and list the serious incidents of a system (Art. 73).

Each change writes the incident's signed record into the evidence set. Exit 0 on success; `list`
exits 1 when a report deadline is due within 48 hours or past; 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sei_assets.cli.params import REQUIRED
from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import verdict_code

incident_app = typer.Typer(
    no_args_is_help=True, help="Serious incidents (EU AI Act Art. 73) and their deadlines."
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)

RepoOpt = Annotated[Path, typer.Option("--repo", help="The AI system's repository.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ByOpt = Annotated[str, typer.Option("--by", help="Who records it: 'Name <email>'.")]


def _fail(exc: SeiError) -> None:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
    raise typer.Exit(exc.exit_code)


def _show(doc: dict, as_json: bool) -> None:
    from sei_assets.core.incident import describe

    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        out.print(escape(describe(doc)))
        out.print(f"  basis: {escape(doc['basis'])}")


@incident_app.command("open")
def open_(
    title: Annotated[str, typer.Option("--title", help="What happened.")],
    klass: Annotated[
        str, typer.Option("--class", help="serious (15 days), death (10), widespread (2).")
    ] = "serious",
    by: ByOpt = REQUIRED,
    aware_at: Annotated[
        str | None, typer.Option("--aware-at", help="When the provider became aware (ISO 8601).")
    ] = None,
    breach: Annotated[
        list[str] | None, typer.Option("--breach", help="A linked breached measure; repeatable.")
    ] = None,
    risk: Annotated[
        list[str] | None, typer.Option("--risk", help="A linked risk; repeatable.")
    ] = None,
    repo: RepoOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Open an incident; its report deadline follows from its class."""
    from sei_assets.core.incident import open_incident

    try:
        doc = open_incident(repo, title, klass, by, aware_at, breach, risk)
    except SeiError as exc:
        _fail(exc)
    _show(doc, as_json)


@incident_app.command("update")
def update(
    incident_id: Annotated[str, typer.Argument(help="INC-YYYYMMDD-NNN")],
    by: ByOpt = REQUIRED,
    note: Annotated[str | None, typer.Option("--note", help="A note for the record.")] = None,
    reported_at: Annotated[
        str | None,
        typer.Option("--reported-at", help="When the report was filed (ISO 8601, or 'now')."),
    ] = None,
    repo: RepoOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Record a note, or the report filed with the market surveillance authority."""
    from sei_assets.core.incident import update_incident

    try:
        doc = update_incident(repo, incident_id, by, note, reported_at)
    except SeiError as exc:
        _fail(exc)
    _show(doc, as_json)


@incident_app.command("close")
def close(
    incident_id: Annotated[str, typer.Argument(help="INC-YYYYMMDD-NNN")],
    root_cause: Annotated[str, typer.Option("--root-cause", help="Why it happened.")],
    evidence: Annotated[
        str,
        typer.Option("--evidence", help="sha256:<digest> of the treating evidence set's index."),
    ],
    by: ByOpt = REQUIRED,
    repo: RepoOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Close with the root cause and the evidence set that treats it."""
    from sei_assets.core.incident import close_incident

    try:
        doc = close_incident(repo, incident_id, by, root_cause, evidence)
    except SeiError as exc:
        _fail(exc)
    _show(doc, as_json)


@incident_app.command("list")
def list_(repo: RepoOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Every incident with its deadline state; exit 1 when a deadline is due or past."""
    from sei_assets.core.incident import deadline_state, describe, records

    try:
        docs = records(repo)
        states = [deadline_state(d) for d in docs]
    except SeiError as exc:
        _fail(exc)
    if as_json:
        listed = [{**d, "deadline_state": s} for d, s in zip(docs, states, strict=True)]
        sys.stdout.write(json.dumps(listed, indent=2, ensure_ascii=False) + "\n")
    else:
        for d in docs:
            out.print(escape(describe(d)))
        if not docs:
            out.print("no incidents")
    raise typer.Exit(verdict_code(not any(s in ("due", "past") for s in states)))
