"""Bad manifests get an error naming the file, the key path, the line and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from sei_assets.core.errors import ManifestError
from sei_assets.core.manifest import load_manifest, parse_constraint
from tests.reference import blob

LOAN = blob("loan-scoring", 0, "venth.yaml").decode()


def _write(tmp_path: Path, text: str, name: str = "sei.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _bad(tmp_path: Path, old: str, new: str) -> tuple[ManifestError, str]:
    text = LOAN.replace(old, new, 1)
    assert text != LOAN
    path = _write(tmp_path, text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return info.value, text


@pytest.mark.parametrize(
    "name,index,file,measures,risks",
    [("loan-scoring", 0, "venth.yaml", 5, 5), ("quickstart", 5, "froga.yaml", 2, 1)],
)
def test_reference_manifests_load(
    tmp_path: Path, name: str, index: int, file: str, measures: int, risks: int
) -> None:
    """Every key the reference's manifests use is understood."""
    loaded = load_manifest(_write(tmp_path, blob(name, index, file).decode(), file))
    assert len(loaded.manifest.measures) == measures
    assert len(loaded.manifest.risk.risks) == risks


def test_manifest_lookup_order(tmp_path: Path) -> None:
    _write(tmp_path, LOAN, "froga.yaml")
    assert load_manifest(tmp_path).path.name == "froga.yaml"
    _write(tmp_path, LOAN, "venth.yaml")
    assert load_manifest(tmp_path).path.name == "venth.yaml"
    _write(tmp_path, LOAN, "sei.yaml")
    assert load_manifest(tmp_path).path.name == "sei.yaml"


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    e, text = _bad(tmp_path, "              severity: high", "              severty: high")
    assert e.key_path == "risk.risks[0].treat[0].measures[0].severty"
    assert e.line == _line_of(text, "severty: high")
    assert e.suggestion == "severity"
    assert "sei.yaml" in str(e) and "did you mean 'severity'" in str(e)


def test_wrong_type(tmp_path: Path) -> None:
    e, text = _bad(tmp_path, "likelihood: LIKELY", "likelihood: [LIKELY]")
    assert e.key_path == "risk.risks[0].likelihood"
    assert e.line == _line_of(text, "likelihood: [LIKELY]")
    assert "ALMOST_CERTAIN" in e.expected


def test_unknown_operator(tmp_path: Path) -> None:
    e, text = _bad(tmp_path, '"< 0.092"', '"~= 0.092"')
    assert e.key_path == "risk.risks[0].treat[0].measures[0].constraint"
    assert e.line == _line_of(text, '"~= 0.092"')
    assert "unknown operator '~='" in e.expected


def test_measure_id_used_twice(tmp_path: Path) -> None:
    e, text = _bad(tmp_path, "- id: oversight-mode", "- id: oversight-monitor-interpret")
    assert e.key_path == "risk.risks[3].treat[0].measures[0].id"
    assert "used twice" in e.expected and "oversight-monitor-interpret" in e.expected
    second = [
        i
        for i, line in enumerate(text.splitlines(), 1)
        if "- id: oversight-monitor-interpret" in line
    ][1]
    assert e.line == second


def test_addressed_by_names_undeclared_risk(tmp_path: Path) -> None:
    e, text = _bad(
        tmp_path,
        "addressed_by: [risk.unfair-credit-exclusion]",
        "addressed_by: [risk.unfair-credit-exclusio]",
    )
    assert e.key_path == "system.potential_misuses[0].addressed_by[0]"
    assert e.line == _line_of(text, "risk.unfair-credit-exclusio]")
    assert e.suggestion == "risk.unfair-credit-exclusion"


def test_missing_required_key(tmp_path: Path) -> None:
    e, _ = _bad(tmp_path, "      likelihood: LIKELY\n", "")
    assert e.key_path == "risk.risks[0].likelihood"
    assert "missing" in e.expected


def test_invalid_yaml_has_line(tmp_path: Path) -> None:
    e, _ = _bad(tmp_path, "kind: AISystem", "kind: [AISystem")
    assert e.line is not None and "invalid YAML" in e.expected


def test_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert "unreadable" in info.value.expected and str(path) in str(info.value)


def test_no_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path)
    assert "sei.yaml" in str(info.value)


@pytest.mark.parametrize(
    "text,op,threshold",
    [
        ("< 0.03", "lt", 0.03),
        ("<= 1", "lte", 1.0),
        (">0.7", "gt", 0.7),
        (">= 1.0", "gte", 1.0),
        ("== 0", "eq", 0.0),
        ("lte 2", "lte", 2.0),
        ("gte 3", "gte", 3.0),
    ],
)
def test_constraints(text: str, op: str, threshold: float) -> None:
    c = parse_constraint(text)
    assert (c.operator, c.threshold) == (op, threshold)


@pytest.mark.parametrize("text", ["~ 0.3", "< abc", "<", "< inf"])
def test_bad_constraints(text: str) -> None:
    with pytest.raises(ValueError):
        parse_constraint(text)


def test_cli_compile_bad_manifest_exits_2_and_writes_nothing(tmp_path: Path, sei) -> None:
    _write(tmp_path, LOAN.replace("              severity: high", "              severty: high", 1))
    result = sei("compile", "--repo", str(tmp_path))
    assert result.exit_code == 2
    assert "severty" in result.stderr and "did you mean 'severity'" in result.stderr
    assert not (tmp_path / "shared_data").exists()
