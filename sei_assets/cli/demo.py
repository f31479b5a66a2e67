"""The main job: the loan system end to end with real git and DVC.

V1 (plain logistic regression) fails the blocking fairness control (gate red); the treatment
(fairlearn mitigation) is committed; V2 passes (gate green) with a treatment event; the evidence
verifies offline and `status` is fresh. Works in `.sei-state/demo/loan` unless `--dir` is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sei_assets.core.paths import project_root, resources_dir, state_dir
from sei_assets.core.workspace import seed_repository


def _step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def _sh(cwd: Path, *args: str, expect: int | None = 0) -> int:
    print("$", " ".join(args), flush=True)
    code = subprocess.call(list(args), cwd=cwd)
    if expect is not None and code != expect:
        sys.exit(f"demo: `{' '.join(args)}` exited {code}, expected {expect}")
    return code


def prepare(repo: Path) -> None:
    """A fresh repository holding the loan system at V1."""
    if repo.exists():
        shutil.rmtree(repo)
    seed_repository(resources_dir() / "loan", repo, "declare: loan-scoring (sei.yaml, data, V1)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=state_dir() / "demo" / "loan")
    args = parser.parse_args(argv)
    repo = args.dir.resolve()
    os.environ.setdefault("GIT_AUTHOR_NAME", "Loan Demo")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "demo@example-loan.test")
    os.environ.setdefault("GIT_COMMITTER_NAME", os.environ["GIT_AUTHOR_NAME"])
    os.environ.setdefault("GIT_COMMITTER_EMAIL", os.environ["GIT_AUTHOR_EMAIL"])
    sei = str(Path(sys.executable).parent / "sei")

    _step(f"1. the loan system at V1 in {repo}")
    prepare(repo)
    _step("2. compile the risk program to OSCAL")
    _sh(repo, sei, "compile")
    _step("3. run V1 through DVC: the fairness control must fail (gate red, exit 1)")
    _sh(repo, sei, "run", expect=1)
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "run: V1 evidence (gate red)")
    _step("4. the treatment: fairlearn mitigation replaces train.py")
    shutil.copyfile(resources_dir() / "loan" / "treatment" / "train.py", repo / "train.py")
    _sh(
        repo,
        "git",
        "commit",
        "-qam",
        "treatment: demographic-parity mitigation (ISO/IEC 23894 6.5)",
    )
    _sh(repo, sei, "status", expect=1)
    _step("5. run V2: gate green, one treatment event")
    _sh(repo, sei, "run", expect=0)
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "run: V2 evidence (gate green)")
    _step("6. verify the signed evidence offline, and status")
    _sh(repo, sei, "verify")
    _sh(repo, sei, "status", expect=0)
    print(f"\ndemo done: evidence in {repo / '.sei'} (project {project_root()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
