"""Prepared declarations: what the definitions need of a manifest, read at load without
parsing it when it was prepared from the same bytes by the same code, else parsed (never
written at load)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sei_assets.core import declarations
from sei_assets.core.manifest import load_manifest
from sei_assets.core.registry import SystemEntry

LOAN = Path(__file__).resolve().parent.parent / "resources" / "loan"


@pytest.fixture(autouse=True)
def own_state(tmp_path: Path, monkeypatch) -> None:
    """A state folder of the test's own: what it prepares is all that is there."""
    monkeypatch.setenv("SEI_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def entry(tmp_path: Path) -> SystemEntry:
    repo = tmp_path / "loan"
    repo.mkdir()
    shutil.copy(LOAN / "sei.yaml", repo / "sei.yaml")
    return SystemEntry("loan", repo)


def _parse_refused(monkeypatch) -> None:
    """Make any manifest parse fail: a read that still succeeds did not parse."""

    def refuse(*_a, **_k):
        raise AssertionError("the manifest was parsed")

    monkeypatch.setattr("sei_assets.core.manifest.load_manifest", refuse)


def test_prepared_declarations_equal_the_parsed_ones(entry: SystemEntry, monkeypatch) -> None:
    parsed = declarations.read(entry)
    assert not declarations.prepared_path(entry).exists()  # reading writes nothing
    assert declarations.prepare([entry]) == {"loan": None}
    _parse_refused(monkeypatch)
    prepared = declarations.read(entry)
    assert prepared == parsed
    assert len(prepared.controls) == 10 and prepared.tool == parsed.tool
    assert all(isinstance(c.frameworks, tuple) for c in prepared.controls)
    assert prepared.controls[0].blocking is parsed.controls[0].blocking


def test_an_edited_manifest_is_parsed_again(entry: SystemEntry) -> None:
    declarations.prepare([entry])
    path = entry.repo / "sei.yaml"
    first = declarations.read(entry).controls[0]
    text = path.read_text().replace(f"id: {first.control_id}", "id: renamed-control", 1)
    assert text != path.read_text()
    path.write_text(text)
    assert declarations.read(entry).controls[0].control_id == "renamed-control"


def test_a_manifest_broken_after_preparing_shows_its_error(entry: SystemEntry) -> None:
    declarations.prepare([entry])
    path = entry.repo / "sei.yaml"
    path.write_text(path.read_text().replace("risk:", "risk:\n  apetite: 1", 1))
    found = declarations.read(entry)
    assert found.controls == [] and "apetite" in (found.error or "")
    assert "apetite" in (declarations.prepare([entry])["loan"] or "")


@pytest.mark.parametrize(
    "damage",
    [
        lambda doc: "not json",
        lambda doc: json.dumps({**doc, "stamp": "0" * 64 + ":" + "1" * 64}),  # other code
        lambda doc: json.dumps({**doc, "controls": [{"control_id": "x"}]}),  # wrong shape
        lambda doc: json.dumps([doc]),
    ],
    ids=["garbage", "other-code", "wrong-shape", "not-a-mapping"],
)
def test_a_prepared_file_that_does_not_match_is_ignored(entry: SystemEntry, damage) -> None:
    parsed = declarations.read(entry)
    declarations.prepare([entry])
    path = declarations.prepared_path(entry)
    path.write_text(damage(json.loads(path.read_text())))
    assert declarations.read(entry) == parsed


def test_recording_at_compile_prepares_the_next_load(entry: SystemEntry, monkeypatch) -> None:
    declarations.record(entry, load_manifest(entry.repo))
    _parse_refused(monkeypatch)
    assert len(declarations.read(entry).controls) == 10


def test_an_unseeded_system_reads_its_seeds_manifest(tmp_path: Path, monkeypatch) -> None:
    entry = SystemEntry("loan", tmp_path / "absent", seed=LOAN)
    assert declarations.prepare([entry]) == {"loan": None}
    _parse_refused(monkeypatch)
    assert len(declarations.read(entry).controls) == 10
    missing = SystemEntry("ghost", tmp_path / "ghost")
    assert "not seeded" in (declarations.read(missing).error or "")
