"""`sei log`: the transparency log's signed tree head, to publish or to compare."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sei_assets.core.errors import SeiError

log_app = typer.Typer(no_args_is_help=True, help="The transparency log of evidence and decisions.")


@log_app.command("head")
def head(
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the head here.")] = None,
) -> None:
    """Print the log's current signed tree head (one small JSON file to publish)."""
    from sei_assets.core import translog
    from sei_assets.core.fsutil import atomic_write

    try:
        doc = translog.read_head(translog.log_dir() / translog.HEAD)
    except SeiError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(exc.exit_code) from None
    text = json.dumps(doc, indent=2) + "\n"
    if out_file is not None:
        atomic_write(out_file, text)
    sys.stdout.write(text)
