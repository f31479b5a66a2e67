"""System repositories made from shipped resources: copy, `git init`, `dvc init`, first commit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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


def _run(cwd: Path, *args: str) -> None:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SeiError(f"{' '.join(args)} failed in {cwd}: {proc.stderr.strip()[-2000:]}")


def seed_repository(source: Path, dest: Path, message: str = "declare: the AI system") -> Path:
    """Create a git (and, when the system uses it, DVC) repository at ``dest`` from ``source``."""
    if not source.is_dir():
        raise SeiError(f"{source}: the system's resources do not exist")
    if dest.exists() and any(dest.iterdir()):
        raise SeiError(f"{dest} exists and is not empty: refusing to seed over it")
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*SEED_IGNORE), dirs_exist_ok=True)
    _run(dest, "git", "init", "-q", "-b", "main")
    if (dest / "dvc.yaml").is_file():
        from sei_assets.core.reproducers.base import tool_env

        proc = subprocess.run(
            ["dvc", "init", "-q"], cwd=dest, env=tool_env(), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SeiError(f"dvc init failed in {dest}: {proc.stderr.strip()[-2000:]}")
    _run(dest, "git", "add", "-A")
    _run(dest, "git", "-c", "commit.gpgsign=false", "commit", "-qm", message)
    return dest


def ensure_repository(repo: Path, seed: Path | None) -> Path:
    """``repo`` itself when it exists; else seeded from ``seed``; else an error."""
    if (repo / ".git").exists() or (repo.is_dir() and seed is None):
        return repo
    if seed is None:
        raise SeiError(f"{repo}: the system's repository does not exist")
    return seed_repository(seed, repo)
