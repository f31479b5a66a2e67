"""Typed evidence: the bundle and every signed document, as pydantic models.

`Record` keeps field order, absent fields and unknown fields, so that a document read and
written back has the same bytes (its signature still verifies). The JSON Schema of these
models ships in `schemas/` (`python -m sei_assets.core.model --write`).
"""

from sei_assets.core.model.base import Record
from sei_assets.core.model.bundle import Bundle, ControlResult, RiskAssessment
from sei_assets.core.model.documents import (
    BacklogDoc,
    ConformanceDoc,
    Document,
    ImpactDoc,
    ReconstructDoc,
    SweepReport,
)

__all__ = [
    "BacklogDoc",
    "Bundle",
    "ConformanceDoc",
    "ControlResult",
    "Document",
    "ImpactDoc",
    "ReconstructDoc",
    "Record",
    "RiskAssessment",
    "SweepReport",
]
