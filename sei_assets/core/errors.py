"""Errors the engine raises for bad input; every front maps them to `ExitCode.BAD_INPUT`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sei_assets.core.exitcodes import ExitCode


class SeiError(Exception):
    """A user-facing error: bad input, a missing tool, an unusable file."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class ManifestError(SeiError):
    """A manifest problem located by file, key path and line."""

    def __init__(
        self,
        file: Path | str,
        key_path: str,
        expected: str,
        line: int | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.file = str(file)
        self.key_path = key_path
        self.expected = expected
        self.line = line
        self.suggestion = suggestion
        where = f"{self.file}:{line}" if line else self.file
        msg = f"{where}: {key_path or '<root>'}: {expected}"
        if suggestion:
            msg += f" (did you mean '{suggestion}'?)"
        super().__init__(msg)


class VerificationError(SeiError):
    """Evidence whose signature or digest does not verify."""

    exit_code = ExitCode.FAILED


def bad_input_names() -> set[str]:
    """The class names of the engine's bad-input errors (`SeiError` and its subclasses)."""
    from sei_assets.core.reproducers import base  # noqa: F401 - its ReproducerError counts

    names, todo = set(), [SeiError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def deepest_message(error: Any) -> str:
    """The innermost error of a serialized error's cause chain (Dagster's), in the user's
    words (:func:`plain_message`)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return plain_message(error.message, getattr(error, "cls_name", None))


def plain_message(message: str, cls_name: str | None) -> str:
    """An error's message in the user's words: without the ``package.module.Class: `` that a
    serialized error (Dagster's) puts in front. An engine error (bad input) keeps its text
    only; any other error keeps its class's short name (``KeyError: 'x'``)."""
    import re

    message = message.strip()
    if not cls_name:
        return message
    found = re.match(r"(?:[A-Za-z_]\w*\.)*" + re.escape(cls_name) + r": ", message)
    if found is None:
        return message
    text = message[found.end() :]
    return text if cls_name in bad_input_names() else f"{cls_name}: {text}"
