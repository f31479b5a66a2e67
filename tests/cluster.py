"""A real production profile on this machine, for tests/test_production.py and
bench/bench_sweep.py: Postgres (Debian's server binaries, a throwaway data directory, a
loopback port), redis-server, `dagster-daemon` with the queued run coordinator and the celery
run launcher of deploy/dagster.yaml (used as it is), and dagster-celery workers.

Postgres refuses to run as root: as root, the data directory belongs to `nobody` and the
server runs through `runuser`. Every process is started in its own session and stopped at
the end (the workers and the daemon first, then Redis and Postgres).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
PG_BIN_DIRS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15")]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    """A Postgres server binary (Debian keeps them out of PATH)."""
    for d in PG_BIN_DIRS:
        if (d / name).is_file():
            return str(d / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name}: Postgres server binaries not found (apt-get install postgresql)"
        )
    return found


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else argv


def wait_for_port(port: int, what: str, timeout: float = 60) -> None:
    """Wait until something listens on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


@contextmanager
def postgres(db: str = "dagster"):
    """A Postgres server on a free loopback port with an empty database ``db``; yields the
    environment naming it (the DAGSTER_PG_* variables of deploy/dagster.yaml)."""
    data = Path(tempfile.mkdtemp(prefix="sei-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "nobody", "nogroup")
    port = free_port()
    log = data / "server.log"
    subprocess.run(
        _as_server_user([pg_bin("initdb"), "-D", str(data / "db"), "-U", "dagster", "-A", "trust"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = [pg_bin("pg_ctl"), "-D", str(data / "db"), "-l", str(log), "-o", options, "-w", "start"]
    subprocess.run(_as_server_user(start), check=True, capture_output=True)
    try:
        subprocess.run(
            [pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", db],
            check=True,
            capture_output=True,
        )
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USER": "dagster",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": db,
        }
    finally:
        stop = [pg_bin("pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_server_user(stop), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def redis():
    """redis-server on a free loopback port, nothing persisted; yields the broker and result
    backend URLs (the SEI_CELERY_* variables of deploy/dagster.yaml)."""
    port = free_port()
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, "redis-server")
        yield {
            "SEI_CELERY_BROKER": f"redis://127.0.0.1:{port}/0",
            "SEI_CELERY_BACKEND": f"redis://127.0.0.1:{port}/1",
        }
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """Stop a process started in its own session, and everything it started."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


class Cluster:
    """The production profile of deploy/ around one team's registry."""

    def __init__(self, root: Path, env: dict[str, str], team: str) -> None:
        self.root, self.env, self.team = root, env, team
        self.home = Path(env["DAGSTER_HOME"])
        self.workspace = root / "workspace.yaml"
        self.workers: dict[str, subprocess.Popen] = {}
        self.daemon: subprocess.Popen | None = None

    def instance(self):
        """The instance (Postgres) as every process of the profile sees it."""
        import dagster as dg

        for k, v in self.env.items():
            if k.startswith(("DAGSTER_PG_", "SEI_CELERY_", "SEI_MAX_")):
                os.environ[k] = v
        return dg.DagsterInstance.from_config(str(self.home))

    def _popen(self, argv: list[str], log: str) -> subprocess.Popen:
        out = open(self.root / log, "ab")  # noqa: SIM115 - kept open for the process's life
        return subprocess.Popen(
            argv, env=self.env, cwd=self.root, stdout=out, stderr=out, start_new_session=True
        )

    def start_worker(self, name: str) -> subprocess.Popen:
        """A dagster-celery worker running one run at a time."""
        argv = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        argv += ["-y", str(DEPLOY / "celery.yaml"), "-n", name, "--", "--concurrency=1"]
        self.workers[name] = self._popen(argv, f"worker-{name}.log")
        return self.workers[name]

    def start_daemon(self) -> None:
        """dagster-daemon: the sensors, the run queue, run monitoring and retries."""
        argv = [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)]
        self.daemon = self._popen(argv, "daemon.log")

    def pool_children(self, name: str) -> list[int]:
        """The pids of a worker's pool processes (those that execute the runs)."""
        import psutil

        proc = psutil.Process(self.workers[name].pid)
        return [
            p.pid
            for p in proc.children(recursive=True)
            if p.parent() is not None
            and "celery" in " ".join(p.parent().cmdline())
            and p.parent().pid != proc.pid
        ]

    def stop_all(self) -> None:
        for proc in [*self.workers.values(), *([self.daemon] if self.daemon else [])]:
            stop(proc)

    def sweep_cursor(self, instance) -> dict:
        """The `sei_sweep` sensor's cursor as the daemon last stored it ({} when unset)."""
        for state in instance.all_instigator_state():
            if state.instigator_name == "sei_sweep":
                data = state.instigator_data
                return json.loads(data.cursor) if data is not None and data.cursor else {}
        return {}

    def start_sweep(self, instance, cursor: str | None = None, timeout: float = 60) -> str:
        """What an operator does to sweep now: delete the `sei_sweep` sensor's cursor (or set
        it, e.g. to force a full sweep), then see the sweep start; the id of that sweep.

        The daemon stores the cursor a tick began with when the tick ends, so a change made
        while a tick is being evaluated is overwritten: seen as the old sweep's cursor coming
        back, and made again."""
        before = self.sweep_cursor(instance).get("sweep")
        argv = [str(BIN / "dagster"), "sensor", "cursor", "sei_sweep"]
        argv += ["--set", cursor] if cursor else ["--delete"]
        argv += ["-w", str(self.workspace)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = subprocess.run(argv, env=self.env, cwd=self.root, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr[-3000:]
            while time.monotonic() < deadline:
                now = self.sweep_cursor(instance).get("sweep")
                if now is not None and now != before:
                    return now
                if now == before and before is not None:
                    break  # a tick in flight stored its own cursor over ours: again
                time.sleep(0.5)
        raise AssertionError(f"no sweep started {timeout:.0f} s after the cursor was reset")

    def request_sweep(self, instance, *options: str, timeout: float = 300) -> str:
        """`sei sweep request [options] --team <team>`, as an operator on any machine sharing
        the state folder; the id of the sweep the sensor started for it."""
        before = self.sweep_cursor(instance).get("sweep")
        argv = [str(BIN / "sei"), "sweep", "request", *options, "--team", self.team]
        proc = subprocess.run(argv, env=self.env, cwd=self.root, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.sweep_cursor(instance).get("sweep")
            if now is not None and now != before:
                return now
            time.sleep(0.5)
        raise AssertionError(f"no sweep started {timeout:.0f} s after `sei sweep request`")

    def summary_of(self, instance, sweep: str) -> dict | None:
        """The metadata of the `sweep_summary` the sensor recorded for ``sweep`` (None until
        then)."""
        import dagster as dg

        key = dg.AssetKey([self.team, "sweep_summary"])
        for record in instance.fetch_materializations(key, 20).records:
            metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
            if metadata.get("sweep") == sweep:
                return metadata
        return None

    def log(self, name: str) -> str:
        path = self.root / name
        return path.read_text(errors="replace") if path.exists() else ""


def profile_env() -> dict[str, str]:
    """The settings of deploy/production.env that are the same on every deployment (those
    given as `<the deployment's own>` are the cluster's)."""
    env = {}
    for line in (DEPLOY / "production.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#") and "<" not in value:
            env[key.strip()] = value.strip()
    return env


@contextmanager
def cluster(root: Path, registry: Path, team: str = "lab", extra_env: dict | None = None):
    """Postgres, Redis and the profile's DAGSTER_HOME and workspace for ``registry`` (served as
    the team location ``team``); the daemon and the workers are started by the caller."""
    root.mkdir(parents=True, exist_ok=True)
    teams = root / "teams"
    teams.mkdir(exist_ok=True)
    shutil.copy(registry, teams / f"{team}.yaml")
    home = root / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")  # the profile as shipped
    (root / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: sei_assets.team_location\n"
        f"      attribute: {team}\n      location_name: {team}\n"
    )
    with postgres() as pg, redis() as broker:
        env = {
            **os.environ,
            **profile_env(),
            **pg,
            **broker,
            "DAGSTER_HOME": str(home),
            "SEI_MAX_CONCURRENT_RUNS": "2",
            "SEI_TEAMS_DIR": str(teams),
            "SEI_STATE_DIR": str(root / "state"),
            "SEI_SIGNING_KEY": str(root / "signing-key.pem"),
            "SEI_KNOWN_KEYS": str(root / "known_keys.json"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "SEI_AUTOMATION": "drift",
            "SEI_SWEEP_MODE": "fanout",
            "SEI_SWEEP_POLL_SECONDS": "3",
            "SEI_SWEEP_BATCH": "1",  # a run per system, unless the caller batches
            "PYTHONPATH": str(ROOT),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # `celery` for the CLI
            **(extra_env or {}),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        c = Cluster(root, env, team)
        try:
            yield c
        finally:
            c.stop_all()


def reference_sweep(registry: Path, state: Path) -> dict:
    """The embedded default on a copy of the systems: SQLite, in-process, one run of
    `compliance_sweep` (what the README's first command uses); the signed report it wrote."""
    import json

    code = (
        "import dagster as dg\n"
        "from sei_assets.core.registry import load_registry\n"
        "from sei_assets.defs import build_definitions\n"
        "from pathlib import Path\n"
        f"defs = build_definitions(load_registry(Path({str(registry)!r})))\n"
        "with dg.instance_for_test() as instance:\n"
        "    defs.resolve_job_def('compliance_sweep').execute_in_process(instance=instance,\n"
        "        raise_on_error=False,\n"
        "        run_config={'loggers': {'console': {'config': {'log_level': 'CRITICAL'}}}})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEI_AUTOMATION", "SEI_SWEEP"))}
    env |= {"SEI_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return json.loads((state / "sweep" / "sweep.json").read_text())
