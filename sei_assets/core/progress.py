"""Progress of a run, step by step (compile, reproduce, evaluate, analyse, sign), for whoever
listens: the `sei` command line prints it as it happens. Nobody listening costs nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, str], None]
_LISTENERS: list[Listener] = []


def report(step: str, detail: str = "") -> None:
    """Step ``step`` starts (``detail``: what it does, e.g. the tool's command)."""
    for listener in list(_LISTENERS):
        listener(step, detail)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener(step, detail)`` as each step of what runs inside starts."""
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)
