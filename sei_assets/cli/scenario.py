"""`sei scenario validate | list | run | sign`: the lifecycle scenarios (seed 004).

Exit codes of `run` (`core.exitcodes.ExitCode`): 0 PASSED, 1 FAILED, 4 INCONCLUSIVE, 5 ERRORED
(the worst over the scenarios run: ERRORED, then FAILED, then INCONCLUSIVE), 2 bad input (a
validate error, a bad tag expression, no scenario selected), 3 internal error (a job that ended
without a verdict). `validate` exits 2 when any rule is broken.
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

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Lifecycle scenarios: validate, list and run resilience experiments.",
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="The lifecycle folder (default: scenarios/lifecycle/)."),
]
IncludeOpt = Annotated[
    str | None,
    typer.Option("--include-tags", help="Tag expression to select, e.g. 'slow and not network'."),
]
ExcludeOpt = Annotated[
    str | None, typer.Option("--exclude-tags", help="Tag expression to leave out.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
WORST = ("ERRORED", "FAILED", "INCONCLUSIVE", "PASSED")


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")


def _bad(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(ExitCode.BAD_INPUT)


def _load(directory: Path | None):
    from sei_assets.scenarios.dialects.lifecycle.model import lifecycle_dir, load_catalog
    from sei_assets.scenarios.dialects.lifecycle.validate import validate

    base = lifecycle_dir(directory)
    if not base.is_dir():
        _bad(f"{base}: no lifecycle scenario folder")
    catalog = load_catalog(base)
    return catalog, validate(catalog)


def _select(catalog: Any, names: list[str] | None, include: str | None, exclude: str | None):
    from sei_assets.scenarios.dialects.lifecycle.tags import selects

    chosen = catalog.scenarios
    if names:
        missing = [n for n in names if catalog.scenario(n) is None]
        if missing:
            known = ", ".join(s.name for s in catalog.scenarios)
            _bad(f"no scenario named {', '.join(missing)} (scenarios: {known})")
        chosen = [s for s in chosen if s.name in names]
    try:
        return [s for s in chosen if selects(s.tags, include, exclude)]
    except SeiError as exc:
        _bad(str(exc))
        return []


@app.command()
def validate(directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Check every lifecycle file against the numbered rules, before anything runs."""
    catalog, problems = _load(directory)
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        _emit(
            {
                "ok": not errors,
                "directory": str(catalog.directory),
                "scenarios": [s.name for s in catalog.scenarios],
                "problems": [
                    {"rule": p.rule, "severity": p.severity, "file": p.file, "path": p.path,
                     "line": p.line, "message": p.message}
                    for p in problems
                ],
            }
        )  # fmt: skip
    else:
        for p in problems:
            colour = "red" if p.severity == "error" else "yellow"
            err.print(f"[{colour}]{p.severity}[/]: {escape(str(p))}", markup=True, highlight=False)
        out.print(
            f"{len(catalog.scenarios)} scenarios, {len(errors)} errors, "
            f"{len(problems) - len(errors)} warnings in {catalog.directory}"
        )
    raise typer.Exit(ExitCode.BAD_INPUT if errors else ExitCode.OK)


@app.command()
def sign(
    directory: DirOpt = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="The PEM private key (default: this machine's signing key)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign a lifecycle folder as a scenario set: the sha256 of each of its files, signed. On
    a machine whose scenario-keys file lists the key, its scenarios may run commands without
    --allow-exec, while no file of the folder changes."""
    from sei_assets.core import signing
    from sei_assets.scenarios.dialects.lifecycle.model import lifecycle_dir
    from sei_assets.scenarios.dialects.lifecycle.trust import (
        project_folder,
        scenario_keys_path,
        sign_set,
    )

    base = lifecycle_dir(directory)
    if not base.is_dir():
        _bad(f"{base}: no lifecycle scenario folder")
    if base.resolve() == project_folder():
        _bad(f"{base} is the project's own lifecycle folder: it needs no signature (--dir)")
    if key is not None and not key.is_file():
        _bad(f"--key: {key}: no such file")
    try:
        private = signing.load_or_create_key(key)
        path = sign_set(base, private)
    except SeiError as exc:
        _bad(str(exc))
        return
    hexkey = signing.public_key_hex(private)
    files = json.loads(path.read_text(encoding="utf-8"))["files"]
    if as_json:
        doc = {"set": str(path), "files": len(files), "pubkey": hexkey}
        _emit(doc | {"keyid": signing.keyid_for(hexkey), "trust_file": str(scenario_keys_path())})
        return
    out.print(f"signed {len(files)} files of {base}: {path} (+ .sig)", markup=False)
    out.print(f"signer's public key: {hexkey}", markup=False)
    out.print(
        f"to let its scenarios run commands on a machine, add that key to {scenario_keys_path()} "
        "there ($SEI_SCENARIO_KEYS)",
        markup=False,
    )


@app.command(name="list")
def list_(
    directory: DirOpt = None,
    include_tags: IncludeOpt = None,
    exclude_tags: ExcludeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The scenarios (selected by tag expressions), with their tags and files."""
    catalog, _ = _load(directory)
    chosen = _select(catalog, None, include_tags, exclude_tags)
    if as_json:
        _emit(
            [
                {"name": s.name, "tags": s.tags, "file": str(s.file),
                 "description": s.description, "job": s.job_name}
                for s in chosen
            ]
        )  # fmt: skip
        return
    for s in chosen:
        out.print(f"{s.name}  [{', '.join(s.tags)}]  {s.file}", markup=False)


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("scenario", "verdict", "reason", "failures", "findings", "result", "durationMs",
            "tags", "keepUp", "sandbox", "system", "dagsterRun")  # fmt: skip
    steps = [
        {k: s.get(k) for k in ("section", "phase", "path", "run", "name", "status", "message")}
        for s in doc["steps"]
    ]
    return {k: doc.get(k) for k in keys} | {"steps": steps}


@app.command()
def run(
    names: Annotated[
        list[str] | None, typer.Argument(help="Scenario names (default: all).")
    ] = None,
    directory: DirOpt = None,
    include_tags: IncludeOpt = None,
    exclude_tags: ExcludeOpt = None,
    keep_up: Annotated[
        bool, typer.Option("--keep-up", help="Skip teardown: leave the sandbox up (KEEP_UP=1).")
    ] = False,
    allow_exec: Annotated[
        bool,
        typer.Option(
            "--allow-exec",
            help="Trust scenarios from outside the project's scenarios/ to run commands.",
        ),
    ] = False,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            help="A registered system: each sandbox is a copy of its repository (it is only "
            "read), not the shipped resources.",
        ),
    ] = None,
    systems_file: Annotated[
        Path | None,
        typer.Option(
            "--systems-file",
            help="The registry naming --system (default: $SEI_SYSTEMS_FILE or the checkout's "
            "systems.yaml, then the user's own registry).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run scenarios, each as its Dagster job (in-process); exit code per the worst verdict.
    A scenario from another folder that runs a command (process.*, sei.run) needs
    --allow-exec, or the folder signed by a trusted key (`sei scenario sign`). With --system,
    the scenarios' sandboxes copy that registered system."""
    from sei_assets.scenarios.dialects.lifecycle.runner import EXIT_CODES, keep_up_default
    from sei_assets.scenarios.dialects.lifecycle.validate import blocking

    catalog, problems = _load(directory)
    chosen = _select(catalog, names, include_tags, exclude_tags)
    if not chosen:
        _bad("no scenario selected")
    refused = {s.name: blocking(problems, s, catalog) for s in chosen}
    if any(refused.values()):
        for errors in refused.values():
            for p in errors:
                err.print(f"[red]error[/]: {escape(str(p))}", markup=True, highlight=False)
        _bad("refused: fix the files above (`sei scenario validate`) before running")
    from sei_assets.scenarios.dialects.lifecycle.trust import refusals

    try:
        untrusted = refusals(chosen, catalog, allow_exec)
    except SeiError as exc:
        _bad(str(exc))
    if untrusted:
        for message in untrusted:
            err.print(f"[red]refused[/]: {escape(message)}", markup=True, highlight=False)
        _bad("refused: these scenarios run commands and are not the project's own")
    from sei_assets.scenarios.dialects.lifecycle.jobs import execute, target_system

    if systems_file is not None and not system:
        _bad("--systems-file names the registry of --system: give --system too")
    try:
        target_system(system or "", systems_file)  # an unknown name is bad input, before any run
    except SeiError as exc:
        _bad(str(exc))
    keep = keep_up or keep_up_default()
    docs = []
    for scenario in chosen:
        if not as_json:
            out.print(f"▶ {scenario.name}", markup=False)
        try:
            doc = execute(
                scenario, catalog, keep_up=keep, system=system or "", systems_file=systems_file
            )
        except RuntimeError as exc:  # the job ended without a verdict: the harness failed
            err.print(f"[red]error[/]: {escape(str(exc))}", markup=True, highlight=False)
            raise typer.Exit(ExitCode.INTERNAL_ERROR) from None
        docs.append(doc)
        if not as_json:
            for s in doc["steps"]:
                if s["status"] not in ("passed",):
                    line = f"   {s['section']} {s['path']} {s['run']}: {s['status']}"
                    out.print(line + (f" ({s['message']})" if s["message"] else ""), markup=False)
            colour = "green" if doc["verdict"] == "PASSED" else "red"
            reason = f": {doc['reason']}" if doc["reason"] else ""
            out.print(f"  [bold {colour}]{doc['verdict']}[/]{escape(reason)}  → {doc['result']}")
    worst = min((d["verdict"] for d in docs), key=WORST.index)
    if as_json:
        _emit([_summary(d) for d in docs])
    else:
        counts = {v: sum(d["verdict"] == v for d in docs) for v in WORST}
        out.print(", ".join(f"{n} {v}" for v, n in counts.items() if n))
    raise typer.Exit(EXIT_CODES[worst])
