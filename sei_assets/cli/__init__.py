"""The `sei` command line: compile, run, status, verify, pubkey.

Exit codes, one meaning each, are `core.exitcodes.ExitCode`: 0 green / fresh / verified,
1 red / stale / not verified, 2 bad input (file, field, line), 3 internal error (a short message
and the file holding the full trace, under the state folder; never a traceback on the terminal),
4 and 5 the lifecycle verdicts INCONCLUSIVE and ERRORED of `sei scenario run`.
`status`, `verify` and `pubkey` import neither Dagster nor scikit-learn.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from sei_assets.cli.control import control_app, profile_app
from sei_assets.cli.params import REQUIRED
from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import MEANINGS, ExitCode, verdict_code


def _exit_codes_epilog() -> str:
    """The exit codes for `sei --help`, from the enum (one paragraph per code)."""
    lines = [f"{int(code)}  {text.replace('`', '')}" for code, text in MEANINGS.items()]
    return "Exit codes:\n\n" + "\n\n".join(lines)


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="sei-assets: AI-assurance evidence from your own ML pipeline.",
    epilog=_exit_codes_epilog(),
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)

RepoOpt = Annotated[Path, typer.Option("--repo", help="The AI system's repository.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
AllowKeyOpt = Annotated[
    bool,
    typer.Option("--allow-key-in-repo", help="Use a signing key that lies in a git work tree."),
]


def _allow_key_in_repo(allowed: bool) -> None:
    if allowed:
        import os

        from sei_assets.core.signing import ALLOW_IN_REPO_ENV

        os.environ[ALLOW_IN_REPO_ENV] = "1"


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")


#: An error message is bounded (a hostile input can make it huge, e.g. a YAML alias bomb).
MESSAGE_LIMIT = 2000


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … ({len(text) - limit} more characters left out)"


def _fail(exc: SeiError, repo: Path | None = None, verb: str | None = None) -> NoReturn:
    message = bounded(str(exc))
    if repo is not None and verb:
        from sei_assets.core.last_run import record

        record(repo, verb, exc.exit_code, message)
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(exc.exit_code)


def write_trace(text: str) -> Path:
    """Write an internal error's full trace under the state folder; its path."""
    import datetime as dt
    import os

    from sei_assets.core.fsutil import atomic_write
    from sei_assets.core.paths import state_dir

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = state_dir() / "crashes" / f"{stamp}-{os.getpid()}.txt"
    atomic_write(path, text)
    return path


def _internal(message: str, trace: str, repo: Path | None = None, verb: str | None = None) -> None:
    """End with an internal error: a short message and where the full trace was written."""
    path = write_trace(trace)
    short = bounded(message.strip().splitlines()[0] if message.strip() else "unknown", 300)
    if repo is not None and verb:
        from sei_assets.core.last_run import record

        record(repo, verb, ExitCode.INTERNAL_ERROR, f"internal error: {short}", str(path))
    err.print(f"internal error: {short}\nfull trace: {path}", markup=False, highlight=False)
    raise typer.Exit(ExitCode.INTERNAL_ERROR)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an engine function; bad input ends the command with its message and exit code 2."""
    try:
        return fn(*args, **kwargs)
    except SeiError as exc:
        _fail(exc)


def _signed_doc(fn: Any, repo: Path, as_json: bool, *args: Any) -> dict[str, Any] | None:
    """Run a verb that writes one signed document; print it as JSON with --json."""
    doc, path = _call(fn, repo, *args)
    if as_json:
        _emit_json({"file": str(path), **doc})
        return None
    return doc | {"_path": path}


def _warn_extensions(loaded: Any) -> None:
    """One warning on stderr per unknown manifest key kept (file, line, key path)."""
    for line in loaded.warnings():
        err.print(f"warning: {line}", markup=False)


@app.command()
def compile(repo: RepoOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Compile the risk program into the OSCAL plan (a Dagster run on the local instance)."""
    from sei_assets.core.manifest import load_manifest

    try:
        loaded = load_manifest(repo)
        _warn_extensions(loaded)
        from sei_assets.cli.progress import shown
        from sei_assets.core.controls import compile_controls
        from sei_assets.core.oscal import plan_path
        from sei_assets.defs.launch import materialize_system

        with shown(enabled=not as_json):
            code, message = materialize_system(repo, "compile")
    except SeiError as exc:
        _fail(exc, repo, "compile")
    if code == ExitCode.INTERNAL_ERROR:
        _internal(message or "compile failed", message or "", repo, "compile")
    if code:
        _fail(SeiError(message or "compile failed"), repo, "compile")
    from sei_assets.core.last_run import record

    record(repo, "compile", ExitCode.OK)
    controls = compile_controls(loaded.manifest)
    monitoring = [m.id for _r, m in loaded.manifest.measures if m.is_monitoring]
    path = plan_path(loaded)
    if as_json:
        _emit_json(
            {
                "plan": str(path),
                "control_count": len(controls),
                "controls": [c.control_id for c in controls],
                "monitoring": monitoring,
                "manifest_extensions": [x.to_json() for x in loaded.extensions],
            }
        )
        return
    out.print(f"compiled {len(controls)} controls → {path}")
    if monitoring:
        out.print(f"declared for post-market monitoring (not compiled): {', '.join(monitoring)}")


def _control_table(bundle: Any) -> Table:
    from sei_assets.core.controls import CONTROL_TABLE, control_table

    table = Table(title=f"controls of {bundle.system_name}")
    for col in CONTROL_TABLE:
        table.add_column(col)
    colours = {"pass": "green", "fail": "red", "monitored": "cyan"}
    for row, tone in control_table(bundle.control_results):
        cells = [row[c] for c in CONTROL_TABLE]
        cells[-1] = f"[{colours[tone]}]{cells[-1]}[/]"
        table.add_row(*cells)
    return table


@app.command()
def run(
    repo: RepoOpt = Path("."),
    no_repro: Annotated[
        bool, typer.Option("--no-repro", help="Evaluate the metrics already there.")
    ] = False,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="Refuse (exit 2) instead of waiting for a run in progress."),
    ] = False,
    allow_key_in_repo: AllowKeyOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Reproduce the pipeline, evaluate every control, decide the gate, sign the evidence.

    Runs the system's Dagster assets in-process on the local instance (it shows in the UI).
    One run per repository at a time: a second run waits for the first (or, with --no-wait,
    refuses with exit 2 and the pid of the run in progress).
    """
    from sei_assets.core import runlock
    from sei_assets.core.manifest import load_manifest

    _allow_key_in_repo(allow_key_in_repo)

    from sei_assets.core.evidence import evidence_dir, load_bundle
    from sei_assets.core.last_run import record
    from sei_assets.core.layout import BUNDLE

    bundle_path = evidence_dir(repo) / BUNDLE
    try:
        _warn_extensions(load_manifest(repo))
        with runlock.repo_lock(repo, wait=not no_wait, notify=lambda m: err.print(f"note: {m}")):
            from sei_assets.cli.progress import shown
            from sei_assets.defs.launch import materialize_system

            with shown(enabled=not as_json):
                code, message = materialize_system(repo, "run", repro=not no_repro)
    except SeiError as exc:
        _fail(exc, repo, "run")
    if code == ExitCode.INTERNAL_ERROR:
        _internal(message or "run failed", message or "", repo, "run")
    if code == ExitCode.BAD_INPUT:
        _fail(SeiError(message or "run failed"), repo, "run")
    b = _call(load_bundle, bundle_path)
    record(repo, "run", code)
    for warning in (b.data_governance or {}).get("warnings") or []:
        err.print(f"warning: dataset description: {warning}", markup=False)
    supplied = b.pipeline is None or b.pipeline.supplied
    residual = b.overall_residual.to_json() if b.overall_residual else None
    if as_json:
        _emit_json(
            {
                "gate": b.verdict,
                "bundle": str(bundle_path),
                "gate_failures": b.failing,
                "control_count": len(b.control_results),
                "metrics_source": "supplied" if supplied else "reproduced",
                "overall_residual": residual,
                "treatment_events": [e.to_json() for e in b.treatment_events],
                "held": message if code == ExitCode.FAILED else None,
            }
        )
    else:
        out.print(_control_table(b))
        res = residual or {}
        out.print(
            f"overall residual: {res.get('level')} ({res.get('evaluation')} criterion "
            f"{res.get('criterion')})"
        )
        for e in b.treatment_events:
            out.print(
                f"treatment event: {e.control_id} FAIL → PASS "
                f"(treatment {(e.anchored_commit or 'not committed')[:12]})"
            )
        colour = "green" if b.verdict == "green" else "red"
        out.print(
            f"gate: [bold {colour}]{b.verdict.upper()}[/]"
            + (f" — failing: {', '.join(b.failing)}" if b.failing else "")
        )
        out.print(f"evidence: {bundle_path} (signed)")
        if supplied:
            out.print(
                "[yellow]note:[/] the metrics were supplied (--no-repro), not reproduced by "
                f"{b.pipeline.tool if b.pipeline else 'the pipeline tool'}; the evidence says so "
                "and a release refuses them unless accepted explicitly"
            )
    if code == ExitCode.FAILED and message:  # green gate held by a failing blocking check
        err.print(f"error: the run is held: {message}", markup=False)
    raise typer.Exit(code)


@app.command()
def status(
    repo: RepoOpt = Path("."),
    all_systems: Annotated[
        bool, typer.Option("--all", help="One table of every registered system (not --repo).")
    ] = False,
    systems_file: Annotated[
        Path | None,
        typer.Option("--systems", help="With --all: the registry (default: $SEI_SYSTEMS_FILE)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Freshness per section and typed drift (A scope, B model/treatment, C data), without running.

    Exit 0 when every section is fresh and the last gate green, 1 when stale or red, 2 on bad input.
    With --all: one row per registered system (gate, freshness, drift, last run, approval);
    exit 1 when any is red, stale, not evaluated or its last run failed.
    """
    from sei_assets.core.status import system_status

    if all_systems:
        _status_all(systems_file, as_json)
    try:
        st = system_status(repo)
    except SeiError as exc:
        _fail(exc)
    if as_json:
        _emit_json(st.to_json())
    else:
        out.print(f"system: {st.system}")
        if st.last_failure:
            out.print(f"[bold red]{st.failure_text()}[/]")
        for s in st.sections:
            colour = "green" if s.fresh else "yellow"
            out.print(f"  {s.section}: [{colour}]{s.describe()}[/]")
        if st.evidence_problem:
            from rich.markup import escape

            out.print(f"[bold red]evidence does not verify: {escape(st.evidence_problem)}[/]")
            out.print("last gate: unknown (the evidence does not verify)")
        else:
            out.print(
                f"last gate: {st.gate or 'none (no evidence yet)'}"
                + (f" (evidence of {st.generated_at})" if st.generated_at else "")
            )
        if st.metrics_source == "supplied":
            out.print(
                "[yellow]metrics: supplied (sei run --no-repro), not reproduced by the "
                "pipeline tool[/]"
            )
        if st.stale_classes:
            out.print(f"drift: class {', '.join(st.stale_classes)} — run `sei run` to recompute")
        for line in st.breach_lines():
            out.print(f"[bold red]{line}[/]")
    raise typer.Exit(st.exit_code)


def _status_all(systems_file: Path | None, as_json: bool) -> None:
    """`sei status --all`, printed exactly as the lean entry point prints it."""
    from sei_assets import entry

    lines = entry._Out(sys.stdout)
    try:
        code = entry.status_all(systems_file, as_json, lines)
    except SeiError as exc:
        _fail(exc)
    lines.flush()
    raise typer.Exit(code)


@app.command()
def verify(
    repos: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Repositories to verify (with --repo, that one first).", show_default=False
        ),
    ] = None,
    repo: Annotated[
        Path | None, typer.Option("--repo", help="The AI system's repository.", show_default=".")
    ] = None,
    pubkey: Annotated[
        str | None, typer.Option("--pubkey", help="Trusted public key: hex, or a file holding it.")
    ] = None,
    accept_new_key: Annotated[
        bool,
        typer.Option("--accept-new-key", help="Trust a key other than the one remembered."),
    ] = False,
    require_current: Annotated[
        bool,
        typer.Option(
            "--require-current", help="Fail unless the evidence is the latest for the inputs."
        ),
    ] = False,
    allow_rollback: Annotated[
        bool,
        typer.Option(
            "--allow-rollback",
            help="Accept evidence older than evidence verified before on this machine.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes for many repositories (default: $SEI_VERIFY_WORKERS, else the CPUs).",
        ),
    ] = None,
    log: Annotated[
        str | None,
        typer.Option(
            "--log",
            help="Check the transparency log too: a tree head file (the organisation's), or "
            "'last' for the last head this machine saw.",
        ),
    ] = None,
    log_key: Annotated[
        str | None, typer.Option("--log-key", help="The log's public key (hex), pinned.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every signed evidence file and the set's signed index, offline.

    The key is pinned (--pubkey), listed in the organisation's trusted-keys file, or remembered
    on first use and refused when it changes (--accept-new-key). Says whether the evidence is
    current for the repository's inputs; --require-current fails when it is not. Several
    repositories: one line each, exit 0 only when every one verifies.
    """
    from sei_assets.core import trust

    targets = ([repo] if repo is not None else []) + list(repos or [])
    pinned = None
    if pubkey:
        p = Path(pubkey)
        pinned = p.read_text().strip() if p.is_file() else pubkey.strip()
    if len(targets) > 1 and log:
        _fail(SeiError("--log: checks one repository at a time"))
    if len(targets) > 1:
        _verify_many(
            targets, pinned, accept_new_key, require_current, workers, as_json, allow_rollback
        )
    repo = targets[0] if targets else Path(".")
    try:
        checked = trust.verify_trusted(repo, pinned, accept_new_key, allow_rollback=allow_rollback)
        verdict, trusted = checked.signatures, checked.trust
        current = trust.currency(repo, verdict.index, trusted.older)
    except SeiError as exc:
        _fail(exc)
    ok = verdict.ok and trusted.ok and (current.current is True or not require_current)
    logged = _call(_check_log, repo, log, log_key) if log else None
    ok = ok and (logged is None or logged.ok)
    if as_json:
        doc = _verify_doc(ok, verdict, trusted, current)
        if logged is not None:
            doc["log"] = {"ok": logged.ok, "checked": logged.checked, "problems": logged.problems}
        _emit_json(doc)
        raise typer.Exit(verdict_code(ok))
    if logged is not None:
        for line in logged.checked:
            out.print(f"log: {line}", markup=False)
        for line in logged.problems:
            out.print(f"[red]log: REFUSED[/] — {line}")
    for f in verdict.files:
        mark = "[green]OK[/]  " if f.ok else "[red]FAIL[/]"
        out.print(f"{mark} {f.path}" + ("" if f.ok else f" — {f.reason}"))
    for warning in verdict.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    if verdict.pending:
        out.print(
            "[yellow]note:[/] a write was interrupted after its commit point; the set it "
            "commits was verified (the next `sei run` completes it)"
        )
    if verdict.index is None:
        out.print("[yellow]note:[/] no signed evidence index: a deleted file cannot be detected")
    if getattr(verdict, "set_id", None) is None and any(
        f.path.name == "bundle.json" for f in verdict.files
    ):
        out.print(
            "[yellow]note:[/] the bundle names no evidence set (the reference's evidence, or "
            "written before sets were named): a stripped or mixed set is detected only through "
            "its signed index and this machine's memory"
        )
    colour = "green" if trusted.ok else "red"
    out.print(f"key: [{colour}]{trusted.message}[/]")
    for note in trusted.notes:
        out.print(f"[yellow]note:[/] {note}")
    if verdict.pubkey_source == "repository" and trusted.source == "first use":
        out.print(
            "[yellow]note:[/] the public key was taken from the repository itself "
            f"({verdict.evidence_dir}/PUBKEY.txt) and trusted on first use; pin a trusted key "
            "with --pubkey or an organisation trusted-keys file"
        )
    state = {True: "current", False: "NOT current", None: "currency unknown"}[current.current]
    out.print(f"evidence {state}: {'; '.join(current.reasons)}")
    out.print(f"{'verified' if ok else 'NOT verified'}: {len(verdict.files)} signed files")
    raise typer.Exit(verdict_code(ok))


def _check_log(repo: Path, log: str, log_key: str | None) -> Any:
    """The transparency-log check of ``repo``'s evidence index (see translog.verify)."""
    from sei_assets.core import evidence_set, translog

    given = None if log == "last" else translog.read_head(Path(log))
    index = evidence_set.read_bytes(repo, evidence_set.INDEX_PATH)
    return translog.verify(index, given, pubkey_hex=log_key)


def _verify_doc(ok: bool, verdict: Any, trusted: Any, current: Any) -> dict[str, Any]:
    """`sei verify --json`'s document for one repository."""
    return {
        "ok": ok,
        "signatures_ok": verdict.ok,
        "evidence_dir": str(verdict.evidence_dir),
        "pubkey_source": verdict.pubkey_source,
        "keyid": verdict.keyid,
        "trust": {
            "ok": trusted.ok,
            "source": trusted.source,
            "message": trusted.message,
            "notes": trusted.notes,
        },
        "current": current.current,
        "currency": current.reasons,
        "indexed": verdict.index is not None,
        "evidence_set": getattr(verdict, "set_id", None),
        "pending_write": verdict.pending,
        "warnings": verdict.warnings,
        "files": [{"path": str(f.path), "ok": f.ok, "reason": f.reason} for f in verdict.files],
    }


def _verify_many(
    repos: list[Path],
    pinned: str | None,
    accept_new_key: bool,
    require_current: bool,
    workers: int | None,
    as_json: bool,
    allow_rollback: bool = False,
) -> None:
    """`sei verify` of several repositories: one line each (JSON: one document each), the
    exit code the worst of theirs (0 verified, 1 not verified, 2 bad input)."""
    from rich.markup import escape

    from sei_assets.core import trust

    checks = trust.check_repositories(
        repos, pinned, accept_new_key, workers, allow_rollback=allow_rollback
    )
    docs: list[dict[str, Any]] = []
    code: int = ExitCode.OK
    for check in checks:
        doc: dict[str, Any] = {"repo": str(check.repo)}
        if check.error is not None:
            code = max(code, check.exit_code)
            doc |= {"ok": False, "error": bounded(check.error), "exit_code": check.exit_code}
            docs.append(doc)
            if not as_json:
                out.print(f"[red]ERROR[/] {escape(str(check.repo))} — {escape(doc['error'])}")
            continue
        assert check.evidence is not None and check.current is not None
        verdict, trusted, current = check.evidence.signatures, check.evidence.trust, check.current
        ok = verdict.ok and trusted.ok and (current.current is True or not require_current)
        code = max(code, verdict_code(ok))
        doc |= _verify_doc(ok, verdict, trusted, current)
        docs.append(doc)
        if as_json:
            continue
        state = {True: "current", False: "NOT current", None: "currency unknown"}[current.current]
        files = f"{len(verdict.files)} signed files"
        if ok:
            out.print(
                f"[green]OK[/]    {escape(str(check.repo))}: {files}; {escape(trusted.message)}; "
                f"evidence {state}"
            )
            continue
        if not verdict.ok:
            why = f"{len(verdict.failures)} of {files} do not verify"
        elif not trusted.ok:
            why = trusted.message
        else:
            why = f"evidence {state}: {'; '.join(current.reasons)}"
        out.print(f"[red]FAIL[/]  {escape(str(check.repo))} — {escape(why)}")
        for f in verdict.failures:
            out.print(f"      [red]FAIL[/] {escape(str(f.path))} — {escape(f.reason)}")
    if as_json:
        _emit_json({"ok": code == ExitCode.OK, "repositories": docs})
    else:
        good = sum(1 for d in docs if d["ok"])
        word = "verified" if code == ExitCode.OK else "NOT verified"
        out.print(f"{word}: {good} of {len(docs)} repositories")
    raise typer.Exit(code)


@app.command()
def pubkey(allow_key_in_repo: AllowKeyOpt = False, as_json: JsonOpt = False) -> None:
    """Print this machine's signing public key (created on first use); never the private key."""
    from sei_assets.core import signing

    _allow_key_in_repo(allow_key_in_repo)
    try:
        key = signing.load_or_create_key()
    except SeiError as exc:
        _fail(exc)
    hexkey = signing.public_key_hex(key)
    if as_json:
        _emit_json({"pubkey": hexkey, "keyid": signing.keyid_for(hexkey)})
    else:
        out.print(hexkey)


ByOpt = Annotated[str, typer.Option("--by", help='Who decides: "Name <email>".')]


def _decision(verb: str, repo: Path, as_json: bool, **kwargs: Any) -> None:
    """Record a decision, signed with the decider's own key when this machine holds it."""
    from sei_assets.core import counting, governance, people

    try:
        key = people.load_key(kwargs["by"]) if people.has_key(kwargs["by"]) else None
        sha = getattr(governance, verb)(repo, **kwargs, key=key)
        state = counting.judged_lifecycle(repo)
    except SeiError as exc:
        _fail(exc)
    if key is None:
        err.print(
            f"warning: unsigned: no key of {kwargs['by']} on this machine (`sei keys new "
            "--person`); a decision without a signed record never counts under a roster",
            markup=False,
        )
    if as_json:
        _emit_json({"commit": sha, "lifecycle": state})
        return
    stale = " (stale)" if state.get("stale") else ""
    out.print(f"{verb}: commit {sha[:12]}; lifecycle {state['state']}{stale}")
    if state.get("counting"):
        shown = state["counting"] if state.get("counted") else counting.why_not(state)
        out.print(f"decision: {shown}", markup=False)


@app.command()
def request(repo: RepoOpt = Path("."), by: ByOpt = REQUIRED, as_json: JsonOpt = False) -> None:
    """Request management approval of the treatment plan (a commit with a trailer)."""
    _decision("request", repo, as_json, by=by)


@app.command()
def approve(
    repo: RepoOpt = Path("."),
    by: ByOpt = REQUIRED,
    accept_residual: Annotated[
        bool, typer.Option("--accept-residual", help="Accept the residual risk of a red gate.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve the treatment plan and its residual risk (`Sei-Approved-by:`)."""
    _decision("approve", repo, as_json, by=by, accept_residual=accept_residual)


@app.command()
def review(repo: RepoOpt = Path("."), by: ByOpt = REQUIRED, as_json: JsonOpt = False) -> None:
    """Record a periodic management review (`Sei-Reviewed-by:`)."""
    _decision("review", repo, as_json, by=by)


@app.command()
def reject(
    repo: RepoOpt = Path("."),
    by: ByOpt = REQUIRED,
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = REQUIRED,
    as_json: JsonOpt = False,
) -> None:
    """Reject the treatment plan, with the reason (`Sei-Rejected-by:`)."""
    _decision("reject", repo, as_json, by=by, reason=reason)


@app.command()
def retire(
    repo: RepoOpt = Path("."),
    by: ByOpt = REQUIRED,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Retire the system (`Sei-Retired-by:`): no decision follows."""
    _decision("retire", repo, as_json, by=by, reason=reason)


@app.command()
def lifecycle(repo: RepoOpt = Path("."), as_json: JsonOpt = False) -> None:
    """The lifecycle state from the decisions in git history, trailers and committed decision
    records (`.sei/lifecycle/*.json`, the reference's `.venth/` and `.froga/` ones), and whether
    an approval is stale."""
    from sei_assets.core import counting

    state = _call(counting.judged_lifecycle, repo)
    if as_json:
        _emit_json(state)
        return
    line = f"lifecycle: {state['state']}"
    if state.get("by"):
        line += f" by {state['by']} ({str(state.get('sha', ''))[:12]}, {state.get('date')})"
    if state.get("record"):
        line += f"; recorded in {state['record']}"
    if state.get("stale"):
        line += f" — STALE: {state.get('stale_reason', 'the evidence changed after it')}"
    out.print(line)
    if state.get("counting"):
        if state.get("counted"):
            out.print(f"decision counted: {state['counting']}", markup=False)
        else:
            out.print(f"decision NOT counted: {counting.why_not(state)}", markup=False)


@app.command()
def reconstruct(
    repo: RepoOpt = Path("."),
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the risk-management cycle from git history (signed `.sei/reconstruct.json`)."""
    from sei_assets.core.engine import reconstruct_cycle

    doc = _signed_doc(reconstruct_cycle, repo, as_json, out_file)
    if doc is None:
        return
    p, path = doc["payload"], doc["_path"]
    out.print(
        f"{len(p['snapshots'])} evidence snapshots, {len(p['risks'])} measured risks, "
        f"{len(p.get('treatment_arcs', []))} treatment arcs"
    )
    for arc in p.get("treatment_arcs", []):
        anchor = (arc.get("treatment") or {}).get("sha", "?")
        out.print(f"  treatment arc: {arc['control_id']} FAIL → PASS (treatment {anchor[:12]})")
    out.print(f"lifecycle: {p['lifecycle']['state']}")
    out.print(f"written: {path} (signed)")


@app.command()
def conformance(
    repo: RepoOpt = Path("."),
    standard: Annotated[
        list[str] | None, typer.Option("--standard", help="e.g. iso/23894@2023; repeatable.")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write into this folder.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Project the evidence onto standards' clause catalogues (every applicable one by default)."""
    from sei_assets.core.documents.gaps import open_clauses
    from sei_assets.core.engine import project_conformance

    written = _call(project_conformance, repo, standard or None, out_dir)
    if as_json:
        _emit_json(
            [{"file": str(path), **doc, "open_clauses": open_clauses(doc)} for doc, path in written]
        )
        return
    for doc, path in written:
        counts: dict[str, int] = {}
        for c in doc["payload"]["clauses"]:
            counts[c["decision"]] = counts.get(c["decision"], 0) + 1
        summary = ", ".join(f"{n} {d}" for d, n in sorted(counts.items()))
        out.print(f"{doc['payload']['standard']}: {summary} → {path}")
        for gap in open_clauses(doc):
            out.print(
                f"  {gap['decision']:<7} {gap['clause']} {gap['title']}\n"
                f"          found: {gap['basis']}\n"
                f"          to close: {gap['to_close']}",
                markup=False,
            )


@app.command()
def impact(repo: RepoOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Impact assessment and foreseeable misuse (ISO/IEC 42001 6.1.4; AI Act Art. 27)."""
    from sei_assets.core.engine import assess_impact

    doc = _signed_doc(assess_impact, repo, as_json)
    if doc is None:
        return
    p, path = doc["payload"], doc["_path"]
    out.print(
        f"misuses: {p['summary']['misuses']}, addressed: {p['summary']['addressed']}, "
        f"findings: {p['summary']['findings']}"
    )
    for f in p["findings"]:
        out.print(f"  finding ({f['severity']}): {f['message']}")
    out.print(f"written: {path} (signed)")


@app.command()
def assess(repo: RepoOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Propose risks the manifest does not declare, from the knowledge catalogue (offline)."""
    from sei_assets.core.engine import propose_risks

    doc = _signed_doc(propose_risks, repo, as_json)
    if doc is None:
        return
    path = doc["_path"]
    for p in doc["payload"]["proposals"]:
        out.print(f"  proposed: {p['id']}: {p['title']}")
    out.print(
        f"{len(doc['payload']['proposals'])} proposals → {path} "
        f"(paste-ready: {path.with_suffix('.yaml')})"
    )


@app.command()
def init(
    system: Annotated[
        list[str] | None, typer.Option("--system", help="Only this registered system.")
    ] = None,
    systems_file: Annotated[
        Path | None, typer.Option("--systems", help="The registry (default: systems.yaml).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Seed the registered systems whose repositories do not exist yet (git, DVC, dbt manifest)
    and prepare every system's declarations for the Dagster definitions to load quickly.

    Loading the Dagster definitions never seeds nor writes: this (or the `seed_systems` job)
    does. A system whose manifest does not load is listed with its error (exit code 0: its
    `manifest_valid` check shows the same error in the UI).
    """
    from sei_assets.core import declarations
    from sei_assets.core.registry import load_registry
    from sei_assets.core.workspace import seed_registered

    entries = _call(load_registry, systems_file)
    unknown = sorted(set(system or []) - {e.name for e in entries})
    if unknown:
        _fail(SeiError(f"--system: not registered: {', '.join(unknown)}"))
    done = _call(seed_registered, entries, system or None)
    chosen = [e for e in entries if not system or e.name in system]
    prepared = _call(declarations.prepare, chosen)
    if as_json:
        _emit_json(
            {
                "seeded": done,
                "prepared": [n for n, why in prepared.items() if why is None],
                "not_prepared": {n: why for n, why in prepared.items() if why is not None},
            }
        )
        return
    for entry in chosen:
        if entry.name in done:
            out.print(f"seeded {entry.name} → {entry.repo}")
        else:
            out.print(f"{entry.name}: {entry.repo} already exists")
        if prepared[entry.name] is not None:
            out.print(f"{entry.name}: declarations not prepared: {prepared[entry.name]}")


from sei_assets.cli import documents as _documents  # noqa: E402

app.command(name="dossier")(_documents.dossier)
app.command(name="soa")(_documents.soa)
app.command(name="attest")(_documents.attest)

from sei_assets.cli.check import check_app  # noqa: E402

app.add_typer(check_app, name="check")


from sei_assets.cli.scenario import app as _scenario_app  # noqa: E402

app.add_typer(_scenario_app, name="scenario")

from sei_assets.cli.new import new as _new  # noqa: E402
from sei_assets.cli.new import register as _register  # noqa: E402

app.command(name="new")(_new)
app.command(name="register")(_register)

from sei_assets.cli.reference import metrics as _metrics  # noqa: E402
from sei_assets.cli.reference import standards as _standards  # noqa: E402

app.command(name="standards")(_standards)
app.command(name="metrics")(_metrics)

app.add_typer(control_app, name="control")

from sei_assets.cli.incident import incident_app  # noqa: E402

app.add_typer(incident_app, name="incident")

from sei_assets.cli.monitoring import monitoring_app  # noqa: E402

app.add_typer(monitoring_app, name="monitoring")

from sei_assets.cli.sweep import sweep_app  # noqa: E402

app.add_typer(sweep_app, name="sweep")

from sei_assets.cli.people import keys_app, roster_app  # noqa: E402

app.add_typer(keys_app, name="keys")
app.add_typer(roster_app, name="roster")

from sei_assets.cli.log import log_app  # noqa: E402

app.add_typer(log_app, name="log")
app.add_typer(profile_app, name="profile")


def main() -> None:
    """Entry point of the `sei` script: an unexpected exception is an internal error (exit 3)
    with a short message and the file holding its full trace, never a traceback."""
    import traceback

    try:
        app()
    except (SystemExit, KeyboardInterrupt):
        raise
    except SeiError as exc:  # raised outside a command's own handling: still bad input
        err.print(f"error: {bounded(str(exc))}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the one place that turns a crash into exit 3
        try:
            _internal(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        except typer.Exit as done:
            sys.exit(done.exit_code)
