"""Errors the engine raises for bad input; every front maps them to exit code 2."""

from __future__ import annotations

from pathlib import Path


class SeiError(Exception):
    """A user-facing error: bad input, a missing tool, an unusable file."""

    exit_code = 2


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

    exit_code = 1
