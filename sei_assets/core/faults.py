"""Fault injection for resilience tests: named checkpoints where a run can be killed.

`SEI_KILL_AT=N` sends SIGKILL to the process at its N-th checkpoint (1-based);
`SEI_CHECKPOINT_LOG=file` appends each checkpoint's name to ``file``. Without them a checkpoint
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

KILL_ENV = "SEI_KILL_AT"
LOG_ENV = "SEI_CHECKPOINT_LOG"
_count = 0


def checkpoint(name: str) -> None:
    """A point where a crash must leave the evidence consistent."""
    global _count
    kill_at = os.environ.get(KILL_ENV)
    log = os.environ.get(LOG_ENV)
    if kill_at is None and log is None:
        return
    _count += 1
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{_count} {name}\n")
    if kill_at is not None and _count == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)


def reset() -> None:
    """Start counting checkpoints from zero (a forked child of a test harness)."""
    global _count
    _count = 0
