"""The base of every evidence record: typed fields, unknown fields kept, key order kept.

Evidence is signed over its exact bytes, so a record read from disk and written back must give
the same bytes: the fields keep the order they were read (or built) in, fields that were
absent stay absent, unknown fields (a newer engine's, the reference's) are carried as they are,
and numbers keep their JSON type (an integer stays an integer).
"""

from __future__ import annotations

import json
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    model_serializer,
    model_validator,
)

#: A JSON number as read: an int stays an int, a float a float.
Number = int | float


class Record(BaseModel):
    """A JSON object of the evidence, typed where the engine knows its fields."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=False)
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: Any) -> Self:
        record: Self = handler(data)
        if isinstance(data, dict):
            record._order = tuple(data)
        return record

    @model_serializer(mode="wrap")
    def _in_order(self, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if not self._order:
            return out
        ordered = {k: out[k] for k in self._order if k in out}
        ordered.update((k, v) for k, v in out.items() if k not in ordered)
        return ordered

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data: the fields that were set, in their order."""
        return self.model_dump(mode="python", exclude_unset=True, by_alias=True)

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Self:
        """Parse a JSON document into this record (ValueError when it is not one, nested
        too deeply included)."""
        from sei_assets.core.jsonread import nesting_beyond
        from sei_assets.core.safeload import MAX_DEPTH

        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if nesting_beyond(text, MAX_DEPTH):
            raise ValueError(f"nesting deeper than {MAX_DEPTH} levels: expected a flatter document")
        return cls.model_validate(json.loads(text))
