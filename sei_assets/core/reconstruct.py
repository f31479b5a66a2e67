"""`reconstruct`: the risk-management cycle rebuilt from git history.

The document is the reference engine's envelope ``{schema_version: 1, kind: "reconstruct",
system, payload}``; the payload keeps the reference's fields:

- ``system_name``;
- ``snapshots``: every commit that changed the evidence bundle (``bundle.json`` under ``.sei/``,
  ``.venth/`` or ``.froga/``), oldest first: ``sha``, ``date`` (UTC, ``+00:00``), ``subject``;
- ``risks``: each risk with measured controls in the latest bundle, in risk id order:
  ``risk_id``, ``identified_sha`` / ``identified_date`` (UTC, ``Z``) of the first commit whose
  manifest names it, ``provenance``, and ``assessment`` (its ``risk_analysis`` entry in the
  latest bundle);
- ``approval``: the latest approval (``approver``, ``sha``, ``date``, ``stale``) or null;
- ``lifecycle``: see :func:`sei_assets.core.governance.lifecycle`;

and adds one field of ours, ``treatment_arcs``: each control that failed in one snapshot and
passed in the next one that measured it, with the two snapshots (``failed``, ``passed``: sha,
date, subject, actual value, threshold, operator), ``failing_since`` (the first snapshot of the
failing streak), ``threshold_changed`` (the pass came with another constraint: not a treatment)
and ``treatment``: the newest commit of ``(failed, passed]`` that changed the treatment inputs
(code, params: the lock's ``impl`` edge), else the engine's own anchor in the passing bundle's
``treatment_events``, else null.

"Latest bundle" is the working tree's (what ``sei run`` last wrote), else the last snapshot's.

Which evidence is verified: the latest bundle, the one whose assessment the document reports,
before anything is read from it. The working tree's is held to the rule of ``sei status``
(:func:`sei_assets.core.status.current_bundle`): its ``.sig`` must verify under the key trusted
for the system (the organisation's, else the one this machine remembers for the system or the
repository, else at first sight its folder's ``PUBKEY.txt``), it must name the manifest's system
and be no older than evidence verified before here. A latest bundle taken from history is held
to the same rule with the ``.sig`` and ``PUBKEY.txt`` committed beside it at that commit. An
altered, unsigned or foreign latest bundle stops the replay (:class:`VerificationError`: exit
1, "evidence does not verify"); nothing is written. The earlier snapshots are read as their
commits recorded them and are not verified one by one: the history is the repository's own
record (check a past commit's evidence with ``sei verify`` on a checkout of it).
No Dagster here.
"""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sei_assets.core import gitutil, governance, jsonread, safeload
from sei_assets.core.errors import SeiError, VerificationError
from sei_assets.core.evidence import dump, write_signed
from sei_assets.core.gitutil import BlobReader
from sei_assets.core.governance import BUNDLE_PATHS, utc_z
from sei_assets.core.layout import EVIDENCE_DIR, MANIFEST_NAMES, PUBKEY, SIG_SUFFIX

RECONSTRUCT = "reconstruct.json"

SCHEMA_VERSION = 1


def _refused(where: str, problem: str) -> VerificationError:
    return VerificationError(
        f"evidence does not verify: {where}: {problem}; nothing is reconstructed from evidence "
        "that does not verify (it is checked against the key trusted for the system: the "
        "organisation's trusted keys, else the key `sei verify` remembered, else its PUBKEY.txt)"
    )


def _working_bundle(repo: Path, system: str) -> dict[str, Any] | None:
    """The working tree's bundle (``.sei`` first, then the legacy folders), verified as
    ``sei status`` verifies it; None when there is none."""
    from sei_assets.core.status import current_bundle

    found = current_bundle(repo, system)
    if found is None:
        return None
    if found.problem is not None or found.bundle is None:
        raise _refused(str(found.path), found.problem or "unreadable")
    return found.bundle


def _committed_bundle(
    repo: Path, system: str, snap: dict[str, Any], blobs: BlobReader
) -> dict[str, Any]:
    """The bundle of snapshot ``snap`` verified with the ``.sig`` and ``PUBKEY.txt`` committed
    beside it (the rule of :func:`_working_bundle`, at that commit)."""
    from sei_assets.core import dsse
    from sei_assets.core.status import bundle_problem, pubkey_text

    sha, rel = snap["sha"], snap["path"]
    found = blobs.read(sha, rel)
    raw = b"" if found is None else found[1]

    def read_envelope() -> bytes | None:
        sig = blobs.read(sha, rel + SIG_SUFFIX)
        return None if sig is None else sig[1][: dsse.MAX_ENVELOPE + 1]

    def folder_key() -> str | None:
        key = blobs.read(sha, f"{rel.rsplit('/', 1)[0]}/{PUBKEY}")
        return None if key is None else pubkey_text(key[1])

    problem = bundle_problem(repo, system, raw, snap["bundle"], read_envelope, folder_key)
    if problem is not None:
        raise _refused(f"{rel} at commit {sha[:12]}", problem)
    bundle: dict[str, Any] = snap["bundle"]
    return bundle


def reconstruct(repo: Path) -> dict[str, Any]:
    """Replay the history of ``repo`` into the reconstruct document (not written)."""
    repo = Path(repo)
    if not gitutil.has_head(repo):
        raise SeiError(f"nothing to reconstruct in {repo}: the repository has no commit yet")
    system = _system_name(repo)
    ranges = _Ranges(repo)
    # The git questions that need no bundle run in threads beside the bundles' parsing; their
    # errors come out where the sequential order would raise them (Future.result).
    with ThreadPoolExecutor(max_workers=2) as pool:
        decided = pool.submit(_decisions, repo)
        prefetched = pool.submit(ranges.prefetch)
        with BlobReader(repo) as blobs:  # every blob of the replay through one process
            snaps = _snapshots(repo, blobs)
            latest = _working_bundle(repo, system)
            if latest is None:
                last = next((s for s in reversed(snaps) if s["bundle"] is not None), None)
                latest = None if last is None else _committed_bundle(repo, system, last, blobs)
            risks = _risks(repo, latest, snaps, blobs)
        prefetched.result()
        arcs = _arcs(repo, snaps, ranges)
        approval, lifecycle = decided.result()
    breaches = _reopen(repo, risks)
    payload: dict[str, Any] = {
        "system_name": system,
        "snapshots": [{k: s[k] for k in ("sha", "date", "subject")} for s in snaps],
        "risks": risks,
        "treatment_arcs": arcs,
        "approval": approval,
        "lifecycle": lifecycle,
    }
    if breaches:
        payload["post_market_breaches"] = breaches
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "reconstruct",
        "system": system,
        "payload": payload,
    }


def _reopen(repo: Path, risks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set the cycle of each risk an open post-market breach reopens to `open` (with the
    breaches that reopened it); the open breaches (none: nothing changes)."""
    from sei_assets.core.postmarket import open_breaches

    breaches = open_breaches(repo)
    by_risk: dict[str, list[dict[str, Any]]] = {}
    for b in breaches:
        by_risk.setdefault(b.risk, []).append(b.to_json())
    for entry in risks:
        rid = entry.get("risk_id")
        found = by_risk.get(rid) if isinstance(rid, str) else None
        assessment = entry.get("assessment")
        if found and isinstance(assessment, dict):
            entry["assessment"] = {
                **assessment,
                "cycle": {"status": "open", "reopened_by": found},
            }
    return [b.to_json() for b in breaches]


def _decisions(repo: Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The latest approval and the lifecycle, from one reading of the decisions."""
    history = governance.decisions(repo, head_known=True)
    return governance.approval(repo, history), governance.lifecycle(repo, history)


def write_reconstruct(repo: Path, doc: dict[str, Any], key: Any, out: Path | None = None) -> Path:
    """Write ``doc`` signed: ``.sei/reconstruct.json`` (with ``PUBKEY.txt``) or at ``out``.

    A ``.sig`` is written beside the file either way. In ``.sei`` the public key is written when
    missing; a ``PUBKEY.txt`` of another key is refused (the folder would no longer verify).
    """
    from sei_assets.core import signing

    repo = Path(repo)
    if out is not None:
        target = Path(out)
        write_signed(target, dump(doc), key)
        return target
    folder = repo / EVIDENCE_DIR
    pubkey = folder / signing.PUBKEY_FILE
    mine = signing.public_key_hex(key)
    if pubkey.is_file() and pubkey.read_text(encoding="ascii", errors="replace").strip() != mine:
        raise SeiError(
            f"{pubkey} holds another public key than the signing key's: sign with the key that "
            "signed the evidence there, or write the reconstruct elsewhere (out=...)"
        )
    target = folder / RECONSTRUCT
    write_signed(target, dump(doc), key)
    if not pubkey.is_file():
        signing.write_pubkey(folder, key)
    return target


def reconstruct_cycle(
    repo: Path, out: Path | None = None, key: Any = None
) -> tuple[dict[str, Any], Path]:
    """Replay the history and write the document signed (``sei reconstruct``): (doc, path)."""
    from sei_assets.core import signing

    doc = reconstruct(Path(repo))
    return doc, write_reconstruct(Path(repo), doc, key or signing.load_or_create_key(), out)


# --------------------------------------------------------------------------- history


def _system_name(repo: Path) -> str:
    for name in MANIFEST_NAMES:
        path = repo / name
        if path.is_file():
            data = _yaml(path.read_bytes())
            system = data.get("system") if isinstance(data, dict) else None
            if isinstance(system, dict) and system.get("name"):
                return str(system["name"])
            raise SeiError(f"{path}: system.name: this required key is missing")
    raise SeiError(f"no manifest in {repo}: expected one of {', '.join(MANIFEST_NAMES)}")


def _yaml(raw: bytes) -> Any:
    try:
        return safeload.parse_yaml("<history>", safeload.decode("<history>", raw, "manifest"))[0]
    except SeiError:
        return None


def _log(repo: Path, *args: str) -> list[list[str]]:
    """``git log`` records (oldest first, parents before children) split into their fields."""
    out = gitutil.git_text(repo, "log", "--reverse", "--topo-order", *args)
    return [r.split("\x00") for r in out.split("\x1e")[1:]]


def _snapshots(repo: Path, blobs: BlobReader) -> list[dict[str, Any]]:
    """Every commit that added or modified an evidence bundle, with the bundle it committed."""
    records = _log(
        repo,
        "--relative",
        "--no-renames",
        "--name-status",
        "--format=%x1e%H%x00%ct%x00%s%x00",
        "HEAD",
        "--",
        *BUNDLE_PATHS,
    )
    wanted = []
    for sha, ct, subject, files in records:
        changed = set()
        for line in files.strip().splitlines():
            status, _, path = line.partition("\t")
            if status[:1] in ("A", "M"):
                changed.add(path)
        paths = [p for p in BUNDLE_PATHS if p in changed]
        if paths:
            wanted.append((sha, ct, subject, paths[0]))
    snaps = []
    found_all = blobs.read_many([(sha, path) for sha, _ct, _s, path in wanted])
    for (sha, ct, subject, path), found in zip(wanted, found_all, strict=True):
        bundle = None if found is None else jsonread.loads(found[1])
        snaps.append(
            {
                "sha": sha,
                "date": dt.datetime.fromtimestamp(int(ct), dt.UTC).isoformat(),
                "subject": subject,
                "bundle": bundle if isinstance(bundle, dict) else None,
                "path": path,
            }
        )
    return snaps


def _strings(node: Any) -> set[str]:
    """Every string scalar of a parsed YAML document."""
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return {s for k, v in node.items() for s in (*_strings(k), *_strings(v))}
    if isinstance(node, list):
        return {s for item in node for s in _strings(item)}
    return set()


_PLAIN_ID = re.compile(r"[!#-&(-\[\]-~]+")  # printable ASCII but space, quotes, backslash


def _may_name(raw: bytes, ids: set[str]) -> bool:
    """False only when no YAML reading of ``raw`` can have a string equal to one of ``ids``.

    An id of plain printable ASCII (no space, quote or backslash) can only be a parsed string
    if it appears verbatim in the text, unless the text has escapes (a backslash).
    """
    if b"\\" in raw or not all(_PLAIN_ID.fullmatch(i) for i in ids):
        return True
    return any(i.encode() in raw for i in ids)


def _named(raw: bytes, wanted: set[str]) -> set[str]:
    """The ids of ``wanted`` that a manifest's bytes name."""
    data = _yaml(raw)
    if data is None:  # unparsable at that commit: fall back to the text
        text = raw.decode("utf-8", "replace")
        return {r for r in wanted if r in text}
    return _strings(data) & wanted


def _identified(repo: Path, risk_ids: list[str], blobs: BlobReader) -> dict[str, tuple[str, str]]:
    """For each risk id, the first commit whose manifest names it: (sha, date Z)."""
    wanted = set(risk_ids)
    found: dict[str, tuple[str, str]] = {}
    if not wanted:
        return found
    records = _log(repo, "--format=%x1e%H%x00%ct", "HEAD", "--", *MANIFEST_NAMES)
    by_blob: dict[str, set[str]] = {}  # a manifest unchanged since is parsed once
    questions = [(sha.strip(), name) for sha, _ct in records for name in MANIFEST_NAMES]
    answers = blobs.read_many(questions)
    try:
        for sha, ct in records:
            named: set[str] = set()
            for _name in MANIFEST_NAMES:
                blob = next(answers)
                if blob is None:
                    continue
                oid, raw = blob
                if oid not in by_blob:
                    if not _may_name(raw, wanted - found.keys()):
                        continue  # none of the ids still looked for is in it: not parsed
                    by_blob[oid] = _named(raw, wanted)
                named |= by_blob[oid]
            for rid in named - found.keys():
                found[rid] = (sha.strip(), utc_z(ct.strip()))
            if found.keys() >= wanted:
                break
    finally:
        answers.close()  # the answers not needed are read and dropped
    return found


def _risks(
    repo: Path, latest: dict[str, Any] | None, snaps: list[dict[str, Any]], blobs: BlobReader
) -> list[dict[str, Any]]:
    if not latest:
        return []
    measured = {r.get("risk_id") for r in latest.get("control_results") or []}
    analysis = sorted(
        (a for a in latest.get("risk_analysis") or [] if a.get("risk_id") in measured),
        key=lambda a: a["risk_id"],
    )
    identified = _identified(repo, [a["risk_id"] for a in analysis], blobs)
    risks = []
    for entry in analysis:
        rid = entry["risk_id"]
        sha, date = identified.get(rid) or _first_snapshot_with(rid, snaps)
        risks.append(
            {
                "risk_id": rid,
                "identified_sha": sha,
                "identified_date": date,
                "provenance": entry.get("provenance", "declared"),
                "assessment": entry,
            }
        )
    return risks


def _first_snapshot_with(rid: str, snaps: list[dict[str, Any]]) -> tuple[Any, Any]:
    """For a risk no manifest named (proposed, not declared): the first bundle that has it."""
    for s in snaps:
        analysis = (s["bundle"] or {}).get("risk_analysis") or []
        if any(a.get("risk_id") == rid for a in analysis):
            moment = dt.datetime.fromisoformat(s["date"])
            return s["sha"], moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None, None


# --------------------------------------------------------------------------- treatment arcs


def _treatment_paths(repo: Path) -> list[str]:
    """The treatment inputs (the lock's ``impl`` edge) relative to ``repo``; [] when unknown."""
    from sei_assets.core import lock

    for name in MANIFEST_NAMES:
        path = repo / name
        if path.is_file():
            try:
                raw = lock.read_raw_manifest(path)
                files = lock.section_inputs(repo, path, raw).treatment_files
            except (SeiError, OSError, ValueError):
                return []
            resolved = repo.resolve()
            return sorted(
                f.resolve().relative_to(resolved).as_posix()
                for f in files
                if f.resolve().is_relative_to(resolved)
            )
    return []


def _treatment_commit(
    repo: Path, paths: list[str], failed: str, passed: str
) -> dict[str, str] | None:
    if not paths:
        return None
    out = gitutil.git_text(
        repo, "log", "-1", "--format=%H%x00%ct%x00%s", f"{failed}..{passed}", "--", *paths
    ).strip()
    if not out:
        return None
    sha, ct, subject = out.split("\x00", 2)
    return {"sha": sha, "date": utc_z(ct), "subject": subject}


class _Ranges:
    """Answers about commit ranges ``(failed, passed]`` from HEAD's history read once.

    On a linear history (no merge) a range is a slice of the chain of commits, so the newest
    treatment commit in it and the engine's anchor come from two ``git log`` runs in all, not
    one per arc. With merges, git's own range and history simplification rules apply: each
    question goes to git (:func:`_treatment_commit`, :func:`_engine_anchor`).
    """

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._paths: list[str] | None = None
        self._chain: list[tuple[str, str, str]] | None = None  # (sha, ct, subject), newest first
        self._index: dict[str, int] = {}
        self._linear = False
        self._touching: set[str] | None = None

    @property
    def paths(self) -> list[str]:
        """The treatment paths (:func:`_treatment_paths`), read once."""
        if self._paths is None:
            self._paths = _treatment_paths(self.repo)
        return self._paths

    def prefetch(self) -> None:
        """Ask git beforehand what the arcs will need; a failure is asked again (and raised)
        where an arc needs the answer, as if nothing had been asked before."""
        try:
            if self._load() and self.paths:
                self._touched()
        except Exception:  # noqa: BLE001 - deferred to the question that needs it
            pass

    def _touched(self) -> set[str]:
        """The commits of HEAD that changed a treatment path."""
        if self._touching is None:
            out = gitutil.git_text(self.repo, "log", "--format=%H", "HEAD", "--", *self.paths)
            self._touching = set(out.split())
        return self._touching

    def _load(self) -> bool:
        """Read HEAD's chain once; whether the history is linear."""
        if self._chain is None:
            out = gitutil.git_text(self.repo, "log", "--format=%x1e%H%x00%P%x00%ct%x00%s", "HEAD")
            records = [r.split("\x00", 3) for r in out.split("\x1e")[1:]]
            self._linear = all(len(parents.split()) <= 1 for _s, parents, _c, _m in records)
            self._chain = [
                (sha, ct, subject.removesuffix("\n")) for sha, _p, ct, subject in records
            ]
            self._index = {sha: i for i, (sha, _c, _m) in enumerate(self._chain)}
        return self._linear

    def _between(self, failed: str, passed: str) -> list[tuple[str, str, str]]:
        """The commits of ``failed..passed``, newest first (linear history only)."""
        assert self._chain is not None
        return self._chain[self._index[passed] : self._index[failed]]

    def treatment_commit(self, failed: str, passed: str) -> dict[str, str] | None:
        """The newest commit of ``(failed, passed]`` that changed a treatment path."""
        if not self.paths:
            return None
        if not self._load():
            return _treatment_commit(self.repo, self.paths, failed, passed)
        touching = self._touched()
        for sha, ct, subject in self._between(failed, passed):
            if sha in touching:
                return {"sha": sha, "date": utc_z(ct), "subject": subject.rstrip()}
        return None

    def engine_anchor(
        self, bundle: dict[str, Any], cid: str, failed: str, passed: str
    ) -> dict[str, Any] | None:
        """As :func:`_engine_anchor`, from the chain read once."""
        anchors = _anchors(bundle, cid)
        if not anchors:
            return None
        if not self._load():
            return _engine_anchor(self.repo, bundle, cid, failed, passed)
        for sha, ct, subject in self._between(failed, passed):
            if any(sha.startswith(a) for a in anchors):
                return {"sha": sha, "date": utc_z(ct), "subject": subject}
        return None


def _side(snap: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {
        "sha": snap["sha"],
        "date": snap["date"],
        "subject": snap["subject"],
        "actual_value": result.get("actual_value"),
        "threshold": result.get("threshold"),
        "operator": result.get("operator"),
    }


def _arcs(
    repo: Path, snaps: list[dict[str, Any]], ranges: _Ranges | None = None
) -> list[dict[str, Any]]:
    """FAIL -> PASS per control between consecutive snapshots that measured it."""
    last: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    since: dict[str, dict[str, Any]] = {}
    arcs: list[dict[str, Any]] = []
    for snap in snaps:
        for result in (snap["bundle"] or {}).get("control_results") or []:
            cid = result.get("control_id")
            if cid is None:
                continue
            passed = result.get("passed") is True
            previous = last.get(cid)
            if not passed:
                since.setdefault(cid, snap)
            elif previous is not None and previous[1].get("passed") is not True:
                old_snap, old = previous
                if ranges is None:
                    ranges = _Ranges(repo)
                treatment = ranges.treatment_commit(old_snap["sha"], snap["sha"])
                if treatment is None:
                    treatment = ranges.engine_anchor(
                        snap["bundle"], cid, old_snap["sha"], snap["sha"]
                    )
                first = since.pop(cid, old_snap)
                arcs.append(
                    {
                        "control_id": cid,
                        "risk_id": result.get("risk_id"),
                        "failed": _side(old_snap, old),
                        "passed": _side(snap, result),
                        "failing_since": {"sha": first["sha"], "date": first["date"]},
                        "threshold_changed": (old.get("threshold"), old.get("operator"))
                        != (result.get("threshold"), result.get("operator")),
                        "treatment": treatment,
                    }
                )
            last[cid] = (snap, result)
    return arcs


def _engine_anchor(
    repo: Path, bundle: dict[str, Any], cid: str, failed: str, passed: str
) -> dict[str, Any] | None:
    """The treatment commit the engine recorded at run time for ``cid``, when it lies in
    ``(failed, passed]`` (an older one was already there when the control still failed)."""
    anchors = _anchors(bundle, cid)
    if not anchors:
        return None
    out = gitutil.git_text(repo, "log", "--format=%H%x00%ct%x00%s", f"{failed}..{passed}", "--")
    for line in out.splitlines():
        sha, ct, subject = line.split("\x00", 2)
        if any(sha.startswith(a) for a in anchors):
            return {"sha": sha, "date": utc_z(ct), "subject": subject}
    return None


def _anchors(bundle: dict[str, Any], cid: str) -> list[str]:
    """The treatment commits the engine recorded for ``cid`` in ``bundle`` (`anchored_commit`;
    earlier bundles of this engine named it `treatment_commit`)."""
    events = [e for e in bundle.get("treatment_events") or [] if e.get("control_id") == cid]
    found = (e.get("anchored_commit") or e.get("treatment_commit") for e in events)
    return [a for a in found if a]
