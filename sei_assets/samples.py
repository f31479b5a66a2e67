"""A sample table to follow the tutorial with: `python -m sei_assets.samples applicants.csv`.

Synthetic loan applicants (no real person): age, income, region, sex and whether the
application was approved. Approval follows income, and income differs between the groups of
`sex`, so an untreated model selects the groups at different rates.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path


def applicants(path: Path, rows: int = 2000, seed: int = 11) -> Path:
    """Write the sample table to ``path`` (CSV); its path."""
    rng = random.Random(seed)
    lines = ["age,income,region,sex,approved"]
    for i in range(rows):
        sex = "F" if i % 2 else "M"
        income = rng.gauss(2650 if sex == "F" else 3150, 550)
        age = rng.randint(19, 72)
        approved = int(income + rng.gauss(0, 300) + 4 * (age - 45) > 2900)
        shown = "" if i % 97 == 0 else f"{income:.0f}"
        region = rng.choice(["north", "south", "east", "west"])
        lines.append(f"{age},{shown},{region},{sex},{approved}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "applicants.csv")
    print(f"wrote {applicants(target)}")
