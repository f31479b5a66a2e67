"""`sei check`: run, list and validate the check scenarios (seed 003) over registered systems.

`run` uses the same runner as the Dagster job `check_<name>_<version>` and writes the same
signed result document; exit 0 when every system passes, 1 when one fails, 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode, verdict_code

check_app = typer.Typer(
    no_args_is_help=True, help="Composable check scenarios over the registered AI systems."
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DirOpt = Annotated[
    Path | None,
    typer.Option("--checks-dir", help="The check library (default scenarios/checks/)."),
]


def _fail(exc: SeiError) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
    raise typer.Exit(exc.exit_code)


@check_app.command("run")
def run(
    scenario: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (latest by default).")],
    system: Annotated[
        list[str] | None, typer.Option("--system", help="A registered system; repeatable.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="NAME=VALUE; repeatable.")
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option("--error-override", help="CHECK_ID=MESSAGE (or TASK.CHECK=...)."),
    ] = None,
    systems_file: Annotated[
        Path | None, typer.Option("--systems-file", help="Another systems.yaml.")
    ] = None,
    checks_dir: DirOpt = None,
    results_dir: Annotated[
        Path | None, typer.Option("--out", help="Write the result document here.")
    ] = None,
    dagster: Annotated[
        bool,
        typer.Option("--dagster", help="Run it as its Dagster job (in the instance's history)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Run a check scenario over the registered systems (or the --system ones)."""
    from sei_assets.scenarios.dialects.checks.document import write_result
    from sei_assets.scenarios.dialects.checks.registry import load_checks
    from sei_assets.scenarios.dialects.checks.runner import (
        bind,
        parse_cli_params,
        registered_targets,
        run_on_targets,
    )

    try:
        registry = load_checks(checks_dir)
        chosen = registry.get(scenario)
        params = bind(chosen, parse_cli_params(chosen, param or []))
        overrides = {}
        for pair in override or []:
            key, sep, text = pair.partition("=")
            if not sep or not key:
                raise SeiError(f"--error-override {pair!r}: expected CHECK_ID=MESSAGE")
            overrides[key] = text
        if dagster:
            from sei_assets.scenarios.dialects.checks.jobs import run_check_job

            config = {
                "systems": list(system or []),
                "params": params,
                "error_overrides": overrides,
                **({"systems_file": str(systems_file)} if systems_file else {}),
                **({"results_dir": str(results_dir)} if results_dir else {}),
            }
            path = run_check_job(registry, chosen, config)
            doc = json.loads(path.read_text(encoding="utf-8"))
        else:
            targets = registered_targets(system or None, systems_file)
            results = run_on_targets(registry, chosen, targets, params, overrides)
            doc, path = write_result(chosen, params, results, results_dir)
    except SeiError as exc:
        _fail(exc)
    summary = doc["summary"]
    if as_json:
        sys.stdout.write(json.dumps({"document": str(path), **summary}, indent=2) + "\n")
    else:
        for name, s in summary["systems"].items():
            mark = "[green]PASS[/]" if s["passed"] else "[red]FAIL[/]"
            tasks = ", ".join(f"{t} {st}" for t, st in s["tasks"].items())
            out.print(f"{mark} {name} ({s['platform']}): {tasks}")
        for f in summary["failures"]:
            line = f"  {f['system']}: {f['at']} [{f['check'] or '-'}]: {f['message']}"
            out.print(escape(line))
        out.print(f"{chosen.key}: {'passed' if summary['passed'] else 'FAILED'} → {path} (signed)")
    if summary.get("refused"):  # untrusted input broke the rule: bad input, not a verdict
        for message in summary["refused"]:
            err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
        raise typer.Exit(ExitCode.BAD_INPUT)
    raise typer.Exit(verdict_code(summary["passed"]))


@check_app.command("list")
def list_checks(
    checks_dir: DirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The registered check scenarios, every version, with their parameters."""
    from sei_assets.scenarios.dialects.checks.registry import load_checks

    try:
        registry = load_checks(checks_dir)
    except SeiError as exc:
        _fail(exc)
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "version": s.version,
            "job": s.job_name,
            "description": s.description,
            "parameters": {
                p.name: {"type": p.type, "required": p.required} for p in s.parameters.values()
            },
            "file": str(s.path),
        }
        for s in registry.all()
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for r in rows:
        params = ", ".join(
            f"{n}: {p['type']}{'' if not p['required'] else ' (required)'}"
            for n, p in r["parameters"].items()
        )
        out.print(f"{r['name']}:{r['version']}  {params or 'no parameters'}")


@check_app.command("validate")
def validate(checks_dir: DirOpt = None) -> None:
    """Load and check the whole library; every problem names its file and task (exit 2)."""
    from sei_assets.scenarios.dialects.checks.registry import load_checks

    try:
        registry = load_checks(checks_dir)
    except SeiError as exc:
        _fail(exc)
    out.print(f"ok: {len(registry.all())} check scenarios")
