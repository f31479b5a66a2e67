"""Crashes and concurrency: `kill -9` during a run, and four runs at once on one repository.

After a kill at any checkpoint the previous evidence still verifies or the new one does, never
a mix, and the next run leaves no temporary file. Kills go through forked copies of an engine
run (cheap: the imports are already done) at every checkpoint and at random moments, and
through the real `sei run --no-repro` command.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sei_assets.core import engine, evidence_set, faults, runlock, signing
from tests.systems import make_system

pytestmark = pytest.mark.slow  # end to end: real tools and Dagster runs

SEI = Path(sys.executable).with_name("sei")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_system(tmp_path_factory.mktemp("resilience") / "sys_kill", "sys_kill")
    subprocess.run([sys.executable, "make_metrics.py"], cwd=repo, check=True)
    return repo


def _leftovers(repo: Path) -> list[str]:
    """Temporary files and interrupted transactions left behind."""
    base = repo / ".sei"
    found = [p.name for p in base.iterdir() if p.name.startswith((".staging-", ".commit"))]
    found += [p.name for p in base.rglob(".*.tmp")] + [p.name for p in repo.glob(".sei.lock.*")]
    return found


def _state(repo: Path) -> tuple[str, str]:
    """(bundle digest, lock's bundle signature) of the evidence set in force."""
    bundle = evidence_set.read_bytes(repo, ".sei/bundle.json") or b""
    lock = json.loads(evidence_set.read_bytes(repo, "sei.lock") or b"{}")
    return signing.sha256_bytes(bundle), lock.get("signed_bundle_digest", "")


def _consistent(repo: Path, known: set[str]) -> str:
    """Assert the set in force verifies as a whole; return its bundle digest."""
    verdict = signing.verify_evidence(repo)
    assert verdict.ok, [f"{f.path}: {f.reason}" for f in verdict.failures]
    assert verdict.index is not None
    digest, lock_sig = _state(repo)
    sig = evidence_set.read_bytes(repo, ".sei/bundle.json.sig")
    assert sig is not None and lock_sig == sig.decode(), "sei.lock is from another set"
    assert verdict.index["files"][".sei/bundle.json"] == digest
    assert digest in known or not known, "a bundle that is neither the old one nor the new one"
    return digest


def _run_in_child(repo: Path, env: dict[str, str]) -> int:
    """Fork, run the engine with ``env`` set, return the child's wait status."""
    pid = os.fork()
    if pid == 0:  # the child: a `sei run --no-repro` without the Dagster start-up
        code = 1
        try:
            os.environ.update(env)
            faults.reset()
            os.environ["SOURCE_DATE_EPOCH"] = str(1_700_000_000 + random.randrange(10**6))
            engine.run(repo, repro=False)
            code = 0
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


def test_kill_at_every_checkpoint_and_at_random(system: Path, tmp_path: Path) -> None:
    log = tmp_path / "checkpoints.log"
    assert _run_in_child(system, {faults.LOG_ENV: str(log)}) == 0
    names = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    phases = {"compiled", "evaluated", "seal", "staging", "journal", "committed", "applied"}
    assert phases <= set(names) and len(names) >= 20, names
    previous = _consistent(system, set())
    kills = 0
    points = [str(n) for n in range(1, len(names) + 1)]
    for point in points:
        evidence_set.recover(system)  # each kill starts from a settled set: stable numbering
        status = _run_in_child(system, {faults.KILL_ENV: point})
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, point
        kills += 1
        now = _consistent(system, set())
        # before the commit point the previous set stands; from it on, the new one
        committed = names.index("committed") + 1
        if int(point) < committed:
            assert now == previous, f"killed at {names[int(point) - 1]}: previous set replaced"
        elif int(point) < len(names):
            assert evidence_set.pending(system), f"killed at {names[int(point) - 1]}"
            assert now != previous, "a committed set that is not the set in force"
        previous = now
    rng = random.Random(7)
    for _ in range(12):  # random moments: a timer kills the child wherever it is
        pid = os.fork()
        if pid == 0:
            try:
                os.environ["SOURCE_DATE_EPOCH"] = str(1_800_000_000 + rng.randrange(10**6))
                engine.run(system, repro=False)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        _consistent(system, set())
    assert _run_in_child(system, {}) == 0  # the next run completes and cleans up
    assert _leftovers(system) == []
    _consistent(system, set())
    print(f"\nkill -9 at {kills} points ({len(names)} checkpoints + 12 random): 0 mixed sets")
    assert kills >= 30


def test_kill_the_sei_command_mid_write(system: Path, tmp_path: Path) -> None:
    """The real `sei run --no-repro`, killed between the bundle and its signature, then inside
    the apply step: the old set or the new one verifies, and the next command cleans up."""
    log = tmp_path / "log"
    assert _run_in_child(system, {faults.LOG_ENV: str(log)}) == 0
    names = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    names = names[names.index("seal") :]  # the command's Dagster step counts from the seal on
    before = _consistent(system, set())
    for name in ("staged .sei/bundle.json", "apply .sei/bundle.json"):
        point = names.index(name) + 1
        env = {**os.environ, faults.KILL_ENV: str(point)}
        killed = subprocess.run(
            [SEI, "run", "--no-repro", "--repo", str(system)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        now = _consistent(system, set())
        if name.startswith("staged"):
            assert now == before and any(n.startswith(".staging-") for n in _leftovers(system))
        else:
            assert evidence_set.pending(system)
            cli = subprocess.run(
                [SEI, "verify", "--repo", str(system)], capture_output=True, text=True
            )
            assert cli.returncode == 0, cli.stdout + cli.stderr
    assert _run_in_child(system, {}) == 0
    assert _leftovers(system) == []


def test_four_concurrent_runs(tmp_path: Path) -> None:
    """Four `sei run` at once on one repository and a fresh Dagster instance: all complete."""
    repo = make_system(tmp_path / "sys_conc", "sys_conc")
    subprocess.run([sys.executable, "make_metrics.py"], cwd=repo, check=True)
    home = tmp_path / "dagster-home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [SEI, "run", "--no-repro", "--repo", str(repo)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = [code for code, _out, _err in results]
    assert codes == [0, 0, 0, 0], [err[-800:] for _c, _o, err in results]
    waited = sum("waiting for the run of pid" in err for _c, _o, err in results)
    print(f"\n4 concurrent runs: exit codes {codes}; {waited} waited for the lock")
    assert waited >= 1  # each run holds the lock for seconds: the others wait, with a message
    verdict = signing.verify_evidence(repo)
    assert verdict.ok and verdict.index is not None
    assert _leftovers(repo) == []


def test_no_wait_refuses_with_the_holder_pid(system: Path) -> None:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            with runlock.repo_lock(system):
                os.write(writer, b"x")
                time.sleep(30)
        finally:
            os._exit(0)
    try:
        os.read(reader, 1)
        done = subprocess.run(
            [SEI, "run", "--no-repro", "--no-wait", "--repo", str(system)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2
        assert f"pid {pid}" in done.stderr and "in progress" in done.stderr
        assert runlock.holder(system) == pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with runlock.repo_lock(system, wait=False):  # released by the kernel when its holder died
        assert runlock.holder(system) == os.getpid()


def test_temporary_files_are_not_evidence(system: Path) -> None:
    """A stray temporary file or staging folder is ignored by verify and removed by a run."""
    assert _run_in_child(system, {}) == 0
    base = system / ".sei"
    (base / ".bundle.json.123.tmp").write_text("{half")
    (base / ".staging-1-abcd").mkdir(exist_ok=True)
    (base / ".staging-1-abcd" / "%2Esei%2Fbundle.json").write_text("{}")
    verdict = signing.verify_evidence(system)
    assert verdict.ok and not any(".tmp" in w or "staging" in w for w in verdict.warnings)
    assert _run_in_child(system, {}) == 0
    assert _leftovers(system) == []
