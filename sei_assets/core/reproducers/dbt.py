"""dbt on DuckDB (category 4, lakehouse / tables): `dbt build`, then the evaluation.

The system ships a dbt project in ``dbt_project/`` (``dbt_project.yml``, ``profiles.yml`` with
a DuckDB database inside the folder, models, tests) and ``dbt_project/evaluate.py``, which
computes the metrics file from the tables. The reproducer runs, in that folder,
``dbt build --profiles-dir . --no-use-colors`` (models and their tests: a failing test fails
the build), then ``python evaluate.py``. The lock digest anchors both halves of what ran:
the dbt manifest (``target/manifest.json`` as the build left it, without its timestamps and
invocation ids) and the content of every table of the database (rows in a stable order,
with column names and types). The build's results (models, tests, row counts, the manifest
digest) are recorded in ``dbt_project/last_run.json``.

``prepare_manifest`` builds the dbt manifest that `sei_assets.defs.dbt` loads through dagster-dbt.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import yaml

from sei_assets.core.reproducers.base import (
    OFFLINE_ENV,
    ReproducerError,
    canonical_json,
    code_files,
    digest_bytes,
    read_record,
    require_file,
    run_tool,
    write_record,
)

PROJECT = "dbt_project"
EVALUATION = "evaluate.py"
RECORD = "last_run.json"
# Build products and state inside the project folder: not part of the pipeline definition.
_NOT_DEFINITION = {"target", "logs", "dbt_packages", ".user.yml"}
_DEFINITION_SUFFIXES = {".sql", ".py", ".yml", ".yaml", ".md"}
# Manifest keys that change on every invocation without the pipeline changing.
_VOLATILE_METADATA = (
    "generated_at",
    "invocation_id",
    "invocation_started_at",
    "run_started_at",
    "env",
    "user_id",
)


class DbtReproducer:
    """Build the system's dbt project on DuckDB, then evaluate from its tables."""

    tool = "dbt"
    executable = "dbt"

    def reproduce(self, repo: Path, pipeline: dict[str, Any]) -> str:
        project = repo / PROJECT
        require_file(project / "dbt_project.yml", self.tool, "the dbt project")
        require_file(project / "profiles.yml", self.tool, "the dbt profiles of the project")
        require_file(project / EVALUATION, self.tool, "the evaluation of the dbt tables")
        database = database_path(project)
        build = run_tool(
            self.tool,
            [self.executable, "build", "--profiles-dir", ".", "--no-use-colors"],
            project,
            env=OFFLINE_ENV,
        )
        evaluation = run_tool(self.tool, ["python", EVALUATION], project, env=OFFLINE_ENV)
        record = {
            **_run_results(project),
            "manifest_digest": manifest_digest(project),
            "tables": table_digests(database),
        }
        write_record(project / RECORD, record)
        return f"{build}\n{evaluation}".strip()

    def lock_digest(self, repo: Path, pipeline: dict[str, Any]) -> str:
        project = repo / PROJECT
        record = read_record(project / RECORD, self.tool, "the record of the last build")
        if not isinstance(record.get("manifest_digest"), str):
            raise ReproducerError(f"dbt: {project / RECORD} lacks the manifest digest")
        anchored = {
            # The manifest as `dbt build` left it (a later `dbt parse` rewrites the file).
            "manifest": record["manifest_digest"],
            # The tables as they are now: what the evaluation read.
            "tables": {
                name: table["digest"]
                for name, table in table_digests(database_path(project)).items()
            },
        }
        return digest_bytes(canonical_json(anchored))

    def details(self, repo: Path, pipeline: dict[str, Any]) -> dict[str, Any]:
        """The dbt invocation, its models and tests, and the tables it left (rows, digests)."""
        record = read_record(repo / PROJECT / RECORD, self.tool, "the record of the last build")
        return {
            "dbt_invocation_id": record.get("invocation_id"),
            "dbt_manifest_digest": record.get("manifest_digest"),
            "dbt_results": record.get("results", {}),
            "tables": record.get("tables", {}),
        }

    def treatment_files(self, repo: Path, pipeline: dict[str, Any], data: set[Path]) -> list[Path]:
        project = repo / PROJECT
        definition = [
            p
            for p in project.rglob("*")
            if p.is_file()
            and p.suffix in _DEFINITION_SUFFIXES
            and p.name != RECORD
            and not _NOT_DEFINITION.intersection(p.relative_to(project).parts)
        ]
        return code_files(repo, pipeline, definition, data)


def database_path(project: Path) -> Path:
    """The DuckDB file the project's profile writes (a plain path, relative to the project)."""
    config = _yaml(project / "dbt_project.yml")
    profiles = _yaml(project / "profiles.yml")
    profile = profiles.get(config.get("profile", ""))
    if not isinstance(profile, dict):
        raise ReproducerError(
            f"dbt: {project / 'profiles.yml'} has no profile '{config.get('profile')}'"
        )
    output = (profile.get("outputs") or {}).get(profile.get("target", "dev")) or {}
    path = output.get("path")
    if output.get("type") != "duckdb" or not isinstance(path, str) or "{{" in path:
        raise ReproducerError(
            f"dbt: the profile '{config.get('profile')}' must be a DuckDB target with a plain "
            f"`path` inside the project (found type={output.get('type')!r}, path={path!r})"
        )
    return (project / path).resolve()


def manifest_digest(project: Path) -> str:
    """sha256 of dbt's manifest, canonical, without what changes on every invocation."""
    path = project / "target" / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReproducerError(
            f"dbt: {path} does not exist: the project has not been built"
        ) from None
    except (OSError, ValueError) as exc:
        raise ReproducerError(f"dbt: {path} is not valid JSON: {exc}") from None
    for key in _VOLATILE_METADATA:
        manifest.get("metadata", {}).pop(key, None)
    return digest_bytes(canonical_json(_without(manifest, "created_at")))


def table_digests(database: Path) -> dict[str, dict[str, Any]]:
    """Per table of the database: row count and sha256 of its columns and sorted rows."""
    if not database.is_file():
        raise ReproducerError(f"dbt: the database {database} does not exist: nothing was built")
    import duckdb

    out: dict[str, dict[str, Any]] = {}
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            tables = con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE' order by 1, 2"
            ).fetchall()
            for schema, name in tables:
                relation = con.sql(f'select * from "{schema}"."{name}" order by all')
                rows = relation.fetchall()
                content = {
                    "columns": [
                        [c, str(t)] for c, t in zip(relation.columns, relation.types, strict=True)
                    ],
                    "rows": [[_plain(v) for v in row] for row in rows],
                }
                key = name if schema == "main" else f"{schema}.{name}"
                out[key] = {"rows": len(rows), "digest": digest_bytes(canonical_json(content))}
    except duckdb.Error as exc:
        raise ReproducerError(f"dbt: cannot read the tables of {database}: {exc}") from None
    return out


def _run_results(project: Path) -> dict[str, Any]:
    path = project / "target" / "run_results.json"
    doc = read_record(path, "dbt", "dbt's run results")
    results = {r["unique_id"]: r.get("status") for r in doc.get("results", [])}
    return {"invocation_id": doc.get("metadata", {}).get("invocation_id"), "results": results}


def _yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ReproducerError(f"dbt: cannot read {path}: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def _without(value: Any, key: str) -> Any:
    """``value`` with every mapping entry named ``key`` removed, recursively."""
    if isinstance(value, dict):
        return {k: _without(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [_without(v, key) for v in value]
    return value


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON data (exact: decimals and dates as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal | dt.date | dt.datetime | dt.time | bytes):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def prepare_manifest(repo: Path) -> Path:
    """Build the dbt project's manifest (`dbt parse`, what `dagster-dbt project
    prepare-and-package` runs at build time); return its path. Called when a system is seeded
    or deployed, never when the definitions load."""
    project_dir = (Path(repo) / PROJECT).resolve()
    require_file(project_dir / "dbt_project.yml", "dbt", "the dbt project")
    run_tool(
        "dbt",
        ["dbt", "parse", "--quiet", "--profiles-dir", ".", "--target-path", "target"],
        project_dir,
        env=OFFLINE_ENV,
    )
    return project_dir / "target" / "manifest.json"
