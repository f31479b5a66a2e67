"""`sei standards` and `sei metrics`: the catalogues a manifest can cite and the metric naming
rules, listed from the shipped knowledge (nothing to read in the package's files)."""

from __future__ import annotations

from typing import Annotated

import typer

from sei_assets.core.errors import SeiError


def standards(
    standard: Annotated[
        str | None,
        typer.Argument(help="A standard id (e.g. iso/23894@2023): list its clauses."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The standards a manifest can name in `context.applicable_standards`, and their clause
    ids, cited as `<standard>#<clause>` (in `treat[].controls`, `standard_clauses`,
    `frameworks`)."""
    from sei_assets.cli import _emit_json, _fail, out
    from sei_assets.core import knowledge

    catalogues = [knowledge.standard_catalogue(s) for s in knowledge.standard_slugs()]
    found = [c for c in catalogues if c]
    if standard is not None:
        chosen = next((c for c in found if c["standard"] == standard), None)
        if chosen is None:
            ids = ", ".join(c["standard"] for c in found)
            _fail(SeiError(f"standard {standard!r}: no catalogue (known: {ids})"))
        found = [chosen]
    if as_json:
        _emit_json(
            [
                {
                    "standard": c["standard"],
                    "title": c["title"],
                    "clauses": [
                        {"id": k["id"], "cite": f"{c['standard']}#{k['id']}", "title": k["title"]}
                        for k in c["clauses"]
                    ],
                }
                for c in found
            ]
        )
        return
    if standard is None:
        width = max(len(c["standard"]) for c in found)
        for c in found:
            out.print(
                f"{c['standard']:{width}s}  {len(c['clauses']):3d} clauses  {c['title']}",
                markup=False,
            )
        out.print(
            "cite a clause as <standard>#<clause>; `sei standards <standard>` lists them",
            markup=False,
        )
        return
    for k in found[0]["clauses"]:
        out.print(f"{found[0]['standard']}#{k['id']}  {k['title']}", markup=False)


def metrics(
    name: Annotated[str | None, typer.Argument(help="A metric name: which domain it gets.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The metric naming rules: a measure's `metric` name gives its domain by the first pattern
    it matches (a value outside the domain fails its control closed); a name that matches none
    has no declared domain."""
    from sei_assets.cli import _emit_json, out
    from sei_assets.core import knowledge

    domains = knowledge.metric_domains()
    if name is not None:
        found = knowledge.metric_domain(name)
        if as_json:
            _emit_json(
                {
                    "metric": name,
                    "pattern": found.pattern if found else None,
                    "domain": found.describe() if found else None,
                }
            )
            return
        if found is None:
            out.print(
                f"{name}: matches no pattern: no declared domain (any finite number); "
                "name it after its kind (e.g. recall_score, parity_diff, missing_rate)",
                markup=False,
            )
        else:
            out.print(f"{name}: {found.describe()} (pattern {found.pattern})", markup=False)
        return
    if as_json:
        _emit_json([{"pattern": d.pattern, "domain": d.describe()} for d in domains])
        return
    width = max(len(d.pattern) for d in domains)
    for d in domains:
        out.print(f"{d.pattern:{width}s}  {d.describe()}", markup=False)
    out.print(
        "the first pattern that matches a metric's name decides; no match: no declared domain",
        markup=False,
    )
