"""Means of conformance: per EU AI Act article, which sources (standards, clauses) evidence it,
and whether the compiled controls that cite it pass with enough power.
"""

from __future__ import annotations

from typing import Any

from sei_assets.core.controls import ControlResult
from sei_assets.core.manifest import Manifest


def _authorities() -> dict[str, Any]:
    from sei_assets.core.knowledge import authorities

    return authorities()


def authority(standard_id: str) -> str | None:
    """The authority of a standard id such as `iso/23894@2023`, or None for regulations."""
    for rule in _authorities()["prefixes"]:
        if standard_id.startswith(rule["prefix"]):
            found: str = rule["authority"]
            return found
    return None


POST_MARKET_FROM = 72  # EU AI Act Chapter IX (post-market monitoring, incidents) starts here


def _article_key(article: str) -> tuple[int, int, str]:
    """The order of the list: the requirements for high-risk systems and any other article the
    measures cite (by number, then named ones such as `ext`), post-market articles last."""
    if not article.isdigit():
        return (0, 10**6, article)
    number = int(article)
    return (1 if number >= POST_MARKET_FROM else 0, number, "")


def means_of_conformance(manifest: Manifest, results: list[ControlResult]) -> list[dict[str, Any]]:
    """The bundle's `means_of_conformance`, one entry per article."""
    data = _authorities()
    ranking = data["ranking"]
    articles = set(data["articles"])
    cited: dict[str, list[str]] = {}
    for _risk, measure in manifest.measures:
        if measure.article:
            articles.add(measure.article)
            cited.setdefault(measure.article, []).extend(
                [*measure.frameworks, *measure.standard_clauses]
            )
    out = []
    for article in sorted(articles, key=_article_key):
        mine = [r for r in results if r.control.article == article]
        confirmed = [r for r in mine if r.passed and not r.underpowered]
        sources: dict[str, list[str]] = {}
        for clause in cited.get(article, []):
            sources.setdefault(clause.split("#", 1)[0], []).append(clause)
        if mine:
            status = "covered" if len(confirmed) == len(mine) else "partial"
        else:
            status = "declared" if sources else "gap"
        entry: dict[str, Any] = {"article": article, "status": status}
        if sources:
            listed = []
            for sid in sorted(sources):
                src: dict[str, Any] = {"id": sid}
                if authority(sid):
                    src["authority"] = authority(sid)
                src["clauses"] = sources[sid]
                listed.append(src)
            entry["sources"] = listed
            found = [s["authority"] for s in listed if "authority" in s]
            if found:
                entry["highest_authority"] = min(found, key=ranking.index)
        best = entry.get("highest_authority")
        entry["presumption"] = status == "covered" and best in data["presumption"]
        entry["control_count"] = len(mine)
        entry["passed_count"] = len(confirmed)
        out.append(entry)
    return out


def post_market_measures(manifest: Manifest) -> list[dict[str, Any]]:
    """The measures of the post-market monitoring (Art. 72): those with a post-market lifecycle
    stage or a post-market plan, with the plan's fields where declared."""
    out = []
    for _r, m in manifest.measures:
        if not m.is_post_market:
            continue
        entry: dict[str, Any] = {
            "id": m.id,
            "metric": m.metric,
            "article": m.article,
            "standard_clauses": list(m.standard_clauses),
        }
        if m.plan is not None:
            entry.update(m.plan.to_json())
        out.append(entry)
    return out
