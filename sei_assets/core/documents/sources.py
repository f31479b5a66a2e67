"""What a document may say, and where each fact comes from: the signed evidence set of a
repository (its index, bundle and signed governance documents), its manifest and git history.

Every reader is bounded (``safeload``); a fact is cited as a :class:`Ref` (file, sha256).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core import evidence_set, safeload
from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import sha256_bytes

EVIDENCE = ".sei"
DOSSIER_DIR = f"{EVIDENCE}/dossier"
DOSSIER_HTML = f"{DOSSIER_DIR}/dossier.html"
DOSSIER_PDF = f"{DOSSIER_DIR}/dossier.pdf"
SOA = f"{EVIDENCE}/soa.json"
#: The documents made from the set: never listed as their own sources.
OUTPUTS = tuple(f"{p}{s}" for p in (DOSSIER_HTML, DOSSIER_PDF, SOA) for s in ("", ".sig"))


@dataclass(frozen=True)
class Ref:
    """A file a statement comes from: its repository-relative path and sha256 (hex)."""

    path: str
    sha256: str

    @property
    def name(self) -> str:
        return self.path.removeprefix(f"{EVIDENCE}/")

    @property
    def anchor(self) -> str:
        return "file-" + "".join(c if c.isalnum() else "-" for c in self.path)

    @property
    def short(self) -> str:
        return self.sha256[:12]


@dataclass
class Snapshot:
    """One committed evidence bundle of the history: commit, date, subject, its bundle."""

    sha: str
    date: str
    subject: str
    bundle: dict[str, Any]


@dataclass
class Sources:
    """Everything a document is made from."""

    repo: Path
    index: dict[str, Any]
    files: dict[str, str]
    manifest: Any
    manifest_ref: Ref
    bundle: dict[str, Any]
    docs: dict[str, dict[str, Any]]
    keyid: str | None
    pubkey: str | None
    verified: bool
    verified_count: int
    verify_failures: list[str]
    verify_warnings: list[str]
    lifecycle: dict[str, Any]
    decisions: list[dict[str, Any]]
    history: list[Snapshot] = field(default_factory=list)
    extra: dict[str, Ref] = field(default_factory=dict)
    #: The attestation of each manual measure (None: none), current or stale.
    attestations: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: The signed monthly post-market summaries of the set, oldest month first.
    summaries: list[tuple[Ref, dict[str, Any]]] = field(default_factory=list)

    def ref(self, rel: str) -> Ref | None:
        """The cited file ``rel`` of the set (or the manifest), or None when it is not there."""
        if rel == self.manifest_ref.path:
            return self.manifest_ref
        if rel in self.extra:
            return self.extra[rel]
        digest = self.files.get(rel)
        return Ref(rel, digest) if digest else None

    @property
    def bundle_ref(self) -> Ref:
        ref = self.ref(f"{EVIDENCE}/bundle.json")
        assert ref is not None
        return ref

    def conformance(self) -> list[tuple[Ref, dict[str, Any]]]:
        """The signed conformance projections of the set, in the manifest's standard order."""
        found = [
            (Ref(rel, self.files[rel]), doc)
            for rel, doc in self.docs.items()
            if rel.startswith(f"{EVIDENCE}/conformance/")
        ]
        order = {s: i for i, s in enumerate(self.bundle.get("applicable_standards") or [])}
        return sorted(
            found, key=lambda x: (order.get(x[1]["payload"].get("standard"), 99), x[0].path)
        )


#: The signed governance documents a dossier reads, when the set has them.
DOCS = (
    f"{EVIDENCE}/reconstruct.json",
    f"{EVIDENCE}/impact.json",
    f"{EVIDENCE}/risk_backlog.json",
    f"{EVIDENCE}/groups.json",
)
#: Where the monthly post-market summaries lie (core.postmarket_summary).
SUMMARIES = f"{EVIDENCE}/monitoring/summaries/"


def _json(repo: Path, rel: str) -> dict[str, Any]:
    data = evidence_set.read_bytes(repo, rel)
    if data is None:
        raise SeiError(f"{repo / rel}: listed in the evidence index but not readable")
    text = safeload.decode(repo / rel, data, "evidence file")
    doc = safeload.parse_json(repo / rel, text, "evidence file")
    if not isinstance(doc, dict):
        raise SeiError(f"{repo / rel}: expected a JSON object")
    return doc


_LISTS = (
    "control_results",
    "risk_analysis",
    "treatment_events",
    "means_of_conformance",
    "post_market_measures",
    "foreseeable_misuse",
)
_MAPS = ("triple", "pipeline", "data_governance", "bom", "overall_residual", "classification")


def shaped(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with every field a document reads in the shape it expects: a list field
    keeps its objects, a mapping field that is not one is dropped (a tampered or foreign
    bundle draws less, it never breaks the document; its signature check says what is wrong)."""
    out = dict(bundle)
    for key in _LISTS:
        value = out.get(key)
        out[key] = [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []
    for key in _MAPS:
        if not isinstance(out.get(key), dict):
            out[key] = {} if key == "triple" else None
    for key in ("gate_failures", "applicable_standards"):
        value = out.get(key)
        out[key] = [str(x) for x in value] if isinstance(value, list) else []
    for key in ("gate", "generated_at", "system_name", "pipeline_lock_digest"):
        if out.get(key) is not None and not isinstance(out.get(key), str):
            out[key] = str(out[key])
    for r in out["control_results"]:
        if not isinstance(r.get("power"), dict):
            r.pop("power", None)
    for r in out["risk_analysis"]:
        dims = r.get("dimensions")
        r["dimensions"] = [d for d in dims if isinstance(d, dict)] if isinstance(dims, list) else []
    return out


def _is_summary(doc: dict[str, Any]) -> bool:
    """Whether ``doc`` has the shape a dossier draws a monthly summary from (a tampered one that
    has not is left out; its signature check says what is wrong)."""
    from sei_assets.core.postmarket_summary import SCHEMA

    return (
        doc.get("schema_version") == SCHEMA
        and isinstance(doc.get("month"), str)
        and isinstance(doc.get("totals"), dict)
        and all(isinstance(doc.get(k), list) for k in ("periods", "measures", "incidents"))
        and all(isinstance(x, dict) for k in ("measures", "incidents") for x in doc[k])
    )


def _is_output(repo: Path, path: Any) -> bool:
    """Whether a verified file is one of the documents made from the set."""
    p = Path(path)
    rel = (p.relative_to(repo) if p.is_absolute() and p.is_relative_to(repo) else p).as_posix()
    return any(rel == o or rel.endswith("/" + o) for o in OUTPUTS)


def gather(repo: Path, history: bool = True) -> Sources:
    """The sources of ``repo``'s documents. Refuses (exit 2) a repository without a signed
    evidence index (`sei run` writes one)."""
    from sei_assets.core import governance, signing
    from sei_assets.core.manifest import load_manifest

    repo = Path(repo).resolve()
    loaded = load_manifest(repo)
    index = evidence_set.read_index(repo)
    if index is None:
        raise SeiError(f"{repo}: no signed evidence index in {EVIDENCE}/: run `sei run` first")
    files = {
        rel: digest
        for rel, digest in index["files"].items()
        if isinstance(rel, str) and isinstance(digest, str) and rel not in OUTPUTS
    }
    if f"{EVIDENCE}/bundle.json" not in files:
        raise SeiError(f"{repo}: the evidence index lists no bundle.json: run `sei run` first")
    bundle = shaped(_json(repo, f"{EVIDENCE}/bundle.json"))
    docs: dict[str, dict[str, Any]] = {}
    summaries: list[tuple[Ref, dict[str, Any]]] = []
    for rel in sorted(files):
        if rel in DOCS or (rel.startswith(f"{EVIDENCE}/conformance/") and rel.endswith(".json")):
            doc = _json(repo, rel)
            if isinstance(doc.get("payload"), dict):
                docs[rel] = doc
        elif rel.startswith(SUMMARIES) and rel.endswith(".json"):
            doc = _json(repo, rel)
            if _is_summary(doc):
                summaries.append((Ref(rel, files[rel]), doc))
    verdict = signing.verify_evidence(repo)
    checked = [f for f in verdict.files if not _is_output(repo, f.path)]
    failures = [f"{f.path}: {f.reason}" for f in checked if not f.ok]
    pubkey = verdict.pubkey_hex or None
    manifest_ref = Ref(loaded.path.relative_to(repo).as_posix(), sha256_bytes(loaded.raw))
    src = Sources(
        repo=repo,
        index=index,
        files=files,
        manifest=loaded,
        manifest_ref=manifest_ref,
        bundle=bundle,
        docs=docs,
        keyid=signing.keyid_for(pubkey) if pubkey else None,
        pubkey=pubkey,
        verified=not failures,
        verified_count=len(checked),
        verify_failures=failures,
        verify_warnings=list(verdict.warnings),
        lifecycle=governance.lifecycle(repo),
        decisions=governance.decisions(repo),
        summaries=summaries,
    )
    from sei_assets.core import attest

    for _risk, m in loaded.manifest.measures:
        if m.evaluation == "manual":
            src.attestations[m.id] = attest.status(repo, m.id, loaded.raw)
    if history:
        src.history = bundle_history(repo)
    return src


def bundle_history(repo: Path, limit: int = 50) -> list[Snapshot]:
    """The evidence bundles committed in git history, oldest first (at most ``limit``)."""
    from sei_assets.core import gitutil

    if not gitutil.has_head(repo):
        return []
    log = gitutil.git_text(
        repo, "log", f"-n{limit}", "--format=%H%x09%cI%x09%s", "--", f"{EVIDENCE}/bundle.json"
    )
    out: list[Snapshot] = []
    for line in reversed(log.splitlines()):
        parts = line.split("\t", 2)
        if len(parts) != 3:
            continue
        sha, date, subject = parts
        raw = gitutil.show(repo, sha, f"{EVIDENCE}/bundle.json")
        if raw is None or len(raw) > safeload.MAX_BYTES:
            continue
        try:
            doc = safeload.parse_json(f"{sha}:{EVIDENCE}/bundle.json", raw.decode("utf-8"))
        except (SeiError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict):
            out.append(Snapshot(sha, date, subject, shaped(doc)))
    return out
