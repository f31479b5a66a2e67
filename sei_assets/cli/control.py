"""`sei control` (submit actions to a system's control plane, read its ledger) and `sei profile`
(validate a process profile and its scenario suite, run the suite, approve it for use).

Exit codes: 0 ok, 1 nok (the plane refused, the suite is red, a class is missing), 2 bad input.
The engine is imported inside the commands, so the other verbs of `sei` stay light.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from sei_assets.cli.params import REQUIRED
from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode, verdict_code

control_app = typer.Typer(no_args_is_help=True, help="The release control plane of a system.")
profile_app = typer.Typer(no_args_is_help=True, help="Process profiles and their suites.")
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)

RepoOpt = Annotated[Path, typer.Option("--repo", help="The AI system's repository.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ProfileOpt = Annotated[
    str, typer.Option("--profile", help="A shipped profile's id or a profile file.")
]
ProfileArg = Annotated[str, typer.Argument(help="A shipped profile's id or a profile file.")]
SuiteOpt = Annotated[
    Path | None,
    typer.Option("--suite", help="The scenarios folder (holding profiles/); default scenarios/."),
]


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")


def _fail(exc: SeiError) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
    raise typer.Exit(exc.exit_code)


def _payload(text: str) -> dict[str, Any]:
    """``--payload``: JSON text, or ``@file`` holding it."""
    source = "--payload"
    if text.startswith("@"):
        path = Path(text[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SeiError(f"{path}: cannot read the payload: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeiError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise SeiError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SeiError(f"{source}: expected a JSON object, got {type(value).__name__}")
    return value


def _show(answer: dict[str, Any]) -> None:
    colour = "green" if answer["status"] == "ok" else "red"
    line = f"[bold {colour}]{answer['status']}[/] → {answer['route']}"
    if answer["gate_id"]:
        line += f"  gate {answer['gate_id']} ({answer['gate_type']})"
    out.print(line)
    if answer["reason"]:
        out.print(f"  {escape(answer['reason'])}")
    if answer["missing_artifacts"]:
        out.print(f"  missing: {', '.join(answer['missing_artifacts'])}")
    if answer["idempotent_replay"]:
        out.print("  (idempotent replay: the recorded answer, nothing done again)")


@control_app.command()
def submit(
    action: Annotated[str, typer.Argument(help="The action, e.g. release.promote.")],
    actor: Annotated[str, typer.Option("--actor", help="The actor's id.")],
    role: Annotated[str, typer.Option("--role", help="The actor's role.")],
    payload: Annotated[str, typer.Option("--payload", help="JSON text or @file.")] = "{}",
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Replay/conflict key.")
    ] = None,
    profile: ProfileOpt = "model_release",
    require_approved: Annotated[
        bool,
        typer.Option(
            "--require-approved/--allow-unapproved",
            help="Refuse unless the profile is approved for use (the default); "
            "--allow-unapproved runs the actions of a profile nobody approved (explicitly; "
            "an action with a hook still needs approval or --trust-hooks).",
        ),
    ] = True,
    trust_hooks: Annotated[
        bool,
        typer.Option(
            "--trust-hooks",
            help="Run the hooks of a profile that is not approved for use (explicit trust; "
            "hooks still run sandboxed).",
        ),
    ] = False,
    repo: RepoOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Submit an action; answer status, route, gate, reason, missing artifacts. Every action
    needs a profile approved for use (or --allow-unapproved); one that runs a hook needs an
    approved profile (or --trust-hooks) in any case."""
    from sei_assets.core.control import load_profile
    from sei_assets.core.control import submit as plane_submit

    try:
        loaded = load_profile(profile)
        sub = plane_submit(
            repo,
            loaded,
            action,
            {"id": actor, "role": role},
            _payload(payload),
            idempotency_key,
            require_approved,
            trust_hooks,
        )
    except SeiError as exc:
        _fail(exc)
    if as_json:
        _emit(sub.answer)
    else:
        _show(sub.answer)
    raise typer.Exit(verdict_code(sub.answer["status"] == "ok"))


@control_app.command()
def ledger(repo: RepoOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Per action, the last route and gate the plane answered."""
    from sei_assets.core.control import ledger_state

    state = ledger_state(repo)
    if as_json:
        _emit(state)
        return
    if not state:
        out.print("no submission recorded")
    for action, last in state.items():
        gate = f" gate {last['gate_id']}" if last["gate_id"] else ""
        out.print(f"{action}: {last['status']} → {last['route']}{gate} (#{last['seq']})")


def _refused(exc: Any) -> dict[str, Any]:
    from sei_assets.core.control.builtins import refusal

    route, gate_id, gate_type, reason = refusal(exc)
    return {
        "status": "nok",
        "route": route,
        "gate_id": gate_id,
        "gate_type": gate_type,
        "reason": reason,
        "file": exc.file,
        "field": exc.key_path,
        "line": exc.line,
    }


@profile_app.command()
def validate(
    profile: ProfileArg = "model_release", suite: SuiteOpt = None, as_json: JsonOpt = False
) -> None:
    """Check a profile's schema and that its scenario suite covers every required class."""
    from sei_assets.core.control import suite as suites
    from sei_assets.core.control.profile import ProfileError, load_profile
    from sei_assets.scenarios.dialects.profiles import load_suite

    try:
        loaded = load_profile(profile)
    except ProfileError as exc:
        if as_json:
            _emit(_refused(exc))
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        raise typer.Exit(ExitCode.BAD_INPUT) from None
    try:
        scenarios = load_suite(loaded, suite)
    except SeiError as exc:
        _fail(exc)
    classes = sorted({s.scenario_class for s in scenarios})
    missing = suites.missing_classes(set(classes), loaded.profile.generated)
    doc: dict[str, Any] = {
        "status": "nok" if missing else "ok",
        "route": "InstructAgent" if missing else "Continue",
        "gate_id": "missing_scenario_suite" if missing else None,
        "gate_type": "process_conformance" if missing else None,
        "reason": f"the suite misses required classes: {', '.join(missing)}" if missing else None,
        "profile": {k: loaded.ref[k] for k in ("id", "version", "sha256")},
        "scenarios": [s.id for s in scenarios],
        "covered_classes": classes,
        "missing_classes": missing,
        "approved_for_use": suites.approved_for_use(loaded),
    }
    if as_json:
        _emit(doc)
    else:
        p = doc["profile"]
        out.print(f"profile {p['id']} {p['version']} (sha256 {p['sha256'][:12]}): schema valid")
        out.print(f"suite: {len(scenarios)} scenarios, classes {', '.join(classes) or 'none'}")
        if missing:
            out.print(f"[bold red]missing classes:[/] {', '.join(missing)}")
        out.print(f"approved for use: {'yes' if doc['approved_for_use'] else 'no'}")
    raise typer.Exit(verdict_code(not missing))


@profile_app.command("run")
def run_suite(
    profile: ProfileArg = "model_release", suite: SuiteOpt = None, as_json: JsonOpt = False
) -> None:
    """Run the profile's scenario suite; sign the result document (its latest)."""
    from sei_assets.core.control import load_profile
    from sei_assets.scenarios.dialects.profiles import load_suite
    from sei_assets.scenarios.dialects.profiles.runner import run_suite as run

    try:
        loaded = load_profile(profile)
        doc, path = run(loaded, load_suite(loaded, suite))
    except SeiError as exc:
        _fail(exc)
    if as_json:
        _emit(
            {
                "file": str(path),
                "status": doc["status"],
                "missing_classes": doc["missing_classes"],
                "scenarios": {s["id"]: s["ok"] for s in doc["scenarios"]},
            }
        )
    else:
        for s in doc["scenarios"]:
            mark = "[green]ok  [/]" if s["ok"] else "[red]FAIL[/]"
            out.print(f"{mark} {s['class']}: {s['id']} ({len(s['steps'])} steps)")
            for line in s["failures"]:
                out.print(f"     {escape(line)}")
        if doc["missing_classes"]:
            out.print(f"missing classes: {', '.join(doc['missing_classes'])}")
        out.print(f"suite {doc['status']}: {path} (signed)")
    raise typer.Exit(verdict_code(doc["status"] == "green"))


@profile_app.command()
def approve(
    profile: ProfileArg = "model_release",
    by: Annotated[str, typer.Option("--by", help='Who decides: "Name <email>".')] = REQUIRED,
    role: Annotated[str, typer.Option("--role", help="The decider's role.")] = REQUIRED,
    as_json: JsonOpt = False,
) -> None:
    """Approve the profile for use: management only, on a green and signed latest suite result."""
    from sei_assets.core.control import load_profile
    from sei_assets.core.control.suite import approve_for_use

    try:
        answer = approve_for_use(load_profile(profile), by, role)
    except SeiError as exc:
        _fail(exc)
    if as_json:
        _emit(answer)
    else:
        _show({"missing_artifacts": [], "idempotent_replay": False, **answer})
    raise typer.Exit(verdict_code(answer["status"] == "ok"))
