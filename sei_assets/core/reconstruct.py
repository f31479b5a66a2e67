"""`reconstruct`: the risk-management cycle rebuilt from git history.

The document is the reference engine's envelope ``{schema_version: 1, kind: "reconstruct",
system, payload}``; the payload keeps the reference's fields:

- ``system_name``;
- ``snapshots``: every commit that changed the evidence bundle (``bundle.json`` under ``.sei/``,
  ``.venth/`` or ``.froga/``), oldest first: ``sha``, ``date`` (UTC, ``+00:00``), ``subject``;
- ``risks``: each risk with measured controls in the latest bundle: ``risk_id``,
  ``identified_sha`` / ``identified_date`` (UTC, ``Z``) of the first commit whose manifest names
  it, ``provenance``, and ``assessment`` (its ``risk_analysis`` entry in the latest bundle);
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
No Dagster here.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sei_assets.core import governance, safeload
from sei_assets.core.errors import SeiError
from sei_assets.core.evidence import EVIDENCE_DIR, dump, write_signed
from sei_assets.core.governance import BUNDLE_PATHS, blob_at, utc_z

RECONSTRUCT = "reconstruct.json"
#: As core.manifest.MANIFEST_NAMES, without importing pydantic (read-only verbs stay fast).
MANIFEST_NAMES = ("sei.yaml", "venth.yaml", "froga.yaml")
SCHEMA_VERSION = 1


def reconstruct(repo: Path) -> dict[str, Any]:
    """Replay the history of ``repo`` into the reconstruct document (not written)."""
    repo = Path(repo)
    if not governance.has_head(repo):
        raise SeiError(f"nothing to reconstruct in {repo}: the repository has no commit yet")
    system = _system_name(repo)
    snaps = _snapshots(repo)
    latest = governance.current_bundle(repo)[1]
    if latest is None:
        latest = next((s["bundle"] for s in reversed(snaps) if s["bundle"] is not None), None)
    history = governance.decisions(repo)
    payload: dict[str, Any] = {
        "system_name": system,
        "snapshots": [{k: s[k] for k in ("sha", "date", "subject")} for s in snaps],
        "risks": _risks(repo, latest, snaps),
        "treatment_arcs": _arcs(repo, snaps),
        "approval": governance.approval(repo, history),
        "lifecycle": governance.lifecycle(repo, history),
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "reconstruct",
        "system": system,
        "payload": payload,
    }


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
    out = governance.git_text(repo, "log", "--reverse", "--topo-order", *args)
    return [r.split("\x00") for r in out.split("\x1e")[1:]]


def _snapshots(repo: Path) -> list[dict[str, Any]]:
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
    snaps = []
    for sha, ct, subject, files in records:
        changed = set()
        for line in files.strip().splitlines():
            status, _, path = line.partition("\t")
            if status[:1] in ("A", "M"):
                changed.add(path)
        paths = [p for p in BUNDLE_PATHS if p in changed]
        if not paths:
            continue
        bundle = None
        raw = blob_at(repo, sha, paths[0])
        if raw is not None:
            try:
                bundle = json.loads(raw)
            except ValueError:
                bundle = None
        snaps.append(
            {
                "sha": sha,
                "date": dt.datetime.fromtimestamp(int(ct), dt.UTC).isoformat(),
                "subject": subject,
                "bundle": bundle if isinstance(bundle, dict) else None,
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


def _identified(repo: Path, risk_ids: list[str]) -> dict[str, tuple[str, str]]:
    """For each risk id, the first commit whose manifest names it: (sha, date Z)."""
    wanted = set(risk_ids)
    found: dict[str, tuple[str, str]] = {}
    if not wanted:
        return found
    records = _log(repo, "--format=%x1e%H%x00%ct", "HEAD", "--", *MANIFEST_NAMES)
    for sha, ct in records:
        named: set[str] = set()
        for name in MANIFEST_NAMES:
            raw = blob_at(repo, sha.strip(), name)
            if raw is None:
                continue
            data = _yaml(raw)
            if data is None:  # unparsable at that commit: fall back to the text
                text = raw.decode("utf-8", "replace")
                named |= {r for r in wanted if r in text}
            else:
                named |= _strings(data) & wanted
        for rid in named - found.keys():
            found[rid] = (sha.strip(), utc_z(ct.strip()))
        if found.keys() >= wanted:
            break
    return found


def _risks(
    repo: Path, latest: dict[str, Any] | None, snaps: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if not latest:
        return []
    measured = {r.get("risk_id") for r in latest.get("control_results") or []}
    analysis = [a for a in latest.get("risk_analysis") or [] if a.get("risk_id") in measured]
    identified = _identified(repo, [a["risk_id"] for a in analysis])
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
    out = governance.git_text(
        repo, "log", "-1", "--format=%H%x00%ct%x00%s", f"{failed}..{passed}", "--", *paths
    ).strip()
    if not out:
        return None
    sha, ct, subject = out.split("\x00", 2)
    return {"sha": sha, "date": utc_z(ct), "subject": subject}


def _side(snap: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {
        "sha": snap["sha"],
        "date": snap["date"],
        "subject": snap["subject"],
        "actual_value": result.get("actual_value"),
        "threshold": result.get("threshold"),
        "operator": result.get("operator"),
    }


def _arcs(repo: Path, snaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FAIL -> PASS per control between consecutive snapshots that measured it."""
    last: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    since: dict[str, dict[str, Any]] = {}
    arcs: list[dict[str, Any]] = []
    paths: list[str] | None = None
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
                if paths is None:
                    paths = _treatment_paths(repo)
                treatment = _treatment_commit(repo, paths, old_snap["sha"], snap["sha"])
                if treatment is None:
                    treatment = _engine_anchor(
                        repo, snap["bundle"], cid, old_snap["sha"], snap["sha"]
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
    anchors = [
        e["treatment_commit"]
        for e in bundle.get("treatment_events") or []
        if e.get("control_id") == cid and e.get("treatment_commit")
    ]
    if not anchors:
        return None
    out = governance.git_text(repo, "log", "--format=%H%x00%ct%x00%s", f"{failed}..{passed}", "--")
    for line in out.splitlines():
        sha, ct, subject = line.split("\x00", 2)
        if any(sha.startswith(a) for a in anchors):
            return {"sha": sha, "date": utc_z(ct), "subject": subject}
    return None
