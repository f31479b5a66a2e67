"""Write (or check) the JSON Schemas of the evidence models: `python -m sei_assets.core.model
--write` refreshes `schemas/`; without `--write` it exits 1 when a file is out of date."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from sei_assets.core.exitcodes import ExitCode
from sei_assets.core.model import (
    BacklogDoc,
    Bundle,
    ConformanceDoc,
    ImpactDoc,
    ReconstructDoc,
    SweepReport,
)
from sei_assets.core.paths import project_root

MODELS: dict[str, type[BaseModel]] = {
    "bundle": Bundle,
    "conformance": ConformanceDoc,
    "reconstruct": ReconstructDoc,
    "impact": ImpactDoc,
    "risk_backlog": BacklogDoc,
    "sweep": SweepReport,
}


def schemas_dir() -> Path:
    """Where the generated schemas ship."""
    return project_root() / "schemas"


def render(name: str) -> str:
    """The JSON Schema text of one model."""
    schema = MODELS[name].model_json_schema(mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://sei-assets.example/schemas/{name}.schema.json",
        **schema,
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name in MODELS:
        path = schemas_dir() / f"{name}.schema.json"
        text = render(name)
        if "--write" in argv:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path.name)
    if stale:
        print(f"out of date: {', '.join(stale)} (run with --write)", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
