"""`sei register`: a system added to a registry outside the checkout, which the Dagster code
location loads from the user's own folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sei_assets.core.registry import load_registry, user_registry
from tests.systems import make_system

BIN = Path(sys.executable).parent


def test_register_appends_keeps_the_file_and_refuses_conflicts(
    tmp_path: Path, sei, monkeypatch
) -> None:
    monkeypatch.delenv("SEI_SYSTEMS_FILE", raising=False)
    repo = make_system(tmp_path / "credit", "credit-check")
    other = make_system(tmp_path / "other", "other-system")
    registry = tmp_path / "org" / "systems.yaml"
    registry.parent.mkdir()
    registry.write_text(
        "# the organisation's systems\nsystems:\n  - name: other\n    repo: ../other\n"
    )

    done = sei("register", "--repo", str(repo), "--systems", str(registry), "--json")
    assert done.exit_code == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["name"] == "credit_check" and doc["added"] and doc["declarations_prepared"]
    assert registry.read_text().startswith("# the organisation's systems\n")
    entries = load_registry(registry)
    assert [(e.name, e.repo) for e in entries] == [
        ("other", other.resolve()),
        ("credit_check", repo.resolve()),
    ]
    again = sei("register", "--repo", str(repo), "--systems", str(registry), "--json")
    assert again.exit_code == 0 and not json.loads(again.stdout)["added"]
    renamed = sei("register", "--repo", str(repo), "--systems", str(registry), "--name", "x")
    assert renamed.exit_code == 2 and "already registered as 'credit_check'" in renamed.stderr
    taken = sei("register", "--repo", str(repo), "--systems", str(registry), "--name", "other")
    assert taken.exit_code == 2 and "already registered for" in taken.stderr

    # no --systems, no $SEI_SYSTEMS_FILE: the user's own registry, and a note to export it
    mine = sei("register", "--repo", str(other))
    assert mine.exit_code == 0 and f"export SEI_SYSTEMS_FILE={user_registry()}" in mine.stdout
    assert [e.name for e in load_registry(user_registry())] == ["other_system"]


def test_the_code_location_loads_a_registered_system_from_the_users_folder(
    tmp_path: Path, sei
) -> None:
    repo = make_system(tmp_path / "work" / "triage", "triage-model")
    registry = tmp_path / "config" / "systems.yaml"
    assert sei("register", "--repo", str(repo), "--systems", str(registry)).exit_code == 0
    env = dict(os.environ, SEI_SYSTEMS_FILE=str(registry), DAGSTER_HOME=str(tmp_path / "dh"))
    (tmp_path / "dh").mkdir()
    (tmp_path / "dh" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    listed = subprocess.run(
        [str(BIN / "dagster"), "asset", "list", "-m", "sei_assets.definitions"],
        cwd=tmp_path / "work",  # the user's own folder, not the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    keys = set(listed.stdout.split())
    assert {"triage_model/gate", "triage_model/evidence_bundle", "triage_model/release"} <= keys
    assert not any(k.startswith("loan_scoring/") for k in keys)  # only this registry's systems
