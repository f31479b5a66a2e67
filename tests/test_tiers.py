"""The fast tier's list of slow tests names tests that exist (a renamed test would otherwise
slip back into `-m fast` unnoticed)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import _listed_slow

ROOT = Path(__file__).resolve().parent.parent


def test_every_listed_slow_test_exists() -> None:
    missing = []
    for nodeid in sorted(_listed_slow()):
        path, _, name = nodeid.partition("::")
        source = ROOT / path
        if not source.is_file() or not re.search(
            rf"^def {re.escape(name)}\(", source.read_text(encoding="utf-8"), re.M
        ):
            missing.append(nodeid)
    assert missing == []
