"""`sei.lock`: per section an input hash and an edge type, and typed drift against it.

Edge types: `scope` (the manifest's declarations, drift class A), `impl` (code, params: the
treatment, class B), `data` (the dataset, class C). Kept light: no pydantic, no Dagster, no ML
libraries, so that `sei status` stays fast.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write, sha256_file
from sei_assets.core.layout import LOCK_NAME, LOCK_NAMES, PLAN_DEFAULT  # noqa: F401

SCHEMA = "venturalitica.ai/v1alpha1"
DRIFT_CLASS = {"scope": "A", "impl": "B", "data": "C"}
DRIFT_MEANING = {"A": "scope", "B": "model/treatment", "C": "data"}
SECTIONS = ("classification", "data_governance", "measurement-data", "measurement-model", "risks")
EMPTY = "sha256:" + hashlib.sha256(b"").hexdigest()


def read_raw_manifest(path: Path) -> dict[str, Any]:
    """The manifest as plain data (validation is the engine's job; this is for hashing)."""
    from sei_assets.core import safeload

    data = safeload.load_yaml(path, "manifest")
    if not isinstance(data, dict):
        raise SeiError(f"{path}: expected a mapping at the top level")
    return data


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def files_digest(repo: Path, files: list[Path]) -> str:
    """One digest over several files: their repository paths and contents, sorted."""
    if not files:
        return EMPTY
    lines = []
    for f in sorted(set(files)):
        rel = f.relative_to(repo).as_posix() if f.is_relative_to(repo) else f.as_posix()
        lines.append(f"{rel}\0{sha256_file(f)}\n")
    return _digest("".join(lines).encode())


@dataclass
class Inputs:
    """The inputs of each section as they are on disk now."""

    hashes: dict[str, str]
    edges: dict[str, str]
    data_files: list[Path]
    treatment_files: list[Path]


def section_hashes(repo: Path, manifest: str | None = None) -> dict[str, str]:
    """Each section's input hash for the repository's manifest (``manifest`` names the file
    when it is not found by the usual names)."""
    from sei_assets.core.manifest import find_manifest

    path = Path(repo) / manifest if manifest else find_manifest(Path(repo))
    return section_inputs(Path(repo), path, read_raw_manifest(path)).hashes


def section_inputs(repo: Path, manifest_path: Path, raw: dict[str, Any]) -> Inputs:
    """Hash every section's inputs from the files on disk."""
    from sei_assets.core.reproducers import reproducer_for

    scope_cls = {k: raw.get(k) for k in ("system", "task", "context", "classification", "roles")}
    croissant_rel = (raw.get("dataset") or {}).get("croissant")
    croissant = repo / croissant_rel if croissant_rel else None
    data: list[Path] = []
    if croissant and croissant.is_file():
        from sei_assets.core.croissant import data_files

        data = data_files(croissant)
    pipeline = raw.get("pipeline") or {}
    try:
        treatment = reproducer_for(pipeline.get("tool", "dvc")).treatment_files(
            repo, pipeline, {*data, *([croissant] if croissant else [])}
        )
    except SeiError:
        treatment = []
    script = (raw.get("eval") or {}).get("script")
    if script and (repo / script).is_file():
        treatment = sorted({*treatment, repo / script})
    # The compiled plan is the manifest's risk program rendered (scope, not treatment), even
    # when the pipeline reads it: a re-compile is no treatment.
    plan = (raw.get("oscal") or {}).get("assessment_plan") or PLAN_DEFAULT
    treatment = [f for f in treatment if f != repo / plan]
    hashes = {
        "classification": _digest(_canonical(scope_cls)),
        "data_governance": _digest(croissant.read_bytes())
        if croissant and croissant.is_file()
        else EMPTY,
        "measurement-data": files_digest(repo, data),
        "measurement-model": files_digest(repo, treatment),
        "risks": _digest(_canonical(raw.get("risk"))),
    }
    edges = {
        "classification": "scope",
        "data_governance": "data",
        "measurement-data": "data",
        "measurement-model": "impl",
        "risks": "scope",
    }
    return Inputs(hashes, edges, data, treatment)


def build_lock(
    system_name: str, triple: dict[str, str], inputs: Inputs, signed_envelope: str
) -> dict[str, Any]:
    """The `sei.lock` document after a run: every section valid."""
    return {
        "schema_version": SCHEMA,
        "program_uid": str(uuid.uuid5(uuid.NAMESPACE_URL, system_name)),
        "triple": triple,
        "sections": {
            s: {"status": "valid", "input_hash": inputs.hashes[s], "edge_type": inputs.edges[s]}
            for s in SECTIONS
        },
        "signed_bundle_digest": signed_envelope,
    }


def lock_bytes(lock: dict[str, Any]) -> bytes:
    """The exact bytes `sei.lock` is written with."""
    return (json.dumps(lock, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_lock(repo: Path, lock: dict[str, Any]) -> Path:
    """Write `sei.lock` atomically."""
    path = repo / LOCK_NAME
    atomic_write(path, lock_bytes(lock))
    return path


def read_lock(repo: Path) -> tuple[Path, dict[str, Any]] | None:
    """The lock of ``repo`` (sei.lock, else the reference's venth.lock / froga.lock)."""
    from sei_assets.core import evidence_set

    for name in LOCK_NAMES:
        path = repo / name
        where = (evidence_set.view(repo, name) or path) if name == LOCK_NAME else path
        if where.is_file():
            from sei_assets.core import safeload

            text = safeload.read_text(where, "lock")
            doc = safeload.parse_json(path, text, "lock")
            if not isinstance(doc, dict):
                raise SeiError(f"{path}: expected a JSON object (the lock's sections)")
            return path, doc
    return None


@dataclass
class SectionDrift:
    """One section's freshness."""

    section: str
    edge_type: str
    fresh: bool
    locked: str | None
    current: str

    @property
    def drift_class(self) -> str:
        return DRIFT_CLASS[self.edge_type]

    def describe(self) -> str:
        """Human text, also what scenarios match in stdout."""
        if self.locked is None:
            return (
                f"not yet evaluated (class {self.drift_class}: {DRIFT_MEANING[self.drift_class]})"
            )
        if self.fresh:
            return "fresh"
        return f"stale (class {self.drift_class}: {DRIFT_MEANING[self.drift_class]} changed)"


def drift(repo: Path, manifest_path: Path, raw: dict[str, Any]) -> list[SectionDrift]:
    """Compare the lock with the inputs on disk, without recomputing anything."""
    inputs = section_inputs(repo, manifest_path, raw)
    found = read_lock(repo)
    locked_sections = found[1].get("sections", {}) if found else {}
    if not isinstance(locked_sections, dict):
        raise SeiError(f"{found[0] if found else LOCK_NAME}: sections: expected a JSON object")
    out = []
    for s in SECTIONS:
        entry = locked_sections.get(s)
        entry = entry if isinstance(entry, dict) else {}
        locked = entry.get("input_hash")
        locked = locked if isinstance(locked, str) else None
        edge = entry.get("edge_type")
        if not isinstance(edge, str) or edge not in DRIFT_CLASS:
            edge = inputs.edges[s]
        out.append(SectionDrift(s, edge, locked == inputs.hashes[s], locked, inputs.hashes[s]))
    return out
