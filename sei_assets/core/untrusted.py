"""The rule for untrusted values, stated and enforced in one place.

A repository, its evidence, a scenario, a check, a profile or a registry may be written by
someone we do not trust. What they say is data:

1. an identifier (risk id, measure id, standard id, system name, git revision, commit id) is
   checked against its grammar before it is used; none of them may start with ``-``;
2. a value handed to git or another tool goes after ``--end-of-options`` or ``--`` in an argv
   list built here, never into a shell and never as an option;
3. a path is resolved after symlinks and must stay inside the place it belongs to (the
   system's repository); the signing key and the state folder are never reachable through it.

A value that breaks the rule is an `UntrustedValue` (exit 2) naming where it came from.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from sei_assets.core.errors import SeiError


class UntrustedValue(SeiError):
    """A value from a repository, evidence, scenario, check, profile or registry that breaks
    the rule: a bad identifier, an option where data belongs, a path outside its place."""


#: The grammar of each identifier kind. None of them may begin with ``-``.
GRAMMARS: dict[str, re.Pattern[str]] = {
    "risk id": re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"),
    "measure id": re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"),
    "system name": re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"),
    "standard id": re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)*@[A-Za-z0-9._-]+"),
    "commit id": re.compile(r"[0-9a-f]{4,64}"),
    # a ref name or a commit with ~N / ^N suffixes: no ranges, no reflog, no "rev:path"
    "git revision": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}(?:[~^][0-9]{0,4})*"),
}
_DESCRIBE = {
    "risk id": "letters, digits, '.', '_', ':', '-', starting with a letter or digit",
    "measure id": "letters, digits, '.', '_', ':', '-', starting with a letter or digit",
    "system name": "letters, digits, '.', '_', '-', starting with a letter or digit",
    "standard id": "a standard id such as iso/23894@2023",
    "commit id": "a hexadecimal commit id",
    "git revision": "a branch, tag, HEAD or commit id, optionally with ~N or ^N",
}


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def identifier(kind: str, value: object, where: str = "") -> str:
    """``value`` when it is a ``kind`` by its grammar (see `GRAMMARS`); else UntrustedValue."""
    grammar = GRAMMARS[kind]
    if isinstance(value, str):
        ok = grammar.fullmatch(value) is not None and ".." not in value
        if ok and kind == "git revision":
            ok = not (value.endswith((".", "/", ".lock")) or "//" in value)
        if ok:
            return value
    place = f"{where}: " if where else ""
    raise UntrustedValue(f"{place}{_show(value)} is not a valid {kind}: expected {_DESCRIBE[kind]}")


def risk_id(value: object, where: str = "") -> str:
    """A risk id, checked."""
    return identifier("risk id", value, where)


def measure_id(value: object, where: str = "") -> str:
    """A measure (control) id, checked."""
    return identifier("measure id", value, where)


def standard_id(value: object, where: str = "") -> str:
    """A standard id, checked."""
    return identifier("standard id", value, where)


def system_name(value: object, where: str = "") -> str:
    """A system name, checked."""
    return identifier("system name", value, where)


def git_revision(value: object, where: str = "") -> str:
    """A git revision (ref, HEAD or commit, with ~N/^N), checked."""
    return identifier("git revision", value, where)


def commit_id(value: object, where: str = "") -> str:
    """A hexadecimal commit id, checked."""
    return identifier("commit id", value, where)


def relative_path(value: object, where: str = "") -> str:
    """A path written relative to a repository: no NUL, not absolute, no ``..``, no leading
    ``-`` or ``:`` (an option or a git pathspec magic), in POSIX form."""
    place = f"{where}: " if where else ""
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise UntrustedValue(f"{place}{_show(value)}: expected a path relative to the repository")
    if "\x00" in value or "\\" in value or any(ord(c) < 32 for c in value):
        raise UntrustedValue(f"{place}{_show(value)}: a path may not hold control characters")
    pure = PurePosixPath(value)
    if pure.is_absolute() or value.startswith("~"):
        raise UntrustedValue(f"{place}{_show(value)}: an absolute path is outside the repository")
    if ".." in pure.parts:
        raise UntrustedValue(f"{place}{_show(value)}: '..' leaves the repository")
    if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in pure.parts):
        raise UntrustedValue(f"{place}{_show(value)}: a file name longer than 255 bytes")
    if value.startswith(("-", ":")):
        raise UntrustedValue(f"{place}{_show(value)}: a path may not start with '-' or ':'")
    return str(pure)


def _protected() -> list[Path]:
    """Places no untrusted path may reach: the signing key."""
    from sei_assets.core import signing

    return [signing.default_key_path().resolve()]


def inside(root: Path, value: object, where: str = "", must_exist: bool = True) -> Path:
    """``root / value`` resolved after symlinks, when it stays inside ``root`` (the system's
    repository) and is not the signing key; else UntrustedValue."""
    rel = relative_path(value, where)
    base = Path(root).resolve()
    target = (base / rel).resolve(strict=False)
    place = f"{where}: " if where else ""
    if target != base and not target.is_relative_to(base):
        raise UntrustedValue(f"{place}{rel} resolves outside the repository ({base})")
    if target in _protected():
        raise UntrustedValue(f"{place}{rel} is the signing key: never readable by a check")
    if must_exist and not target.exists():
        raise UntrustedValue(f"{place}{rel}: no such file in the repository")
    return target


#: git, hardened: no pager, no optional locks, no fsmonitor or hooks from configuration, no
#: prompt; pathspecs literal (no ``:(magic)``).
GIT_BASE = (
    "git",
    "--no-pager",
    "--literal-pathspecs",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.pager=cat",
    "-c",
    "diff.external=",
)


def git_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for git with untrusted operands: no prompt, no optional locks, no
    system configuration, no pager."""
    env = dict(os.environ if base is None else base)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_PAGER="cat",
        PAGER="cat",
        GIT_LITERAL_PATHSPECS="1",
    )
    env.pop("GIT_EXTERNAL_DIFF", None)
    return env


def git_argv(
    command: str,
    options: tuple[str, ...] | list[str] = (),
    revisions: tuple[str, ...] | list[str] = (),
    paths: tuple[str, ...] | list[str] = (),
    objects: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
) -> list[str]:
    """The argv of ``git COMMAND OPTIONS --end-of-options REVISIONS -- PATHS``: the options
    are the engine's own (constants), every revision is checked, every path is relative;
    ``objects`` are (revision, path) pairs, named ``REV:./PATH``."""
    for opt in options:
        if not opt.startswith("-"):
            raise ValueError(f"git option {opt!r}: options are the engine's own constants")
    revs = [git_revision(r, f"git {command}") for r in revisions]
    revs += [
        f"{git_revision(r, f'git {command}')}:./{relative_path(p, f'git {command}')}"
        for r, p in objects
    ]
    rels = [relative_path(p, f"git {command}") for p in paths]
    argv = [*GIT_BASE, command, *options, "--end-of-options", *revs]
    if paths:
        argv += ["--", *rels]
    return argv


def operands(values: list[str] | tuple[str, ...]) -> list[str]:
    """Values to follow a tool's own options: after ``--``, so none is read as an option."""
    return ["--", *[str(v) for v in values]]


def no_shell(argv: object) -> list[str]:
    """``argv`` as a list of words; a string (a shell line) is refused."""
    if isinstance(argv, str) or not isinstance(argv, list | tuple) or not argv:
        raise UntrustedValue("a command is a list of words, never a shell line")
    if not all(isinstance(w, str) and "\x00" not in w for w in argv):
        raise UntrustedValue("every word of a command must be text without NUL")
    return list(argv)
