"""DVC stage ``featurize``: load German Credit through Croissant and one-hot encode it.

The records are read with ``mlcroissant`` from ``data/german_credit.croissant.json`` (not from
the CSV directly), so the training data is the Croissant-described data set (EU AI Act
Annex IV §2). Output: ``data/features.parquet`` with the numeric columns, one indicator
column per category (``column=code``), the protected attribute ``gender`` and ``target``.
"""

from __future__ import annotations

from pathlib import Path

import mlcroissant as mlc
import pandas as pd

HERE = Path(__file__).resolve().parent
CROISSANT = HERE / "data" / "german_credit.croissant.json"
OUTPUT = HERE / "data" / "features.parquet"
RECORD_SET = "applications"
SENSITIVE = "gender"
TARGET = "target"
TEXT_TYPE = "https://schema.org/Text"


def _decode(value: object) -> object:
    """Return ``str`` for the ``bytes`` values mlcroissant yields for text fields."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def load_records(croissant: Path = CROISSANT) -> tuple[pd.DataFrame, list[str]]:
    """Load the record set as a DataFrame; also return the names of the text fields."""
    dataset = mlc.Dataset(jsonld=str(croissant))
    record_set = next(rs for rs in dataset.metadata.record_sets if rs.name == RECORD_SET)
    names = [field.name for field in record_set.fields]
    text_fields = [
        field.name for field in record_set.fields if TEXT_TYPE in {str(t) for t in field.data_types}
    ]
    prefix = f"{RECORD_SET}/"
    rows = [
        {key.removeprefix(prefix): _decode(value) for key, value in record.items()}
        for record in dataset.records(RECORD_SET)
    ]
    frame = pd.DataFrame(rows, columns=names)
    return frame, text_fields


def encode(frame: pd.DataFrame, text_fields: list[str]) -> pd.DataFrame:
    """One-hot encode the categorical fields; keep numerics, ``gender`` and ``target``."""
    categorical = [name for name in text_fields if name != SENSITIVE]
    numeric = [name for name in frame.columns if name not in text_fields and name != TARGET]
    dummies = pd.get_dummies(frame[categorical], prefix_sep="=", dtype="int8")
    dummies = dummies[sorted(dummies.columns)]
    out = pd.concat(
        [frame[numeric].astype("int64"), dummies, frame[[SENSITIVE]].astype(str)], axis=1
    )
    out[TARGET] = frame[TARGET].astype("int64")
    return out


def main() -> None:
    """Write ``data/features.parquet``."""
    frame, text_fields = load_records()
    features = encode(frame, text_fields)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    features.to_parquet(OUTPUT, index=False)
    print(f"featurize: {len(features)} rows, {features.shape[1]} columns -> {OUTPUT.name}")


if __name__ == "__main__":
    main()
