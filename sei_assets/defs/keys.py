"""Asset and check naming: one place for how a system's keys are spelled."""

from __future__ import annotations

import re

import dagster as dg


def system_key(system: str, *leaf: str) -> dg.AssetKey:
    """The key of one of a system's assets: ``[system, *leaf]``."""
    return dg.AssetKey([system, *leaf])


def check_name(control_id: str) -> str:
    """A control id as a Dagster check name (letters, digits and underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", control_id)


def system_slug(name: str) -> str:
    """A system name as an asset-key prefix (what `systems.yaml` names must already be)."""
    slug = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return slug if slug[:1].isalpha() else f"s_{slug}"
