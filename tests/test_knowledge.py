"""Registry and knowledge catalogues are validated when read (pydantic), with located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sei_assets.core import knowledge
from sei_assets.core.errors import SeiError
from sei_assets.core.registry import load_registry


def test_every_shipped_catalogue_validates() -> None:
    assert len(knowledge.standard_slugs()) >= 9
    for slug in knowledge.standard_slugs():
        cat = knowledge.standard_catalogue(slug)
        assert cat["clauses"] and cat["standard"]
    assert knowledge.authorities()["articles"]
    assert len(knowledge.risk_catalogue()["risks"]) >= 20


def test_a_malformed_catalogue_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text(
        yaml.safe_dump({"standard": "x/y@1", "title": "X", "clauses": [{"id": "1", "title": "t"}]})
    )
    with pytest.raises(SeiError, match=r"x\.yaml: clauses\.0\.cycle_phase: Field required"):
        knowledge.validate_file(bad, knowledge.StandardCatalogue)


@pytest.mark.parametrize(
    "systems,message",
    [
        ([{"name": "loan", "repo": "a", "sede": "b"}], r"systems\[0\]\.sede: unknown key"),
        ([{"name": "1loan", "repo": "a"}], r"systems\[0\]\.name: must be letters"),
        ([{"name": "loan"}], r"systems\[0\]\.repo: Field required"),
        ([{"name": "a", "repo": "x"}, {"name": "a", "repo": "y"}], r"registered twice"),
    ],
)
def test_registry_errors_are_located(tmp_path: Path, systems: list, message: str) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": systems}))
    with pytest.raises(SeiError, match=message) as info:
        load_registry(path)
    assert str(path) in str(info.value)


def test_registry_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": [{"name": "loan", "repo": "repos/loan"}]}))
    (entry,) = load_registry(path)
    assert entry.repo == (tmp_path / "repos" / "loan").resolve()


def test_croissant_is_validated_on_the_run_path(tmp_path: Path) -> None:
    """mlcroissant validates the dataset description; what it finds in a document whose
    identity and data are known is returned as warnings, each naming what it found."""
    import json

    from sei_assets.core.croissant import validate_croissant

    loan = Path(__file__).resolve().parent.parent / "resources" / "loan" / "data"
    good = loan / "german_credit.croissant.json"
    assert validate_croissant(good) == []
    doc = json.loads(good.read_text())
    del doc["name"]
    doc["recordSet"][0]["field"][0]["dataType"] = "sc:NotAType"
    bad = tmp_path / "bad.croissant.json"
    bad.write_text(json.dumps(doc))
    warnings = validate_croissant(bad)
    assert warnings and any("dataType" in w for w in warnings)


def test_croissant_validation_leaves_no_handler_on_a_closed_stream() -> None:
    """mlcroissant's log handlers bind stderr at import; validating under a temporary stderr
    (a captured test, a CLI runner) must not leave them writing to it once it is closed."""
    import io
    import logging
    import sys

    from absl import logging as absl_logging

    from sei_assets.core.croissant import validate_croissant

    loan = Path(__file__).resolve().parent.parent / "resources" / "loan" / "data"
    saved, temporary = sys.stderr, io.StringIO()
    sys.stderr = temporary
    try:
        validate_croissant(loan / "german_credit.croissant.json")
    finally:
        sys.stderr = saved
    temporary.close()
    handlers = [absl_logging.get_absl_handler().python_handler, *logging.root.handlers]
    handlers += [
        h for lg in logging.root.manager.loggerDict.values() for h in getattr(lg, "handlers", [])
    ]
    assert not any(getattr(h, "stream", None) is temporary for h in handlers)
