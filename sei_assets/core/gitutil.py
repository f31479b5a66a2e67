"""Git access, in one place (history is evidence: we read it, and record decisions as new
commits; we never rewrite it). Every failure is a `GitError` with git's own message."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Generator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]  # no fcntl on Windows

from sei_assets.core import untrusted
from sei_assets.core.errors import SeiError


class GitError(SeiError):
    """A git command that could not run or failed."""


def _run(repo: Path, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """git's run, its output as text (bytes that are not UTF-8 replaced)."""
    try:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, encoding="utf-8", errors="replace"
        )
    except OSError as exc:
        raise GitError(f"cannot run git in {repo}: {exc}") from None


def _run_bytes(repo: Path, args: tuple[str, ...]) -> subprocess.CompletedProcess[bytes]:
    """git's run, its output as bytes."""
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True)
    except OSError as exc:
        raise GitError(f"cannot run git in {repo}: {exc}") from None


def git_text(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its stdout, or GitError with git's own message."""
    proc = _run(repo, args)
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run git in ``repo``; its stripped stdout ('' on failure when ``check`` is False)."""
    proc = _run(repo, args)
    if proc.returncode != 0:
        if check:
            raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {proc.stderr.strip()}")
        return ""
    return proc.stdout.strip()


def head(repo: Path) -> str:
    """The commit id of HEAD, or '' outside a repository or before the first commit."""
    return git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False)


def root_commit(repo: Path) -> str:
    """The first root commit of HEAD's history (by id), or '' outside a repository or before
    the first commit: with the repository's path, what keys an unregistered system."""
    roots = git(repo, "rev-list", "--max-parents=0", "HEAD", check=False).split()
    return min(roots) if roots else ""


def has_head(repo: Path) -> bool:
    """Whether ``repo`` is inside a git work tree with at least one commit (GitError if no repo)."""
    repo = Path(repo)
    if not repo.is_dir():
        raise GitError(f"{repo} is not a directory")
    if git(repo, "rev-parse", "--is-inside-work-tree", check=False) != "true":
        raise GitError(f"{repo} is not a git repository: decisions are recorded as git commits")
    return bool(head(repo))


def _revision(rev: str) -> str | None:
    """``rev`` when it is a revision by the grammar (`untrusted.git_revision`), else None: a
    revision read from evidence never reaches git as an option."""
    try:
        return untrusted.git_revision(rev)
    except untrusted.UntrustedValue:
        return None


def blob_at(repo: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` (relative to ``repo``) at ``rev``, or None when absent."""
    if _revision(rev) is None:
        return None
    proc = _run_bytes(repo, ("cat-file", "blob", "--end-of-options", f"{rev}:./{path}"))
    return proc.stdout if proc.returncode == 0 else None


def show(repo: Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` (from the repository's root) at ``rev``, or None when absent."""
    if _revision(rev) is None:
        return None
    proc = _run_bytes(
        repo, ("--no-pager", "show", "--no-textconv", "--end-of-options", f"{rev}:{path}")
    )
    return proc.stdout if proc.returncode == 0 else None


def object_id(repo: Path, rev: str, path: str) -> str | None:
    """The blob id of ``path`` (relative to ``repo``) at ``rev``, or None when absent."""
    if _revision(rev) is None:
        return None
    out = git(
        repo, "rev-parse", "-q", "--verify", "--end-of-options", f"{rev}:./{path}", check=False
    )
    return out or None


def last_commit_touching(repo: Path, paths: list[str]) -> tuple[str, str] | None:
    """(commit id, subject) of the newest commit that changed any of ``paths``."""
    if not paths:
        return None
    out = git(repo, "--no-pager", "log", "-1", "--format=%H%x00%s", "--", *paths, check=False)
    if not out:
        return None
    sha, _, subject = out.partition("\x00")
    return sha, subject


def is_ancestor(repo: Path, earlier: str, later: str) -> bool:
    """Whether commit ``earlier`` is ``later`` or one of its ancestors."""
    if _revision(earlier) is None or _revision(later) is None:
        return False
    args = ("merge-base", "--is-ancestor", "--end-of-options", earlier, later)
    return _run(repo, args).returncode == 0


def commit_id(repo: Path, rev: str) -> str | None:
    """The full id of the commit ``rev`` names, or None when it names none in ``repo``."""
    if _revision(rev) is None:
        return None
    args = ("rev-parse", "-q", "--verify", "--end-of-options", f"{rev}^{{commit}}")
    return git(repo, *args, check=False) or None


def identity(repo: Path) -> tuple[str, str]:
    """The configured user.name and user.email (may be empty)."""
    name = git(repo, "config", "user.name", check=False)
    return name, git(repo, "config", "user.email", check=False)


def init_repository(repo: Path) -> None:
    """`git init` on branch main."""
    git(repo, "init", "-q", "-b", "main")


def commit_all(repo: Path, message: str) -> None:
    """Stage everything and commit it (unsigned)."""
    git(repo, "add", "-A")
    git(repo, "-c", "commit.gpgsign=false", "commit", "-qm", message)


_KINDS = (b"blob", b"tree", b"commit", b"tag")


class BlobReader:
    """One ``git cat-file --batch`` process answering ``rev:./path`` questions in turn.

    :meth:`read` gives what ``git cat-file blob rev:./path`` would (None when absent or not a
    blob) and the blob id, without a process per question. One stream of questions at a time
    (finish or close a :meth:`read_many` before asking again). Use it as a context manager.
    """

    def __init__(self, repo: Path) -> None:
        self._proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        if fcntl is not None and hasattr(fcntl, "F_SETPIPE_SZ") and self._proc.stdout is not None:
            try:  # room for git to inflate blobs ahead of the reader (Linux)
                fcntl.fcntl(self._proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
            except OSError:
                pass

    def read(self, rev: str, path: str) -> tuple[str, bytes] | None:
        """(blob id, bytes) of ``path`` (relative to the repository argument) at ``rev``."""
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(f"{rev}:./{path}\n".encode())
        stdin.flush()
        return self._answer(stdout)

    def read_many(
        self, specs: list[tuple[str, str]]
    ) -> Generator[tuple[str, bytes] | None, None, None]:
        """As :meth:`read` for each ``(rev, path)``, in order: the questions are written by a
        thread while the answers are read, so git inflates the next blob while we use one."""
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        request = "".join(f"{rev}:./{path}\n" for rev, path in specs).encode()

        def write() -> None:
            stdin.write(request)
            stdin.flush()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        done = 0
        try:
            while done < len(specs):
                answer = self._answer(stdout)
                done += 1
                yield answer
        finally:  # a consumer that stops early: drain the rest, so that later reads line up
            for _ in range(done, len(specs)):
                self._answer(stdout)
            writer.join()

    @staticmethod
    def _answer(stdout: IO[bytes]) -> tuple[str, bytes] | None:
        line = stdout.readline()
        if not line:
            raise RuntimeError("git cat-file --batch ended before answering")
        header = line.split()
        if len(header) != 3 or not header[2].isdigit() or header[1] not in _KINDS:
            return None  # "<name> missing" / "<name> ambiguous"
        oid, kind, size = header
        data = stdout.read(int(size))
        stdout.read(1)  # the newline after the contents
        return (oid.decode(), data) if kind == b"blob" else None

    def close(self) -> None:
        """End the process (answers still unread are dropped: git stops on the closed pipe)."""
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # git already gone: nothing left to flush
                    pass
        self._proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
