"""System repositories made from shipped resources: copy, `git init`, `dvc init`, first commit."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sei_assets.core import gitutil
from sei_assets.core.errors import SeiError

# Produced by the pipeline or the engine, or kept aside (the treatment): never seeded.
SEED_IGNORE = (
    "treatment",
    "metrics.json",
    "model.pkl",
    "fairness_by_group.json",
    "features.parquet",
    "__pycache__",
    ".sei",
    "sei.lock",
    "dvc.lock",
    "*.oscal.yaml",
    ".dvc",
    ".git",
)


def _seed_files(source: Path) -> Callable[[str, list[str]], set[str]]:
    """The copy's filter: the ignored names, and a refusal (SeiError) for a link that leads
    out of the seed or a file that is not a regular file, a folder or a link (a FIFO would
    block the copy, a device has no place in a repository)."""
    ignored = shutil.ignore_patterns(*SEED_IGNORE)

    def check(folder: str, names: list[str]) -> set[str]:
        skip = ignored(folder, names)
        for name in names:
            if name in skip:
                continue
            path = Path(folder) / name
            if path.is_symlink():
                if not path.resolve().is_relative_to(source):
                    raise SeiError(
                        f"{path}: a link out of the seed ({source}): refusing to copy it"
                    )
            elif not (path.is_dir() or path.is_file()):
                raise SeiError(f"{path}: not a regular file or folder: refusing to seed it")
        return skip

    return check


def _copy_seed(seed: Path, dest: Path) -> None:
    """Copy the seed's files (links as links); SeiError naming the first file that fails."""
    try:
        shutil.copytree(seed, dest, symlinks=True, ignore=_seed_files(seed), dirs_exist_ok=True)
    except shutil.Error as exc:  # files that could not be read: name the first
        first = exc.args[0][0] if exc.args and exc.args[0] else ("?", "?", str(exc))
        raise SeiError(f"cannot copy the seed {seed}: {first[0]}: {first[2]}") from None
    except OSError as exc:
        raise SeiError(f"cannot copy the seed {seed}: {exc.filename}: {exc.strerror}") from None


def seed_repository(source: Path, dest: Path, message: str = "declare: the AI system") -> Path:
    """Create a git (and, when the system uses it, DVC) repository at ``dest`` from ``source``.

    The seed may neither contain nor lie inside the target (the copy would never end or copy
    itself); links are copied as links and only when they stay inside the seed."""
    if not source.is_dir():
        raise SeiError(f"{source}: the system's resources do not exist")
    seed, target = Path(source).resolve(), Path(dest).resolve()
    if target == seed or target.is_relative_to(seed):
        raise SeiError(
            f"seed {seed} contains the repository {target}: refusing to copy it into itself"
        )
    if seed.is_relative_to(target):
        raise SeiError(f"seed {seed} lies inside the repository {target}: refusing to seed")
    if dest.exists() and any(dest.iterdir()):
        raise SeiError(f"{dest} exists and is not empty: refusing to seed over it")
    created = not dest.exists()
    try:
        _copy_seed(seed, dest)
    except SeiError:  # nothing half-seeded is left behind
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        raise
    gitutil.init_repository(dest)
    if (dest / "dvc.yaml").is_file():
        from sei_assets.core.reproducers.base import tool_env

        proc = subprocess.run(
            ["dvc", "init", "-q"], cwd=dest, env=tool_env(), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SeiError(f"dvc init failed in {dest}: {proc.stderr.strip()[-2000:]}")
    gitutil.commit_all(dest, message)
    return dest


def require_repository(repo: Path, seed: Path | None) -> Path:
    """``repo`` when it exists; else an error that names the seeding step."""
    if (repo / ".git").exists() or (repo.is_dir() and seed is None):
        return repo
    if seed is not None:
        raise SeiError(
            f"{repo}: the system's repository is not seeded yet: run `sei init` "
            "(or the `seed_systems` job)"
        )
    raise SeiError(f"{repo}: the system's repository does not exist")


def seed_registered(entries: list[Any], only: list[str] | None = None) -> list[str]:
    """Seed every registered system (or those named in ``only``) whose repository is missing;
    a dbt system's manifest is prepared too. Returns the names seeded."""
    done = []
    for entry in entries:
        if only and entry.name not in only:
            continue
        if (entry.repo / ".git").exists() or entry.seed is None:
            continue
        seed_repository(entry.seed, entry.repo)
        if (entry.repo / "dbt_project" / "dbt_project.yml").is_file():
            from sei_assets.core.reproducers.dbt import prepare_manifest

            prepare_manifest(entry.repo)
        done.append(entry.name)
    return done
