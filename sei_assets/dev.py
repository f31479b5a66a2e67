"""`python -m sei_assets.dev [dg dev options]`: the UI (`dg dev -w workspace.yaml`, both code
locations) that stops on SIGINT or SIGTERM within 10 seconds.

Why `dg dev` alone may not: Dagster's dev command makes SIGTERM do what SIGINT does by copying
SIGINT's handler onto SIGTERM, in itself and in the webserver and daemon it starts. A process
started in the background by a non-interactive shell, or by a supervisor, inherits SIGINT
*ignored*; Python then keeps it ignored, so the copy ignores SIGTERM too, in every one of them,
and only SIGKILL stops them. Here `dg dev` runs in a process group of its own with both signals
restored to their defaults; a SIGINT or SIGTERM sent to this process is passed to that group
(each Dagster process shuts down cleanly), and whatever still runs after the grace period is
killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_SECONDS = 8.0


def _restore_signals() -> None:
    """In the child before exec: SIGINT and SIGTERM to their defaults."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    from sei_assets.core.paths import project_root

    root = project_root()
    dg = Path(sys.executable).parent / "dg"
    command = [str(dg), "dev", "-w", str(root / "workspace.yaml"), *(argv or sys.argv[1:])]
    proc = subprocess.Popen(command, cwd=root, start_new_session=True, preexec_fn=_restore_signals)
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while proc.poll() is None and not stopping:
        time.sleep(0.2)
    if stopping:
        deadline = time.monotonic() + GRACE_SECONDS
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        try:  # the group: webserver, daemon and code servers, whatever is left of them
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        return 128 + stopping[0]
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
