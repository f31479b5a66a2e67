"""`fs.*`: files of the scenario workspace: write, copy, corrupt a byte, truncate, delete, and
the observing verbs read, exists, list, hash, snapshot."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from sei_assets.scenarios.dialects.lifecycle.providers.base import Context, Result, Verb, VerbError


def _rel(ctx: Context, p: Path) -> str:
    try:
        return str(p.relative_to(ctx.base.resolve()))
    except ValueError:
        return str(p)


def write(ctx: Context, args: dict[str, Any]) -> Result:
    """Write `content` (text, or JSON for any other value) to `path`."""
    path = ctx.path(args.get("path"))
    content = args.get("content", "")
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return Result({"path": _rel(ctx, path), "bytes": len(text.encode())})


def copy(ctx: Context, args: dict[str, Any]) -> Result:
    """Copy a file or folder `from` -> `to` (`from` may be a file shipped beside the
    scenarios with `shipped: true`)."""
    source = (
        ctx.project_path(args.get("from"), "from")
        if args.get("shipped")
        else ctx.path(args.get("from"), "from")
    )
    target = ctx.path(args.get("to"), "to")
    if not source.exists():
        raise VerbError(f"from: {source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
    else:
        shutil.copy2(source, target)
    return Result({"from": str(source), "to": _rel(ctx, target)})


def corrupt(ctx: Context, args: dict[str, Any]) -> Result:
    """Flip one byte of `path` (at `offset`, default the middle) with `xor` (default 0x01)."""
    path = ctx.path(args.get("path"))
    data = bytearray(path.read_bytes())
    if not data:
        raise VerbError(f"path: {path} is empty: no byte to corrupt")
    offset = int(args.get("offset", len(data) // 2)) % len(data)
    before = data[offset]
    data[offset] ^= int(args.get("xor", 1)) or 1
    path.write_bytes(bytes(data))
    return Result(
        {"path": _rel(ctx, path), "offset": offset, "before": before, "after": data[offset]}
    )


def truncate(ctx: Context, args: dict[str, Any]) -> Result:
    """Cut `path` to `size` bytes (default 0; a negative size keeps all but that many)."""
    path = ctx.path(args.get("path"))
    length = path.stat().st_size
    size = int(args.get("size", 0))
    size = max(length + size, 0) if size < 0 else min(size, length)
    with path.open("r+b") as f:
        f.truncate(size)
    return Result({"path": _rel(ctx, path), "from": length, "to": size})


def delete(ctx: Context, args: dict[str, Any]) -> Result:
    """Remove a file or folder; absent is an error unless `missingOk: true`."""
    path = ctx.path(args.get("path"))
    if not path.exists() and not path.is_symlink():
        if args.get("missingOk"):
            return Result({"path": _rel(ctx, path), "deleted": False})
        raise VerbError(f"path: {path} does not exist")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return Result({"path": _rel(ctx, path), "deleted": True})


def read(ctx: Context, args: dict[str, Any]) -> Result:
    """A file's text, parsed when it is JSON (or `json: true`)."""
    path = ctx.path(args.get("path"))
    text = path.read_text(encoding="utf-8", errors="replace")
    if args.get("json", path.suffix == ".json"):
        try:
            return Result(json.loads(text))
        except ValueError as exc:
            return Result(None, f"{path}: not JSON: {exc}", ok=False)
    return Result(text)


def exists(ctx: Context, args: dict[str, Any]) -> Result:
    """Whether `path` exists (the value; the step itself always succeeds)."""
    return Result(ctx.path(args.get("path")).exists())


def _files(root: Path, pattern: str) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob(pattern) if p.is_file() or p.is_symlink())


def listing(ctx: Context, args: dict[str, Any]) -> Result:
    """The files under `path` matching `pattern` (default every file), relative names."""
    root = ctx.path(args.get("path", "."))
    if not root.exists():
        return Result([])
    return Result([str(p.relative_to(root)) for p in _files(root, str(args.get("pattern", "*")))])


def digest(ctx: Context, args: dict[str, Any]) -> Result:
    """sha256 of a file's bytes (null when absent)."""
    path = ctx.path(args.get("path"))
    return Result(hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None)


def snapshot(ctx: Context, args: dict[str, Any]) -> Result:
    """{relative name: sha256} of every file under `path`: compare two to prove nothing
    changed (or exactly what did)."""
    root = ctx.path(args.get("path", "."))
    if not root.exists():
        return Result({})
    return Result(
        {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in _files(root, "*")
            if p.is_file()
        }
    )


VERBS = [
    Verb("fs.write", write, {"path": True, "content": False}, True, write.__doc__ or ""),
    Verb("fs.copy", copy, {"from": True, "to": True, "shipped": False}, True, copy.__doc__ or ""),
    Verb(
        "fs.corrupt",
        corrupt,
        {"path": True, "offset": False, "xor": False},
        True,
        corrupt.__doc__ or "",
        scalar="path",
    ),
    Verb(
        "fs.truncate",
        truncate,
        {"path": True, "size": False},
        True,
        truncate.__doc__ or "",
        scalar="path",
    ),
    Verb(
        "fs.delete",
        delete,
        {"path": True, "missingOk": False},
        True,
        delete.__doc__ or "",
        scalar="path",
    ),
    Verb("fs.read", read, {"path": True, "json": False}, False, read.__doc__ or "", scalar="path"),
    Verb("fs.exists", exists, {"path": True}, False, exists.__doc__ or "", scalar="path"),
    Verb(
        "fs.list",
        listing,
        {"path": False, "pattern": False},
        False,
        listing.__doc__ or "",
        scalar="path",
    ),
    Verb("fs.hash", digest, {"path": True}, False, digest.__doc__ or "", scalar="path"),
    Verb("fs.snapshot", snapshot, {"path": False}, False, snapshot.__doc__ or "", scalar="path"),
]
