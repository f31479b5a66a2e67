"""Dagster front: every registered AI system as an asset graph, every control an asset check.

Per system (key prefix and group = the system's name):
    manifest, dataset, treatment   observable sources (data versions = the sei.lock input hashes)
    -> assessment_plan             compile (OSCAL)
    -> pipeline_run                the system's reproducer (dvc repro, ...)
    -> evidence_bundle             evaluate, analyse risk, decide the gate, sign
       + one check per control     blocking (ERROR) for enforcement block, WARN for warn
       + signature_valid           verify
    -> release                     promotion of the model; never materializes after a red gate
The engine does the work; this module only wires it into Dagster.
"""

import json
import os
import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets import __version__
from sei_assets.core.controls import Control, compile_controls
from sei_assets.core.registry import SystemEntry

warnings.filterwarnings("ignore", category=dg.BetaWarning)

# Drift observed on disk re-materializes exactly the assets downstream of what changed; the
# release follows only when every blocking check of its parent passed. Sources are observed on
# a cadence (`$SEI_OBSERVE_CRON`, every 5 minutes by default).
OBSERVE = dg.AutomationCondition.cron_tick_passed(os.environ.get("SEI_OBSERVE_CRON", "*/5 * * * *"))
EAGER = dg.AutomationCondition.eager()
RELEASE = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
CHECKS = dg.AutomationCondition.any_deps_updated() & ~dg.AutomationCondition.in_progress()

OPS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=="}


class PipelineRunConfig(dg.Config):
    """`repro: false` evaluates the metrics already there (as `sei run --no-repro` does)."""

    repro: bool = True


def _declared(entry: SystemEntry) -> tuple[list[Control], list[str], str]:
    """The system's controls and its standards with a clause catalogue, from its manifest (the
    repository's, else its seed's), read when the definitions load."""
    from sei_assets.core.conformance import applicable
    from sei_assets.core.manifest import load_manifest

    for base in (entry.repo, entry.seed):
        if base is None:
            continue
        path = base / entry.manifest if entry.manifest else base
        try:
            loaded = load_manifest(path)
        except Exception:  # noqa: BLE001 - an unreadable manifest shows up when the graph runs
            continue
        return compile_controls(loaded.manifest), applicable(loaded), loaded.manifest.pipeline.tool
    return [], [], ""


def _repo(entry: SystemEntry) -> Path:
    from sei_assets.core.workspace import ensure_repository

    return ensure_repository(entry.repo, entry.seed)


def _loaded(entry: SystemEntry):
    from sei_assets.core.manifest import load_manifest

    repo = _repo(entry)
    return load_manifest(repo / entry.manifest if entry.manifest else repo)


def _section_hashes(entry: SystemEntry) -> dict[str, str]:
    from sei_assets.core.lock import read_raw_manifest, section_inputs
    from sei_assets.core.manifest import find_manifest

    repo = _repo(entry)
    path = repo / entry.manifest if entry.manifest else find_manifest(repo)
    return section_inputs(repo, path, read_raw_manifest(path)).hashes


def _combine(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _check_name(control_id: str) -> str:
    return control_id.replace("-", "_").replace(".", "_")


def _control_table(bundle: dict[str, Any]) -> str:
    rows = [
        "| control | metric | actual | constraint | mode | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in bundle["control_results"]:
        actual = "—" if r["actual_value"] is None else f"{r['actual_value']:.4f}"
        verdict = "PASS" if r["passed"] else "**FAIL**"
        if r.get("underpowered"):
            verdict += " (underpowered)"
        rows.append(
            f"| {r['control_id']} | {r['metric_key']} | {actual} | "
            f"{OPS[r['operator']]} {r['threshold']:g} | {r['enforcement_mode']} | {verdict} |"
        )
    return "\n".join(rows)


def _risk_table(bundle: dict[str, Any]) -> str:
    rows = [
        "| priority | risk | inherent | residual | treatment needed | cycle |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(bundle["risk_analysis"], key=lambda x: x["priority"]):
        rows.append(
            f"| {r['priority']} | {r['risk_id']} | {r['inherent_overall']} | "
            f"{r.get('residual_overall', '—')} | {r['requires_treatment']} | "
            f"{r['cycle']['status']} |"
        )
    return "\n".join(rows)


def _fairness_plot(repo: Path, out: Path) -> tuple[str | None, Path | None]:
    """A bar chart (markdown, plus a PNG file) of selection rate per group, when the pipeline
    reports it in `fairness_by_group.json`."""
    src = repo / "fairness_by_group.json"
    if not src.is_file():
        return None, None
    try:
        doc = json.loads(src.read_text())
    except ValueError:
        return None, None
    if isinstance(doc, dict):  # {group: {selection_rate: ...}}
        doc = [{"group": g, **v} for g, v in doc.items() if isinstance(v, dict)]
    rows = []
    for rec in doc if isinstance(doc, list) else []:
        if isinstance(rec, dict) and "selection_rate" in rec:
            group = rec.get("group") or next(
                (str(v) for k, v in rec.items() if isinstance(v, str)), "?"
            )
            rows.append((str(group), rec))
    if not rows:
        return None, None
    lines = ["| group | selection rate | |", "|---|---|---|"]
    for g, v in rows:
        rate = float(v["selection_rate"])
        lines.append(f"| {g} | {rate:.3f} | {'█' * round(rate * 40)} |")
    png = None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 2.2))
        ax.barh([g for g, _ in rows], [float(v["selection_rate"]) for _, v in rows])
        ax.set_xlabel("selection rate (share approved)")
        ax.set_xlim(0, 1)
        fig.tight_layout()
        png = out / "fairness_by_group.png"
        fig.savefig(png, dpi=100)
        plt.close(fig)
    except Exception:  # noqa: BLE001 - the markdown chart stands on its own
        png = None
    return "\n".join(lines), png


def system_definitions(entry: SystemEntry) -> tuple[list, list]:
    """(assets, asset checks) of one AI system."""
    name = entry.name
    key = lambda leaf: dg.AssetKey([name, leaf])  # noqa: E731
    controls, standards, tool = _declared(entry)

    def _observe(section_names: tuple[str, ...]):
        def observe(context: dg.AssetExecutionContext) -> dg.DataVersion:
            hashes = _section_hashes(entry)
            return dg.DataVersion(_combine(*(hashes[s] for s in section_names)))

        return observe

    sources = [
        dg.observable_source_asset(
            key=key(leaf), group_name=name, description=desc, automation_condition=OBSERVE
        )(_observe(sections))
        for leaf, sections, desc in [
            (
                "manifest",
                ("classification", "risks"),
                "The manifest's declarations (scope): a change is drift class A.",
            ),
            (
                "dataset",
                ("data_governance", "measurement-data"),
                "The dataset and its Croissant description: a change is drift class C.",
            ),
            (
                "treatment",
                ("measurement-model",),
                "Training code, params and pipeline definition: a change is drift class B.",
            ),
        ]
    ]

    @dg.asset(
        key=key("assessment_plan"),
        automation_condition=EAGER,
        group_name=name,
        deps=[key("manifest")],
        code_version=__version__,
        kinds={"oscal"},
        description="The risk program compiled to an OSCAL component-definition.",
    )
    def assessment_plan(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.engine import compile_plan
        from sei_assets.core.fsutil import sha256_file

        outcome = compile_plan(_loaded(entry))
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(outcome.plan_path)),
                "control_count": len(outcome.controls),
                "controls": ", ".join(c.control_id for c in outcome.controls),
                "monitoring_measures": ", ".join(outcome.monitoring) or "none",
            },
            data_version=dg.DataVersion(sha256_file(outcome.plan_path)[:24]),
        )

    @dg.asset(
        key=key("pipeline_run"),
        automation_condition=EAGER,
        group_name=name,
        deps=[key("assessment_plan"), key("dataset"), key("treatment")],
        code_version=__version__,
        kinds={"python"},
        description="The ML pipeline reproduced through the system's own tool.",
    )
    def pipeline_run(
        context: dg.AssetExecutionContext, config: PipelineRunConfig
    ) -> dg.MaterializeResult:
        from sei_assets.core.engine import reproduce

        run = reproduce(_loaded(entry), repro=config.repro)
        context.log.info(
            f"{run.tool}: {run.log_tail}" if run.log_tail else f"{run.tool}: not reproduced"
        )
        return dg.MaterializeResult(
            metadata={
                "tool": run.tool,
                "reproduced": run.reproduced,
                "pipeline_lock_digest": run.lock_digest,
                "metrics": dg.MetadataValue.json(run.metrics),
            },
            data_version=dg.DataVersion(run.lock_digest.removeprefix("sha256:")[:24]),
        )

    @dg.asset(
        key=key("evidence_bundle"),
        automation_condition=EAGER,
        group_name=name,
        deps=[key("pipeline_run")],
        code_version=__version__,
        kinds={"json"},
        description="Controls, risk analysis, gate: the signed evidence bundle.",
    )
    def evidence_bundle(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.engine import evaluate, reproduce, seal
        from sei_assets.core.fsutil import sha256_file

        loaded = _loaded(entry)
        run = reproduce(loaded, repro=False)
        upstream = context.instance.get_latest_materialization_event(key("pipeline_run"))
        if upstream and upstream.asset_materialization:
            meta = upstream.asset_materialization.metadata
            run.reproduced = bool(getattr(meta.get("reproduced"), "value", False))
            run.details["dagster_run_id"] = upstream.run_id
        bundle, _results, bom_text, inputs = evaluate(loaded, run)
        files = seal(loaded, bundle, bom_text, inputs)
        residual = bundle["overall_residual"] or {}
        md, png = _fairness_plot(loaded.repo, files["bundle"].parent)
        metadata: dict[str, Any] = {
            "gate": bundle["gate"],
            "gate_failures": ", ".join(bundle["gate_failures"]) or "none",
            "controls": dg.MetadataValue.md(_control_table(bundle)),
            "risk_levels": dg.MetadataValue.md(_risk_table(bundle)),
            "overall_residual": f"{residual.get('level')} ({residual.get('evaluation')} "
            f"{residual.get('criterion')})",
            "treatment_events": len(bundle["treatment_events"]),
            "bundle": dg.MetadataValue.path(str(files["bundle"])),
            "signature": dg.MetadataValue.path(str(files["signature"])),
            "sei_lock": dg.MetadataValue.path(str(files["lock"])),
        }
        if md:
            metadata["selection_rate_by_group"] = dg.MetadataValue.md(md)
        if png:
            metadata["selection_rate_plot"] = dg.MetadataValue.path(str(png))
        context.log.info(f"gate {bundle['gate']}")
        return dg.MaterializeResult(
            metadata=metadata, data_version=dg.DataVersion(sha256_file(files["bundle"])[:24])
        )

    specs = [
        dg.AssetCheckSpec(
            _check_name(c.control_id),
            asset=key("evidence_bundle"),
            blocking=c.blocking,
            description=f"{c.metric_key} {OPS[c.operator]} {c.threshold_text} "
            f"({c.enforcement_mode}, {c.severity}; {c.risk_id})",
            metadata={"control_id": c.control_id, "enforcement_mode": c.enforcement_mode},
            automation_condition=CHECKS,
        )
        for c in controls
    ]
    specs.append(
        dg.AssetCheckSpec(
            "signature_valid",
            asset=key("evidence_bundle"),
            blocking=True,
            description="The bundle's DSSE signature verifies offline.",
            automation_condition=CHECKS,
        )
    )
    by_check = {_check_name(c.control_id): c for c in controls}

    @dg.multi_asset_check(
        specs=specs,
        name=f"{name}_controls",
        can_subset=True,
        description="One check per compiled control, plus the signature.",
    )
    def control_checks(context: dg.AssetCheckExecutionContext):
        from sei_assets.core import signing
        from sei_assets.core.errors import SeiError

        repo = _repo(entry)
        bundle_path = repo / ".sei" / "bundle.json"
        bundle = json.loads(bundle_path.read_text()) if bundle_path.is_file() else {}
        results = {r["control_id"]: r for r in bundle.get("control_results", [])}
        selected = {k.name for k in context.selected_asset_check_keys}
        for check_name, control in by_check.items():
            if check_name not in selected:
                continue
            r = results.get(control.control_id)
            severity = (
                dg.AssetCheckSeverity.ERROR if control.blocking else dg.AssetCheckSeverity.WARN
            )
            power = (r or {}).get("power") or {}
            yield dg.AssetCheckResult(
                check_name=check_name,
                asset_key=key("evidence_bundle"),
                passed=bool(r and r["passed"]),
                severity=severity,
                metadata={
                    "actual_value": (r or {}).get("actual_value"),
                    "threshold": control.threshold,
                    "operator": OPS[control.operator],
                    "ci_low": power.get("ci_low"),
                    "ci_high": power.get("ci_high"),
                    "underpowered": bool((r or {}).get("underpowered")),
                    "risk_id": control.risk_id,
                    "clauses": ", ".join([*control.frameworks, *control.standard_clauses]) or "—",
                    "failure": (r or {}).get("failure")
                    or ("no result in the bundle" if not r else ""),
                },
            )
        if "signature_valid" in selected:
            try:
                verdict = signing.verify_evidence(repo)
                ok, detail = (
                    verdict.ok,
                    "; ".join(
                        f"{f.path.name}: {'ok' if f.ok else f.reason}" for f in verdict.files
                    ),
                )
            except SeiError as exc:
                ok, detail = False, str(exc)
            yield dg.AssetCheckResult(
                check_name="signature_valid",
                asset_key=key("evidence_bundle"),
                passed=ok,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"detail": detail},
            )

    @dg.asset(
        key=key("release"),
        automation_condition=RELEASE,
        group_name=name,
        deps=[key("evidence_bundle")],
        code_version=__version__,
        kinds={"json"},
        description="Promotion of the model: records the released model's digest. "
        "Blocked by any failing blocking control.",
    )
    def release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.release import promote

        record = promote(_repo(entry))
        return dg.MaterializeResult(metadata={k: str(v) for k, v in record.items()})

    assets = [
        *sources,
        assessment_plan,
        pipeline_run,
        evidence_bundle,
        release,
        *governance_assets(entry, standards),
        *_tool_assets(entry, tool),
    ]
    return assets, [control_checks]


def _system_for_repo(repo: Path) -> SystemEntry:
    """An ad-hoc registry entry for the repository the CLI was pointed at."""
    import re

    from sei_assets.core.manifest import load_manifest

    name = load_manifest(repo).manifest.system.name
    slug = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return SystemEntry(slug if slug[:1].isalpha() else f"s_{slug}", Path(repo).resolve())


def local_instance() -> dg.DagsterInstance:
    """The local instance: `$DAGSTER_HOME`, by default `.sei-state/dagster` (SQLite storage)."""
    import os

    from sei_assets.core.paths import state_dir

    if not os.environ.get("DAGSTER_HOME"):
        home = state_dir() / "dagster"
        home.mkdir(parents=True, exist_ok=True)
        os.environ["DAGSTER_HOME"] = str(home)
    global _INSTANCE
    home = Path(os.environ["DAGSTER_HOME"])
    if _INSTANCE is not None and _INSTANCE[0] == home:
        return _INSTANCE[1]
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    # One process at a time creates and migrates the SQLite storage (concurrent first runs
    # otherwise race to stamp alembic_version), and once per process.
    with open(home / ".sei-instance.lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        config = home / "dagster.yaml"
        if not config.exists():  # defaults: SQLite run, event-log and schedule storage here
            config.write_text("# sei-assets local instance: SQLite storage here (defaults).\n")
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # storages are created and migrated under the lock
        instance.get_latest_materialization_event(dg.AssetKey("sei_instance_probe"))
        instance.all_instigator_state()
    _INSTANCE = (home, instance)
    return instance


_INSTANCE: tuple[Path, dg.DagsterInstance] | None = None


def _deepest_error(error: Any) -> tuple[str, str]:
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.cls_name or "", error.message.strip()


def materialize_system(repo: Path, stage: str, repro: bool = True) -> tuple[int, str | None]:
    """`sei compile` (stage "compile") or `sei run` (stage "run") as a Dagster run on the local
    instance, so that it shows in the UI's history. Returns (exit code, error message)."""
    entry = _system_for_repo(repo)
    assets, checks = system_definitions(entry)
    leaves = (
        ["assessment_plan"]
        if stage == "compile"
        else ["assessment_plan", "pipeline_run", "evidence_bundle"]
    )
    selection = dg.AssetSelection.assets(*[dg.AssetKey([entry.name, leaf]) for leaf in leaves])
    op = f"{entry.name}__pipeline_run"
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if stage == "run":
        run_config["ops"] = {op: {"config": {"repro": repro}}}
    result = dg.materialize(
        [*assets, *checks],
        selection=selection,
        instance=local_instance(),
        run_config=run_config,
        raise_on_error=False,
        tags={"sei/verb": stage, "sei/system": entry.name},
    )
    failures = [
        e for e in result.get_step_failure_events() if e.step_key != f"{entry.name}_controls"
    ]
    if failures:
        cls, message = _deepest_error(failures[0].step_failure_data.error)
        return 2, message
    if stage == "compile":
        return 0, None
    bundle = json.loads((entry.repo / ".sei" / "bundle.json").read_text(encoding="utf-8"))
    return (0 if bundle["gate"] == "green" else 1), None


def sweep_definitions(entries: list[SystemEntry]) -> tuple[list, list, list, list]:
    """(assets, checks, jobs, schedules) of the compliance sweep over every registered system.

    The `compliance_sweep` job refreshes every system's chain (plan, pipeline, evidence and their
    checks; a red system fails only its own steps); `sweep_summary` follows by automation as soon
    as the bundles it reads have changed, and carries one review-interval check per system.
    """
    from sei_assets.core.paths import state_dir

    bundles = [dg.AssetKey([e.name, "evidence_bundle"]) for e in entries]

    @dg.asset(
        key="sweep_summary",
        group_name="compliance",
        deps=bundles,
        automation_condition=EAGER,
        code_version=__version__,
        kinds={"json"},
        description="Per registered system: gate, stale sections, last evidence, overall "
        "residual, review due. Signed JSON report.",
    )
    def sweep_summary(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.sweep import sweep_report, write_report

        report = sweep_report(entries)
        path = write_report(report, state_dir() / "sweep")
        rows = [
            "| system | gate | stale | last evidence | overall residual | review due |",
            "|---|---|---|---|---|---|",
        ]
        for r in report["systems"]:
            rows.append(
                f"| {r['system']} | {r.get('gate') or '—'} | "
                f"{', '.join(r.get('stale_sections') or []) or 'fresh'} | "
                f"{r.get('generated_at') or '—'} | {r.get('overall_residual') or '—'} | "
                f"{r.get('review_due')} |"
            )
        totals = report["totals"]
        return dg.MaterializeResult(
            metadata={
                "systems": dg.MetadataValue.md("\n".join(rows)),
                "report": dg.MetadataValue.path(str(path)),
                **{k: v for k, v in totals.items()},
            },
        )

    specs = [
        dg.AssetCheckSpec(
            f"{e.name}_review_current",
            asset="sweep_summary",
            description=f"{e.name}: evidence younger than its review_interval.",
            automation_condition=CHECKS,
        )
        for e in entries
    ]
    checks = []
    if specs:

        @dg.multi_asset_check(specs=specs, name="review_intervals", can_subset=True)
        def review_intervals(context: dg.AssetCheckExecutionContext):
            from sei_assets.core.sweep import system_row

            selected = {k.name for k in context.selected_asset_check_keys}
            for e in entries:
                name = f"{e.name}_review_current"
                if name not in selected:
                    continue
                row = system_row(e)
                yield dg.AssetCheckResult(
                    check_name=name,
                    asset_key=dg.AssetKey("sweep_summary"),
                    passed=row.get("review_due") is False,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "generated_at": str(row.get("generated_at")),
                        "review_interval": str(row.get("review_interval")),
                        "review_due": str(row.get("review_due")),
                    },
                )

        checks.append(review_intervals)

    chain = dg.AssetSelection.assets(
        *[
            dg.AssetKey([e.name, leaf])
            for e in entries
            for leaf in ("assessment_plan", "pipeline_run", "evidence_bundle")
        ]
    )
    job = dg.define_asset_job(
        "compliance_sweep",
        selection=chain,
        description="Refresh every registered system's evidence.",
    )
    schedule = dg.ScheduleDefinition(
        name="daily_compliance_sweep",
        job=job,
        cron_schedule=os.environ.get("SEI_SWEEP_CRON", "0 6 * * *"),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The compliance sweep (cron from $SEI_SWEEP_CRON, daily at 06:00 by default).",
    )
    return [sweep_summary], checks, [job], [schedule]


def _tool_assets(entry: SystemEntry, tool: str) -> list:
    """The pipeline tool's own assets when it has them: a dbt project's models (dagster-dbt)."""
    if tool != "dbt" or not (entry.repo / ".git").exists():
        return []
    from sei_assets.core.reproducers.dbt import dbt_assets_for

    try:
        return [dbt_assets_for(entry.repo, entry.name)]
    except Exception as exc:  # noqa: BLE001 - the system's own graph still loads
        warnings.warn(f"{entry.name}: the dbt models are not in the graph: {exc}", stacklevel=2)
        return []


def _signed_file(path: Path) -> dict[str, Any]:
    return {
        "file": dg.MetadataValue.path(str(path)),
        "signature": dg.MetadataValue.path(str(path) + ".sig"),
    }


def governance_assets(entry: SystemEntry, standards: list[str]) -> list:
    """risk_cycle, one conformance asset per applicable standard, impact_assessment and
    risk_backlog: each signed, each downstream of what it reads."""
    from sei_assets.core.conformance import standard_slug

    name = entry.name
    key = lambda *leaf: dg.AssetKey([name, *leaf])  # noqa: E731
    common = {
        "group_name": name,
        "code_version": __version__,
        "kinds": {"json"},
        "automation_condition": EAGER,
    }

    @dg.asset(
        key=key("risk_cycle"),
        deps=[key("evidence_bundle")],
        description="The risk-management cycle rebuilt from git history (reconstruct).",
        **common,
    )
    def risk_cycle(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.engine import reconstruct_cycle

        doc, path = reconstruct_cycle(_repo(entry))
        payload = doc["payload"]
        return dg.MaterializeResult(
            metadata={
                **_signed_file(path),
                "lifecycle": payload["lifecycle"]["state"],
                "snapshots": len(payload["snapshots"]),
                "treatment_arcs": len(payload.get("treatment_arcs", [])),
            }
        )

    def conformance_asset(standard: str):
        @dg.asset(
            key=key("conformance", standard_slug(standard)),
            deps=[key("evidence_bundle")],
            description=f"The evidence projected onto {standard}'s clause catalogue.",
            **common,
        )
        def _conformance(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            from sei_assets.core.engine import project_conformance

            ((doc, path),) = project_conformance(_repo(entry), [standard])
            clauses = doc["payload"]["clauses"]
            counts: dict[str, int] = {}
            for c in clauses:
                counts[c["decision"]] = counts.get(c["decision"], 0) + 1
            table = ["| clause | title | decision | measures |", "|---|---|---|---|"] + [
                f"| {c['clause_id']} | {c['title']} | {c['decision']} | "
                f"{', '.join(c['measures']) or '—'} |"
                for c in clauses
            ]
            return dg.MaterializeResult(
                metadata={
                    **_signed_file(path),
                    **counts,
                    "clauses": dg.MetadataValue.md("\n".join(table)),
                }
            )

        return _conformance

    @dg.asset(
        key=key("impact_assessment"),
        deps=[key("manifest"), key("assessment_plan")],
        description="Impact and foreseeable misuse (ISO/IEC 42001 6.1.4, AI Act Art. 27).",
        **common,
    )
    def impact_assessment(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.engine import assess_impact

        doc, path = assess_impact(_repo(entry))
        findings = doc["payload"].get("findings", [])
        return dg.MaterializeResult(metadata={**_signed_file(path), "findings": len(findings)})

    @dg.asset(
        key=key("risk_backlog"),
        deps=[key("manifest"), key("assessment_plan")],
        description="Risks the manifest does not declare, proposed from the knowledge "
        "catalogue (assess).",
        **common,
    )
    def risk_backlog(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.engine import propose_risks

        doc, path = propose_risks(_repo(entry))
        proposals = doc["payload"].get("proposals", [])
        return dg.MaterializeResult(
            metadata={
                **_signed_file(path),
                "proposals": len(proposals),
                "proposed": ", ".join(p["id"] for p in proposals) or "none",
            }
        )

    return [risk_cycle, *[conformance_asset(s) for s in standards], impact_assessment, risk_backlog]
