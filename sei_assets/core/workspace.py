"""System repositories made from shipped resources: copy, `git init`, `dvc init`, first commit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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


def seed_repository(source: Path, dest: Path, message: str = "declare: the AI system") -> Path:
    """Create a git (and, when the system uses it, DVC) repository at ``dest`` from ``source``."""
    if not source.is_dir():
        raise SeiError(f"{source}: the system's resources do not exist")
    if dest.exists() and any(dest.iterdir()):
        raise SeiError(f"{dest} exists and is not empty: refusing to seed over it")
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*SEED_IGNORE), dirs_exist_ok=True)
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


def seed_registered(entries: list, only: list[str] | None = None) -> list[str]:
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
