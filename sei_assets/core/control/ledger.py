"""The ledger of a system's control plane: every submission and its answer, in SQLite.

One database per system repository, kept beside its git data (``.git/sei-control/ledger.sqlite``,
untracked; ``.sei-control/`` when the folder is not a git repository). A submission holds an
immediate write transaction from the idempotency look-up to the recorded answer, so concurrent
submitters (threads or processes) are serialised: the second one sees the first one's record.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    profile_id TEXT NOT NULL,
    profile_version TEXT NOT NULL,
    profile_sha256 TEXT NOT NULL,
    action TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_digest TEXT NOT NULL,
    answer TEXT NOT NULL,
    trace TEXT NOT NULL
);
"""
BUSY_SECONDS = 900.0


def ledger_path(repo: Path) -> Path:
    """Where the ledger of ``repo`` lives (a linked worktree's own git folder included)."""
    git = Path(repo) / ".git"
    if git.is_file():
        text = git.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            git = (Path(repo) / text.removeprefix("gitdir:").strip()).resolve()
    folder = git / "sei-control" if git.is_dir() else Path(repo) / ".sei-control"
    return folder / "ledger.sqlite"


class Ledger:
    """The ledger of one system; ``transaction()`` serialises submitters."""

    def __init__(self, repo: Path) -> None:
        self.path = ledger_path(repo)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        """Release the database."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[Ledger]:
        """An immediate write transaction: committed on success, rolled back on error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def by_key(self, key: str) -> sqlite3.Row | None:
        """The submission recorded under an idempotency key."""
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM submissions WHERE idempotency_key = ?", (key,)
        ).fetchone()
        return row

    def record(
        self,
        profile: dict[str, str],
        action: str,
        actor: dict[str, str],
        key: str | None,
        digest: str,
        answer: dict[str, Any],
        trace: dict[str, Any],
    ) -> int:
        """Append one submission; return its sequence number."""
        cur = self.db.execute(
            "INSERT INTO submissions (at, profile_id, profile_version, profile_sha256, action,"
            " actor_id, actor_role, idempotency_key, request_digest, answer, trace)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                profile["id"],
                profile["version"],
                profile["sha256"],
                action,
                actor["id"],
                actor["role"],
                key,
                digest,
                json.dumps(answer, sort_keys=True),
                json.dumps(trace, sort_keys=True, default=str),
            ),
        )
        return int(cur.lastrowid or 0)

    def entries(self) -> list[dict[str, Any]]:
        """Every submission, oldest first, with its answer and trace decoded."""
        rows = self.db.execute("SELECT * FROM submissions ORDER BY seq").fetchall()
        out = []
        for row in rows:
            entry = dict(row)
            entry["answer"] = json.loads(entry["answer"])
            entry["trace"] = json.loads(entry["trace"])
            out.append(entry)
        return out


def ledger_state(repo: Path) -> dict[str, dict[str, Any]]:
    """Per action, the last route and gate the plane answered (what Dagster shows)."""
    if not ledger_path(repo).is_file():
        return {}
    ledger = Ledger(repo)
    try:
        state: dict[str, dict[str, Any]] = {}
        for entry in ledger.entries():
            answer = entry["answer"]
            state[entry["action"]] = {
                "seq": entry["seq"],
                "status": answer["status"],
                "route": answer["route"],
                "gate_id": answer["gate_id"],
                "gate_type": answer["gate_type"],
                "actor": entry["actor_id"],
            }
        return state
    finally:
        ledger.close()
