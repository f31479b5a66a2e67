"""`sei standards` and `sei metrics`: what a manifest can cite, listed without reading files."""

from __future__ import annotations

import json

from sei_assets.core import knowledge


def test_standards_lists_every_catalogue_and_its_clauses(sei) -> None:
    listed = sei("standards")
    assert listed.exit_code == 0
    for slug in knowledge.standard_slugs():
        catalogue = knowledge.standard_catalogue(slug)
        assert catalogue["standard"] in listed.stdout
    one = sei("standards", "iso/23894@2023", "--json")
    (doc,) = json.loads(one.stdout)
    cites = [c["cite"] for c in doc["clauses"]]
    assert "iso/23894@2023#6.4.4" in cites
    text = sei("standards", "eu/ai-act@2024").stdout
    assert "eu/ai-act@2024#art-15" in text
    unknown = sei("standards", "iso/9999@2000")
    assert unknown.exit_code == 2 and "known: eu/ai-act@2024" in unknown.stderr


def test_metrics_lists_the_naming_rules_and_answers_for_a_name(sei) -> None:
    listed = sei("metrics")
    assert listed.exit_code == 0 and "*_score" in listed.stdout and "*_diff" in listed.stdout
    assert "matches no pattern" in sei("metrics", "recall").stdout
    found = json.loads(sei("metrics", "recall_score", "--json").stdout)
    assert found == {"metric": "recall_score", "pattern": "*_score", "domain": "score in [0, 1]"}
