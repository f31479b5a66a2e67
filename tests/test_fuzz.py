"""Fuzzing the loaders: hostile manifests, registries and scenarios end in a clear error.

Every case goes through the project's own loaders in-process. The outcome of a case is either a
valid document or a `SeiError` (exit 2) that names the file; anything else is an uncaught
exception, and a case may take at most one second. `SEI_FUZZ_CASES` sets the number of mutation
cases per loader (300 by default, for CI); the counts are printed (`pytest -s`). The evidence
JSON of each read-only verb, and `systems.yaml` for each verb that reads it (`status --all`,
`register`, `init`), are fuzzed through the `sei` command line too (an exit code of the README's
table, never a traceback). The long campaign, 10,000 cases per loader and per verb:

    SEI_FUZZ_CASES=10000 .venv/bin/python -m pytest tests/test_fuzz.py -q -n 0 -s
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sei_assets.core import lock as lockmod
from sei_assets.core import registry, safeload
from sei_assets.core.errors import ManifestError, SeiError
from sei_assets.core.manifest import load_manifest
from sei_assets.core.paths import project_root
from sei_assets.scenarios.dialects.harness.model import load_scenario

CASES = int(os.environ.get("SEI_FUZZ_CASES", "300"))
BUDGET_S = 1.0
LOAN = project_root() / "resources" / "loan" / "sei.yaml"
SCENARIO = project_root() / "scenarios" / "loan.json"
VERSION_LINE = LOAN.read_text()[: LOAN.read_text().index('version: "1.0.0"')].count("\n") + 1

# --------------------------------------------------------------------------- mutation classes


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of ``doc`` (iteratively; the manifest is small)."""
    out, todo = [], [(doc, prefix)]
    while todo:
        node, loc = todo.pop()
        out.append(loc)
        if isinstance(node, dict):
            todo.extend((v, (*loc, k)) for k, v in node.items())
        elif isinstance(node, list):
            todo.extend((v, (*loc, i)) for i, v in enumerate(node))
    return out


def _get(doc: Any, loc: tuple) -> Any:
    for part in loc:
        doc = doc[part]
    return doc


def _set(doc: Any, loc: tuple, value: Any) -> Any:
    if not loc:
        return value
    _get(doc, loc[:-1])[loc[-1]] = value
    return doc


_MARK = "__SEI_FUZZ__"
SWAPS: list[Any] = [
    None,
    True,
    0,
    -1,
    3.5,
    "",
    "text",
    [],
    [1, "a"],
    {},
    {"x": 1},
    "< 0.03",
    "P6M",
    "2024-13-45",
]
HOSTILE_SCALARS = [
    "1" * 5000,
    "-" + "9" * 4400,
    "0x" + "f" * 5000,
    "1:" * 3000 + "1",
    "1.0e+999",
    "-1.5e999",
    ".nan",
    ".inf",
    "-.Inf",
    ".NaN",
    "'< nan'",
    "'< inf'",
    "'>= 1e999'",
    "'< 1" + "0" * 400 + "'",
    "!!int '" + "7" * 5000 + "'",
    "!!float 'nan'",
    "!!python/object:os.system 'true'",
    "!!binary aGVsbG8=",
    "!!timestamp 2024-02-30",
    "2024-02-30",
    "!!set {a, b}",
    "&a [*a]",
    "'P" + "9" * 30 + "Y'",
    "!!bool maybe",
    '!!float ""',
    "!!timestamp x",
    "!!int ''",
    "!!null 3",
]
UNICODE = ["é", "\u202e", "\u0000", "\ufeff", "𝔘", "\u200b", "ﷺ", "\x85", "\u2028", "\ud7ff"]


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=200)


def type_swap(rng: random.Random, doc: dict, text: str) -> str:
    loc = rng.choice(_paths(doc))
    return _dump(_set(doc, loc, copy.deepcopy(rng.choice(SWAPS))))


def delete_key(rng: random.Random, doc: dict, text: str) -> str:
    locs = [p for p in _paths(doc) if p and isinstance(_get(doc, p[:-1]), dict)]
    loc = rng.choice(locs)
    del _get(doc, loc[:-1])[loc[-1]]
    return _dump(doc)


def deep_nesting(rng: random.Random, doc: dict, text: str) -> str:
    depth = rng.choice([40, 70, 200, 5000, 200_000])
    style = rng.choice(["flow", "block", "map"])
    if style == "flow":
        value = "[" * depth + "]" * depth
    elif style == "block":
        return text + "\nx-deep:\n  " + "- " * depth + "x\n"
    else:
        value = "{a: " * depth + "1" + "}" * depth
    loc = rng.choice(_paths(doc))
    return _dump(_set(doc, loc, _MARK)).replace(repr(_MARK), value).replace(_MARK, value)


def bomb(levels: int) -> str:
    """A "billion laughs" document: 9**levels strings from a few hundred bytes."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nbomb: *a{levels - 1}\n"


def alias_bomb(rng: random.Random, doc: dict, text: str) -> str:
    payload = bomb(rng.choice([4, 9, 12]))
    if rng.random() < 0.5:
        return payload + text
    return text + "\nx-bomb:\n" + "\n".join("  " + line for line in payload.splitlines()) + "\n"


def huge_number(rng: random.Random, doc: dict, text: str) -> str:
    loc = rng.choice(_paths(doc))
    return _dump(_set(doc, loc, _MARK)).replace(_MARK, rng.choice(HOSTILE_SCALARS))


def nan_inf(rng: random.Random, doc: dict, text: str) -> str:
    value = rng.choice(
        [".nan", ".inf", "-.inf", "NaN", "nan", "inf", "< nan", ">= inf", "1.0e+999"]
    )
    locs = [p for p in _paths(doc) if p and p[-1] in ("constraint", "version", "likelihood")]
    loc = rng.choice(locs or _paths(doc))
    return _dump(_set(doc, loc, _MARK)).replace(_MARK, value)


def unicode_text(rng: random.Random, doc: dict, text: str) -> str:
    chars = "".join(rng.choice(UNICODE) for _ in range(rng.randint(1, 8)))
    loc = rng.choice(_paths(doc))
    if loc and isinstance(_get(doc, loc[:-1]), dict) and rng.random() < 0.5:
        parent = _get(doc, loc[:-1])
        parent[str(loc[-1]) + chars] = parent.pop(loc[-1])
        return _dump(doc)
    pos = rng.randrange(len(text))
    return text[:pos] + chars + text[pos:]


def duplicate_ids(rng: random.Random, doc: dict, text: str) -> str:
    risks = doc["risk"]["risks"]
    if rng.random() < 0.4:
        risks.append(copy.deepcopy(rng.choice(risks)))
        return _dump(doc)
    if rng.random() < 0.5:
        measures = [m for r in risks for t in r.get("treat", []) for m in t.get("measures", [])]
        a, b = rng.sample(measures, 2)
        b["id"] = a["id"]
        return _dump(doc)
    lines = text.splitlines()
    i = rng.choice([n for n, line in enumerate(lines) if ":" in line and not line.startswith("#")])
    return "\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])


def binary_garbage(rng: random.Random, doc: dict, text: str) -> bytes:
    raw = bytearray(text.encode("utf-8"))
    kind = rng.choice(["random", "flip", "truncate", "nul"])
    if kind == "random":
        return rng.randbytes(rng.randint(1, 4096))
    if kind == "flip":
        for _ in range(rng.randint(1, 20)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    if kind == "truncate":
        return bytes(raw[: rng.randrange(len(raw))])
    pos = rng.randrange(len(raw))
    return bytes(raw[:pos] + b"\x00\x07\x1b" + raw[pos:])


MUTATIONS: dict[str, Callable[[random.Random, dict, str], str | bytes]] = {
    "type_swap": type_swap,
    "delete_key": delete_key,
    "deep_nesting": deep_nesting,
    "alias_bomb": alias_bomb,
    "huge_number": huge_number,
    "nan_inf": nan_inf,
    "unicode": unicode_text,
    "duplicate_ids": duplicate_ids,
    "binary_garbage": binary_garbage,
}

# --------------------------------------------------------------------------- the harness


class Tally:
    """Outcomes of a fuzz campaign: accepted, refused (SeiError), uncaught, slow."""

    def __init__(self, name: str, budget: float = BUDGET_S) -> None:
        self.name = name
        self.budget = budget
        self.outcomes: Counter[str] = Counter()
        self.per_class: Counter[str] = Counter()
        self.uncaught: list[str] = []
        self.slow: list[str] = []
        self.slowest = 0.0
        self.slowest_kind = ""

    def case(self, kind: str, fn: Callable[[], Any], path: Path) -> None:
        self.per_class[kind] += 1
        start = time.perf_counter()
        try:
            fn()
            self.outcomes["accepted"] += 1
        except SeiError as exc:
            self.outcomes["refused"] += 1
            if str(path) not in str(exc):
                self.uncaught.append(f"{kind}: error does not name the file: {exc}")
        except BaseException as exc:  # noqa: BLE001 - this is what the fuzzer looks for
            self.outcomes["uncaught"] += 1
            self.uncaught.append(f"{kind}: {type(exc).__name__}: {str(exc)[:200]}")
        took = time.perf_counter() - start
        if took > self.slowest:
            self.slowest, self.slowest_kind = took, kind
        if took > self.budget:
            self.slow.append(f"{kind}: {took:.2f}s")

    def report(self) -> None:
        total = sum(self.per_class.values())
        print(
            f"\nfuzz {self.name}: {total} cases {dict(self.per_class)}; outcomes "
            f"{dict(self.outcomes)}; slowest {self.slowest * 1000:.0f} ms ({self.slowest_kind}); "
            f"uncaught {len(self.uncaught)}; over {self.budget:.0f}s {len(self.slow)}"
        )
        assert not self.uncaught, "\n".join(self.uncaught[:20])
        assert not self.slow, "\n".join(self.slow[:20])


def _encode(data: str | bytes) -> bytes:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data


def _campaign(
    name: str,
    seed: int,
    write: Callable[[random.Random, str], str | bytes],
    path: Path,
    load: Callable[[Path], Any],
) -> None:
    rng = random.Random(seed)
    tally = Tally(name)
    kinds = list(MUTATIONS)
    path.write_bytes(_encode(write(random.Random(0), "type_swap")))
    try:  # warm-up, untimed: the first load imports the validators (isodate, jsonschema)
        load(path)
    except SeiError:
        pass
    for i in range(CASES):
        kind = kinds[i % len(kinds)]
        path.write_bytes(_encode(write(rng, kind)))
        tally.case(kind, lambda: load(path), path)
    tally.report()


def _manifest_and_lock(path: Path) -> None:
    load_manifest(path)
    lockmod.read_raw_manifest(path)


def test_fuzz_manifests(tmp_path: Path) -> None:
    text = LOAN.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)

    def write(rng: random.Random, kind: str) -> str | bytes:
        return MUTATIONS[kind](rng, copy.deepcopy(doc), text)

    _campaign("manifest", 12, write, tmp_path / "sei.yaml", _manifest_and_lock)


def test_fuzz_registry(tmp_path: Path) -> None:
    doc = {"systems": [{"name": "loan", "repo": "loan", "seed": "resources/loan"}]}
    text = _dump(doc)

    def write(rng: random.Random, kind: str) -> str | bytes:
        if kind == "duplicate_ids":
            return _dump({"systems": [doc["systems"][0], doc["systems"][0]]})
        return MUTATIONS[kind](rng, copy.deepcopy(doc), text)

    _campaign("registry", 13, write, tmp_path / "systems.yaml", registry.load_registry)


JSON_HOSTILE = [
    "1" * 5000,
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 5000 + "1" + "}" * 5000,
    '"\\ud800"',
    '"\u202e\u0000"',
]


def test_fuzz_scenarios(tmp_path: Path) -> None:
    sources = sorted(p for p in SCENARIO.parent.glob("*.json") if p.name != "scenario.schema.json")
    docs = []
    for source in sources:  # every shipped scenario, renamed to the target's file name
        doc = json.loads(source.read_text(encoding="utf-8"))
        doc["name"] = "loan"
        docs.append(doc)
    target = tmp_path / "loan.json"

    def write(rng: random.Random, kind: str) -> str | bytes:
        d = copy.deepcopy(rng.choice(docs))
        text = json.dumps(d, indent=2)
        if kind in ("deep_nesting", "huge_number", "nan_inf", "alias_bomb"):
            loc = rng.choice(_paths(d))
            out = json.dumps(_set(d, loc, _MARK))
            return out.replace(json.dumps(_MARK), rng.choice(JSON_HOSTILE))
        if kind == "duplicate_ids":
            out = json.dumps(d)
            return out.replace('"name"', '"name": "dup", "name"', 1)
        if kind == "binary_garbage":
            return binary_garbage(rng, d, text)
        if kind == "unicode":
            return unicode_text(rng, d, text)
        if kind == "delete_key":
            locs = [p for p in _paths(d) if p and isinstance(_get(d, p[:-1]), dict)]
            loc = rng.choice(locs)
            del _get(d, loc[:-1])[loc[-1]]
            return json.dumps(d)
        loc = rng.choice(_paths(d))
        return json.dumps(_set(d, loc, copy.deepcopy(rng.choice(SWAPS))))

    _campaign("scenario", 14, write, target, load_scenario)


# --------------------------------------------------------------------------- hypothesis

_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_tree = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


_BASE = yaml.load(LOAN.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _timed(fn: Callable[[], Any]) -> None:
    """Run one loader call: a SeiError is an answer; the call itself stays within budget."""
    start = time.perf_counter()
    try:
        fn()
    finally:
        assert time.perf_counter() - start < BUDGET_S


@settings(
    max_examples=max(50, CASES // 3),
    deadline=None,  # the budget is asserted on the loader call itself, not on this set-up
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(loc_seed=st.integers(0, 10**6), value=_tree)
def test_hypothesis_subtrees(tmp_path: Path, loc_seed: int, value: Any) -> None:
    """Any YAML value in place of any part of the manifest: valid, or a located error."""
    doc = copy.deepcopy(_BASE)
    locs = _paths(doc)
    doc = _set(doc, locs[loc_seed % len(locs)], value)
    path = tmp_path / "sei.yaml"
    path.write_text(yaml.dump(doc, Dumper=_DUMPER, allow_unicode=True), encoding="utf-8")
    try:
        _timed(lambda: load_manifest(path))
    except SeiError as exc:
        assert str(path) in str(exc)


@settings(max_examples=max(50, CASES // 3), deadline=None)
@given(raw=st.binary(max_size=2048) | st.text(max_size=2048).map(str.encode))
def test_hypothesis_raw_bytes(raw: bytes) -> None:
    """Arbitrary bytes through the YAML and JSON parsers: data, or a ManifestError."""
    for parse in (safeload.parse_yaml, safeload.parse_json):
        try:
            _timed(lambda: parse("x.yaml", safeload.decode("x.yaml", raw, "document")))  # noqa: B023
        except ManifestError as exc:
            assert exc.file == "x.yaml"


# --------------------------------------------------------------------------- the probes


def _refusal(tmp_path: Path, text: str) -> ManifestError:
    path = tmp_path / "sei.yaml"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert time.perf_counter() - start < BUDGET_S
    assert str(path) in str(info.value)
    return info.value


def test_billion_laughs_is_refused_before_expansion(tmp_path: Path) -> None:
    err = _refusal(tmp_path, bomb(9) + LOAN.read_text())
    assert "aliases expand the document beyond" in err.expected and err.line
    err = _refusal(
        tmp_path,
        "system:\n  name: a\n  x:\n"
        + "".join("    " + line + "\n" for line in bomb(12).splitlines()),
    )
    assert "alias" in err.expected and err.key_path.startswith("system.x")


def test_deep_nesting_is_refused_with_its_line(tmp_path: Path) -> None:
    text = LOAN.read_text().replace('version: "1.0.0"', "version: " + "[" * 100_000 + "]" * 100_000)
    err = _refusal(tmp_path, text)
    assert "nesting deeper than" in err.expected
    assert err.key_path.startswith("system.version") and err.line == VERSION_LINE
    err = _refusal(tmp_path, "system:\n  name:\n    " + "- " * 100_000 + "x\n")
    assert "nesting deeper than" in err.expected


def test_huge_integer_is_refused(tmp_path: Path) -> None:
    text = LOAN.read_text().replace('version: "1.0.0"', "version: " + "9" * 5000)
    err = _refusal(tmp_path, text)
    assert "5000 characters" in err.expected and err.key_path == "system.version"
    assert err.line == VERSION_LINE


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1.0e+999", "!!float nan"])
def test_non_finite_numbers_are_refused(tmp_path: Path, value: str) -> None:
    text = LOAN.read_text().replace('version: "1.0.0"', f"version: {value}")
    err = _refusal(tmp_path, text)
    assert "finite" in err.expected or "overflows" in err.expected
    assert err.key_path == "system.version"


def test_nan_constraint_is_refused(tmp_path: Path) -> None:
    text = LOAN.read_text()
    start = text.index("constraint:")
    end = text.index("\n", start)
    err = _refusal(tmp_path, text[:start] + 'constraint: "< nan"' + text[end:])
    assert "finite" in err.expected and err.key_path.endswith("constraint")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    err = _refusal(tmp_path, "system:\n  name: a\n  name: b\n")
    assert "appears twice" in err.expected and err.line == 3 and err.key_path == "system.name"


def test_non_scalar_keys_are_refused(tmp_path: Path) -> None:
    err = _refusal(tmp_path, "system:\n  ? [a, b]\n  : x\n")
    assert "mapping key" in err.expected


def test_bad_timestamp_is_a_manifest_error(tmp_path: Path) -> None:
    _refusal(tmp_path, "system:\n  name: a\nroles:\n  - role: provider\n    since: 2024-02-30\n")


def test_json_limits(tmp_path: Path) -> None:
    for text, expected in [
        ("[" * 100_000 + "]" * 100_000, "nesting deeper than"),
        ('{"a": ' + "1" * 5000 + "}", "5000 digits"),
        ('{"a": NaN}', "not a finite number"),
        ('{"a": 1e999}', "overflows"),
        ('{"a": 1, "a": 2}', "appears twice"),
    ]:
        with pytest.raises(ManifestError) as info:
            safeload.parse_json(tmp_path / "x.json", text)
        assert expected in info.value.expected


def test_deep_scenario_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"name": "deep", "steps": ' + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(SeiError) as info:
        load_scenario(path)
    assert "nesting deeper than" in str(info.value) and str(path) in str(info.value)


def test_oversized_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sei.yaml"
    path.write_bytes(b"# " + b"x" * (safeload.MAX_BYTES + 10) + b"\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert "larger than" in info.value.expected


def test_cli_exit_code_2_on_hostile_manifest(tmp_path: Path, sei: Any) -> None:
    (tmp_path / "sei.yaml").write_text(bomb(9) + "system: {name: a}\n")
    result = sei("status", "--repo", str(tmp_path))
    assert result.exit_code == 2
    assert "alias" in result.stderr and "sei.yaml" in result.stderr


def test_registry_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text("systems:\n  - name: a\n    repo: r\n  - name: 1bad\n    repo: r\n")
    with pytest.raises(SeiError) as info:
        registry.load_registry(path)
    assert f"{path}:4: systems[1].name" in str(info.value)
    path.write_text(bomb(9))
    with pytest.raises(ManifestError) as refused:
        registry.load_registry(path)
    assert "alias" in refused.value.expected


def test_hostile_croissant_is_a_clear_error(tmp_path: Path) -> None:
    from sei_assets.core.croissant import read_croissant

    path = tmp_path / "data.croissant.json"
    for text, expected in [
        ('{"distribution": ' + "[" * 100_000 + "]" * 100_000 + "}", "nesting deeper than"),
        ("[1, 2]", "expected a JSON-LD object"),
        ('{"name": "a", "name": "b"}', "appears twice"),
    ]:
        path.write_text(text)
        with pytest.raises(SeiError) as info:
            read_croissant(path)
        assert expected in str(info.value) and str(path) in str(info.value)


def test_hostile_metrics_and_pipeline_files(tmp_path: Path) -> None:
    from sei_assets.core.reproducers import reproducer_for
    from sei_assets.core.reproducers.base import read_metrics

    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"a": NaN, "b": 0.5}')  # the contract fails NaN closed, later
    assert read_metrics(metrics, "dvc")["b"] == 0.5
    metrics.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SeiError, match="nesting deeper than"):
        read_metrics(metrics, "dvc")
    dvc = reproducer_for("dvc")
    for text in [
        "stages: " + "[" * 100_000 + "]" * 100_000,
        "stages: [1, 2]",
        "stages: {a: 1}",
        "stages: {a: {deps: [1, {x: 2}], outs: [{}]}}",
    ]:
        (tmp_path / "dvc.yaml").write_text(text)
        try:
            assert isinstance(dvc.treatment_files(tmp_path, {}, set()), list)
        except SeiError as exc:
            assert "dvc.yaml" in str(exc)


# --------------------------------------------------------------------------- evidence (issue 31)
#
# The evidence JSON each read-only verb reads, fuzzed through the `sei` command line (the
# `sei` script's entry point, in this process: `sei_assets.entry.run`, which hands what it does
# not serve itself to the typer app). A case ends in exit 0, 1 or 2 with no traceback.

EVIDENCE_FILES = {
    "status": [".sei/bundle.json", ".sei/bundle.json.sig", "sei.lock", ".sei/PUBKEY.txt"],
    "verify": [
        ".sei/bundle.json",
        ".sei/bundle.json.sig",
        ".sei/index.json",
        ".sei/index.json.sig",
        ".sei/PUBKEY.txt",
    ],
    "reconstruct": [".sei/bundle.json", ".sei/index.json", ".sei/bundle.json.sig"],
}
EVIDENCE_CASES = {"status": CASES, "verify": CASES, "reconstruct": max(30, CASES // 3)}
#: A whole command (git and a signature included) on a busy machine: no hang, not 1 s.
CLI_BUDGET_S = 10.0


def _json_mutant(rng: random.Random, raw: bytes) -> bytes:
    """One hostile variant of an evidence file's bytes (JSON or not)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    kind = rng.choice(
        ["hostile", "swap", "delete", "duplicate", "bom", "garbage", "unicode", "deep", "envelope"]
    )
    if doc is None or kind == "garbage":
        return binary_garbage(rng, {}, raw.decode("utf-8", "replace") or "x")
    if kind == "bom":
        return b"\xef\xbb\xbf" + raw
    if kind == "unicode":
        return _encode(unicode_text(rng, {}, raw.decode("utf-8")))
    if kind == "deep":
        depth = rng.choice([65, 1000, 100_000])
        return ("[" * depth + "]" * depth).encode()
    if kind == "envelope" and isinstance(doc, dict) and isinstance(doc.get("payload"), str):
        import base64

        try:
            statement = json.loads(base64.b64decode(doc["payload"]))
            loc = rng.choice(_paths(statement))
            statement = _set(statement, loc, copy.deepcopy(rng.choice(SWAPS)))
            doc["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        except (ValueError, TypeError, KeyError, IndexError):
            doc["payload"] = rng.choice(["", "!!", "e30=", doc["payload"] + "="])
        return json.dumps(doc).encode()
    loc = rng.choice(_paths(doc))
    if kind == "hostile":
        out = json.dumps(_set(doc, loc, _MARK))
        return out.replace(json.dumps(_MARK), rng.choice(JSON_HOSTILE)).encode()
    if kind == "delete" and loc and isinstance(_get(doc, loc[:-1]), dict):
        del _get(doc, loc[:-1])[loc[-1]]
        return json.dumps(doc).encode()
    if kind == "duplicate" and isinstance(doc, dict) and doc:
        key = rng.choice(list(doc))
        text = json.dumps(doc)
        return text.replace("{", "{" + json.dumps(key) + ": 0, ", 1).encode()
    return json.dumps(_set(doc, loc, copy.deepcopy(rng.choice(SWAPS)))).encode()


@pytest.fixture(scope="module")
def signed_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A system with a run's evidence (engine run, no Dagster), committed."""
    import subprocess
    import sys

    from sei_assets.core import engine, signing
    from tests.systems import make_system

    repo = make_system(tmp_path_factory.mktemp("fuzz-evidence") / "sys_fuzz", "sys_fuzz")
    subprocess.run([sys.executable, "make_metrics.py"], cwd=repo, check=True)
    key = signing.load_or_create_key(tmp_path_factory.getbasetemp() / "keys" / "signing-key.pem")
    engine.run(repo, repro=False, key=key)
    git = ["git", "-c", "user.name=Gen", "-c", "user.email=gen@example.test"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "evidence"], cwd=repo, check=True)
    return repo


@pytest.mark.parametrize("verb", list(EVIDENCE_FILES))
def test_fuzz_evidence_through_the_cli(signed_repo: Path, verb: str, capsys: Any) -> None:
    """Hostile evidence JSON for each read-only verb: exit 0, 1 or 2, never a traceback."""
    from sei_assets import entry

    pristine = {rel: (signed_repo / rel).read_bytes() for rel in EVIDENCE_FILES[verb]}
    keep = {p: p.read_bytes() for p in (signed_repo / ".sei").rglob("*") if p.is_file()}
    keep[signed_repo / "sei.lock"] = (signed_repo / "sei.lock").read_bytes()
    rng = random.Random(31)
    tally = Tally(f"evidence/{verb}", CLI_BUDGET_S)
    exits: Counter[int] = Counter()
    argv = [verb, "--repo", str(signed_repo)]

    def restore() -> None:  # each case starts from the genuine set, and so does the next test
        for path, data in keep.items():
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
        for extra in (signed_repo / ".sei").rglob("*"):
            if extra.is_file() and extra not in keep:
                extra.unlink()

    for i in range(EVIDENCE_CASES[verb]):
        rel = EVIDENCE_FILES[verb][i % len(EVIDENCE_FILES[verb])]
        restore()
        (signed_repo / rel).write_bytes(_json_mutant(rng, pristine[rel]))

        def case() -> None:
            code = entry.run(argv)
            exits[code] += 1
            if code not in (0, 1, 2):
                raise AssertionError(f"exit {code}")

        tally.case(rel, case, signed_repo)
        err = capsys.readouterr().err
        if "Traceback" in err or "internal error" in err:
            tally.uncaught.append(f"{rel}: {err[:300]}")
    restore()
    print(f"exits {dict(exits)}")
    tally.report()


EVIDENCE_PROBES = [
    ("status", ".sei/bundle.json", b"[" * 100_000 + b"]" * 100_000, 2),
    ("status", "sei.lock", b'{"sections": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 2),
    ("status", "sei.lock", b"[1, 2]", 2),
    ("verify", ".sei/bundle.json.sig", b"[" * 100_000 + b"]" * 100_000, 1),
    ("reconstruct", ".sei/bundle.json", b"{" * 100_000, 2),
    ("reconstruct", ".sei/index.json", b"[" * 100_000 + b"]" * 100_000, None),
]


@pytest.mark.parametrize(("verb", "rel", "data", "code"), EVIDENCE_PROBES)
def test_deep_evidence_json_is_an_answer(
    signed_repo: Path, tmp_path: Path, verb: str, rel: str, data: bytes, code: int | None, capsys
) -> None:
    """The issue's probes: JSON nested thousands deep in a `.sig` (verify), `bundle.json` and
    `sei.lock` (status), `bundle.json` and `index.json` (reconstruct)."""
    import shutil

    from sei_assets import entry

    repo = tmp_path / "repo"
    shutil.copytree(signed_repo, repo, symlinks=True)
    (repo / rel).write_bytes(data)
    got = entry.run([verb, "--repo", str(repo)])
    err = capsys.readouterr().err
    assert got in (0, 1, 2) and "Traceback" not in err and "internal error" not in err
    if code is not None:
        assert got == code
    if got == 2:
        assert rel.rsplit("/", 1)[-1] in err


@pytest.mark.parametrize(
    "value", ["&s [*s]", "!!bool maybe", '!!float ""', "!!timestamp x", "!!int ''"]
)
def test_impossible_yaml_values_are_located(tmp_path: Path, value: str) -> None:
    """Recursive aliases and tags with impossible values: a ManifestError naming the line, in a
    manifest and in systems.yaml."""
    text = LOAN.read_text().replace('version: "1.0.0"', f"version: {value}")
    err = _refusal(tmp_path, text)
    assert err.line == VERSION_LINE and err.key_path.startswith("system.version")
    path = tmp_path / "systems.yaml"
    path.write_text(f"systems:\n  - name: a\n    repo: {value}\n")
    with pytest.raises(ManifestError) as info:
        registry.load_registry(path)
    assert info.value.line == 3 and str(path) in str(info.value)


# --------------------------------------------------------------------------- systems.yaml, CLI
#
# The registry through the verbs that read it, as a user runs them (`sei_assets.entry.run`, in
# this process): `sei status --all --systems F` (lean, read-only; plain and --json), `sei
# register --systems F` (reads, then appends one entry in one atomic write) and `sei init
# --systems F --system NAME` (reads, then refuses an unregistered name before seeding anything:
# a fuzzed `repo` is never created). Each case starts from the seed registry; it ends in an exit
# code of the README's table for the verb, with no traceback and no internal error.
# SEI_FUZZ_CASES sets the count per verb too (a command line costs more than a load: the CI
# default is smaller than the in-process campaigns').

#: Cases per verb in CI: the lean `status --all` costs milliseconds a case; `register` and
#: `init` load the typer app's verbs, a few hundred milliseconds a case.
REGISTRY_CLI_CASES = {"status --all": 120, "status --all --json": 120, "register": 24, "init": 24}
REGISTRY_VERBS: dict[str, tuple[Callable[[Path, Path], list[str]], set[int]]] = {
    "status --all": (lambda f, repo: ["status", "--all", "--systems", str(f)], {0, 1, 2}),
    "status --all --json": (
        lambda f, repo: ["status", "--all", "--systems", str(f), "--json"],
        {0, 1, 2},
    ),
    "register": (
        lambda f, repo: ["register", "--repo", str(repo), "--systems", str(f), "--json"],
        {0, 2},
    ),
    "init": (
        lambda f, repo: ["init", "--systems", str(f), "--system", "no_such_system"],
        {2},
    ),
}


@pytest.mark.parametrize("verb", list(REGISTRY_VERBS))
def test_fuzz_registry_through_the_cli(
    signed_repo: Path, tmp_path: Path, verb: str, capsys: Any
) -> None:
    """Hostile systems.yaml for each verb that reads it: an exit code of the verb's row in the
    README's table, never a traceback, and never an internal error."""
    from sei_assets import entry

    argv_for, allowed = REGISTRY_VERBS[verb]
    other = tmp_path / "sys_other"  # a fuzzed entry may name it: it is never created
    doc = {"systems": [{"name": "sys_fuzz", "repo": str(signed_repo), "manifest": "sei.yaml"}]}
    text = _dump(doc)
    path = tmp_path / "systems.yaml"
    rng = random.Random(17 + list(REGISTRY_VERBS).index(verb))
    kinds = list(MUTATIONS)
    tally = Tally(f"registry-cli/{verb}", CLI_BUDGET_S)
    exits: Counter[int] = Counter()
    argv = argv_for(path, signed_repo)
    path.write_text(text)
    warm = entry.run(argv)  # warm-up, untimed: the first run imports the verb's modules
    assert warm == min(allowed), capsys.readouterr().err  # the seed registry is a good one
    capsys.readouterr()
    for i in range(CASES if "SEI_FUZZ_CASES" in os.environ else REGISTRY_CLI_CASES[verb]):
        kind = kinds[i % len(kinds)]
        if kind == "duplicate_ids":
            mutant: str | bytes = _dump({"systems": [doc["systems"][0], doc["systems"][0]]})
        else:
            mutant = MUTATIONS[kind](rng, copy.deepcopy(doc), text)
        path.write_bytes(_encode(mutant))

        def case() -> None:
            code = entry.run(argv)
            exits[code] += 1
            if code not in allowed:
                raise AssertionError(f"exit {code}, not one of {sorted(allowed)}")

        tally.case(kind, case, path)
        err = capsys.readouterr().err
        if "Traceback" in err or "internal error" in err or "sei_assets." in err:
            tally.uncaught.append(f"{kind}: {err[:300]}")
    assert not other.exists()  # nothing was seeded from a fuzzed registry
    print(f"exits {dict(exits)}")
    tally.report()


REGISTRY_PROBES = [
    ("manifest", "'" + "1" * 400 + "'", "a file name longer than 255 bytes"),
    ("manifest", "../../etc/passwd", "'..' leaves the repository"),
    ("manifest", '"a\\0b"', "control characters"),
    ("repo", "'" + "x" * 5000 + "'", "longer than a file system holds"),
    ("repo", '"sys\\0x"', "NUL"),
    ("seed", '"seed\\0x"', "NUL"),
]


@pytest.mark.parametrize(("key", "value", "why"), REGISTRY_PROBES)
def test_registry_paths_the_disk_cannot_hold_are_bad_input(
    signed_repo: Path, tmp_path: Path, key: str, value: str, why: str, capsys: Any
) -> None:
    """What the fuzzer found: a `manifest` name or a `repo` longer than a file system holds
    (an OSError from the disk), NUL bytes, a manifest outside the repository. Each verb that
    reads the registry exits 2 naming the file, line and key."""
    from sei_assets import entry

    fields = {"repo": str(signed_repo), "manifest": "sei.yaml"} | {key: None}
    lines = [f"    {k}: {json.dumps(v)}" for k, v in fields.items() if v is not None]
    path = tmp_path / "systems.yaml"
    path.write_text("\n".join(["systems:", "  - name: sys_fuzz", *lines, f"    {key}: {value}"]))
    line = 3 + len(lines)
    for argv in (
        ["status", "--all", "--systems", str(path)],
        ["register", "--repo", str(signed_repo), "--systems", str(path)],
        ["init", "--systems", str(path), "--system", "sys_fuzz"],
    ):
        assert entry.run(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"{path}:{line}: systems[0].{key}: " in err and why in err, err
        assert "Traceback" not in err


@pytest.mark.parametrize(
    ("verb", "sig"), [("status", "bundle.json.sig"), ("verify", "index.json.sig")]
)
def test_a_lone_surrogate_in_evidence_is_printed_as_its_escape(
    signed_repo: Path, tmp_path: Path, verb: str, sig: str
) -> None:
    """Found by the 10,000-case campaign: a `.sig` whose keyid is the JSON escape of a lone
    surrogate made `sei status` die writing its answer to a UTF-8 pipe (a traceback, exit 1);
    the answer now shows the escape."""
    import os
    import shutil
    import subprocess
    import sys

    repo = tmp_path / "repo"
    shutil.copytree(signed_repo, repo, symlinks=True)
    path = repo / ".sei" / sig
    envelope = json.loads(path.read_text())
    envelope["signatures"][0]["keyid"] = "MARK"
    path.write_text(json.dumps(envelope).replace('"MARK"', '"\\ud800"'))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sei"), verb, "--repo", str(repo)],
        capture_output=True,
        env={**os.environ, "SEI_KNOWN_KEYS": str(tmp_path / "known_keys.json")},
    )
    assert b"Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode == 1
    assert b"\\ud800" in done.stdout + done.stderr
