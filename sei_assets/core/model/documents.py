"""Signed documents beside the bundle: one envelope, a typed payload per kind.

Conformance, reconstruct, impact and risk backlog share the reference's envelope
`{schema_version, kind, system, payload}`; the sweep report is this engine's own.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sei_assets.core.model.base import Record


class Clause(Record):
    """One clause of a standard and the decision the evidence supports."""

    clause_id: str
    title: str | None = None
    decision: str
    basis: Any = None
    measures: list[str] = Field(default_factory=list)


class ConformancePayload(Record):
    """A standard's clauses, each with its decision."""

    standard: str | None = None
    clauses: list[Clause] = Field(default_factory=list)


class Finding(Record):
    """A finding of the impact assessment (e.g. an unaddressed misuse)."""

    id: str | None = None


class ImpactPayload(Record):
    """Affected persons, decisions, foreseeable misuse and findings."""

    findings: list[Finding] = Field(default_factory=list)


class Proposal(Record):
    """A risk the manifest does not declare, proposed from the knowledge catalogue."""

    id: str


class BacklogPayload(Record):
    """The proposed risks."""

    proposals: list[Proposal] = Field(default_factory=list)


class ReconstructPayload(Record):
    """The risk cycle replayed from git history."""

    snapshots: list[dict[str, Any]] = Field(default_factory=list)
    lifecycle: dict[str, Any] = Field(default_factory=dict)
    treatment_arcs: list[dict[str, Any]] | None = None


class Document(Record):
    """The envelope of a signed document."""

    schema_version: int | str | None = None
    kind: str
    system: Any = None
    payload: Record


class ConformanceDoc(Document):
    payload: ConformancePayload


class ImpactDoc(Document):
    payload: ImpactPayload


class BacklogDoc(Document):
    payload: BacklogPayload


class ReconstructDoc(Document):
    payload: ReconstructPayload


class SweepReport(Record):
    """The compliance sweep's signed report."""

    kind: str
    generated_at: str
    totals: dict[str, int] = Field(default_factory=dict)
    systems: list[dict[str, Any]] = Field(default_factory=list)
