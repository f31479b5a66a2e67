"""The steps of `sei run` and `sei compile` as they happen, on stderr: on a terminal one line per
step that ends with its time when the next begins; otherwise plain lines (`sei: reproduce:
with dvc`); nothing with `--json`."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class _Printer:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.terminal = bool(getattr(stream, "isatty", lambda: False)())
        self.current: tuple[str, float] | None = None

    def _finish(self) -> None:
        if self.current is not None and self.terminal:
            text, started = self.current
            self.stream.write(f"\r✓ {text} ({time.monotonic() - started:.1f} s)\n")
            self.stream.flush()
        self.current = None

    def step(self, step: str, detail: str) -> None:
        self._finish()
        text = f"{step}: {detail}" if detail else step
        if self.terminal:
            self.stream.write(f"▸ {text} …")
        else:
            self.stream.write(f"sei: {text}\n")
        self.stream.flush()
        self.current = (text, time.monotonic())

    def close(self) -> None:
        self._finish()


@contextmanager
def shown(enabled: bool = True) -> Iterator[None]:
    """Print the steps of what runs inside (nothing when not ``enabled``)."""
    if not enabled:
        yield
        return
    from sei_assets.core.progress import listening

    printer = _Printer(sys.stderr)
    try:
        with listening(printer.step):
            yield
    finally:
        printer.close()
