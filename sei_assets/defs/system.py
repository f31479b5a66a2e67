"""One registered AI system as an asset graph; every control an asset check.

Per system (key prefix and group = the system's name):
    manifest, dataset, treatment   observable sources (data versions = the sei.lock input hashes)
    -> assessment_plan             compile (OSCAL); check `manifest_valid`
    -> pipeline_run                the system's reproducer (dvc repro, ...)
    -> evidence_bundle             evaluate, analyse risk, decide the gate, sign
    -> gate                        the gate at a glance (status line, each control's value)
       + one check per control     blocking (ERROR) for enforcement block, WARN for warn;
                                   a monitor control's check reports its value and never fails
       + signature_valid           verify
    -> risk_cycle, conformance/*,  governance (governance.py), from the evidence, red or green
       impact_assessment, ...
    -> release                     promotion of the model; never after a red gate
The plan, pipeline, evidence, gate and governance assets are one subsettable multi-asset: one
step computes what is selected in that order and hands each result to the next in memory (the
pipeline's run to the evidence, the bundle to the gate); `evidence_bundle` selected without
`pipeline_run` evaluates the metrics already there, as supplied. The control checks are a step
of their own after it, and `release` an asset behind them: a red gate fails the run and stops
the promotion, while conformance, risk cycle, impact and the sweep still show the red evidence.
Three definitions per system (chain, checks, release) rather than one per asset, and one for
every system's sources, keep a code location of hundreds of systems quick to load
(bench/README.md). Loading reads each system's prepared declarations
(core/declarations.py) or else its manifest, and runs nothing: a manifest that does not load
still gives the system its graph, and its `manifest_valid` check says why.
"""

import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg

from sei_assets import __version__
from sei_assets.core.constraint import SYMBOLS
from sei_assets.core.controls import Control
from sei_assets.core.declarations import Declared
from sei_assets.core.declarations import read as declared
from sei_assets.core.errors import SeiError
from sei_assets.core.gate import alarm
from sei_assets.core.registry import SystemEntry
from sei_assets.core.version import treatment_version
from sei_assets.defs.automation import CHECKS, DATA_VERSION_TAG, EAGER, RELEASE
from sei_assets.defs.keys import check_name, system_key
from sei_assets.defs.metadata import (
    caveats,
    check_line,
    control_values,
    controls_table,
    fairness_plot,
    fairness_table,
    gate_line,
    group_rates,
    png_markdown,
    relative_path,
    risk_table,
)
from sei_assets.defs.resources import SeiSettings
from sei_assets.defs.verdict import (
    figure,
    interval,
    red_failure,
    tag_outcome,
    tag_run,
    verdict_tags,
)


def repository(entry: SystemEntry) -> Path:
    """The system's repository; an error naming the seeding step when it does not exist."""
    from sei_assets.core.workspace import require_repository

    return require_repository(entry.repo, entry.seed)


def loaded_manifest(entry: SystemEntry) -> Any:
    """The system's manifest, loaded now (at run time, not load time)."""
    from sei_assets.core.manifest import load_manifest

    return load_manifest(entry.manifest_path(repository(entry)))


_SIGNATURES: dict[Any, inspect.Signature] = {}
F = TypeVar("F", bound=Callable)


def same_signature(fn: F) -> F:
    """``fn`` with its signature computed once for every function of its code: Dagster inspects
    a step function's signature about fifteen times while it loads, and the functions of every
    system (one closure each) have the same one. `inspect.signature` returns `__signature__`."""
    sig = _SIGNATURES.get(fn.__code__)
    if sig is None:
        sig = _SIGNATURES[fn.__code__] = inspect.signature(fn)
    fn.__signature__ = sig  # type: ignore[attr-defined]  # read by inspect.signature
    return fn


def _combine(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


SOURCES = [
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


def source_versions(
    entry: SystemEntry, hashes: dict[str, str] | None = None
) -> dict[dg.AssetKey, str]:
    """The data version of each source from the sections' input hashes (``hashes``: the
    lock's, else computed now from the repository); {} when they cannot be read."""
    if hashes is None:
        from sei_assets.core.lock import section_hashes

        if not (entry.repo / ".git").exists():
            return {}
        try:
            hashes = section_hashes(entry.repo, entry.manifest)
        except SeiError:
            return {}
    try:
        return {
            system_key(entry.name, leaf): _combine(*(hashes[s] for s in sections))
            for leaf, sections, _d in SOURCES
        }
    except KeyError:
        return {}


def sources(entries: list[SystemEntry]) -> list:
    """The three observable sources of every system in ``entries``, as one subsettable multi
    source asset (none without systems): observing them is one pass over the repositories, as
    the `sei_observe` sensor makes it when it records their observations without a run
    (automation.py). One definition for all systems, not one each, keeps a code location of
    hundreds of systems quick to load."""
    owner: dict[dg.AssetKey, SystemEntry] = {}
    specs = []
    for entry in entries:
        for leaf, _sections, desc in SOURCES:
            key = system_key(entry.name, leaf)
            owner[key] = entry
            specs.append(dg.AssetSpec(key, group_name=entry.name, description=desc))
    if not specs:
        return []

    @dg.multi_observable_source_asset(specs=specs, name="sei_sources", can_subset=True)
    def observe_sources(context: dg.AssetExecutionContext):
        versions: dict[str, dict[dg.AssetKey, str]] = {}
        for asset_key in context.selected_asset_keys:
            entry = owner[asset_key]
            if entry.name not in versions:
                versions[entry.name] = source_versions(entry)
            state = "not-seeded" if not (entry.repo / ".git").exists() else "unreadable"
            version = versions[entry.name].get(asset_key, state)
            yield dg.ObserveResult(asset_key=asset_key, data_version=dg.DataVersion(version))

    return [observe_sources]


def system_definitions(entry: SystemEntry) -> tuple[list, list]:
    """(assets, asset checks) of one AI system on its own: what `systems_definitions` gives
    for it alone (the CLI's runs and the tests use this)."""
    return systems_definitions([entry])


def systems_definitions(entries: list[SystemEntry]) -> tuple[list, list]:
    """(assets, asset checks) of the systems in ``entries``: per system its chain and
    governance as one subsettable multi-asset, its release, its tool's own assets and its
    control checks; and every system's sources as one definition (`sources`)."""
    from sei_assets.defs.dbt import tool_assets

    assets, checks = sources(entries), []
    for entry in entries:
        decl = declared(entry)
        assets += [_chain(entry, decl), _release(entry), *tool_assets(entry, decl.tool)]
        checks.append(control_checks(entry, decl.controls))
        if decl.monitoring:  # only a system that declares monitoring.source is partitioned
            from sei_assets.defs.monitoring import incidents_asset, monitoring_assets

            assets += [*monitoring_assets(entry, decl.monitoring), incidents_asset(entry)]
    return assets, checks


def system_job(entry: SystemEntry) -> Any:
    """The system's job, named after it: its computed assets and checks (not the observed
    sources). `sei compile` / `sei run` run a subset of it, so their runs show under the
    system's name in the code location (not an ephemeral job)."""
    sources = [system_key(entry.name, leaf) for leaf, _s, _d in SOURCES]
    return dg.define_asset_job(
        name=entry.name,
        selection=dg.AssetSelection.groups(entry.name) - dg.AssetSelection.assets(*sources),
        description=f"The assurance of {entry.name}: plan, pipeline, evidence, gate and its "
        "checks, governance, release.",
        tags={"sei/system": entry.name},
    )


# Run config of the chain's and the release's steps. Plain config schemas and resource keys
# rather than typed parameters: Dagster inspects a step function's signature many times while
# it loads, and hundreds of systems make that a tenth of the load (bench/README.md).
SYSTEM_CONFIG = {
    "repro": dg.Field(
        bool,
        default_value=True,
        description="false evaluates the metrics already there (as `sei run --no-repro` does).",
    )
}
RELEASE_CONFIG = {
    "accept_supplied_metrics": dg.Field(
        bool,
        default_value=False,
        description="Supplied metrics (`--no-repro`) are never released unless accepted here.",
    ),
    "accept_residual": dg.Field(
        str,
        default_value="",
        description="Management's reason for accepting the residual risk (a red gate, or an "
        "open post-market breach); empty: nothing accepted.",
    ),
    "mlflow_alias": dg.Field(
        str,
        default_value="champion",
        description="MLflow backend: the registry alias set on the run's model version when "
        "the gate is green (empty: none).",
    ),
}


def _chain_specs(entry: SystemEntry, decl: Declared) -> tuple[list, list]:
    """(asset specs, check specs) of the chain: plan -> pipeline -> evidence -> gate, and
    `manifest_valid` on the plan."""
    name = entry.name

    def key(leaf: str) -> dg.AssetKey:
        return system_key(name, leaf)

    def spec(leaf: str, deps: list[str], kind: str, description: str, condition=EAGER):
        return dg.AssetSpec(
            key(leaf),
            deps=[key(d) for d in deps],
            group_name=name,
            code_version=__version__,
            kinds={kind},
            description=description,
            automation_condition=condition,
        )

    specs = [
        spec(
            "assessment_plan",
            ["manifest"],
            "oscal",
            "The risk program compiled to an OSCAL component-definition."
            + (f"\n\nThe manifest does not load: {decl.error}" if decl.error else ""),
        ),
        spec(
            "pipeline_run",
            ["assessment_plan", "dataset", "treatment"],
            "python",
            "The ML pipeline reproduced through the system's own tool.",
        ),
        spec(
            "evidence_bundle",
            ["pipeline_run"],
            "json",
            "Controls, risk analysis, gate: the signed evidence bundle.",
        ),
        spec(
            "gate",
            ["evidence_bundle"],
            "json",
            "The release gate at a glance: green or red, and why. Its checks (one per "
            "control, plus the signature) are what blocks `release`; nothing else waits for them.",
        ),
    ]
    checks = [
        dg.AssetCheckSpec(
            "manifest_valid",
            asset=key("assessment_plan"),
            blocking=True,
            description="The manifest loads: every key known, every value as expected.",
        ),
    ]
    return specs, checks


def control_check_specs(entry: SystemEntry, controls: list[Control]) -> list[dg.AssetCheckSpec]:
    """One check per compiled control, plus the bundle's signature, on the system's gate:
    blocking (ERROR) for enforcement `gate`, WARN otherwise."""
    gate_key = system_key(entry.name, "gate")
    return [
        *[
            dg.AssetCheckSpec(
                check_name(c.control_id),
                asset=gate_key,
                blocking=c.blocking,
                description=f"{c.metric_key} {SYMBOLS[c.operator]} {c.threshold_text} "
                f"({c.enforcement_mode}, {c.severity}; {c.risk_id})",
                metadata={"control_id": c.control_id, "enforcement_mode": c.enforcement_mode},
                automation_condition=CHECKS,
            )
            for c in controls
        ],
        dg.AssetCheckSpec(
            "signature_valid",
            asset=gate_key,
            blocking=True,
            description="The bundle's DSSE signature verifies offline.",
            automation_condition=CHECKS,
        ),
    ]


def _chain(entry: SystemEntry, decl: Declared) -> dg.AssetsDefinition:
    """The chain as one step: what is selected is computed in order, each result handed to
    the next in memory (the pipeline's run to the evidence, the bundle to the gate), then the
    governance assets from the same evidence."""
    from sei_assets.defs.governance import Governance

    specs, check_specs = _chain_specs(entry, decl)
    governance = Governance(entry, decl.standards)
    governance_specs = governance.specs()
    governed = {spec.key for spec in governance_specs}

    @dg.multi_asset(
        specs=[*specs, *governance_specs],
        check_specs=[*check_specs, *governance.check_specs()],
        name=f"{entry.name}__system",
        can_subset=True,
        description=f"The assurance chain of {entry.name}: plan, pipeline, evidence, gate, "
        "governance.",
        required_resource_keys={"sei"},
        config_schema=SYSTEM_CONFIG,
    )
    @same_signature
    def chain(context: dg.AssetExecutionContext):
        try:
            yield from _chain_step(context, entry, governance, governed)
        except Exception:
            tag_outcome(context, "error")
            raise

    return chain


def _chain_step(context: dg.AssetExecutionContext, entry: SystemEntry, governance, governed):
    """The chain's step: plan, pipeline, evidence, gate and governance, as selected."""
    sei: SeiSettings = context.resources.sei
    repro: bool = context.op_execution_context.op_config["repro"]
    leaves = {k.path[-1] for k in context.selected_asset_keys}
    checks = {k.name for k in context.selected_asset_check_keys}
    loaded = None
    if "assessment_plan" in leaves or "manifest_valid" in checks:
        loaded = yield from _plan(context, entry, leaves, checks)
    run = None
    if "pipeline_run" in leaves:
        loaded = loaded or loaded_manifest(entry)
        run, result = _pipeline(context, entry, loaded, repro)
        yield result
    bundle = None
    if "evidence_bundle" in leaves:
        from sei_assets.core.engine import reproduce

        loaded = loaded or loaded_manifest(entry)
        if run is None:  # not reproduced in this step: what is there is supplied metrics
            run = reproduce(loaded, repro=False)
        bundle, result = _evidence(context, entry, loaded, run, sei)
        yield result
    if "gate" in leaves:
        yield _gate(context, entry, bundle)
    # governance reads the evidence, red or green: it is never held by the checks
    wanted = governed & set(context.selected_asset_keys)
    gaps = {k for k in context.selected_asset_check_keys if k.asset_key in governed}
    if wanted or gaps:
        yield from governance.results(wanted, repository(entry), sei, gaps)


def _plan(context: dg.AssetExecutionContext, entry: SystemEntry, leaves: set, checks: set):
    """Compile the plan (and report `manifest_valid`); returns the loaded manifest."""
    from sei_assets.core.engine import compile_plan
    from sei_assets.core.fsutil import sha256_file

    plan_key = system_key(entry.name, "assessment_plan")
    try:
        loaded = loaded_manifest(entry)
    except SeiError as exc:
        if "manifest_valid" in checks:
            yield dg.AssetCheckResult(
                check_name="manifest_valid",
                asset_key=plan_key,
                passed=False,
                metadata={"error": str(exc)},
            )
        raise dg.Failure(description=str(exc)) from None
    _prepare(context, entry, loaded)
    if "assessment_plan" in leaves:
        outcome = compile_plan(loaded)
        for line in loaded.warnings():
            context.log.warning(line)
        yield dg.MaterializeResult(
            asset_key=plan_key,
            metadata={
                "path": dg.MetadataValue.path(str(outcome.plan_path)),
                "control_count": len(outcome.controls),
                "controls": ", ".join(c.control_id for c in outcome.controls),
                "monitoring_measures": ", ".join(outcome.monitoring) or "none",
            },
            data_version=dg.DataVersion(sha256_file(outcome.plan_path)[:24]),
        )
    if "manifest_valid" in checks:
        yield dg.AssetCheckResult(
            check_name="manifest_valid",
            asset_key=plan_key,
            passed=True,
            metadata={
                "manifest": str(loaded.path),
                "unknown_keys_kept": "; ".join(x.key_path for x in loaded.extensions) or "none",
            },
        )
    return loaded


def _prepare(context: dg.AssetExecutionContext, entry: SystemEntry, loaded: Any) -> None:
    """Record the manifest's declarations for the next load of the definitions."""
    from sei_assets.core import declarations

    try:
        declarations.record(entry, loaded)
    except OSError as exc:  # the next load parses the manifest instead: slower, not wrong
        context.log.warning(f"declarations not prepared: {exc}")


def _rel(repo: Path, files: list[Path]) -> list[str]:
    """``files`` relative to ``repo`` (those inside it)."""
    root = repo.resolve()
    return [
        f.resolve().relative_to(root).as_posix() for f in files if f.resolve().is_relative_to(root)
    ]


def _pipeline(
    context: dg.AssetExecutionContext, entry: SystemEntry, loaded: Any, repro: bool
) -> tuple[Any, dg.MaterializeResult]:
    """Reproduce the pipeline through its tool: (its run, the materialization)."""
    from sei_assets.core.engine import reproduce

    run = reproduce(loaded, repro=repro)
    run.details["dagster_run_id"] = context.run.run_id
    context.log.info(
        f"{run.tool}: {run.log_tail}" if run.log_tail else f"{run.tool}: not reproduced"
    )
    return run, dg.MaterializeResult(
        asset_key=system_key(entry.name, "pipeline_run"),
        metadata={
            "tool": run.tool,
            "reproduced": run.reproduced,
            "pipeline_lock_digest": run.lock_digest,
            "metrics": dg.MetadataValue.json(run.metrics),
        },
        data_version=dg.DataVersion(run.lock_digest.removeprefix("sha256:")[:24]),
    )


def _evidence(
    context: dg.AssetExecutionContext,
    entry: SystemEntry,
    loaded: Any,
    run: Any,
    sei: SeiSettings,
) -> tuple[Any, dg.MaterializeResult]:
    """Evaluate, analyse risk, decide the gate and sign: (the bundle, the materialization)."""
    from sei_assets.core.engine import evaluate, seal
    from sei_assets.core.fsutil import sha256_file

    bundle, _results, bom_text, inputs = evaluate(loaded, run)
    files = seal(loaded, bundle, bom_text, inputs, sei.key())
    # the sources' versions are what this evidence was computed from: the observation
    # sensor records a new one only when the files on disk differ from them (drift)
    for source, data_version in source_versions(entry, inputs.hashes).items():
        context.log_event(dg.AssetObservation(source, tags={DATA_VERSION_TAG: data_version}))
    residual = bundle.overall_residual
    # the picture is not evidence: it goes to the state folder, never into `.sei/`
    plots = sei.state() / "plots" / entry.name
    plots.mkdir(parents=True, exist_ok=True)
    md, png = fairness_plot(loaded.repo, plots)
    version = treatment_version(loaded.repo, _rel(loaded.repo, inputs.treatment_files))
    tag_run(context, entry.name, bundle.verdict, version)
    metadata: dict[str, Any] = {
        "status": gate_line(bundle),
        "gate": bundle.verdict,
        "version": version.label,
        "gate_failures": ", ".join(bundle.failing) or "none",
        "controls": controls_table(bundle),
        "risk_levels": dg.MetadataValue.md(risk_table(bundle)),
        "overall_residual": (
            f"{residual.level} ({residual.evaluation} {residual.criterion})" if residual else "—"
        ),
        "treatment_events": len(bundle.treatment_events),
        "metrics_source": (
            "supplied (not reproduced by the pipeline tool; release refuses it unless "
            "accepted explicitly)"
            if bundle.pipeline is None or bundle.pipeline.supplied
            else "reproduced"
        ),
        "bundle": relative_path(loaded.repo, files["bundle"]),
        "signature": relative_path(loaded.repo, files["signature"]),
        "assessment_results": relative_path(loaded.repo, files["assessment_results"]),
        "sei_lock": relative_path(loaded.repo, files["lock"]),
    }
    table = fairness_table(loaded.repo)
    if table is not None:
        metadata["selection_rate_by_group"] = table
    if png:
        metadata["selection_rate_plot"] = dg.MetadataValue.md(png_markdown(png, md))
    metadata.update(group_rates(loaded.repo))
    context.log.info(f"gate {bundle.verdict}")
    return bundle, dg.MaterializeResult(
        asset_key=system_key(entry.name, "evidence_bundle"),
        metadata=metadata,
        data_version=dg.DataVersion(sha256_file(files["bundle"])[:24]),
        tags=verdict_tags(bundle.verdict, version),
    )


def _gate(
    context: dg.AssetExecutionContext, entry: SystemEntry, bundle: Any
) -> dg.MaterializeResult:
    """The gate at a glance, from this step's bundle or else the one on disk."""
    from sei_assets.core.evidence import read_bundle

    if bundle is None:
        bundle = read_bundle(repository(entry))
    if bundle is None:
        raise dg.Failure(description="no evidence bundle: materialize evidence_bundle first")
    context.log.info(gate_line(bundle))
    version = treatment_version(repository(entry))
    tag_run(context, entry.name, bundle.verdict, version)
    warnings, weak = caveats(bundle)
    return dg.MaterializeResult(
        asset_key=system_key(entry.name, "gate"),
        metadata={
            "status": gate_line(bundle),
            "gate": bundle.verdict,
            "version": version.label,
            "failing_controls": ", ".join(bundle.failing) or "none",
            "warnings": ", ".join(warnings) or "none",
            "underpowered_passes": ", ".join(weak) or "none",
            "controls": controls_table(bundle),
            **control_values(bundle),
        },
        data_version=dg.DataVersion(bundle.verdict + ":" + ",".join(bundle.failing)),
        tags=verdict_tags(bundle.verdict, version),
    )


def control_checks(entry: SystemEntry, controls: list[Control]) -> dg.AssetChecksDefinition:
    """One check per compiled control, plus the bundle's signature, on the system's gate: a
    step of their own after the chain's, so that a failing blocking check holds `release`
    (and fails the run) while the chain's evidence and governance stand."""
    by_check = {check_name(c.control_id): c for c in controls}

    @dg.multi_asset_check(
        specs=control_check_specs(entry, controls),
        name=f"{entry.name}_controls",
        can_subset=True,
        description="One check per compiled control, plus the signature.",
    )
    @same_signature
    def checks(context: dg.AssetCheckExecutionContext):
        selected = {k.name for k in context.selected_asset_check_keys}
        red: list = []
        try:
            yield from _check_results(entry, by_check, selected, red)
        except Exception:
            tag_outcome(context, "error")
            raise
        if red:
            # the verdict, not a crash: the run fails with the controls' values as its message
            # (rather than Dagster's generic "blocking asset check failed")
            tag_outcome(context, "red")
            raise red_failure(red)

    return checks


def check_outcome(control: Control, result: Any) -> tuple[bool, dg.AssetCheckSeverity]:
    """(passed, severity) of a control's check: a failing blocking control fails with ERROR
    (red); a failing warn-level control, and any pass whose confidence interval reaches past
    the bound (underpowered), fail with WARN (amber, never blocking); a monitored control is
    reported, never a failed check (the rule: core.gate)."""
    met = bool(result and result.passed)
    if alarm(control.enforcement_mode, met) is not None:
        error = control.blocking
        return False, dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN
    if control.enforcement_mode != "monitor" and result is not None and result.underpowered:
        return False, dg.AssetCheckSeverity.WARN
    return True, dg.AssetCheckSeverity.ERROR if control.blocking else dg.AssetCheckSeverity.WARN


def _check_results(
    entry: SystemEntry, by_check: dict[str, Control], selected: set, red: list | None = None
):
    """The selected control checks (from the bundle on disk) and the signature check; the
    (control, result) of each failing blocking control is added to ``red``."""
    from sei_assets.core import trust
    from sei_assets.core.evidence import read_bundle

    wanted = [n for n in by_check if n in selected]
    gate_key = system_key(entry.name, "gate")
    repo = repository(entry)
    bundle, unreadable = None, None
    if wanted:
        try:
            bundle = read_bundle(repo)
            unreadable = None if bundle else "no evidence bundle"
        except SeiError as exc:  # the controls fail with the reason; the signature still runs
            bundle, unreadable = None, str(exc)
    results = {r.control_id: r for r in (bundle.control_results if bundle else [])}
    for name in wanted:
        control = by_check[name]
        r = results.get(control.control_id)
        power = r.power if r and r.power else None
        met = bool(r and r.passed)
        passed, severity = check_outcome(control, r)
        if not passed and severity == dg.AssetCheckSeverity.ERROR and red is not None:
            red.append((control, r))
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=gate_key,
            passed=passed,
            description=check_line(control, r, unreadable),
            severity=severity,
            metadata={
                "threshold_met": met,
                "actual_value": figure(r.actual_value) if r else None,
                "threshold": control.threshold,
                "operator": SYMBOLS[control.operator],
                "interval": interval(power) or "—",
                "ci_low": figure(power.ci_low) if power else None,
                "ci_high": figure(power.ci_high) if power else None,
                "underpowered": bool(r and r.underpowered),
                "risk_id": control.risk_id,
                "clauses": ", ".join([*control.frameworks, *control.standard_clauses]) or "—",
                "failure": (r.failure or "") if r else (unreadable or "no result in the bundle"),
            },
        )
    if "signature_valid" in selected:
        try:
            checked = trust.verify_trusted(repo)
            ok = checked.ok
            detail = "; ".join(
                f"{f.path.name}: {'ok' if f.ok else f.reason}" for f in checked.signatures.files
            )
            detail += f"; trust: {checked.trust.message}"
        except SeiError as exc:
            ok, detail = False, str(exc)
        yield dg.AssetCheckResult(
            check_name="signature_valid",
            asset_key=gate_key,
            passed=ok,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"detail": detail},
        )


def _release(entry: SystemEntry) -> dg.AssetsDefinition:
    """Promotion of the model, behind every blocking check of the gate (the core refuses a
    red, unverified or supplied-metrics gate as well)."""

    @dg.asset(
        key=system_key(entry.name, "release"),
        automation_condition=RELEASE,
        group_name=entry.name,
        deps=[system_key(entry.name, "gate")],
        code_version=__version__,
        kinds={"json"},
        description="Promotion of the model: records the released model's digest. "
        "Blocked by any failing blocking control of the gate.",
        required_resource_keys={"sei"},
        config_schema=RELEASE_CONFIG,
    )
    @same_signature
    def release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.release import promote

        sei: SeiSettings = context.resources.sei
        config = context.op_execution_context.op_config
        reason = config["accept_residual"] or None
        repo = repository(entry)
        try:
            record = promote(
                repo,
                sei.key(),
                residual_accepted=reason,
                accept_supplied=config["accept_supplied_metrics"],
                mlflow_alias=config["mlflow_alias"],
            )
        except Exception:
            tag_outcome(context, "error")
            raise
        version = treatment_version(repo)
        verdict = str(record.get("gate") or "green")
        tag_run(context, entry.name, verdict, version)
        metadata = {k: str(v) for k, v in record.items()}
        metadata["version"] = version.label
        return dg.MaterializeResult(metadata=metadata, tags=verdict_tags(verdict, version))

    return release
