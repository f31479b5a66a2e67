"""The engine's verbs as plain functions (no Dagster here): compile, reproduce, evaluate, seal.

The Dagster assets, the CLI and the scenario steps all call these; no front re-implements them.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core import gitutil
from sei_assets.core.controls import (
    Control,
    ControlResult,
    compile_controls,
    evaluate_controls,
    gate,
    gate_failures,
)
from sei_assets.core.errors import SeiError
from sei_assets.core.evidence import (
    SCHEMA_VERSION,
    dump,
    evidence_dir,
    read_bundle,
    treatment_events,
    write_signed,
)
from sei_assets.core.exitcodes import ExitCode, verdict_code
from sei_assets.core.groups import GROUPS
from sei_assets.core.layout import (
    ASSESSMENT_RESULTS,
    BOM,
    BUNDLE,
    EVIDENCE_DIR,
    LEGACY_DIRS,
    LOCK_NAME,
    SANDBOX_ENV,
)
from sei_assets.core.layout import INDEX as INDEX_NAME
from sei_assets.core.manifest import LoadedManifest, load_manifest
from sei_assets.core.model import Bundle, ConformanceDoc
from sei_assets.core.reproducers import PipelineRun, pipeline_details, reproducer_for
from sei_assets.core.reproducers.base import read_metrics


@dataclass
class CompileOutcome:
    """What `compile` produced."""

    plan_path: Path
    controls: list[Control]
    written: bool
    monitoring: list[str]


@dataclass
class RunOutcome:
    """What `run` produced: the bundle and where the evidence went."""

    bundle: Bundle
    gate: str
    results: list[ControlResult]
    pipeline: PipelineRun
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        return verdict_code(self.gate == "green")


def compile_plan(loaded: LoadedManifest) -> CompileOutcome:
    """Compile the risk program to the OSCAL plan (written only when it changes)."""
    from sei_assets.core.oscal import write_plan
    from sei_assets.core.progress import report

    report("compile", "the risk program into the OSCAL plan")
    controls = compile_controls(loaded.manifest)
    path, written = write_plan(loaded, controls)
    monitoring = [m.id for _r, m in loaded.manifest.measures if m.is_monitoring]
    return CompileOutcome(path, controls, written, monitoring)


def reproduce(loaded: LoadedManifest, repro: bool = True) -> PipelineRun:
    """Re-run the pipeline through its tool (or not, with ``repro=False``) and read its metrics."""
    pipeline = loaded.manifest.pipeline
    reproducer = reproducer_for(pipeline.tool)
    spec = pipeline.model_dump()
    from sei_assets.core.progress import report

    report("reproduce", f"with {pipeline.tool}" if repro else "no: the metrics as supplied")
    log = reproducer.reproduce(loaded.repo, spec) if repro else ""
    metrics_path = loaded.repo / pipeline.metrics
    metrics = read_metrics(metrics_path, pipeline.tool)
    digest = reproducer.lock_digest(loaded.repo, spec)
    details = {**metrics_provenance(reproducer, loaded.repo, spec, repro)}
    details.update(pipeline_details(reproducer, loaded.repo, spec))
    return PipelineRun(pipeline.tool, metrics, metrics_path, digest, repro, log, details)


def metrics_provenance(
    reproducer: Any, repo: Path, spec: dict[str, Any], reproduced: bool
) -> dict[str, Any]:
    """How the metrics were obtained, for the bundle's signed ``pipeline`` section:
    `metrics_source` is `reproduced` (the tool ran now) or `supplied` (`--no-repro`: the file
    was there), with the file's digest and, where the tool's lock records the file (dvc.lock),
    that record. Reproduced metrics that differ from the tool's own record are refused."""
    from sei_assets.core.fsutil import sha256_file

    path = repo / spec.get("metrics", "metrics.json")
    out: dict[str, Any] = {
        "metrics_source": "reproduced" if reproduced else "supplied",
        "metrics_digest": "sha256:" + sha256_file(path),
    }
    record = getattr(reproducer, "metrics_record", None)
    entry = record(repo, spec) if record else None
    if entry is not None:
        out["metrics_lock"] = entry
        if reproduced and not entry["matches"]:
            raise SeiError(
                f"{path}: its md5 {entry['actual_md5']} differs from {entry['lock']}'s record "
                f"{entry['md5']} (stage {entry['stage']}): the metrics were not written by the "
                "pipeline that just ran"
            )
    return out


def _now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        dt.datetime.fromtimestamp(int(epoch), dt.UTC)
        if epoch
        else dt.datetime.now(dt.UTC).replace(microsecond=0)
    )
    return moment.isoformat().replace("+00:00", "Z")


def _rel(repo: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(repo).as_posix() for p in paths if p.is_relative_to(repo)]


def _accepted(repo: Path, results: list[ControlResult]) -> frozenset[str]:
    """The failing blocking controls management accepted (read only when one fails)."""
    if not any(r.control.blocking and not r.passed for r in results):
        return frozenset()
    from sei_assets.core.governance import accepted_controls

    return accepted_controls(repo)


def evaluate(
    loaded: LoadedManifest,
    run: PipelineRun,
    controls: list[Control] | None = None,
    with_bom: bool = True,
) -> tuple[Bundle, list[ControlResult], str | None, Any]:
    """Controls, risk analysis, overall residual, gate: the bundle, not yet written."""
    from sei_assets.core import lock as lockmod
    from sei_assets.core.croissant import data_governance, validate_croissant
    from sei_assets.core.means import means_of_conformance, post_market_measures
    from sei_assets.core.progress import report
    from sei_assets.core.risk import analyse, overall_residual

    m = loaded.manifest
    repo = loaded.repo
    controls = compile_controls(m) if controls is None else controls
    report("evaluate", f"{len(controls)} controls")
    results = evaluate_controls(controls, run.metrics, _attestations(loaded, controls))
    program = m.risk
    report("analyse", "inherent and residual risk, the gate")
    analysis = analyse(program, results, _accepted(repo, results)) if program else []
    residual = overall_residual(program, analysis) if program else None
    verdict = gate(results)
    raw = lockmod.read_raw_manifest(loaded.path)
    inputs = lockmod.section_inputs(repo, loaded.path, raw)
    result_json = [r.to_json() for r in results]
    events = treatment_events(
        repo,
        result_json,
        _rel(repo, inputs.treatment_files),
        inputs.hashes.get("measurement-model"),
    )
    name, email = gitutil.identity(repo)
    model = m.artifacts.model or {}
    croissant = repo / m.dataset.croissant if m.dataset.croissant else None
    governance = data_governance(croissant, validate_croissant(croissant)) if croissant else None
    bom_text, bom_summary = (None, None)
    if with_bom:
        from sei_assets.core.bom import build_bom

        bom_text, bom_summary = build_bom(_model_component(model))
    bundle: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "system_name": m.system.name,
        "intended_purpose": m.system.intended_purpose,
        "foreseeable_misuse": [x.model_dump() for x in m.system.potential_misuses],
        "assessor": {"name": name, "email": email, "organization": m.system.organization},
        "triple": {
            "code": gitutil.head(repo),
            "model": f"{model.get('kind', 'model')}:seed={model.get('seed', '')}" if model else "",
            "dataset": governance["croissant_digest"] if governance else "",
        },
        "classification": m.classification.model_dump() if m.classification else None,
        "risks": [
            {"id": r.id, "domain": r.domain, "title": r.title, "rationale": r.rationale}
            for r in (program.risks if program else [])
        ],
        "data_governance": governance,
        "measurement": None,
        "control_results": result_json,
        "treatment_events": events,
        "risk_analysis": analysis,
        "overall_residual": residual,
        "pipeline_lock_digest": run.lock_digest,
        "pipeline": {
            "tool": run.tool,
            "reproduced": run.reproduced,
            "metrics": run.metrics_path.relative_to(repo).as_posix(),
            **run.details,
        },
        "sections": {
            "classification": "Valid",
            "data_governance": "Valid",
            "measurement": "Valid",
            "risks": "Valid",
        },
        "power_stats": None,
        "means_of_conformance": means_of_conformance(m, results),
        "bom": bom_summary,
        "applicable_standards": list(m.context.applicable_standards),
        "review_interval": program.review_interval if program else None,
        "gate": verdict,
        "gate_failures": gate_failures(results),
        "generated_at": _now(),
    }
    sandbox = os.environ.get(SANDBOX_ENV)
    if sandbox:
        bundle["sandbox"] = {
            "scenario": sandbox,
            "signing_key": "the scenario's own throwaway key, not this machine's",
            "key_file": os.environ.get("SEI_SIGNING_KEY"),
        }
    post_market = post_market_measures(m)
    if post_market:
        bundle["post_market_measures"] = post_market
    if m.roles:
        bundle["roles"] = [r.model_dump() for r in m.roles]
    if loaded.extensions:  # unknown manifest keys, kept where they are; no verdict reads them
        bundle["manifest_extensions"] = [x.to_json() for x in loaded.extensions]
    return Bundle.model_validate(bundle), results, bom_text, inputs


def _attestations(loaded: LoadedManifest, controls: list[Control]) -> dict[str, Any] | None:
    """The attestation (or None) of each manual control; None when there is no manual one."""
    manual = [c.control_id for c in controls if c.evaluation_method == "manual"]
    if not manual:
        return None
    from sei_assets.core import attest

    return {cid: attest.status(loaded.repo, cid, loaded.raw) for cid in manual}


def seal(
    loaded: LoadedManifest,
    bundle: Bundle | dict[str, Any],
    bom_text: str | None,
    inputs: Any,
    key: Any = None,
) -> dict[str, Path]:
    """Sign the evidence and write it with the lock as one set: all of it, or none (a crash
    leaves the previous set; see evidence_set)."""
    from sei_assets.core import evidence_set, faults, signing
    from sei_assets.core.progress import report

    report("sign", "the evidence and sei.lock, as one set")
    from sei_assets.core import lock as lockmod
    from sei_assets.core.model.bundle import as_bundle

    bundle = as_bundle(bundle)  # plain JSON data is validated into the model
    repo = loaded.repo
    key = key or signing.load_or_create_key()
    # the bundle names its set (an id the signed index records too), so that the set cannot
    # be stripped or mixed unseen (see signing); the same inputs give the same id
    set_id = _set_id(loaded, bundle, bom_text, inputs, signing.public_key_hex(key))
    sealed = as_bundle({**bundle.to_json(), "evidence_set": {"id": set_id, "index": INDEX_NAME}})
    out = evidence_dir(repo)
    names = (BOM, BUNDLE, ASSESSMENT_RESULTS, signing.PUBKEY_FILE)
    rel = {name: f"{EVIDENCE_DIR}/{name}" for name in names}
    staged: dict[str, bytes] = {}
    if bom_text is not None:
        bom = bom_text.encode("utf-8")
        staged[rel[BOM]] = bom
        staged[rel[BOM] + ".sig"] = signing.sign_bytes(bom, BOM, key)
    data = dump(sealed)
    envelope = signing.sign_bytes(data, BUNDLE, key)
    staged[rel[BUNDLE]] = data
    staged[rel[BUNDLE] + ".sig"] = envelope
    results = assessment_results(loaded, data)
    staged[rel[ASSESSMENT_RESULTS]] = results
    staged[rel[ASSESSMENT_RESULTS] + ".sig"] = signing.sign_bytes(results, ASSESSMENT_RESULTS, key)
    staged[rel[signing.PUBKEY_FILE]] = (signing.public_key_hex(key) + "\n").encode("ascii")
    removed = [] if bom_text is not None else [rel[BOM], rel[BOM] + ".sig"]
    by_group = _groups(loaded, sealed)
    groups_rel = f"{EVIDENCE_DIR}/{GROUPS}"
    if by_group is not None:
        staged[groups_rel] = by_group
        staged[groups_rel + ".sig"] = signing.sign_bytes(by_group, GROUPS, key)
    else:  # an older set's rates would not be this run's
        removed += [groups_rel, groups_rel + ".sig"]
    lock = lockmod.build_lock(
        loaded.manifest.system.name, sealed.triple.to_json(), inputs, envelope.decode("ascii")
    )
    staged[LOCK_NAME] = lockmod.lock_bytes(lock)
    run_record = {
        "system_name": loaded.manifest.system.name,
        "generated_at": sealed.generated_at,
        "commit": sealed.triple.code,
        "lock_inputs": dict(inputs.hashes),
        "evidence_set": set_id,
    }
    faults.checkpoint("seal")
    evidence_set.commit(repo, staged, key, run=run_record, remove=tuple(removed))
    files = {
        "bundle": out / BUNDLE,
        "signature": out / (BUNDLE + ".sig"),
        "assessment_results": out / ASSESSMENT_RESULTS,
        "pubkey": out / signing.PUBKEY_FILE,
        "lock": repo / LOCK_NAME,
    }
    if bom_text is not None:
        files["bom"] = out / BOM
    return files


def _groups(loaded: LoadedManifest, bundle: Bundle) -> bytes | None:
    """The signed per-group rates of the run (`core.groups`), when the pipeline reports them."""
    from sei_assets.core.groups import document

    metrics = bundle.pipeline.metrics if bundle.pipeline is not None else None
    if not metrics:
        return None
    results = [r.to_json() for r in bundle.control_results]
    doc = document(loaded.repo, str(metrics), results, loaded.manifest.system.name)
    return dump(doc) if doc else None


def _set_id(
    loaded: LoadedManifest, bundle: Bundle, bom_text: str | None, inputs: Any, pubkey: str
) -> str:
    """The id of the evidence set a run writes: a digest of what makes it this run's."""
    import hashlib
    import json

    facts = {
        "system": loaded.manifest.system.name,
        "generated_at": bundle.generated_at,
        "commit": bundle.triple.code,
        "inputs": dict(inputs.hashes),
        "bom": hashlib.sha256(bom_text.encode("utf-8")).hexdigest() if bom_text else None,
        "gate": bundle.gate,
        "pubkey": pubkey,
    }
    text = json.dumps(facts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(text).hexdigest()[:32]


def assessment_results(loaded: LoadedManifest, bundle_bytes: bytes) -> bytes:
    """The bundle as an OSCAL assessment-results document against the manifest's compiled plan
    (the plan `compile` writes, named by its path relative to the repository)."""
    from sei_assets.core.assessment_results import render_results
    from sei_assets.core.oscal import render_plan

    href = Path(loaded.manifest.oscal.assessment_plan).as_posix()
    return render_results(render_plan(loaded), href, bundle_bytes)


def run(repo: Path, repro: bool = True, key: Any = None) -> RunOutcome:
    """`sei run`: compile, reproduce, evaluate, sign. Evidence is written whatever the gate."""
    from sei_assets.core import faults, runlock

    loaded = load_manifest(repo)
    with runlock.repo_lock(loaded.repo):
        compiled = compile_plan(loaded)
        faults.checkpoint("compiled")
        pipeline = reproduce(loaded, repro)
        faults.checkpoint("reproduced")
        bundle, results, bom_text, inputs = evaluate(loaded, pipeline, compiled.controls)
        faults.checkpoint("evaluated")
        files = seal(loaded, bundle, bom_text, inputs, key)
    return RunOutcome(bundle, bundle.verdict, results, pipeline, files)


def _model_component(model: dict[str, Any]) -> str | None:
    kind = model.get("kind")
    return {"logreg": "LogisticRegression"}.get(kind, kind) if kind else None


# --------------------------------------------------------------------------- governance verbs


def reconstruct_cycle(
    repo: Path, out: Path | None = None, key: Any = None
) -> tuple[dict[str, Any], Path]:
    """`sei reconstruct`: the ISO/IEC 23894 cycle replayed from git history, signed."""
    from sei_assets.core import reconstruct

    return reconstruct.reconstruct_cycle(repo, out, key)


def signed_evidence(repo: Path) -> tuple[bool, bool | None, str]:
    """Of the bundle conformance projects (ours in `.sei/`, else the reference's `.venth/` or
    `.froga/`): whether a signed bundle is present (its `.sig` beside it: the reference's rule),
    whether its folder's signatures verify with a trusted key (None when there is nothing to
    verify), and why not. Evidence that could be checked and was refused (altered, or signed by
    a key other than the one trusted for the system) is not "present": a forgery never counts;
    the reference's rule applies only where no check is possible (no key to check with)."""
    from sei_assets.core import trust
    from sei_assets.core.evidence import bundle_path

    path = bundle_path(repo)
    if path is None or not path.with_name(path.name + ".sig").is_file():
        return False, None, ""
    legacy = path.parent.name in LEGACY_DIRS and path.parent.parent == Path(repo)
    try:
        checked = trust.verify_trusted(repo, evidence_dir=path.parent if legacy else None)
    except SeiError as exc:
        return True, False, str(exc)
    return checked.ok, checked.ok, checked.reason


def project_conformance(
    repo: Path, standards: list[str] | None = None, out: Path | None = None, key: Any = None
) -> list[tuple[dict[str, Any], Path]]:
    """`sei conformance`: the bundle projected onto each standard's clause catalogue, signed."""
    from sei_assets.core import conformance, counting, signing

    repo = Path(repo)
    loaded = load_manifest(repo)
    bundle = read_bundle(repo)
    if bundle is None:
        raise SeiError(f"{repo}: no evidence bundle to project: run `sei run` first")
    wanted = standards or conformance.applicable(loaded)
    unknown = [s for s in wanted if conformance.catalogue(s) is None]
    if unknown:
        raise SeiError(
            f"--standard: no clause catalogue for {', '.join(unknown)}: expected one of "
            f"{', '.join(conformance.catalogues())}"
        )
    signed, verified, note = signed_evidence(repo)
    approval = counting.judged_lifecycle(repo)
    key = key or signing.load_or_create_key()
    post_market = None
    if loaded.manifest.monitoring is not None:
        from sei_assets.core import postmarket

        post_market = postmarket.results(repo)
    written = []
    for standard in wanted:
        doc = conformance.project(
            loaded,
            bundle,
            standard,
            approval=approval,
            evidence_signed=signed,
            evidence_verified=verified,
            verification_note=note,
            post_market=post_market,
        )
        if out is None:
            path = conformance.write(repo, doc, key)
        else:
            path = Path(out) / f"{conformance.standard_slug(standard)}.json"
            write_signed(path, dump(ConformanceDoc.model_validate(doc)), key)
        written.append((doc, path))
    return written


def assess_impact(repo: Path, key: Any = None) -> tuple[dict[str, Any], Path]:
    """`sei impact`: affected persons, decisions and foreseeable misuse, signed."""
    from sei_assets.core import signing
    from sei_assets.core.impact import impact_assessment, write_impact

    repo = Path(repo)
    doc = impact_assessment(load_manifest(repo), read_bundle(repo))
    return doc, write_impact(repo, doc, key or signing.load_or_create_key())


def propose_risks(repo: Path, key: Any = None) -> tuple[dict[str, Any], Path]:
    """`sei assess`: risks the manifest does not declare, from the knowledge catalogue."""
    from sei_assets.core import signing
    from sei_assets.core.assess import assess, write_backlog

    repo = Path(repo)
    doc = assess(load_manifest(repo), read_bundle(repo))
    return doc, write_backlog(repo, doc, key or signing.load_or_create_key())
