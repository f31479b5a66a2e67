"""One registered AI system as an asset graph; every control an asset check.

Per system (key prefix and group = the system's name):
    manifest, dataset, treatment   observable sources (data versions = the sei.lock input hashes)
    -> assessment_plan             compile (OSCAL); check `manifest_valid`
    -> pipeline_run                the system's reproducer (dvc repro, ...); its result is the
                                   input of the next asset
    -> evidence_bundle             evaluate, analyse risk, decide the gate, sign; governance
                                   (governance.py) and the sweep read it, red or green
    -> gate                        the gate at a glance (status line, each control's value)
       + one check per control     blocking (ERROR) for enforcement block, WARN for warn;
                                   a monitor control's check reports its value and never fails
       + signature_valid           verify
    -> release                     promotion of the model; never materializes after a red gate
Only `release` sits behind the blocking checks: a red gate fails the run and stops the
promotion, while conformance, risk cycle, impact and the sweep still show the red evidence.
Loading reads each manifest once and runs nothing: a manifest that does not load still gives
the system its graph, and its `manifest_valid` check says why.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets import __version__
from sei_assets.core.constraint import SYMBOLS
from sei_assets.core.controls import Control
from sei_assets.core.errors import SeiError
from sei_assets.core.gate import alarm
from sei_assets.core.registry import SystemEntry
from sei_assets.defs.automation import CHECKS, DATA_VERSION_TAG, EAGER, RELEASE
from sei_assets.defs.keys import check_name, system_key
from sei_assets.defs.metadata import (
    check_line,
    control_values,
    controls_table,
    fairness_plot,
    gate_line,
    group_rates,
    png_markdown,
    risk_table,
)
from sei_assets.defs.resources import SeiSettings


class ReleaseConfig(dg.Config):
    """Supplied metrics (`--no-repro`) are never released unless accepted explicitly here."""

    accept_supplied_metrics: bool = False


class PipelineRunConfig(dg.Config):
    """`repro: false` evaluates the metrics already there (as `sei run --no-repro` does)."""

    repro: bool = True


@dataclass
class Declared:
    """What the system's manifest declares, read once when the definitions load."""

    controls: list[Control] = field(default_factory=list)
    standards: list[str] = field(default_factory=list)
    tool: str = ""
    error: str | None = None


def declared(entry: SystemEntry) -> Declared:
    """The system's controls, standards with a catalogue and pipeline tool, from its manifest
    (the repository's, else its seed's); a manifest that does not load gives its error."""
    from sei_assets.core.conformance import applicable
    from sei_assets.core.controls import compile_controls
    from sei_assets.core.manifest import load_manifest

    error = None
    for base in (entry.repo, entry.seed):
        if base is None or not base.exists():
            continue
        try:
            loaded = load_manifest(entry.manifest_path(base))
        except SeiError as exc:
            error = error or str(exc)
            continue
        if error is None:
            return Declared(
                compile_controls(loaded.manifest), applicable(loaded), loaded.manifest.pipeline.tool
            )
    return Declared(error=error or f"{entry.repo}: no manifest (the system is not seeded)")


def repository(entry: SystemEntry) -> Path:
    """The system's repository; an error naming the seeding step when it does not exist."""
    from sei_assets.core.workspace import require_repository

    return require_repository(entry.repo, entry.seed)


def loaded_manifest(entry: SystemEntry) -> Any:
    """The system's manifest, loaded now (at run time, not load time)."""
    from sei_assets.core.manifest import load_manifest

    return load_manifest(entry.manifest_path(repository(entry)))


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


def _sources(entry: SystemEntry) -> list:
    """The three observable sources of a system, as one (subsettable) multi source asset.
    The `sei_observe` sensor records their observations without a run (automation.py)."""
    specs = [
        dg.AssetSpec(system_key(entry.name, leaf), group_name=entry.name, description=desc)
        for leaf, _sections, desc in SOURCES
    ]

    @dg.multi_observable_source_asset(specs=specs, name=f"{entry.name}__sources", can_subset=True)
    def observe_sources(context: dg.AssetExecutionContext):
        versions = source_versions(entry)
        state = "not-seeded" if not (entry.repo / ".git").exists() else "unreadable"
        for asset_key in context.selected_asset_keys:
            version = versions.get(asset_key, state)
            yield dg.ObserveResult(asset_key=asset_key, data_version=dg.DataVersion(version))

    return [observe_sources]


def system_definitions(entry: SystemEntry) -> tuple[list, list]:
    """(assets, asset checks) of one AI system."""
    from sei_assets.defs.dbt import tool_assets
    from sei_assets.defs.governance import governance_assets

    name = entry.name
    decl = declared(entry)

    def key(leaf: str) -> dg.AssetKey:
        return system_key(name, leaf)

    @dg.asset(
        key=key("assessment_plan"),
        automation_condition=EAGER,
        group_name=name,
        deps=[key("manifest")],
        code_version=__version__,
        kinds={"oscal"},
        description="The risk program compiled to an OSCAL component-definition."
        + (f"\n\nThe manifest does not load: {decl.error}" if decl.error else ""),
        check_specs=[
            dg.AssetCheckSpec(
                "manifest_valid",
                asset=key("assessment_plan"),
                blocking=True,
                description="The manifest loads: every key known, every value as expected.",
            )
        ],
    )
    def assessment_plan(context: dg.AssetExecutionContext):
        from sei_assets.core.engine import compile_plan
        from sei_assets.core.fsutil import sha256_file

        try:
            loaded = loaded_manifest(entry)
        except SeiError as exc:
            yield dg.AssetCheckResult(
                check_name="manifest_valid", passed=False, metadata={"error": str(exc)}
            )
            raise dg.Failure(description=str(exc)) from None
        outcome = compile_plan(loaded)
        for line in loaded.warnings():
            context.log.warning(line)
        yield dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(outcome.plan_path)),
                "control_count": len(outcome.controls),
                "controls": ", ".join(c.control_id for c in outcome.controls),
                "monitoring_measures": ", ".join(outcome.monitoring) or "none",
            },
            data_version=dg.DataVersion(sha256_file(outcome.plan_path)[:24]),
        )
        yield dg.AssetCheckResult(
            check_name="manifest_valid",
            passed=True,
            metadata={
                "manifest": str(loaded.path),
                "unknown_keys_kept": "; ".join(x.key_path for x in loaded.extensions) or "none",
            },
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
    def pipeline_run(context: dg.AssetExecutionContext, config: PipelineRunConfig) -> dg.Output:
        from sei_assets.core.engine import reproduce

        run = reproduce(loaded_manifest(entry), repro=config.repro)
        run.details["dagster_run_id"] = context.run.run_id
        context.log.info(
            f"{run.tool}: {run.log_tail}" if run.log_tail else f"{run.tool}: not reproduced"
        )
        return dg.Output(
            run,
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
        ins={"pipeline_run": dg.AssetIn(key("pipeline_run"))},
        code_version=__version__,
        kinds={"json"},
        description="Controls, risk analysis, gate: the signed evidence bundle.",
    )
    def evidence_bundle(
        context: dg.AssetExecutionContext, sei: SeiSettings, pipeline_run: Any
    ) -> dg.Output:
        from sei_assets.core.engine import evaluate, seal
        from sei_assets.core.fsutil import sha256_file

        loaded = loaded_manifest(entry)
        bundle, _results, bom_text, inputs = evaluate(loaded, pipeline_run)
        files = seal(loaded, bundle, bom_text, inputs, sei.key())
        # the sources' versions are what this evidence was computed from: the observation
        # sensor records a new one only when the files on disk differ from them (drift)
        for source, version in source_versions(entry, inputs.hashes).items():
            context.log_event(dg.AssetObservation(source, tags={DATA_VERSION_TAG: version}))
        residual = bundle.overall_residual
        # the picture is not evidence: it goes to the state folder, never into `.sei/`
        plots = sei.state() / "plots" / entry.name
        plots.mkdir(parents=True, exist_ok=True)
        md, png = fairness_plot(loaded.repo, plots)
        metadata: dict[str, Any] = {
            "status": gate_line(bundle),
            "gate": bundle.verdict,
            "gate_failures": ", ".join(bundle.failing) or "none",
            "controls": controls_table(bundle),
            "risk_levels": dg.MetadataValue.md(risk_table(bundle)),
            "overall_residual": (
                f"{residual.level} ({residual.evaluation} {residual.criterion})"
                if residual
                else "—"
            ),
            "treatment_events": len(bundle.treatment_events),
            "metrics_source": (
                "supplied (not reproduced by the pipeline tool; release refuses it unless "
                "accepted explicitly)"
                if bundle.pipeline is None or bundle.pipeline.supplied
                else "reproduced"
            ),
            "bundle": dg.MetadataValue.path(str(files["bundle"])),
            "signature": dg.MetadataValue.path(str(files["signature"])),
            "assessment_results": dg.MetadataValue.path(str(files["assessment_results"])),
            "sei_lock": dg.MetadataValue.path(str(files["lock"])),
        }
        if png:
            metadata["selection_rate_plot"] = dg.MetadataValue.md(png_markdown(png, md))
        elif md:
            metadata["selection_rate_by_group"] = dg.MetadataValue.md(md)
        metadata.update(group_rates(loaded.repo))
        context.log.info(f"gate {bundle.verdict}")
        return dg.Output(
            {"gate": bundle.verdict, "bundle": str(files["bundle"])},
            metadata=metadata,
            data_version=dg.DataVersion(sha256_file(files["bundle"])[:24]),
        )

    @dg.asset(
        key=key("gate"),
        automation_condition=EAGER,
        group_name=name,
        deps=[key("evidence_bundle")],
        code_version=__version__,
        kinds={"json"},
        description="The release gate at a glance: green or red, and why. Its checks (one per "
        "control, plus the signature) are what blocks `release`; nothing else waits for them.",
    )
    def gate(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.core.evidence import read_bundle

        bundle = read_bundle(repository(entry))
        if bundle is None:
            raise dg.Failure(description="no evidence bundle: materialize evidence_bundle first")
        context.log.info(gate_line(bundle))
        return dg.MaterializeResult(
            metadata={
                "status": gate_line(bundle),
                "gate": bundle.verdict,
                "failing_controls": ", ".join(bundle.failing) or "none",
                "controls": controls_table(bundle),
                **control_values(bundle),
            },
            data_version=dg.DataVersion(bundle.verdict + ":" + ",".join(bundle.failing)),
        )

    @dg.asset(
        key=key("release"),
        automation_condition=RELEASE,
        group_name=name,
        deps=[key("gate")],
        code_version=__version__,
        kinds={"json"},
        description="Promotion of the model: records the released model's digest. "
        "Blocked by any failing blocking control of the gate.",
    )
    def release(
        context: dg.AssetExecutionContext, sei: SeiSettings, config: ReleaseConfig
    ) -> dg.MaterializeResult:
        from sei_assets.core.release import promote

        record = promote(
            repository(entry), sei.key(), accept_supplied=config.accept_supplied_metrics
        )
        return dg.MaterializeResult(metadata={k: str(v) for k, v in record.items()})

    assets = [
        *_sources(entry),
        assessment_plan,
        pipeline_run,
        evidence_bundle,
        gate,
        release,
        *governance_assets(entry, decl.standards),
        *tool_assets(entry, decl.tool),
    ]
    return assets, [control_checks(entry, decl.controls)]


def control_checks(entry: SystemEntry, controls: list[Control]) -> dg.AssetChecksDefinition:
    """One check per compiled control, plus the bundle's signature, on the system's gate."""
    gate_key = system_key(entry.name, "gate")
    specs = [
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
    ]
    specs.append(
        dg.AssetCheckSpec(
            "signature_valid",
            asset=gate_key,
            blocking=True,
            description="The bundle's DSSE signature verifies offline.",
            automation_condition=CHECKS,
        )
    )
    by_check = {check_name(c.control_id): c for c in controls}

    @dg.multi_asset_check(
        specs=specs,
        name=f"{entry.name}_controls",
        can_subset=True,
        description="One check per compiled control, plus the signature.",
    )
    def checks(context: dg.AssetCheckExecutionContext):
        from sei_assets.core import trust
        from sei_assets.core.evidence import read_bundle

        repo = repository(entry)
        try:
            bundle = read_bundle(repo)
            unreadable = None if bundle else "no evidence bundle"
        except SeiError as exc:  # the controls fail with the reason; the signature still runs
            bundle, unreadable = None, str(exc)
        results = {r.control_id: r for r in (bundle.control_results if bundle else [])}
        selected = {k.name for k in context.selected_asset_check_keys}
        for name, control in by_check.items():
            if name not in selected:
                continue
            r = results.get(control.control_id)
            power = r.power if r and r.power else None
            met = bool(r and r.passed)
            # a monitored control is reported, never a failed check (the rule: core.gate)
            passed = alarm(control.enforcement_mode, met) is None
            yield dg.AssetCheckResult(
                check_name=name,
                asset_key=gate_key,
                passed=passed,
                description=check_line(control, r, unreadable),
                severity=(
                    dg.AssetCheckSeverity.ERROR if control.blocking else dg.AssetCheckSeverity.WARN
                ),
                metadata={
                    "threshold_met": met,
                    "actual_value": r.actual_value if r else None,
                    "threshold": control.threshold,
                    "operator": SYMBOLS[control.operator],
                    "ci_low": power.ci_low if power else None,
                    "ci_high": power.ci_high if power else None,
                    "underpowered": bool(r and r.underpowered),
                    "risk_id": control.risk_id,
                    "clauses": ", ".join([*control.frameworks, *control.standard_clauses]) or "—",
                    "failure": (r.failure or "")
                    if r
                    else (unreadable or "no result in the bundle"),
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

    return checks
