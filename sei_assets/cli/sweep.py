"""`sei sweep request`: ask the fanout compliance sweep (`$SEI_SWEEP_MODE=fanout`, the
`sei_sweep` sensor of the production profile) for a sweep at its next tick. The request is a
file in the sweep's state folder (`$SEI_STATE_DIR/sweep[/<team>]/request.json`), shared with
the code servers: unlike a cursor set by hand, no tick in flight writes over it."""

from __future__ import annotations

from typing import Annotated

import typer

from sei_assets.core.exitcodes import ExitCode

sweep_app = typer.Typer(
    no_args_is_help=True,
    help="The compliance sweep of the registered systems (production profile).",
)


@sweep_app.command("request")
def request(
    force: Annotated[
        bool, typer.Option("--force", help="Re-evaluate every system, changed or not.")
    ] = False,
    batch: Annotated[
        int | None,
        typer.Option("--batch", min=1, max=1000, help="Systems per run, for this sweep only."),
    ] = None,
    team: Annotated[
        str | None,
        typer.Option("--team", help="The team whose code location sweeps (deploy/teams/)."),
    ] = None,
) -> None:
    """Ask for a sweep now: the systems that changed (or, with --force, every one)."""
    from sei_assets.core.paths import state_dir
    from sei_assets.core.sweep import request_sweep

    if team is not None and not team.isidentifier():
        typer.echo(f"--team {team!r}: a team is named as its registry file's stem", err=True)
        raise typer.Exit(ExitCode.BAD_INPUT)
    folder = state_dir() / "sweep" / team if team else state_dir() / "sweep"
    path = request_sweep(folder, force, batch)
    which = "every system" if force else "the systems that changed"
    typer.echo(f"sweep of {which} requested: sei_sweep starts it at its next tick ({path})")
