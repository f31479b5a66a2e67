"""The main job: the registered loan system end to end with real git, DVC and Dagster.

It works on the system that `systems.yaml` registers and the Dagster UI shows (by default
`loan_scoring`, the manifest's `loan-scoring`, in `.sei-state/systems/loan`), on the local
instance (`$DAGSTER_HOME`, by default `.sei-state/dagster`), so that the UI afterwards holds
that system's V1 red and V2 green materializations, its checks and the demo's runs.

V1 (plain logistic regression) fails the blocking fairness control (gate red), governance is
filled all the same and the release is blocked; the treatment (fairlearn mitigation) is
committed; V2 passes (gate green) with a treatment event and is released; the evidence verifies
offline and `status` is fresh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sei_assets.core.exitcodes import ExitCode
from sei_assets.core.paths import project_root, resources_dir, state_dir
from sei_assets.core.registry import SystemEntry, load_registry


def _step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def _sh(cwd: Path, *args: str, expect: int | None = 0) -> int:
    print("$", " ".join(args), flush=True)
    code = subprocess.call(list(args), cwd=cwd)
    if expect is not None and code != expect:
        sys.exit(f"demo: `{' '.join(args)}` exited {code}, expected {expect}")
    return code


#: Dagster's console logger at ERROR: a step that fails prints its stack. For runs the demo
#: expects to fail (a red gate, a blocked release), only CRITICAL is printed and the demo says
#: the verdict itself (:func:`run_verdict`).
QUIET = '{"loggers": {"console": {"config": {"log_level": "ERROR"}}}}'
SILENT = '{"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}'


def run_verdict(home: Path) -> str:
    """The newest run of the instance at ``home`` as a verdict: its name, its gate and outcome
    tags, and each failed step's own description (a red gate names the control, its value, its
    bound and its interval), without Dagster's stack."""
    import dagster as dg

    from sei_assets.core.errors import deepest_message

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return "no run recorded"
        run = runs[0]
        reasons = []
        for record in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        ).records:
            event = record.event_log_entry.dagster_event
            if event is None or event.step_failure_data is None:
                continue
            data = event.step_failure_data
            user = data.user_failure_data
            if user is not None and user.description:
                reasons.append(f"  {event.step_key}: {user.description}")
            elif data.error is not None:
                reasons.append(f"  {event.step_key}: {deepest_message(data.error)}")
    name = run.tags.get("sei/run") or run.tags.get("dagster/run_name") or run.job_name
    tags = ", ".join(
        f"{k}={v}" for k, v in sorted(run.tags.items()) if k.startswith("sei/") and k != "sei/run"
    )
    head = f"run {name}: {run.status.value.lower()}"
    return "\n".join([head + (f" ({tags})" if tags else ""), *reasons])


def registered(name: str | None, systems: Path | None) -> SystemEntry:
    """The registered system the demo runs on: ``name``, else the one seeded from
    resources/loan."""
    entries = load_registry(systems)
    loan = (resources_dir() / "loan").resolve()
    for e in entries:
        if (e.name == name) if name else (e.seed is not None and e.seed.resolve() == loan):
            return e
    wanted = name or "a system seeded from resources/loan"
    sys.exit(f"demo: {wanted} is not registered in {systems or 'systems.yaml'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", help="the registered system (default: the loan system)")
    parser.add_argument("--systems", type=Path, help="the registry (default: systems.yaml)")
    args = parser.parse_args(argv)
    entry = registered(args.system, args.systems)
    repo = entry.repo
    home = Path(os.environ.get("DAGSTER_HOME") or state_dir() / "dagster").resolve()
    os.environ["DAGSTER_HOME"] = str(home)  # the CLI's runs and `dagster` share one instance
    if args.systems:
        os.environ["SEI_SYSTEMS_FILE"] = str(args.systems.resolve())
    os.environ.setdefault("GIT_AUTHOR_NAME", "Loan Demo")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "demo@example-loan.test")
    os.environ.setdefault("GIT_COMMITTER_NAME", os.environ["GIT_AUTHOR_NAME"])
    os.environ.setdefault("GIT_COMMITTER_EMAIL", os.environ["GIT_AUTHOR_EMAIL"])
    bin_dir = Path(sys.executable).parent
    sei, dagster = str(bin_dir / "sei"), str(bin_dir / "dagster")
    graph = [dagster, "asset", "materialize", "-m", "sei_assets.definitions"]
    graph += ["--select", f"group:{entry.name}", "--config-json"]

    _step(f"1. seed the registered system {entry.name} at V1 in {repo}")
    if repo.exists():
        print(f"(starting again from V1: removing the earlier {repo})")
        shutil.rmtree(repo)
    init = [sei, "init", "--system", entry.name]
    _sh(project_root(), *init, *_registry(args.systems))
    _step("2. compile the risk program to OSCAL")
    _sh(repo, sei, "compile")
    _step("3. run V1 through DVC: the fairness control must fail (gate red, exit 1)")
    _sh(repo, sei, "run", expect=ExitCode.FAILED)
    _step("4. the whole graph as CI runs it: red fails the run, governance is still filled")
    _sh(project_root(), *graph, SILENT, expect=1)
    print(run_verdict(home))
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "run: V1 evidence (gate red)")
    _step("5. the treatment: fairlearn mitigation replaces train.py")
    shutil.copyfile(resources_dir() / "loan" / "treatment" / "train.py", repo / "train.py")
    _sh(
        repo,
        "git",
        "commit",
        "-qam",
        "treatment: demographic-parity mitigation (ISO/IEC 23894 6.5)",
    )
    _sh(repo, sei, "status", expect=ExitCode.FAILED)
    _step("6. run V2: gate green, one treatment event")
    _sh(repo, sei, "run", expect=ExitCode.OK)
    _step("7. the whole graph again: green, governance refreshed, the model released")
    _sh(project_root(), *graph, QUIET, expect=0)
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "run: V2 evidence (gate green)")
    _step("7b. the compliance sweep's summary over every registered system")
    summary = [dagster, "asset", "materialize", "-m", "sei_assets.definitions"]
    _sh(project_root(), *summary, "--select", "sweep_summary", "--config-json", QUIET)
    _step("8. verify the signed evidence offline, and status")
    _sh(repo, sei, "verify")
    _sh(repo, sei, "status", expect=ExitCode.OK)
    post_market(repo, entry.name, sei, dagster, home)
    print(f"\ndemo done: {entry.name}'s evidence in {repo / '.sei'}")
    print("open it in the Dagster UI (V1 red, V2 green, checks, these runs):")
    print(f"  cd {project_root()} && . .venv/bin/activate")
    print(f"  DAGSTER_HOME={home} dg dev -w workspace.yaml   # then http://localhost:3000")
    return ExitCode.OK


def post_market(repo: Path, name: str, sei: str, dagster: str, home: Path) -> None:
    """After V2's release: 120 days of production decisions, monitored as daily partitions;
    the injected population shift (2026-03-02) and fairness degradation (2026-04-06) are found
    on their days, the risks reopen, the next release is blocked, an incident is tracked."""
    _step("9. production: 120 days of decisions land (shift from 2026-03-02, bias from 04-06)")
    _sh(repo, sys.executable, "monitoring/generate_batches.py", "production")
    _step("10. backfill the 120 daily partitions of the monitoring (one run)")
    days = ["--partition-range", "2026-01-01...2026-04-30", "--config-json", QUIET]
    _materialize(dagster, f"{name}/monitoring", *days)
    _step("11. status: the breaches, the reopened risks (exit 1)")
    _sh(repo, sei, "status", expect=ExitCode.FAILED)
    _step("12. the next release is blocked while the breaches are open")
    _blocked_release(name, dagster, home)
    _step("13. a serious incident (Art. 73) is opened with its 15-day deadline, and tracked")
    _sh(
        repo,
        sei,
        "incident",
        "open",
        "--title",
        "Women approved at 45 % against 70 % for men since 2026-04-06",
        "--class",
        "serious",
        "--breach",
        "fairness-drift",
        "--risk",
        "risk.unfair-credit-exclusion",
        "--by",
        "Credit Risk Officer <risk@example-loan.test>",
    )
    _sh(repo, sei, "incident", "list")
    _step("14. the monthly post-market summary (Annex IV point 9): April's breaches, signed")
    _sh(repo, sei, "monitoring", "summary", "--month", "2026-04", expect=1)
    _sh(repo, sei, "verify")
    _sh(repo, "git", "add", ".sei")
    _sh(repo, "git", "commit", "-qm", "monitoring: 120 days, breaches and an incident")
    _step("15. a name anyone can write accepts nothing: no roster is trusted on this machine")
    _sh(repo, sei, "approve", "--by", "Mallory <m@evil.test>", "--accept-residual")
    _sh(repo, sei, "lifecycle")
    _blocked_release(name, dagster, home)


def _blocked_release(name: str, dagster: str, home: Path) -> None:
    """Materialize the system's release, which must be refused (exit 1), and say why."""
    _materialize(dagster, f"{name}/release", "--config-json", SILENT, expect=1)
    print(run_verdict(home))


def _materialize(dagster: str, select: str, *options: str, expect: int = 0) -> None:
    """`dagster asset materialize` of ``select`` in the systems' code location."""
    argv = [dagster, "asset", "materialize", "-m", "sei_assets.definitions", "--select", select]
    _sh(project_root(), *argv, *options, expect=expect)


def _registry(systems: Path | None) -> list[str]:
    return ["--systems", str(systems.resolve())] if systems else []


if __name__ == "__main__":
    raise SystemExit(main())
