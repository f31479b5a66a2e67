"""How many of the reference's outputs the engine reaches on the histories we hold.

For every commit of the reference histories (tests/fixtures/reference) that carries a bundle,
the history is replayed into a temporary git repository and:

- conformance: `sei conformance --out DIR` is run on the replay as it is (the reference's own
  evidence in `.venth/` or `.froga/`, before any run of ours), and each clause's decision and
  measures are compared with the reference's conformance file of that commit;
- bundle: `sei run --no-repro` is run, and the bundle's fields are compared with the
  reference's (`tests/test_oracle_bundles.FIELDS`), as are each risk's priority and cycle.

Usage: .venv/bin/python bench/reference_match.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="sei-match-"))
    os.environ.update(
        XDG_CONFIG_HOME=str(home / "config"),
        SEI_KNOWN_KEYS=str(home / "known.json"),
        SEI_SIGNING_KEY=str(home / "key.pem"),
        SEI_STATE_DIR=str(home / "state"),
        DAGSTER_HOME=str(home / "dagster"),
    )
    (home / "dagster").mkdir()
    from typer.testing import CliRunner

    from sei_assets.cli import app
    from tests.reference import replay
    from tests.test_oracle_bundles import FIELDS, RUNS, _mapped

    runner = CliRunner()
    bundles = fields = fields_ok = bundles_ok = clauses = clauses_ok = refused = 0
    for name, index, evidence in RUNS:
        repo = home / f"{name}-{index}"
        mapping = replay(name, repo, upto=index)
        out = home / f"conf-{name}-{index}"
        docs = sorted((repo / evidence / "conformance").glob("*.json"))
        if docs:
            args = ["conformance", "--repo", str(repo), "--out", str(out)]
            for doc in docs:
                standard = json.loads(doc.read_text())["payload"]["standard"]
                args += ["--standard", standard]
            result = runner.invoke(app, args)
            refused += result.exit_code != 0
            for doc in docs:
                theirs = json.loads(doc.read_text())["payload"]["clauses"]
                ours_path = out / doc.name
                ours = (
                    json.loads(ours_path.read_text())["payload"]["clauses"]
                    if (ours_path.is_file())
                    else []
                )
                mine = {c["clause_id"]: (c["decision"], c["measures"]) for c in ours}
                for c in theirs:
                    clauses += 1
                    same = mine.get(c["clause_id"]) == (c["decision"], c["measures"])
                    clauses_ok += same
                    if not same:
                        print(
                            f"clause miss {name}@{index} {doc.stem} {c['clause_id']}: "
                            f"ours {mine.get(c['clause_id'])}, reference {c['decision']}"
                        )
        reference = _mapped((repo / evidence / "bundle.json").read_text(), mapping)
        result = runner.invoke(app, ["run", "--repo", str(repo), "--no-repro"])
        refused += result.exit_code not in (0, 1)
        ours = _mapped((repo / ".sei" / "bundle.json").read_text(), mapping)
        bundles += 1
        matched = 0
        for key in FIELDS:
            mine = ours.get(key)
            if key == "control_results":
                mine = [{k: v for k, v in r.items() if k != "underpowered"} for r in mine]
            fields += 1
            same = mine == reference.get(key)
            matched += same
            if not same:
                print(f"field miss {name}@{index} {key}")
        fields_ok += matched
        bundles_ok += matched == len(FIELDS)
    print(f"bundles matching field by field: {bundles_ok}/{bundles} ({fields_ok}/{fields} fields)")
    print(f"conformance clauses matching: {clauses_ok}/{clauses}")
    print(f"runs refused: {refused}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
