"""Regenerate ``german_credit.csv`` from the original UCI ``german.data`` file.

Usage: ``python data/build_csv.py /path/to/german.data [output.csv]``

The UCI file is space-separated with no header (1000 rows, 20 attributes and the class).
This script names the columns, keeps the coded values (A11, ...) unchanged, replaces the
class (1 = good, 2 = bad) with ``target`` (1 = good, 0 = bad) and derives ``gender`` from
attribute 9 (``personal_status_sex``). If the Croissant file sits next to the output, the
sha256 of its CSV FileObject is refreshed so that the two stay consistent.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

ATTRIBUTES: list[str] = [
    "checking_status",
    "duration_months",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "employment_since",
    "installment_rate",
    "personal_status_sex",
    "other_debtors",
    "residence_since",
    "property",
    "age_years",
    "other_installment_plans",
    "housing",
    "existing_credits",
    "job",
    "people_liable",
    "telephone",
    "foreign_worker",
]
COLUMNS: list[str] = [*ATTRIBUTES, "target", "gender"]
FEMALE_CODES = {"A92", "A95"}
MALE_CODES = {"A91", "A93", "A94"}
EXPECTED_ROWS = 1000
CROISSANT_NAME = "german_credit.croissant.json"


def derive_row(fields: list[str]) -> list[str]:
    """Turn one raw UCI row (21 values) into the published row."""
    if len(fields) != len(ATTRIBUTES) + 1:
        raise ValueError(f"expected {len(ATTRIBUTES) + 1} values, got {len(fields)}")
    *attributes, label = fields
    if label not in {"1", "2"}:
        raise ValueError(f"unexpected class value {label!r}")
    code = attributes[ATTRIBUTES.index("personal_status_sex")]
    if code in FEMALE_CODES:
        gender = "female"
    elif code in MALE_CODES:
        gender = "male"
    else:
        raise ValueError(f"unexpected personal_status_sex code {code!r}")
    return [*attributes, "1" if label == "1" else "0", gender]


def build(source: Path, output: Path) -> str:
    """Write the CSV and return its sha256 (hex)."""
    rows = [derive_row(line.split()) for line in source.read_text().splitlines() if line.strip()]
    if len(rows) != EXPECTED_ROWS:
        raise ValueError(f"expected {EXPECTED_ROWS} rows, got {len(rows)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return hashlib.sha256(output.read_bytes()).hexdigest()


def refresh_croissant(croissant: Path, csv_name: str, digest: str) -> bool:
    """Update the sha256 of the CSV FileObject in the Croissant file, if present."""
    if not croissant.exists():
        return False
    doc = json.loads(croissant.read_text(encoding="utf-8"))
    changed = False
    for item in doc.get("distribution", []):
        if item.get("contentUrl") == csv_name and item.get("sha256") != digest:
            item["sha256"] = digest
            changed = True
    if changed:
        croissant.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return changed


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    source = Path(argv[1])
    output = Path(argv[2]) if len(argv) == 3 else Path(__file__).with_name("german_credit.csv")
    digest = build(source, output)
    print(f"wrote {output} sha256={digest}")
    if refresh_croissant(output.with_name(CROISSANT_NAME), output.name, digest):
        print(f"updated sha256 in {CROISSANT_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
