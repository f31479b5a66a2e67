"""`sei dossier` and `sei soa`: documents for people, from the signed evidence.

Exit codes of `sei dossier`: 0 the HTML and the PDF written and signed; 1 the HTML written and
signed but no PDF (the reason is printed: no Chromium, or it failed; `--no-pdf` asks for none
and exits 0); 2 bad input (no evidence, a malformed manifest entry); 3 internal error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sei_assets.core.exitcodes import verdict_code

RepoArg = Annotated[Path, typer.Argument(help="The AI system's repository.", show_default=".")]
RepoOpt = Annotated[
    Path | None, typer.Option("--repo", help="The AI system's repository (as REPO).")
]


def dossier(
    repo: RepoArg = Path("."),
    repo_opt: RepoOpt = None,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write the HTML only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Write the auditor's dossier into the evidence set: EU AI Act Annex IV (nine points),
    the ISO/IEC 42001 Statement of Applicability, a model card, the declaration of conformity
    draft and the open points, as one offline HTML file and its PDF, signed and indexed."""
    from sei_assets.cli import _call, _emit_json, err, out
    from sei_assets.core.documents.dossier import build

    done = _call(build, repo_opt or repo, pdf=not no_pdf)
    code = verdict_code(done.pdf is not None or no_pdf)
    if as_json:
        _emit_json(
            {
                "html": str(done.html),
                "pdf": str(done.pdf) if done.pdf else None,
                "pdf_not_made": done.pdf_reason if not no_pdf else None,
                "soa": str(done.soa),
                "gate": done.gate,
                "open_points": [
                    {"kind": p["kind"], "text": p["text"], "close": p["close"]}
                    for p in done.open_points
                ],
            }
        )
        raise typer.Exit(code)
    out.print(f"dossier: {done.html} (signed)")
    if done.pdf:
        out.print(f"pdf: {done.pdf} (signed)")
    elif not no_pdf:
        err.print(f"warning: the PDF was not made: {done.pdf_reason}", markup=False)
    out.print(f"statement of applicability: {done.soa} (signed)")
    out.print(f"gate {done.gate}; {len(done.open_points)} open points")
    for p in done.open_points:
        out.print(f"  open ({p['kind']}): {p['text']}", markup=False)
    raise typer.Exit(code)


def soa(
    repo: RepoArg = Path("."),
    repo_opt: RepoOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The ISO/IEC 42001 Statement of Applicability (6.1.3): every Annex A control, applicable
    or excluded (risk.applicability), implemented by which measures and evidence; signed."""
    from sei_assets.cli import _call, _emit_json, out
    from sei_assets.core.documents.dossier import write_soa

    doc, path = _call(write_soa, repo_opt or repo)
    if as_json:
        _emit_json({"file": str(path), **doc})
        return
    p = doc["payload"]
    for c in p["controls"]:
        line = f"{c['id']:<8} {c['status']:<16} {c['title']}"
        if not c["applicable"]:
            line += f" — excluded: {c['justification']}"
        elif c["to_close"]:
            line += f" — to close: {c['to_close']}"
        out.print(line, markup=False)
    summary = ", ".join(f"{n} {k}" for k, n in p["summary"].items())
    out.print(f"{len(p['controls'])} Annex A controls: {summary} → {path} (signed)")


def attest(
    measure: Annotated[str, typer.Argument(help="The manual measure's id.")],
    by: Annotated[str, typer.Option("--by", help='Who attests: "Name <email>".')],
    evidence: Annotated[
        Path, typer.Option("--evidence", help="The file that shows it (inside the repository).")
    ],
    note: Annotated[str | None, typer.Option("--note", help="What was checked.")] = None,
    repo: Annotated[Path, typer.Option("--repo", help="The AI system's repository.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Attest a manual measure (evaluation: manual): who, when, the file and its sha256, signed
    into the evidence set. It stays current until the file or the manifest changes."""
    from sei_assets.cli import _call, _emit_json, out
    from sei_assets.core.attest import attest as record

    doc, path = _call(record, repo, measure, by, evidence, note)
    if as_json:
        _emit_json({"file": str(path), **doc})
        return
    p = doc["payload"]
    out.print(
        f"attested {p['measure']} by {p['by']} at {p['at']}: {p['evidence']['path']} "
        f"(sha256 {p['evidence']['sha256'][:12]}…) → {path} (signed)",
        markup=False,
    )
