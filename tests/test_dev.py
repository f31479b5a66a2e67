"""`python -m sei_assets.dev` (the UI, both code locations) stops on SIGTERM within 10 seconds,
even when started the way a script or supervisor starts it: with SIGINT ignored, which makes
`dg dev` itself ignore SIGTERM (sei_assets/dev.py says why)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_in_the_background() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` in a script leaves behind


def _descendants(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    children = {int(c) for c in out.split()}
    return children.union(*(_descendants(c) for c in children)) if children else set()


def _alive(pids: set[int]) -> dict[int, str]:
    """The processes of ``pids`` still running (not zombies), with their command lines."""
    alive = {}
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if state != "Z":
            alive[pid] = command
    return alive


def test_the_ui_stops_on_sigterm_within_10_seconds(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (tmp_path / "systems.yaml").write_text("systems: []\n")
    env = dict(
        os.environ,
        DAGSTER_HOME=str(tmp_path),
        SEI_SYSTEMS_FILE=str(tmp_path / "systems.yaml"),
        SEI_STATE_DIR=str(tmp_path / "state"),
        VIRTUAL_ENV=str(Path(sys.executable).parent.parent),
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    )
    port = _free_port()
    log = (tmp_path / "dev.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sei_assets.dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_as_in_the_background,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "dev.log").read_text()[-2000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise TimeoutError("the webserver did not answer")
        family = _descendants(proc.pid)
        assert len(family) >= 3, family  # dg dev, its webserver and daemon, code servers
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        seconds = time.monotonic() - started
        print(f"stopped {seconds:.1f} s after SIGTERM")
        assert seconds <= 10
        # nothing of the UI is left running (Dagster's log tailers follow within a moment)
        while _alive(family) and time.monotonic() < started + 15:
            time.sleep(0.2)
        assert not _alive(family), _alive(family)
    finally:
        for pid in _alive({proc.pid, *_descendants(proc.pid)}):
            os.kill(pid, signal.SIGKILL)
        log.close()
