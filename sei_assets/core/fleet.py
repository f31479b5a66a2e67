"""`sei status --all`: one row per registered system, read without recomputing anything.

Each row: the last gate, freshness per `sei.lock` section and the drift classes (as `sei
status` gives them for one repository), the last run (the evidence's time, or a failed
`compile`/`run` after it), and the approval state from git history (`sei lifecycle`).

Reading one system costs a manifest parse, the hashing of its inputs and a few git commands
(10-40 ms on a busy machine), so a table of hundreds would take seconds. A row is therefore
remembered in the state folder (`status/fleet.json`) with what it was read from: the commit
HEAD names (read from `.git` without running git), and the identity on disk (device, inode,
size, modification time in ns) of every file the row depends on (manifest, lock, evidence,
the last-run record, the dataset and treatment files) and of every folder above them up to the
repository (a file added or removed changes its folder), as git's index and DVC's state
remember file digests. Any difference reads the system again; a file changed within the last
two seconds is not trusted to its time stamp (the row is not remembered); so is a repository
whose HEAD cannot be read from its files. Rows read afresh are read in a few threads.
Standard library only (the lean path): no Dagster, typer, rich or pydantic.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode
from sei_assets.core.registry import SystemEntry

#: Threads reading the systems not remembered (git and the disk wait more than they compute).
WORKERS = 8
FORMAT = 1
#: A file modified this recently is not trusted to its time stamp.
RACY_SECONDS = 2.0


@dataclass
class FleetRow:
    """One registered system's status (``status``: `sei status --json`'s document), or why it
    could not be read."""

    name: str
    repo: Path
    status: dict[str, Any] | None = None
    approval: dict[str, Any] | None = None
    error: str | None = None
    code: int = ExitCode.BAD_INPUT

    @property
    def exit_code(self) -> int:
        """0 fresh and green, 1 red, stale, not evaluated or last run failed, 2 unreadable."""
        if self.error is not None or self.status is None:
            return ExitCode.BAD_INPUT
        return self.code

    @property
    def stale_classes(self) -> list[str]:
        return list((self.status or {}).get("stale_classes") or [])

    def gate_text(self) -> str:
        if self.error is not None or self.status is None:
            return "ERROR"
        gate = self.status.get("gate") or "none"
        return gate + (" (supplied)" if self.status.get("metrics_source") == "supplied" else "")

    def approval_text(self) -> str:
        """`draft`, `approved`, `approved (stale)`, ... or `unknown` outside git."""
        a = self.approval
        if not a:
            return "unknown"
        return str(a.get("state")) + (" (stale)" if a.get("stale") else "")

    def freshness_text(self) -> str:
        """`fresh`, or the stale sections by name."""
        if self.status is None:
            return "-"
        sections = self.status.get("sections") or []
        stale = [s["section"] for s in sections if not s.get("fresh")]
        if not sections:
            return "no lock"
        return "fresh" if not stale else "stale: " + ", ".join(stale)

    def last_run_text(self) -> str:
        """The evidence's time, or the failed run that followed it."""
        if self.status is None:
            return "-"
        f = self.status.get("last_run_failure")
        if f:
            return f"FAILED {f.get('at')} (sei {f.get('verb')}, exit {f.get('exit_code')})"
        return self.status.get("generated_at") or "never"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "repo": str(self.repo)}
        doc["exit_code"] = self.exit_code
        if self.error is not None:
            return doc | {"error": self.error}
        return doc | {"status": self.status, "approval": self.approval}


def _approval(repo: Path) -> dict[str, Any] | None:
    """The lifecycle state (None when the repository has no git history to read)."""
    from sei_assets.core import governance

    try:
        return governance.lifecycle(repo)
    except SeiError:
        return None


def _read(entry: SystemEntry) -> tuple[FleetRow, list[Path]]:
    """The system read afresh, and the files its row depends on."""
    from sei_assets.core.status import system_status

    repo = entry.repo
    if not repo.is_dir():
        return FleetRow(entry.name, repo, error=f"{repo}: no such repository (not seeded?)"), []
    try:
        st = system_status(repo)
        deps = dependencies(repo)
    except SeiError as exc:
        return FleetRow(entry.name, repo, error=str(exc)), []
    row = FleetRow(entry.name, repo, st.to_json(), _approval(repo), code=st.exit_code)
    return row, deps


def dependencies(repo: Path) -> list[Path]:
    """Every file a row of ``repo`` is read from (present or not), and the folders above them."""
    from sei_assets.core import last_run
    from sei_assets.core.layout import (
        BUNDLE,
        COMMIT_DIR,
        EVIDENCE_DIRS,
        LOCK_NAMES,
        MANIFEST_NAMES,
    )
    from sei_assets.core.lock import read_raw_manifest, section_inputs

    files = [repo / n for n in (*MANIFEST_NAMES, *LOCK_NAMES)]
    files += [repo / d / BUNDLE for d in EVIDENCE_DIRS]
    files += [repo / EVIDENCE_DIRS[0] / COMMIT_DIR / "journal.json", last_run.record_path(repo)]
    manifest = next((repo / n for n in MANIFEST_NAMES if (repo / n).is_file()), None)
    if manifest is not None:
        raw = read_raw_manifest(manifest)
        inputs = section_inputs(repo, manifest, raw)
        croissant = (raw.get("dataset") or {}).get("croissant")
        files += [*inputs.data_files, *inputs.treatment_files]
        if isinstance(croissant, str):
            files.append(repo / croissant)
    folders = {repo}
    for f in files:
        for parent in f.parents:
            if parent == repo or not parent.is_relative_to(repo):
                break
            folders.add(parent)
    return sorted({*files, *folders})


def _identity(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _head(repo: Path) -> str | None:
    """The commit HEAD names, read from the git folder's files (None when not plain)."""
    for top in (repo, *repo.parents):
        dot = top / ".git"
        if dot.is_dir():
            gitdir = dot
            break
        if dot.is_file():
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            if not text.startswith("gitdir: "):
                return None
            gitdir = (top / text[len("gitdir: ") :]).resolve()
            break
    else:
        return None
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        common = gitdir
        if (gitdir / "commondir").is_file():
            common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
        for base in (gitdir, common):
            if (base / ref).is_file():
                return (base / ref).read_text(encoding="utf-8").strip()
        for line in (common / "packed-refs").read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
    except OSError:
        return None
    return "unborn " + ref


def fingerprint(repo: Path, deps: list[str], code: str) -> list[Any] | None:
    """What a remembered row was read from, as it is now; None when not to be trusted."""
    head = _head(repo)
    if head is None:
        return None
    marks = [_identity(p) for p in deps]
    recent = time.time_ns() - int(RACY_SECONDS * 1e9)
    if any(m is not None and m[3] > recent for m in marks):
        return None
    return [code, head, deps, marks]


def engine_code() -> str:
    """The engine's own files as they are (a changed engine reads every system again)."""
    core = Path(__file__).parent
    marks = [
        f"{e.name}:{e.stat().st_size}:{e.stat().st_mtime_ns}"
        for folder in (core, core / "reproducers")
        for e in os.scandir(folder)
        if e.name.endswith(".py")
    ]
    return f"{FORMAT}|" + "|".join(sorted(marks))


def cache_path() -> Path:
    """Where the rows are remembered (the state folder, never evidence)."""
    from sei_assets.core.paths import state_dir

    return state_dir() / "status" / "fleet.json"


def _load_cache() -> dict[str, Any]:
    try:
        doc = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    rows = doc.get("rows") if isinstance(doc, dict) else None
    return rows if isinstance(rows, dict) else {}


def _remembered(entry: SystemEntry, cached: dict[str, Any], code: str) -> FleetRow | None:
    item = cached.get(f"{entry.name}\0{entry.repo}")
    if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), list):
        return None
    fp = item["fingerprint"]
    if len(fp) != 4 or fp[0] != code:
        return None
    if fingerprint(entry.repo, fp[2], code) != fp:
        return None
    row = item.get("row") or {}
    return FleetRow(
        entry.name, entry.repo, row.get("status"), row.get("approval"), code=int(row["code"])
    )


def fleet_status(entries: list[SystemEntry], workers: int = WORKERS) -> list[FleetRow]:
    """Every registered system's row, in the registry's order (remembered rows reused)."""
    from sei_assets.core.fsutil import atomic_write

    code = engine_code()
    cached = _load_cache()
    rows: list[FleetRow | None] = []
    for entry in entries:
        try:
            rows.append(_remembered(entry, cached, code))
        except (KeyError, TypeError, ValueError, OSError):
            rows.append(None)
    todo = [e for e, r in zip(entries, rows, strict=True) if r is None]
    if len(todo) > 1 and workers > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            fresh = list(pool.map(_read, todo))
    else:
        fresh = [_read(e) for e in todo]
    changed = False
    found = iter(fresh)
    for i, entry in enumerate(entries):
        if rows[i] is not None:
            continue
        row, deps = next(found)
        rows[i] = row
        fp = fingerprint(entry.repo, [str(d) for d in deps], code) if row.error is None else None
        key = f"{entry.name}\0{entry.repo}"
        if fp is not None:
            doc = {"status": row.status, "approval": row.approval, "code": row.code}
            cached[key] = {"fingerprint": fp, "row": doc}
            changed = True
        elif key in cached:
            del cached[key]
            changed = True
    if changed:
        try:
            atomic_write(cache_path(), json.dumps({"format": FORMAT, "rows": cached}))
        except OSError:
            pass  # a state folder we cannot write: the next table reads every system again
    return [r for r in rows if r is not None]


def exit_code(rows: list[FleetRow]) -> int:
    """The worst of the rows: 0 every system fresh and green, 1 one red or stale, 2 unreadable."""
    return max((r.exit_code for r in rows), default=ExitCode.OK)
