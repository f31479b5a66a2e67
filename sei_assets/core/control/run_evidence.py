"""The evidence hook of the plane: ``python -m sei_assets.core.control.run_evidence --repo R``.

The engine's own `sei run` (compile, reproduce unless ``--no-repro``, evaluate, sign), without the
Dagster front, so a hook stays a plain command. Exit 0 green, 1 red, 2 bad input (`ExitCode`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sei_assets.core.errors import SeiError


def main(argv: list[str] | None = None) -> int:
    """Run the evidence of one repository; print the gate."""
    parser = argparse.ArgumentParser(prog="run_evidence")
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--no-repro", action="store_true")
    args = parser.parse_args(argv)
    from sei_assets.core.engine import run

    try:
        outcome = run(args.repo, repro=not args.no_repro)
    except SeiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"gate: {outcome.gate}")
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
