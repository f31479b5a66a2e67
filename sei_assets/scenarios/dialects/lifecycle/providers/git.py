"""`git.*`: the sandbox repository's history: commit, restore, and the observing status, log
and head."""

from __future__ import annotations

from typing import Any

from sei_assets.scenarios.dialects.lifecycle.providers.base import Context, Result, Verb, tail


def _git(ctx: Context, *args: str) -> tuple[int, str, str]:
    return ctx.run(["git", "-c", "commit.gpgsign=false", *args])


def _result(code: int, out: str, err: str, value: Any) -> Result:
    return Result(value, tail(out + err), ok=code == 0, exit_code=code)


def commit(ctx: Context, args: dict[str, Any]) -> Result:
    """Stage everything (or `paths`) and commit with `message`; value: the new head."""
    paths = args.get("paths") or ["-A"]
    code, out, err = _git(ctx, "add", *[str(p) for p in paths])
    if code == 0:
        trailers = [f"--trailer={t}" for t in args.get("trailers") or []]
        code, out, err = _git(ctx, "commit", "-q", "--allow-empty", "-m", str(args["message"]),
                              *trailers)  # fmt: skip
    head = _git(ctx, "rev-parse", "HEAD")[1].strip() if code == 0 else None
    return _result(code, out, err, {"commit": head})


def restore(ctx: Context, args: dict[str, Any]) -> Result:
    """Put `paths` (default everything tracked) back as in `ref` (default HEAD)."""
    paths = [str(p) for p in args.get("paths") or ["."]]
    code, out, err = _git(ctx, "checkout", str(args.get("ref", "HEAD")), "--", *paths)
    return _result(code, out, err, {"paths": paths})


def status(ctx: Context, args: dict[str, Any]) -> Result:
    """The changed paths (`git status --porcelain`), as a list."""
    code, out, err = _git(ctx, "status", "--porcelain", "--untracked-files=all")
    return _result(code, "", err, [line[3:] for line in out.splitlines() if line.strip()])


def log(ctx: Context, args: dict[str, Any]) -> Result:
    """The last `n` commits (default 10): [{commit, subject}]."""
    code, out, err = _git(ctx, "log", f"-{int(args.get('n', 10))}", "--format=%H%x09%s")
    rows = [
        dict(zip(("commit", "subject"), line.split("\t", 1), strict=False))
        for line in out.splitlines()
    ]
    return _result(code, "", err, rows)


def head(ctx: Context, args: dict[str, Any]) -> Result:
    """The commit HEAD points at."""
    code, out, err = _git(ctx, "rev-parse", "HEAD")
    return _result(code, "", err, out.strip() or None)


VERBS = [
    Verb(
        "git.commit",
        commit,
        {"message": True, "paths": False, "trailers": False},
        True,
        commit.__doc__ or "",
        scalar="message",
    ),  # fmt: skip
    Verb("git.restore", restore, {"paths": False, "ref": False}, True, restore.__doc__ or ""),
    Verb("git.status", status, {}, False, status.__doc__ or ""),
    Verb("git.log", log, {"n": False}, False, log.__doc__ or "", scalar="n"),
    Verb("git.head", head, {}, False, head.__doc__ or ""),
]
