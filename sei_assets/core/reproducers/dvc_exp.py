"""Candidate runs of a DVC pipeline as DVC experiments: changed params, nothing committed.

``dvc exp run --set-param k=v`` cannot be used here: DVC parses every ``--set-param`` with
Hydra's override grammar, and this environment pins antlr4-python3-runtime 4.13 for Dagster,
which cannot load Hydra's and OmegaConf's generated 4.9 parsers ("Could not deserialize ATN
with version 3 (expected 4)"); ``--no-hydra`` and ``hydra.enabled false`` do not help, as
the parsing happens before either is consulted. What works: write the overrides into the
params file, run ``dvc exp run --temp --name <name>`` without ``--set-param`` (DVC stashes
the workspace, params included, and reproduces it in a temporary executor), and put the
params file back byte for byte, whatever happens. The experiment lives under ``refs/exps``
(``dvc exp show`` lists it); the branch, the workspace and the evidence are untouched. The
candidate metrics are read from the experiment's commit.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sei_assets.core.fsutil import atomic_write
from sei_assets.core.gitutil import GitError, git_text
from sei_assets.core.layout import MANIFEST_NAMES
from sei_assets.core.reproducers.base import ReproducerError, run_tool

TOOL = "dvc exp"


@dataclass
class Candidate:
    """One experiment: its name, git ref and revision, the params set and its metrics."""

    name: str
    ref: str
    rev: str
    params: dict[str, Any]
    metrics: dict[str, Any]


def _manifest_pipeline(repo: Path) -> dict[str, Any]:
    for name in MANIFEST_NAMES:
        path = repo / name
        if path.is_file():
            from sei_assets.core.manifest import screen_yaml

            text = path.read_text(encoding="utf-8")
            screen_yaml(path, text)  # a hostile depth is refused, never handed to libyaml
            doc = yaml.safe_load(text) or {}
            return doc.get("pipeline") or {}
    return {}


def _split(key: str, default_file: str) -> tuple[str, list[str]]:
    """``"params.yaml:train.seed"`` or ``"train.seed"`` → (file, ["train", "seed"])."""
    file, sep, path = key.rpartition(":")
    return (file if sep else default_file), (path if sep else key).split(".")


def _apply(doc: dict[str, Any], path: list[str], value: Any, where: str) -> None:
    node: Any = doc
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise ReproducerError(f"{TOOL}: {where} has no parameter {'.'.join(path)}")
        node = node[part]
    if not isinstance(node, dict) or path[-1] not in node:
        raise ReproducerError(f"{TOOL}: {where} has no parameter {'.'.join(path)}")
    node[path[-1]] = value


def _git(repo: Path, *args: str) -> str:
    try:
        return git_text(repo, *args)
    except GitError as exc:
        raise ReproducerError(f"{TOOL}: {exc}") from None


def run_candidate(repo: Path, set_params: dict[str, Any], name: str | None = None) -> Candidate:
    """Run the pipeline of ``repo`` as a DVC experiment with ``set_params`` applied.

    Keys are parameter paths (``seed``, ``train.lr``) in the manifest's params file, or
    ``<file>:<path>`` for another one; every key must exist. Returns the experiment.
    """
    repo = Path(repo)
    if not (repo / "dvc.yaml").is_file() or not (repo / ".dvc").is_dir():
        raise ReproducerError(f"{TOOL}: {repo} is not a DVC repository with a dvc.yaml")
    if not set_params:
        raise ReproducerError(f"{TOOL}: no parameter to set")
    pipeline = _manifest_pipeline(repo)
    default_file = pipeline.get("params") or "params.yaml"
    edits: dict[Path, dict[str, Any]] = {}
    originals: dict[Path, bytes] = {}
    root = repo.resolve()
    for key, value in set_params.items():
        file, path = _split(key, default_file)
        target = (root / file).resolve()
        if not target.is_relative_to(root):
            raise ReproducerError(
                f"{TOOL}: the params file '{file}' of {key!r} resolves outside {repo} ({target})"
            )
        if target not in edits:
            if not target.is_file():
                raise ReproducerError(f"{TOOL}: the params file {target} does not exist")
            originals[target] = target.read_bytes()
            edits[target] = yaml.safe_load(originals[target]) or {}
        _apply(edits[target], path, value, str(target))
    name = name or f"sei-candidate-{uuid.uuid4().hex[:8]}"
    modes = {target: target.stat().st_mode & 0o7777 for target in originals}
    try:
        for target, doc in edits.items():
            atomic_write(target, yaml.safe_dump(doc, sort_keys=False), mode=modes[target])
        run_tool(TOOL, ["dvc", "exp", "run", "--temp", "--name", name], repo)
    finally:
        for target, data in originals.items():
            atomic_write(target, data, mode=modes[target])
    refs = [
        line.split()
        for line in _git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps")
        .strip()
        .splitlines()
    ]
    found = [(rev, ref) for rev, ref in refs if ref.rsplit("/", 1)[-1] == name]
    if len(found) != 1:
        raise ReproducerError(f"{TOOL}: the experiment '{name}' is not under refs/exps")
    rev, ref = found[0]
    metrics_rel = pipeline.get("metrics") or "metrics.json"
    try:
        metrics = json.loads(_git(repo, "show", f"{rev}:{metrics_rel}"))
    except ValueError as exc:
        raise ReproducerError(
            f"{TOOL}: {metrics_rel} of experiment '{name}' is not valid JSON: {exc}"
        ) from None
    if not isinstance(metrics, dict):
        raise ReproducerError(f"{TOOL}: {metrics_rel} of experiment '{name}' is not an object")
    return Candidate(name, ref, rev, dict(set_params), metrics)


def run_experiment(repo: Path, set_params: dict[str, Any]) -> dict[str, Any]:
    """The candidate metrics (keyed by measure id) of ``repo``'s pipeline with ``set_params``."""
    return run_candidate(repo, set_params).metrics
