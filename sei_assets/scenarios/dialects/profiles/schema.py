"""The JSON Schema of profile scenarios, built from the plane's answer fields, its routes and
the shipped profiles' actions (editors validate and complete scenario files with it).

    python -m sei_assets.scenarios.dialects.profiles.schema --write
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sei_assets.core.control.builtins import BUILTINS
from sei_assets.core.control.plane import ANSWER_FIELDS
from sei_assets.core.control.profile import GATE_TYPES, ROUTES, load_profile, profiles_dir
from sei_assets.core.exitcodes import ExitCode
from sei_assets.scenarios.dialects.profiles.model import SCHEMA_FILE, scenarios_dir

_ANSWER_TYPES: dict[str, Any] = {
    "status": {"enum": ["ok", "nok"]},
    "route": {"enum": list(ROUTES)},
    "gate_id": {"type": ["string", "null"]},
    "gate_type": {"enum": [*GATE_TYPES, None]},
    "reason": {"type": ["string", "null"]},
    "missing_artifacts": {"type": "array", "items": {"type": "string"}},
    "completion_report_exists": {"type": "boolean"},
    "idempotent_replay": {"type": "boolean"},
}


def build_schema() -> dict[str, Any]:
    """The schema: the seed's shape, actions and profile ids of the shipped profiles."""
    profiles = [load_profile(p) for p in sorted(profiles_dir().glob("*.yaml"))]
    actions = sorted({a for p in profiles for a in p.profile.actions} | set(BUILTINS))
    step = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "action", "actor", "payload", "expectation"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "action": {"enum": actions},
            "actor": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "role"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "role": {"type": "string", "minLength": 1},
                },
            },
            "payload": {"type": "object"},
            "idempotency_key": {"type": "string", "minLength": 1},
            "expectation": {
                "type": "object",
                "additionalProperties": False,
                "required": ["status", "route"],
                "properties": {f: _ANSWER_TYPES[f] for f in ANSWER_FIELDS},
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sei-assets process-profile scenario (seed 002)",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "profile_id", "profile_version", "steps"],
        "properties": {
            "$schema": {"type": "string"},
            "id": {"type": "string", "minLength": 1},
            "class": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "profile_id": {"enum": sorted(p.profile.id for p in profiles)},
            "profile_version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
            "system": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "resources": {"type": "string"},
                    "files": {"type": "object", "additionalProperties": {"type": "string"}},
                    "roster": {
                        "description": "The organisation's people and roles, trusted in the "
                        "scenario's sandbox (with no roster trusted, no decision counts)",
                        "type": "object",
                        "additionalProperties": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"enum": ["management", "risk_owner"]},
                        },
                    },
                },
            },
            "steps": {"type": "array", "minItems": 1, "items": step},
        },
    }


def render(schema: dict[str, Any]) -> str:
    """The schema file's exact text."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def schema_path() -> Path:
    """`scenarios/profiles/profile_scenario.schema.json`."""
    return scenarios_dir() / SCHEMA_FILE


def main(argv: list[str] | None = None) -> int:
    """Print the schema, or write it with ``--write``."""
    parser = argparse.ArgumentParser(prog="profiles.schema")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    text = render(build_schema())
    if args.write:
        schema_path().write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
