"""The memory of pure results between processes (`core.memo`): a hit returns what was computed,
a damaged entry is recomputed, SEI_NO_MEMO turns it off, and nothing outside the state folder is
written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sei_assets.core.memo import remembered_bytes, remembered_json


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("SEI_NO_MEMO", raising=False)
    return tmp_path / "state"


def test_a_result_is_computed_once_per_key(state: Path) -> None:
    calls: list[int] = []

    def compute() -> dict:
        calls.append(1)
        return {"warnings": ["w"], "n": len(calls)}

    assert remembered_json("k", {"doc": "a"}, compute) == {"warnings": ["w"], "n": 1}
    assert remembered_json("k", {"doc": "a"}, compute) == {"warnings": ["w"], "n": 1}
    assert remembered_json("k", {"doc": "b"}, compute) == {"warnings": ["w"], "n": 2}
    assert remembered_json("other", {"doc": "a"}, compute)["n"] == 3
    stored = list((state / "memo").rglob("*.json"))
    assert len(stored) == 3 and all(p.is_relative_to(state / "memo") for p in stored)


def test_a_damaged_entry_is_recomputed(state: Path) -> None:
    remembered_json("k", 1, lambda: "first")
    (entry,) = (state / "memo" / "k").iterdir()
    entry.write_text('{"value": "a", "value": "b"}')  # not ours: duplicate keys
    assert remembered_json("k", 1, lambda: "again") == "again"
    assert json.loads(entry.read_text()) == {"value": "again"}
    entry.write_text("[1, 2]")
    assert remembered_json("k", 1, lambda: "third") == "third"


def test_bytes_are_remembered_but_none_is_not(state: Path) -> None:
    assert remembered_bytes("png", "x", lambda: None) is None
    assert not (state / "memo").exists()
    assert remembered_bytes("png", "x", lambda: b"\x89PNG") == b"\x89PNG"
    assert remembered_bytes("png", "x", lambda: b"other") == b"\x89PNG"


def test_off_switch(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEI_NO_MEMO", "1")
    assert remembered_json("k", 1, lambda: "a") == "a"
    assert remembered_json("k", 1, lambda: "b") == "b"
    assert not (state / "memo").exists()


def test_an_unwritable_state_folder_only_costs_the_memory(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SEI_STATE_DIR", str(blocker))
    monkeypatch.delenv("SEI_NO_MEMO", raising=False)
    assert remembered_json("k", 1, lambda: "a") == "a"
    assert remembered_bytes("k", 1, lambda: b"b") == b"b"


def test_the_bill_of_materials_is_remembered_for_the_same_environment(state: Path) -> None:
    from sei_assets.core import bom

    bom.build_bom.cache_clear()
    fresh = bom._build_bom("model.pkl")
    assert bom.build_bom("model.pkl") == fresh  # computed, then remembered
    bom.build_bom.cache_clear()
    assert list((state / "memo" / "bom").iterdir())
    assert bom.build_bom("model.pkl") == fresh  # read back, same text and summary
    bom.build_bom.cache_clear()
