"""Croissant read as the reference reads it: mlcroissant's findings and its own crashes are
warnings recorded in the bundle's data governance; only a document whose dataset identity or data
cannot be known is refused (exit 2, naming file, field and line)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sei_assets.core.croissant import data_governance, validate_croissant
from sei_assets.core.errors import ManifestError, SeiError

# A minimal @context (no @language: mlcroissant 1.1 raises KeyError on it), a FileObject typed
# with the cr: prefix, and an @id with a space: three shapes the reference reads and signs.
MINIMAL = {
    "@context": {
        "@vocab": "https://schema.org/",
        "sc": "https://schema.org/",
        "cr": "http://mlcommons.org/croissant/",
    },
    "@type": "sc:Dataset",
    "name": "tiny",
    "description": "a tiny data set",
    "license": "https://creativecommons.org/publicdomain/zero/1.0/",
    "url": "https://example.org/tiny",
    "distribution": [
        {
            "@type": "cr:FileObject",
            "@id": "rows file",
            "name": "rows file",
            "contentUrl": "rows.csv",
            "encodingFormat": "text/csv",
            "sha256": "0" * 64,
        }
    ],
    "recordSet": [
        {
            "@type": "cr:RecordSet",
            "@id": "rows",
            "name": "rows",
            "field": [
                {
                    "@type": "cr:Field",
                    "@id": "rows/a",
                    "name": "a",
                    "dataType": "sc:Integer",
                    "source": {"fileObject": {"@id": "rows file"}, "extract": {"column": "a"}},
                }
            ],
        }
    ],
}


def _strip(node: dict, *keys: str) -> None:
    for key in keys:
        del node[key]


def _write(tmp_path: Path, doc: object, name: str = "tiny.croissant.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=1))
    (tmp_path / "rows.csv").write_text("a\n1\n")
    return path


def test_validator_crash_on_minimal_context_is_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    warnings = validate_croissant(path)
    (only,) = warnings
    assert "mlcroissant could not read the document" in only and "@language" in only
    section = data_governance(path, warnings)
    assert section["warnings"] == warnings
    assert section["croissant_digest"].startswith("sha256:") and section["name"] == "tiny"
    assert section["record_set_count"] == 1


def test_reported_issues_are_warnings(tmp_path: Path) -> None:
    """With @language the validator reads the document and reports the @id with a space and
    the cr:FileObject type: findings, recorded, not a refusal."""
    doc = copy.deepcopy(MINIMAL)
    doc["@context"]["@language"] = "en"
    warnings = validate_croissant(_write(tmp_path, doc))
    assert warnings and all(w.startswith("mlcroissant: ") for w in warnings)
    assert any("whitespace" in w for w in warnings)
    doc["distribution"][0]["@id"] = doc["distribution"][0]["name"] = "rows.csv"
    doc["recordSet"][0]["field"][0]["source"]["fileObject"]["@id"] = "rows.csv"
    (typed,) = validate_croissant(_write(tmp_path, doc))
    assert "FileObject" in typed and "mlcommons.org/croissant/FileObject" in typed


def test_a_valid_document_has_no_warnings() -> None:
    good = (
        Path(__file__).resolve().parent.parent / "resources/loan/data/german_credit.croissant.json"
    )
    assert validate_croissant(good) == []
    assert "warnings" not in data_governance(good, [])


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda d: d.update({"@type": "sc:Movie"}), "@type"),
        (lambda d: d.pop("@type"), "@type"),
        (lambda d: d.pop("distribution"), "distribution"),
        (lambda d: d.update({"distribution": []}), "distribution"),
        (lambda d: _strip(d["distribution"][0], "contentUrl", "sha256"), "distribution[0]"),
        (lambda d: d.update({"distribution": ["rows.csv"]}), "distribution[0]"),
        (lambda d: d.update({"recordSet": [1, 2]}), "recordSet"),
    ],
)
def test_unknowable_identity_or_data_is_refused(tmp_path: Path, change, field: str) -> None:
    doc = copy.deepcopy(MINIMAL)
    change(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(ManifestError) as e:
        validate_croissant(path)
    assert e.value.key_path == field and e.value.file == str(path)
    assert e.value.line is not None or field == "distribution"
    assert str(e.value).startswith(str(path))


def test_file_set_needs_its_pattern_and_a_digest_alone_suffices(tmp_path: Path) -> None:
    doc = copy.deepcopy(MINIMAL)
    del doc["distribution"][0]["contentUrl"]  # the digest alone identifies the file
    assert validate_croissant(_write(tmp_path, doc))
    doc["distribution"].append({"@type": "cr:FileSet", "@id": "shards"})
    with pytest.raises(ManifestError, match="includes"):
        validate_croissant(_write(tmp_path, doc))


def test_not_a_json_object_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, [MINIMAL])
    with pytest.raises(SeiError, match="JSON-LD object"):
        validate_croissant(path)


def test_run_signs_a_dataset_the_validator_cannot_read(tmp_path: Path, sei) -> None:
    """The quickstart run with its Croissant's @context cut to the minimum: the reference
    reads it and signs its digest; so do we, with the validator's failure recorded."""
    from tests.reference import replay

    replay("quickstart", tmp_path, upto=8)
    path = tmp_path / "data" / "student.croissant.json"
    doc = json.loads(path.read_text())
    doc["@context"] = {k: MINIMAL["@context"][k] for k in ("@vocab", "sc", "cr")}
    path.write_text(json.dumps(doc))
    result = sei("run", "--repo", str(tmp_path), "--no-repro")
    assert result.exit_code == 0, result.output
    assert "warning: dataset description: mlcroissant could not read" in result.stderr
    ours = json.loads((tmp_path / ".sei" / "bundle.json").read_text())
    governance = ours["data_governance"]
    assert "@language" in governance["warnings"][0]
    assert ours["triple"]["dataset"] == governance["croissant_digest"]
    reference = json.loads((tmp_path / ".froga" / "bundle.json").read_text())
    assert ours["control_results"] == [
        {**r, "underpowered": mine["underpowered"]}
        for r, mine in zip(reference["control_results"], ours["control_results"], strict=True)
    ]


def test_validation_is_remembered_by_digest_and_names_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same document (and data) in another folder is not validated again: the remembered
    warnings come back naming the new folder; a changed document is validated afresh."""
    import sei_assets.core.croissant as croissant

    monkeypatch.setenv("SEI_STATE_DIR", str(tmp_path / "state"))
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    calls: list[Path] = []
    real = croissant._mlcroissant_warnings

    def counted(path: Path) -> list[str]:
        calls.append(path)
        return [*real(path), f"seen in {path.parent.resolve()}/rows.csv"]

    monkeypatch.setattr(croissant, "_mlcroissant_warnings", counted)
    here = validate_croissant(_write(first, MINIMAL))
    there = validate_croissant(_write(second, MINIMAL))
    assert len(calls) == 1
    assert here[-1] == f"seen in {first.resolve()}/rows.csv"
    assert there[-1] == f"seen in {second.resolve()}/rows.csv" and here[:-1] == there[:-1]
    changed = copy.deepcopy(MINIMAL)
    changed["name"] = "tiny, second edition"
    validate_croissant(_write(second, changed))
    assert len(calls) == 2
    monkeypatch.setenv("SEI_NO_MEMO", "1")
    validate_croissant(_write(second, changed))
    assert len(calls) == 3


def test_absl_never_closes_a_stream_bound_under_another_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """absl imported while stderr was a test's capture file, then a CLI runner's stderr, then a
    run's `logging.config.dictConfig` closing every handler: the capture file stays open (it
    was closed, and every later test of that pytest worker failed, 3-worker run of 2026-12-07)."""
    import io
    import sys

    from absl import logging as absl_logging

    from sei_assets.core import croissant

    handler = absl_logging.get_absl_handler().python_handler
    capture = io.StringIO()
    monkeypatch.setattr(handler, "stream", capture)  # bound when absl was imported
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a CLI runner's stderr now
    croissant.follow_stderr()
    handler.close()  # what dictConfig does to every handler
    assert not capture.closed
