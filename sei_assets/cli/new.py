"""`sei new`: scaffold a system in an existing or empty repository (flags for everything,
prompts only on a terminal)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sei_assets.core.errors import SeiError


def _ask(value: str | None, flag: str, question: str, default: str | None = None) -> str:
    """``value`` when given; else a prompt on a terminal; else bad input naming the flag."""
    if value:
        return value
    if sys.stdin.isatty() and sys.stdout.isatty():
        return str(typer.prompt(question, default=default))
    if default is not None:
        return default
    raise SeiError(f"{flag} is required (not a terminal: nothing is asked)")


def new(
    repo: Annotated[Path, typer.Argument(help="The repository (created when missing).")] = Path(
        "."
    ),
    backend: Annotated[
        str | None,
        typer.Option("--backend", help="The pipeline tool: dvc, mlflow, dagster, dbt or file."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="The table (CSV or Parquet) to train on.")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="The label column.")] = None,
    sensitive: Annotated[
        str | None, typer.Option("--sensitive", help="The column of groups to compare.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The system's name (default: the folder's).")
    ] = None,
    tier: Annotated[
        str, typer.Option("--tier", help="prohibited, high, limited or minimal.")
    ] = "high",
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Scaffold a system: a commented sei.yaml with a starter risk program (performance floor,
    fairness bound, data quality), the metrics contract, an evaluation script (scikit-learn
    and fairlearn), the backend's pipeline, a Croissant description of the data, .gitignore
    entries; then print the next commands. Existing files are kept unless --force."""
    from sei_assets.cli import _emit_json, _fail, out
    from sei_assets.core import scaffold

    try:
        chosen = _ask(backend, "--backend", "Pipeline tool (dvc, mlflow, dagster, dbt, file)", None)
        table = Path(_ask(str(data) if data else None, "--data", "Your table (CSV or Parquet)"))
        req = scaffold.Request(
            repo=repo,
            backend=chosen,
            data=table,
            target=_ask(target, "--target", "The label column"),
            sensitive=_ask(sensitive, "--sensitive", "The column of groups to compare"),
            name=name or scaffold.default_name(repo),
            tier=tier,
            force=force,
        )
        from sei_assets.cli.progress import shown

        with shown(enabled=not as_json):
            done = scaffold.scaffold(req)
    except SeiError as exc:
        _fail(exc)
    if as_json:
        _emit_json(
            {
                "repo": str(Path(repo).resolve()),
                "system": req.name,
                "backend": req.backend,
                "written": [str(p) for p in done.written],
                "kept": [str(p) for p in done.kept],
                "next": done.next_steps,
            }
        )
        return
    for path in done.written:
        out.print(f"wrote {path}", markup=False)
    for path in done.kept:
        out.print(f"kept  {path} (exists; --force overwrites)", markup=False)
    out.print("next:")
    for step in done.next_steps:
        out.print(f"  {step}", markup=False)


def register(
    repo: Annotated[Path, typer.Option("--repo", help="The AI system's repository.")] = Path("."),
    name: Annotated[
        str | None,
        typer.Option("--name", help="The registry name (default: the manifest's system.name)."),
    ] = None,
    systems_file: Annotated[
        Path | None,
        typer.Option(
            "--systems",
            help="The registry to add to (default: $SEI_SYSTEMS_FILE, else the user's "
            "~/.config/sei-assets/systems.yaml).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Register the system in a registry outside the checkout, so that the Dagster code
    location (`dg dev`, `dagster ... -m sei_assets.definitions` with $SEI_SYSTEMS_FILE naming
    that file) and `sei status --all` show it; prepare its declarations for a quick load."""
    import os

    from sei_assets.cli import _emit_json, _fail, out
    from sei_assets.core import declarations
    from sei_assets.core.registry import SYSTEMS_ENV, user_registry
    from sei_assets.core.registry import register as add

    target = systems_file or (
        Path(os.environ[SYSTEMS_ENV]) if os.environ.get(SYSTEMS_ENV) else user_registry()
    )
    try:
        done = add(repo, target, name)
        why = declarations.prepare([done.entry])[done.entry.name]
    except SeiError as exc:
        _fail(exc)
    env = os.environ.get(SYSTEMS_ENV)
    in_force = env is not None and Path(env).absolute() == done.registry
    if as_json:
        _emit_json(
            {
                "name": done.entry.name,
                "repo": str(done.entry.repo),
                "registry": str(done.registry),
                "added": done.added,
                "declarations_prepared": why is None,
                "registry_in_force": in_force,
            }
        )
        return
    verb = "registered" if done.added else "already registered"
    out.print(f"{verb}: {done.entry.name} → {done.entry.repo} in {done.registry}", markup=False)
    if why is not None:
        out.print(f"declarations not prepared: {why}", markup=False)
    if not in_force:
        out.print(
            f"note: export {SYSTEMS_ENV}={done.registry} so that Dagster (dg dev) and "
            "`sei status --all` read this registry",
            markup=False,
        )
