"""DVC (category 1, git-native): `dvc repro`, anchored by the sha256 of `dvc.lock`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sei_assets.core.reproducers.base import ReproducerError, digest_bytes, needs, run_tool


class DvcReproducer:
    """Reproduce a DVC pipeline; only stale stages re-run (DVC's own staleness)."""

    tool = "dvc"

    def reproduce(self, repo: Path, pipeline: dict[str, Any]) -> str:
        if not (repo / "dvc.yaml").is_file():
            raise ReproducerError(
                f"dvc: {repo / 'dvc.yaml'} does not exist (pipeline.tool is dvc); {needs('dvc')}"
            )
        if not (repo / ".dvc").is_dir():
            raise ReproducerError(
                f"dvc: {repo} is not a DVC repository (run `dvc init` there first)"
            )
        return run_tool("dvc", ["dvc", "repro"], repo)

    def lock_digest(self, repo: Path, pipeline: dict[str, Any]) -> str:
        lock = repo / "dvc.lock"
        if not lock.is_file():
            raise ReproducerError(
                f"dvc: {lock} does not exist: the pipeline has not been reproduced"
            )
        return digest_bytes(lock.read_bytes())

    def metrics_record(self, repo: Path, pipeline: dict[str, Any]) -> dict[str, Any] | None:
        """dvc.lock's own record of the metrics file (the `outs`/`metrics` entry of a stage)
        and whether the file on disk matches it; None when dvc.lock does not list it."""
        lock = repo / "dvc.lock"
        metrics = Path(pipeline.get("metrics") or "metrics.json").as_posix()
        if not lock.is_file():
            return None
        from sei_assets.core import safeload
        from sei_assets.core.errors import ManifestError

        try:
            spec = safeload.load_yaml(lock, "DVC lock") or {}
        except ManifestError as exc:
            raise ReproducerError(f"dvc: {lock} is not readable YAML: {exc}") from None
        for stage_name, stage in (spec.get("stages") or {}).items():
            for entry in (stage or {}).get("outs") or []:
                if isinstance(entry, dict) and entry.get("path") == metrics and "md5" in entry:
                    data = (repo / metrics).read_bytes() if (repo / metrics).is_file() else b""
                    if entry.get("hash") != "md5":  # DVC 2: md5 of the text with LF endings
                        data = data.replace(b"\r\n", b"\n")
                    actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
                    return {
                        "lock": "dvc.lock",
                        "stage": stage_name,
                        "md5": entry["md5"],
                        "actual_md5": actual,
                        "matches": actual == entry["md5"],
                    }
        return None

    def treatment_files(self, repo: Path, pipeline: dict[str, Any], data: set[Path]) -> list[Path]:
        spec_path = repo / "dvc.yaml"
        if not spec_path.is_file():
            return []
        from sei_assets.core import safeload

        spec = safeload.load_yaml(spec_path, "DVC pipeline") or {}
        stages = spec.get("stages") if isinstance(spec, dict) else None
        if not isinstance(stages, dict):
            stages = {}
        outs: set[Path] = set()
        deps: set[Path] = {spec_path}
        for stage in stages.values():
            if not isinstance(stage, dict):
                continue
            for out in [
                *(stage.get("outs") or []),
                *(stage.get("metrics") or []),
                *(stage.get("plots") or []),
            ]:
                name = next(iter(out), None) if isinstance(out, dict) else out
                if isinstance(name, str):
                    outs.add(repo / name)
            for dep in stage.get("deps") or []:
                if isinstance(dep, str):
                    deps.add(repo / dep)
            for param in stage.get("params") or []:
                name = next(iter(param), None) if isinstance(param, dict) else "params.yaml"
                if isinstance(name, str):
                    deps.add(repo / name)
        return sorted(p for p in deps if p not in outs and p not in data and p.is_file())
