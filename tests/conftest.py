"""Shared test set-up: a throwaway signing key and git identity for every test."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sei_assets.cli import app


def pytest_configure(config: pytest.Config) -> None:
    """Before any fixture runs (module-scoped ones included), point every per-user store at a
    throwaway folder: no test reads or writes the real ~/.config or signs with the real key."""
    home = Path(tempfile.mkdtemp(prefix="sei-test-home-"))
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["SEI_KNOWN_KEYS"] = str(home / "config" / "sei-assets" / "known_keys.json")
    os.environ["SEI_SIGNING_KEY"] = str(home / "keys" / "signing-key.pem")
    os.environ.pop("SEI_TRUSTED_KEYS", None)
    _share_dvc_cache(home)


def _share_dvc_cache(home: Path) -> None:
    """One DVC cache for the whole session (DVC's global config, `cache.dir`), set once by the
    controller and inherited by the xdist workers: a pipeline stage whose command, dependencies
    and parameters were already run in another test's repository is restored from DVC's run
    cache instead of run again, as teams sharing a cache see it. A test that edits a stage's
    inputs still gets a real run."""
    if os.environ.get("DVC_GLOBAL_CONFIG_DIR"):
        return
    folder = home / "dvc-global"
    folder.mkdir(parents=True)
    cache = home / "dvc-cache"
    (folder / "config").write_text(f"[cache]\n    dir = {cache}\n", encoding="utf-8")
    os.environ["DVC_GLOBAL_CONFIG_DIR"] = str(folder)


SLOW_LIST = Path(__file__).with_name("slow_tests.txt")


def _listed_slow() -> set[str]:
    lines = SLOW_LIST.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The two tiers: a test is `slow` when its module or itself is marked so, or when
    `tests/slow_tests.txt` lists it (measured slow in an otherwise quick file); every other test
    is `fast` (`python3 tasks.py test -m fast`)."""
    listed = _listed_slow()
    for item in items:
        if item.nodeid.split("[", 1)[0] in listed:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.fast)


@pytest.fixture(autouse=True, scope="module")
def _module_stores(tmp_path_factory: pytest.TempPathFactory):
    """Each test module's own known-keys store and config folder, set before its module-scoped
    fixtures run (autouse fixtures come first in their scope). Without it, every module fixture
    of one xdist worker shared one store: the loan system signed by one module's key was then
    KEY CHANGED for the next module's fixture (the UI's green run failed its signature check)."""
    home = tmp_path_factory.mktemp("module-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEI_KNOWN_KEYS", str(home / "config" / "sei-assets" / "known_keys.json"))
        patch.setenv("XDG_CONFIG_HOME", str(home / "config"))
        yield


@pytest.fixture(autouse=True)
def _absl_follows_stderr():
    """After each test, absl's log handler (imported with mlcroissant) writes to whatever
    `sys.stderr` is, never to the stream it was bound to: a Dagster run in a later test closes
    every handler (`logging.config.dictConfig`), and absl's closes a stream bound under another
    stderr, here pytest's capture file, failing every later test of that worker."""
    yield
    if "absl.logging" in sys.modules:
        from sei_assets.core.croissant import follow_stderr

        follow_stderr()


@pytest.fixture(autouse=True)
def _isolated_key(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    key = tmp_path_factory.getbasetemp() / "keys" / "signing-key.pem"
    monkeypatch.setenv("SEI_SIGNING_KEY", str(key))
    # `sei verify` remembers keys per system: each test starts with an empty store of its own
    known = tmp_path_factory.mktemp("known-keys") / "known_keys.json"
    monkeypatch.setenv("SEI_KNOWN_KEYS", str(known))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "config"))
    state = tmp_path_factory.getbasetemp() / "sei-state"
    monkeypatch.setenv("SEI_STATE_DIR", str(state))
    (state / "dagster").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Assessor")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "assessor@example.test")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Assessor")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "assessor@example.test")
    return key


class Sei:
    """Runs the `sei` CLI in-process and keeps the result."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str):
        return self.runner.invoke(app, list(args), catch_exceptions=False)

    def json(self, *args: str) -> tuple[int, dict]:
        result = self(*args, "--json")
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def sei() -> Sei:
    return Sei()


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """People's keys on this machine and a function that puts a signed roster in force (with no
    roster trusted, no decision counts): ``org({"Name <email>": [roles]})`` (default: the Quality
    Lead as management, the Risk Owner as risk_owner), returning the roster's path."""
    from sei_assets.core import people
    from sei_assets.core.roster import ROSTER_ENV
    from tests.org import trust_roster

    monkeypatch.setenv(people.PEOPLE_ENV, str(tmp_path / "org" / "people"))

    def in_force(entries: dict[str, list[str]] | None = None) -> Path:
        for var, value in trust_roster(tmp_path / "org", entries).items():
            monkeypatch.setenv(var, value)
        return Path(os.environ[ROSTER_ENV])

    return in_force
