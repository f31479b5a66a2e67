"""What the whole-command benches share: one command timed (wall and CPU), commands timed in
turns within each round after an uncounted warm-up, and the medians."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def timed(
    cmd: list[str], cwd: Path, env: Mapping[str, str], ok: Callable[[int], bool] | None = None
) -> tuple[float, float]:
    """Wall time and CPU time (user + system, the command and the processes it waited for) of
    ``cmd``; when ``ok`` is given, an exit status it refuses stops the bench with the output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    errors = subprocess.PIPE if ok is not None else subprocess.DEVNULL
    done = subprocess.run(
        cmd, cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=errors, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if ok is not None and not ok(done.returncode):
        said = (done.stderr or "")[-2000:]
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {said}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class Rounds:
    """Wall and CPU samples by label, and their medians."""

    def __init__(self, labels: list[str]) -> None:
        self.wall: dict[str, list[float]] = {label: [] for label in labels}
        self.cpu: dict[str, list[float]] = {label: [] for label in labels}

    def add(self, label: str, sample: tuple[float, float]) -> None:
        self.wall[label].append(sample[0])
        self.cpu[label].append(sample[1])

    def run(self, cmds: Mapping[str, list[str]], rounds: int, time_one) -> None:
        """A warm-up of every command (bytecode, page cache; not counted), then ``rounds`` rounds
        of the commands in turns, so that a slow spell of the machine hits them all alike."""
        for cmd in cmds.values():
            time_one(cmd)
        for _ in range(rounds):
            for label, cmd in cmds.items():
                self.add(label, time_one(cmd))

    def medians(self) -> tuple[dict[str, float], dict[str, float]]:
        """(median wall, median CPU) by label."""
        return (
            {label: statistics.median(t) for label, t in self.wall.items() if t},
            {label: statistics.median(t) for label, t in self.cpu.items() if t},
        )


def machine() -> str:
    """The line that says how loaded the machine was."""
    return f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end"
