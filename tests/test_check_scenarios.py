"""Seed 003: composable check scenarios, from the notation to `release_readiness` run over
three systems on different pipeline tools (file, DVC, Dagster), one red, as one Dagster job and
from the CLI with the same results."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sei_assets.core import signing, untrusted
from sei_assets.scenarios.dialects.checks.model import CheckError
from sei_assets.scenarios.dialects.checks.notation import Filters, Scope, unsafe_reason
from sei_assets.scenarios.dialects.checks.registry import CheckRegistry, load_checks
from sei_assets.scenarios.dialects.checks.runner import BindError, Target, run_one
from tests.systems import make_system

# The seed's device outputs, as files of the "device" repository (collect reads them).
IOS_BRIEF = """\
Interface              IP-Address      OK? Method Status                Protocol
GigabitEthernet0/0     10.0.0.1        YES NVRAM  up                    up
Loopback0              1.1.1.11        YES manual up                    up
Loopback1              2.2.2.22        YES manual administratively down down
"""
XR_BRIEF = """\
Interface                      IPv4-Address    Status          Protocol Vrf-Name
Loopback0                      1.1.1.11        Up              Up       default
"""
IOS_DETAIL = "Loopback0 is up, line protocol is up\n  Internet address is 1.1.1.11/32\n"
IOS_DETAIL += "  Broadcast address is 255.255.255.255\n"
XR_DETAIL = "Loopback0 is Up, ipv4 protocol is Up\n  Internet address is 1.1.1.11/32\n"
OSPF = "Loopback0 is up\n  Internet Address 1.1.1.11/32, Area 0\n  Process ID 7, Router ID\n"
NEIGHBORS = "10.0.0.2  1  FULL/DR  00:00:39\n10.0.0.3  1  INIT/DROTHER  00:00:31\n"

SEED_EXAMPLE = r"""
scenario:
  name: check_interface_up_up_with_ip_and_mask
  version: "1.0.0"
  description: An interface of a type prefix with an IP and mask is up/up.
  platforms: [ios, xr]
  parameters:
    interface_type: {type: string, required: true}
    ip_address: {type: ip_address, required: true}
    mask: {type: network_mask, required: true}
  export:
    interface_name: interface_name
    my_sh_ip_int_br: brief
  tasks:
    - id: collect_ip_brief
      action: collect
      collector:
        default: {name: read, path: "ios_brief.txt"}
        xr: {name: read, path: "xr_brief.txt"}
      store: brief
    - id: find_interface
      action: parse
      input: "@brief"
      checks:
        - id: exists
          regex:
            default: '^{{ interface_type }}\S*\s+{{ ip_address | escape_regex }}\s'
          flags: mi
          expected_result: match
          set: interface_found
          on_fail: "{{ interface_type }} with {{ ip_address }} is not found on @device."
        - id: not_down
          when: "@interface_found"
          regex:
            default: '^{{ interface_type }}\S*\s+{{ ip_address }}\s+.*(?:down|administratively)'
          flags: mi
          expected_result: no_match
          on_fail: "{{ interface_type }} with {{ ip_address }} was down on @device."
        - id: up_up_capture_name
          when: "@interface_found"
          regex:
            default: '^({{ interface_type }}\d+)\s+{{ ip_address }}\s+.*up\s+up'
            xr: '^({{ interface_type }}\d+(?:/\d+)*)\s+{{ ip_address }}\s+Up\s+Up'
          flags: m
          expected_result: match
          capture:
            interface_name: 1
          on_fail: "{{ interface_type }} with {{ ip_address }} in UP/UP not found on @device."
    - id: collect_interface_detail
      when: "@interface_found"
      action: collect
      collector:
        default: {name: read, path: "ios_detail_@interface_name.txt"}
        xr: {name: read, path: "xr_detail_@interface_name.txt"}
      store: interface_detail
      on_fail: "Could not collect the detail of @interface_name on @device."
    - id: verify_ip_and_mask
      when: "@interface_found"
      action: parse
      input: "@interface_detail"
      checks:
        - id: verify_ip
          regex:
            default: 'Internet address is {{ ip_address }}'
            xr: 'Internet address is {{ ip_address }}/\d+'
          flags: mi
          on_fail: "Internet address {{ ip_address }} not found on @interface_name (@device)."
        - id: verify_mask
          regex:
            default: 'Broadcast address is {{ mask }}'
            xr: 'Internet address is {{ ip_address }}/{{ mask | to_prefix }}'
          flags: mi
          on_fail: "Subnet mask {{ mask }} not set on @interface_name (@device)."
"""

COMPOSED = r"""
scenario:
  name: verify_full_interface_with_ospf
  version: "1.0.0"
  platforms: [ios, xr]
  parameters:
    interface_type: {type: string, required: true}
    ip_address: {type: ip_address, required: true}
    mask: {type: network_mask, required: true}
    ospf_process: {type: string, required: true}
  export:
    if_name: if_name
  tasks:
    - id: check_interface
      action: scenario
      scenario: check_interface_up_up_with_ip_and_mask:1.0.0
      params:
        interface_type: "{{ interface_type }}"
        ip_address: "{{ ip_address }}"
        mask: "{{ mask }}"
      export:
        if_name: interface_name
    - id: collect_ospf
      when: "@if_name"
      action: collect
      collector: {name: read, path: "ospf_@if_name.txt"}
      store: ospf_detail
    - id: verify_ospf
      when: "@if_name"
      action: parse
      input: "@ospf_detail"
      checks:
        - id: ospf_enabled
          regex: 'Process ID {{ ospf_process }}'
          flags: mi
          on_fail: "OSPF process {{ ospf_process }} not found on @if_name (@device)."
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository holding the seed's device outputs, read by `collect`."""
    repo = tmp_path_factory.mktemp("device")
    files = {
        "ios_brief.txt": IOS_BRIEF,
        "xr_brief.txt": XR_BRIEF,
        "ios_detail_Loopback0.txt": IOS_DETAIL,
        "xr_detail_Loopback0.txt": XR_DETAIL,
        "ospf_Loopback0.txt": OSPF,
        "neighbors.txt": NEIGHBORS,
    }
    for name, text in files.items():
        (repo / name).write_text(text)
    _git(repo, "init", "-q")
    return repo


def _library(folder: Path, *docs: str, filters: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        (folder / f"s{i}.yaml").write_text(textwrap.dedent(doc))
    if filters is not None:
        (folder / "filters.yaml").write_text(textwrap.dedent(filters))
    return folder


def _run(
    registry: CheckRegistry,
    ref: str,
    repo: Path,
    platform: str = "ios",
    params: dict[str, Any] | None = None,
    overrides: dict[str, str] | None = None,
    name: str = "R10",
) -> dict:
    target = Target(name, repo, platform)
    return run_one(registry, registry.get(ref), target, params or {}, overrides)


def _task(result: dict, task_id: str) -> dict:
    return next(t for t in result["tasks"] if t["task"] == task_id)


def _checks(task: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in task["checks"]}


LOOPBACK = {"interface_type": "Loopback", "ip_address": "1.1.1.11", "mask": "255.255.255.255"}


# --------------------------------------------------------------------------- the seed's examples


@pytest.fixture(scope="module")
def seed_registry(tmp_path_factory: pytest.TempPathFactory) -> CheckRegistry:
    return load_checks(_library(tmp_path_factory.mktemp("seed"), SEED_EXAMPLE, COMPOSED))


@pytest.mark.parametrize("platform", ["ios", "xr"])
def test_seed_example_passes_on_both_platforms(seed_registry, device, platform) -> None:
    result = _run(
        seed_registry, "check_interface_up_up_with_ip_and_mask", device, platform, LOOPBACK
    )
    assert result["passed"], result["failures"]
    # the platform override of the regex captured the name; the detail collect used it
    assert result["exports"]["interface_name"] == "Loopback0"
    detail = _task(result, "collect_interface_detail")
    assert detail["command"] == ["read", f"{platform}_detail_Loopback0.txt"]
    assert _checks(_task(result, "find_interface")) == {
        "exists": "passed",
        "not_down": "passed",
        "up_up_capture_name": "passed",
    }
    # variables are auto-scoped per device
    assert result["variables"]["R10.interface_name"] == "Loopback0"


def test_seed_example_no_match_and_when_guards(seed_registry, device) -> None:
    down = {**LOOPBACK, "ip_address": "2.2.2.22"}
    result = _run(seed_registry, "check_interface_up_up_with_ip_and_mask", device, "ios", down)
    assert not result["passed"]
    checks = _checks(_task(result, "find_interface"))
    assert checks["exists"] == "passed"
    assert checks["not_down"] == "failed"  # no_match that matched
    messages = {f["check"]: f["message"] for f in result["failures"]}
    assert messages["not_down"] == "Loopback with 2.2.2.22 was down on R10."
    assert "interface_name" not in result["exports"] or result["exports"]["interface_name"] is None
    # the detail collect ran with an unset @interface_name: a clear failure, no crash
    missing = {**LOOPBACK, "ip_address": "9.9.9.9"}
    result = _run(seed_registry, "check_interface_up_up_with_ip_and_mask", device, "ios", missing)
    assert _checks(_task(result, "find_interface")) == {
        "exists": "failed",
        "not_down": "skipped",
        "up_up_capture_name": "skipped",
    }
    assert _task(result, "collect_interface_detail")["status"] == "skipped"  # set: false
    assert [f["message"] for f in result["failures"]] == [
        "Loopback with 9.9.9.9 is not found on R10."
    ]


def test_seed_composition_example(seed_registry, device) -> None:
    params = {**LOOPBACK, "ospf_process": "7"}
    result = _run(seed_registry, "verify_full_interface_with_ospf:latest", device, "xr", params)
    assert result["passed"], result["failures"]
    assert result["exports"] == {"if_name": "Loopback0"}  # exported with a rename
    child = _task(result, "check_interface")
    assert child["scenario"] == "check_interface_up_up_with_ip_and_mask:1.0.0"
    # without an export, the child's other variables are discarded
    assert "R10.brief" not in result["variables"]
    wrong = _run(
        seed_registry,
        "verify_full_interface_with_ospf",
        device,
        "ios",
        {**params, "ospf_process": "8"},
    )
    assert [f["message"] for f in wrong["failures"]] == [
        "OSPF process 8 not found on Loopback0 (R10)."
    ]


def test_parameters_are_typed_at_bind_time(seed_registry, device) -> None:
    for bad, word in (
        ({**LOOPBACK, "ip_address": "1.1.1"}, "IP address"),
        ({**LOOPBACK, "mask": "32"}, "network mask"),
        ({"interface_type": "Loopback"}, "required"),
        ({**LOOPBACK, "colour": "red"}, "unknown parameter"),
    ):
        with pytest.raises(BindError, match=word):
            _run(seed_registry, "check_interface_up_up_with_ip_and_mask", device, "ios", bad)


# --------------------------------------------------------------------------- notation, filters


def test_notation_and_built_in_filters() -> None:
    scope = Scope(
        "R10", "xr", {"mask": "255.255.255.0", "n": 24, "s": " a.b ", "std": "eu/dora@2022"}
    )
    scope.variables = {"iface": {"ip": "1.1.1.11", "type": "Loopback"}, "ok": True}
    assert scope.render("{{ mask | to_prefix }}/{{ n | to_dotted_mask }}") == "24/255.255.255.0"
    assert scope.render("{{ s | strip | upper }}|{{ s | strip | escape_regex }}") == "A.B|a\\.b"
    assert scope.render("{{ std | to_slug }}") == "eu_dora_2022"
    assert scope.render("@iface.type on @device.platform (@system).") == "Loopback on xr (R10)."
    assert scope.value("@iface") == {"ip": "1.1.1.11", "type": "Loopback"}  # keeps its type
    assert scope.render("mail a@b.example") == "mail a@b.example"  # not a variable
    assert scope.condition("@ok and @iface.ip == '1.1.1.11'") is True
    assert scope.condition("@missing") is False
    with pytest.raises(Exception, match="@missing is not set"):
        scope.render("show @missing")
    assert scope.render("show @missing", strict=False) == "show @missing"


def test_custom_filter_and_refused_unsafe_ones(tmp_path: Path, device) -> None:
    scenario = """
    scenario:
      name: wildcard
      version: "1.0.0"
      parameters:
        mask: {type: network_mask, required: true}
      tasks:
        - id: collect
          action: collect
          collector: {name: read, path: "ios_brief.txt"}
          store: out
        - id: parse
          action: parse
          input: "@out"
          checks:
            - id: wildcard_rendered
              description: "wildcard {{ mask | to_wildcard }}"
              regex: 'Interface'
              on_fail: "{{ mask | to_wildcard }}"
            - id: absent
              regex: '{{ mask | to_wildcard | escape_regex }}'
              expected_result: no_match
    """
    filters = """
    custom_filters:
      - name: to_wildcard
        type: python_expression
        expression: "'.'.join(str(255 - int(o)) for o in value.split('.'))"
    """
    registry = load_checks(_library(tmp_path / "ok", scenario, filters=filters))
    result = _run(registry, "wildcard", device, params={"mask": "255.255.255.0"})
    assert result["passed"], result["failures"]
    described = _task(result, "parse")["checks"][0]["description"]
    assert described == "wildcard 0.0.0.255"
    assert _task(result, "parse")["checks"][1]["regex"] == r"0\.0\.0\.255"
    for expression, reason in (
        ("value.__class__", "private attribute"),
        ("__import__('os').system('true')", "private name"),
        ("open('/etc/passwd').read()", "unknown name 'open'"),
        ("(lambda: 1)()", "lambda"),
    ):
        assert reason in (unsafe_reason(expression) or "")
        bad = filters.replace("'.'.join(str(255 - int(o)) for o in value.split('.'))", expression)
        folder = _library(tmp_path / f"bad{abs(hash(expression))}", scenario, filters=bad)
        with pytest.raises(CheckError, match=r"filters.yaml:\d+: custom_filters\[0\]\.expression"):
            load_checks(folder)
    # even a filter that slipped past the load-time check is refused by simpleeval
    with pytest.raises(Exception, match="refused"):
        Filters({"sneaky": "value.__class__"}).apply("sneaky", "x")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_values_are_inserted_verbatim_and_stay_one_word(value: str) -> None:
    """A bound value is never scanned again (a value holding `@x` or `{{ y }}` stays as it is)
    and reaches a collector's argv as one word after `--`, or is refused (never an option)."""
    scope = Scope("S", "file", {"p": value})
    scope.variables = {"v": value}
    assert scope.render("{{ p }}|@v") == f"{value}|{value}"
    path = scope.render("{{ p }}")
    try:
        argv = untrusted.git_argv("log", ["--format=%H"], ["HEAD"], [path])
    except untrusted.UntrustedValue:
        return
    assert argv[argv.index("--") + 1 :] == [untrusted.relative_path(path)]
    assert argv.index("--end-of-options") < argv.index("--")
    assert not untrusted.relative_path(path).startswith("-")


# --------------------------------------------------------------------------- iteration


ITERATION = """
scenario:
  name: neighbors
  version: "1.0.0"
  parameters:
    expected_neighbors: {type: list, required: true}
    stop: {type: boolean, default: true}
    ifaces: {type: list, default: []}
  tasks:
    - id: collect_neighbors
      action: collect
      collector: {name: read, path: "neighbors.txt"}
      store: ospf_output
    - id: check_each_neighbor
      action: parse
      input: "@ospf_output"
      points: 2
      for_each:
        var: neighbor
        in: "{{ expected_neighbors }}"
        stop_on_fail: true
      checks:
        - id: neighbor_full
          regex: '^@neighbor\\s+\\d+\\s+FULL'
          flags: m
          on_fail: "OSPF neighbor @neighbor not in FULL state on @device."
    - id: check_all_neighbors
      action: parse
      input: "@ospf_output"
      for_each:
        var: neighbor
        in: "{{ expected_neighbors }}"
        stop_on_fail: false
      checks:
        - id: neighbor_full
          regex: '^@neighbor\\s+\\d+\\s+FULL'
          flags: m
          on_fail: "OSPF neighbor @neighbor not in FULL state on @device."
    - id: loop_var_gone
      action: parse
      input: "@ospf_output"
      checks:
        - id: no_neighbor
          when: "@neighbor"
          regex: 'x'
    - id: each_interface
      action: scenario
      scenario: iface_in_brief
      for_each:
        var: iface
        in: "{{ ifaces }}"
      params:
        name: "@iface.type"
        ip: "@iface.ip"
"""
IFACE_CHILD = """
scenario:
  name: iface_in_brief
  version: "1.0.0"
  parameters:
    name: {type: string, required: true}
    ip: {type: string, required: true}
  tasks:
    - id: collect
      action: collect
      collector: {name: read, path: "ios_brief.txt"}
      store: brief
    - id: parse
      action: parse
      input: "@brief"
      checks:
        - id: listed
          regex: '^{{ name }}\\s+{{ ip | escape_regex }}\\s'
          flags: m
          on_fail: "{{ name }} {{ ip }} missing on @system"
"""


@pytest.fixture(scope="module")
def loop_registry(tmp_path_factory: pytest.TempPathFactory) -> CheckRegistry:
    return load_checks(_library(tmp_path_factory.mktemp("loop"), ITERATION, IFACE_CHILD))


def test_for_each_stop_on_fail_and_scope(loop_registry, device) -> None:
    params = {"expected_neighbors": ["10.0.0.3", "10.0.0.2", "10.0.0.9"]}
    result = _run(loop_registry, "neighbors", device, params=params)
    stopped = _task(result, "check_each_neighbor")
    assert [i["item"] for i in stopped["iterations"]] == ["10.0.0.3"]  # broke at the first
    assert stopped["status"] == "failed" and stopped["earned"] == 0
    every = _task(result, "check_all_neighbors")
    assert [(i["item"], i["status"]) for i in every["iterations"]] == [
        ("10.0.0.3", "failed"),
        ("10.0.0.2", "passed"),
        ("10.0.0.9", "failed"),
    ]
    assert [f["message"] for f in every["failures"]] == [
        "OSPF neighbor 10.0.0.3 not in FULL state on R10.",
        "OSPF neighbor 10.0.0.9 not in FULL state on R10.",
    ]
    assert every["failures"][0]["at"] == "check_all_neighbors[10.0.0.3]"
    # the loop variable is scoped to its iteration
    assert _checks(_task(result, "loop_var_gone")) == {"no_neighbor": "skipped"}
    # empty list: skipped, no failure, points earned (dichotomous scoring per step)
    empty = _task(result, "each_interface")
    assert empty["status"] == "skipped" and not empty["failures"]
    assert result["score"] == {"earned": 3.0, "total": 6.0}


def test_for_each_all_pass_and_dot_notation(loop_registry, device) -> None:
    ifaces = [{"type": "Loopback0", "ip": "1.1.1.11"}, {"type": "Loopback9", "ip": "9.9.9.9"}]
    params = {"expected_neighbors": ["10.0.0.2"], "ifaces": ifaces}
    result = _run(loop_registry, "neighbors", device, params=params)
    assert _task(result, "check_each_neighbor")["earned"] == 2.0
    each = _task(result, "each_interface")
    assert [i["params"] for i in each["iterations"]] == [
        {"name": "Loopback0", "ip": "1.1.1.11"},
        {"name": "Loopback9", "ip": "9.9.9.9"},
    ]
    assert [i["status"] for i in each["iterations"]] == ["passed", "failed"]
    assert [f["message"] for f in each["failures"]] == ["Loopback9 9.9.9.9 missing on R10"]


def test_concurrent_mode_is_reserved(tmp_path: Path) -> None:
    doc = ITERATION.replace("stop_on_fail: false", "stop_on_fail: false\n        mode: concurrent")
    with pytest.raises(CheckError) as info:
        load_checks(_library(tmp_path, doc, IFACE_CHILD))
    text = str(info.value)
    assert "task check_all_neighbors: tasks[check_all_neighbors].for_each.mode" in text
    assert "concurrent is reserved for future use" in text and "s0.yaml:" in text


# --------------------------------------------------------------------------- composition


PARENT = """
scenario:
  name: parent
  version: "1.0.0"
  platforms: [ios, xr]
  parameters:
    secret: {type: string, default: "s3cret"}
    skip: {type: boolean, default: false}
  export:
    leaked: leaked
    child_platform: child_platform
  tasks:
    - id: collect_parent
      action: collect
      collector: {name: read, path: "ios_brief.txt"}
      store: parent_only
    - id: isolated
      action: scenario
      scenario: child:1.0.0
      params: {word: Loopback0}
      export:
        child_platform: platform_seen
    - id: kept_silent
      action: scenario
      scenario: child
      params: {word: Nothing}
    - id: overridden
      action: scenario
      scenario: child:1.0.0
      params: {word: Nothing}
      points: 3
      on_fail: "parent says: @system lacks it"
    - id: guarded
      when: "{{ skip }}"
      action: scenario
      scenario: child:1.0.0
      params: {word: Nothing}
"""
CHILD_V1 = """
scenario:
  name: child
  version: "1.0.0"
  platforms: [ios, xr]
  parameters:
    word: {type: string, required: true}
  export:
    platform_seen: platform_seen
    parent_view: parent_view
  tasks:
    - id: collect
      action: collect
      collector:
        default: {name: read, path: "ios_brief.txt"}
        xr: {name: read, path: "xr_brief.txt"}
      store: text
    - id: look
      action: parse
      input: "@text"
      checks:
        - id: sees_parent
          when: "@parent_only"
          regex: '.'
          set: leaked
        - id: found
          regex: '^{{ word }}\\s'
          flags: m
          on_fail: "child: {{ word }} not on @system"
        - id: platform
          regex:
            default: '(?P<p>IP-Address)'
            xr: '(?P<p>IPv4-Address)'
          capture:
            platform_seen: p
"""
CHILD_V2 = CHILD_V1.replace('version: "1.0.0"', 'version: "2.0.0"').replace(
    'on_fail: "child: {{ word }} not on @system"', 'on_fail: "child v2: {{ word }} missing"'
)


@pytest.fixture(scope="module")
def comp_registry(tmp_path_factory: pytest.TempPathFactory) -> CheckRegistry:
    return load_checks(_library(tmp_path_factory.mktemp("comp"), PARENT, CHILD_V1, CHILD_V2))


def test_composition_rules(comp_registry, device) -> None:
    assert comp_registry.versions("child") == ["1.0.0", "2.0.0"]  # side by side
    result = _run(comp_registry, "parent", device, "xr")
    isolated = _task(result, "isolated")
    assert isolated["status"] == "passed"
    # isolation: the parent's @parent_only is not visible in the child
    look = next(t for t in isolated["children"] if t["task"] == "look")
    assert _checks(look)["sees_parent"] == "skipped"
    assert result["exports"]["leaked"] is None
    # export with rename promotes only the named variable; platform inherited from the parent
    assert result["exports"]["child_platform"] == "IPv4-Address"  # the child ran the xr variants
    assert "R10.text" not in result["variables"]
    # failure propagation, :latest resolution (2.0.0), the parent's on_fail overriding
    silent = _task(result, "kept_silent")
    assert silent["status"] == "failed" and silent["scenario"] == "child:2.0.0"
    assert [f["message"] for f in silent["failures"]] == ["child v2: Nothing missing"]
    over = _task(result, "overridden")
    assert [f["message"] for f in over["failures"]] == ["parent says: R10 lacks it"]
    assert over["failures"][0]["at"] == "overridden > child:1.0.0 > look"
    # when on a scenario task skips the whole sub-scenario
    assert _task(result, "guarded")["status"] == "skipped"
    assert "children" not in _task(result, "guarded")
    assert not result["passed"]
    # a scenario task carries points like any other; its child's failure costs them
    assert over["points"] == 3 and over["earned"] == 0
    assert result["score"] == {"earned": 3.0, "total": 7.0}
    # the caller's error_overrides win over every on_fail
    again = _run(
        comp_registry, "parent", device, "ios", overrides={"look.found": "caller: @system"}
    )
    assert {f["message"] for f in again["failures"]} == {"caller: R10"}
    # a platform the scenario does not support fails clearly
    other = _run(comp_registry, "parent", device, "dvc")
    assert "does not support the platform dvc" in other["failures"][0]["message"]


def _problems(tmp_path: Path, *docs: str) -> str:
    with pytest.raises(CheckError) as info:
        load_checks(_library(tmp_path, *docs))
    return str(info.value)


def _caller(ref: str, params: str = "{word: x}", name: str = "caller") -> str:
    return f"""
scenario:
  name: {name}
  version: "1.0.0"
  tasks:
    - id: call_it
      action: scenario
      scenario: {ref}
      params: {params}
"""


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_caller("nothing_here:1.0.0"), "unknown scenario 'nothing_here'"),
        (_caller("child:9.9.9"), "unknown version child:9.9.9: registered versions are 1.0.0"),
        (_caller("child:1.0.0", "{word: x, colour: red}"), "unknown parameter 'colour' of child"),
        (_caller("child:1.0.0", "{}"), "child:1.0.0 requires the parameter 'word'"),
    ],
)
def test_registry_refuses_bad_references(tmp_path: Path, doc: str, expected: str) -> None:
    text = _problems(tmp_path, CHILD_V1, doc)
    assert expected in text
    assert "s1.yaml:" in text and "task call_it: tasks[call_it]" in text


def test_registry_refuses_cycles_and_depth(tmp_path: Path) -> None:
    a = _caller("b", "{}", "a")
    b = _caller("a", "{}", "b")
    text = _problems(tmp_path / "cycle", a, b)
    assert "circular composition: a:1.0.0 -> b:1.0.0 -> a:1.0.0" in text
    assert "task call_it" in text
    self_loop = _problems(tmp_path / "self", _caller("caller", "{}"))
    assert "circular composition: caller:1.0.0 -> caller:1.0.0" in self_loop
    leaf = """
scenario:
  name: l0
  version: "1.0.0"
  tasks:
    - id: c
      action: collect
      collector: git_status
"""
    chain = [leaf] + [_caller(f"l{i - 1}", "{}", f"l{i}") for i in range(1, 5)]
    text = _problems(tmp_path / "deep", *chain)
    [line] = text.splitlines()  # only l4 (s4.yaml) nests too deep
    assert line.startswith(str(tmp_path / "deep" / "s4.yaml:6: task call_it:"))
    assert "composition nests 4 levels deep through l3:1.0.0: at most 3 are allowed" in line
    ok = load_checks(_library(tmp_path / "ok", *chain[:4]))  # depth 3 is allowed
    assert ok.versions("l3") == ["1.0.0"]


def test_registry_refuses_bad_regex_params_and_commands(tmp_path: Path) -> None:
    doc = """
scenario:
  name: broken
  version: "1.0.0"
  parameters:
    p: {type: string}
  tasks:
    - id: grab
      action: collect
      collector: {name: read, path: out.txt}
      store: out
    - id: inspect
      action: parse
      input: "@out"
      checks:
        - id: fine
          regex: 'x'
    - id: typo
      action: parse
      input: "@otu"
      checks:
        - id: unbalanced
          regex: '(unclosed'
        - id: undeclared
          regex: '{{ q | upper }} {{ p | no_such_filter }}'
"""
    commands = """
scenario:
  name: commands
  version: "1.0.0"
  tasks:
    - id: grab
      action: collect
      command: "rm -rf /"
    - id: commit
      action: collect
      collector: {name: git_commit, message: x}
    - id: extra
      action: collect
      collector: {name: read, path: a, pager: less}
"""
    text = _problems(tmp_path / "commands", commands)
    assert "task grab: tasks[grab].command: a check names a collector, never a command" in text
    assert "task commit: tasks[commit].collector: unknown collector 'git_commit'" in text
    assert "read: unknown parameter(s) pager: it takes path" in text
    text = _problems(tmp_path, doc)
    assert "task typo: tasks[typo].checks[unbalanced].regex.default: bad regex" in text
    assert (
        "task typo: tasks[typo].input: @otu is not stored by an earlier task (known: out)" in text
    )
    assert "unknown parameter 'q': declared are p" in text
    assert "unknown filter 'no_such_filter'" in text
    assert all(line.startswith(str(tmp_path / "s0.yaml:")) for line in text.splitlines())
    reserved = doc.replace("      store: out\n", "      store: device\n")
    text = _problems(tmp_path / "reserved", reserved)
    assert "s0.yaml:8: task grab: tasks[grab].store: @device is reserved" in text


def test_collect_runs_without_shell_in_repo_with_timeout(tmp_path: Path, device) -> None:
    doc = """
scenario:
  name: collects
  version: "1.0.0"
  tasks:
    - id: escape
      action: collect
      collector: {name: read, path: "../outside.txt"}
    - id: slow
      action: collect
      collector: sei_status
      timeout: 0.01
    - id: words
      action: collect
      collector: {name: git_log, path: "semi; rm -rf x"}
      exit_codes: [0, 128]  # the device repository has no commit yet
      store: listed
"""
    registry = load_checks(_library(tmp_path / "lib", doc))
    result = _run(registry, "collects", device, params={})
    messages = [f["message"] for f in result["failures"]]
    assert "'..' leaves the repository" in messages[0]
    assert "timed out after 0.01 s" in messages[1]
    words = _task(result, "words")
    assert words["status"] == "passed" and words["command"][-2:] == ["--", "semi; rm -rf x"]


# --------------------------------------------------------------------------- real systems


def _dvc_system(path: Path) -> None:
    make_system(path, path.name)
    manifest = yaml.safe_load((path / "sei.yaml").read_text())
    manifest["pipeline"] = {"tool": "dvc", "metrics": "metrics.json", "params": "params.yaml"}
    (path / "sei.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (path / "dvc.yaml").write_text(
        "stages:\n  metrics:\n    cmd: python make_metrics.py\n"
        "    deps: [make_metrics.py, data/records.csv]\n    params: [bias]\n"
        "    metrics:\n      - metrics.json:\n          cache: false\n"
    )
    subprocess.run(["dvc", "init", "-q"], cwd=path, check=True, env=_tool_env())


DAGSTER_PIPELINE = '''"""The system's pipeline as one Dagster asset: the metrics."""
import subprocess
import sys

import dagster as dg


@dg.asset(code_version="1")
def metrics() -> None:
    subprocess.run([sys.executable, "make_metrics.py"], check=True)


defs = dg.Definitions(assets=[metrics], executor=dg.in_process_executor)
'''


def _dagster_system(path: Path) -> None:
    make_system(path, path.name, bias=1.0)  # red: the parity gap exceeds its bound
    manifest = yaml.safe_load((path / "sei.yaml").read_text())
    manifest["pipeline"] = {"tool": "dagster", "metrics": "metrics.json", "params": "params.yaml"}
    (path / "sei.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (path / "dagster_pipeline").mkdir()
    (path / "dagster_pipeline" / "definitions.py").write_text(DAGSTER_PIPELINE)
    (path / ".gitignore").write_text("dagster_pipeline/.dagster_home/\n")


def _tool_env() -> dict[str, str]:
    from sei_assets.core.reproducers.base import tool_env

    return {**tool_env(), "DVC_NO_ANALYTICS": "1"}


RISK_OFFICER = "Risk Officer <risk@example.test>"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three systems, each with committed, signed evidence, conformance and an approval signed
    by the Risk Officer under the fleet's roster (trusted while the module's tests run): a `file`
    one and a DVC one green, a Dagster one red (its residual risk accepted)."""
    from sei_assets.core import governance, people
    from sei_assets.core.engine import project_conformance, run
    from tests.org import trust_roster

    base = tmp_path_factory.getbasetemp()
    root = tmp_path_factory.mktemp("fleet")
    organisation = pytest.MonkeyPatch()
    for var, value in trust_roster(root / "org", {RISK_OFFICER: ["management"]}).items():
        organisation.setenv(var, value)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEI_SIGNING_KEY", str(base / "keys" / "signing-key.pem"))
        mp.setenv("DVC_NO_ANALYTICS", "1")
        for var, value in (("NAME", "Test Assessor"), ("EMAIL", "assessor@example.test")):
            mp.setenv(f"GIT_AUTHOR_{var}", value)
            mp.setenv(f"GIT_COMMITTER_{var}", value)
        make_system(root / "credit_file", "credit_file")
        _dvc_system(root / "credit_dvc")
        _dagster_system(root / "credit_dagster")
        for name in ("credit_file", "credit_dvc", "credit_dagster"):
            repo = root / name
            run(repo)
            project_conformance(repo, ["iso/23894@2023"])
            _git(repo, "add", "-A")
            _git(repo, "commit", "-qm", "evidence")
            governance.approve(
                repo,
                RISK_OFFICER,
                accept_residual=name == "credit_dagster",
                key=people.load_key(RISK_OFFICER),
            )
    entries = [{"name": n, "repo": n} for n in ("credit_file", "credit_dvc", "credit_dagster")]
    (root / "systems.yaml").write_text(yaml.safe_dump({"systems": entries}))
    yield root
    organisation.undo()


READINESS = [
    "--param",
    "required_controls=parity-gap,accuracy-floor",
    "--param",
    'clauses=[{standard: "iso/23894@2023", clause: "6.3"}]',
]


def _outcome(doc: dict) -> dict:
    return {
        "systems": doc["summary"]["systems"],
        "failures": doc["summary"]["failures"],
        "steps": doc["summary"]["steps"],
        "exports": {r["system"]: r["exports"] for r in doc["results"]},
    }


def test_release_readiness_as_a_dagster_job_and_from_the_cli(fleet: Path, sei, tmp_path) -> None:
    from sei_assets.scenarios.dialects.checks.jobs import build_check_job

    registry = load_checks()
    scenario = registry.get("release_readiness:1.0.0")
    job = build_check_job(registry, scenario)
    config = {
        "ops": {
            f"{scenario.job_name}__targets": {
                "config": {
                    "systems_file": str(fleet / "systems.yaml"),
                    "params": {
                        "required_controls": ["parity-gap", "accuracy-floor"],
                        "clauses": [{"standard": "iso/23894@2023", "clause": "6.3"}],
                    },
                    "results_dir": str(tmp_path / "job"),
                }
            }
        }
    }
    result = job.execute_in_process(run_config=config, raise_on_error=False)
    assert not result.success  # one system is red: the summary fails the run
    mapped = [
        e
        for e in result.all_node_events
        if e.is_successful_output and e.step_key.startswith(f"{scenario.job_name}__check_system")
    ]
    assert sorted(e.step_key.split("[")[1][:-1] for e in mapped) == [
        "credit_dagster",
        "credit_dvc",
        "credit_file",
    ]
    meta = {
        e.step_key: e.event_specific_data.metadata for e in mapped
    }  # each system's task results in its op's metadata
    red = meta[f"{scenario.job_name}__check_system[credit_dagster]"]
    assert red["passed"].value is False
    assert {t["task"]: t["status"] for t in red["tasks"].value}["controls"] == "failed"
    failure = next(e for e in result.all_node_events if e.is_step_failure)
    described = failure.event_specific_data.error.message
    assert (
        "credit_dagster: task controls, check not_failed: Required control parity-gap does not "
        "pass on credit_dagster: the release is blocked." in described
    )
    [job_doc_path] = sorted((tmp_path / "job").glob("release_readiness-1.0.0-*.json"))
    job_doc = json.loads(job_doc_path.read_text())

    cli = sei(
        "check",
        "run",
        "release_readiness:1.0.0",
        "--systems-file",
        str(fleet / "systems.yaml"),
        *READINESS,
        "--out",
        str(tmp_path / "cli"),
        "--json",
    )
    assert cli.exit_code == 1, cli.output
    printed = json.loads(cli.stdout)
    cli_doc = json.loads(Path(printed["document"]).read_text())
    assert _outcome(cli_doc) == _outcome(job_doc)  # same results from both fronts

    systems = cli_doc["summary"]["systems"]
    assert {n: (s["platform"], s["passed"]) for n, s in systems.items()} == {
        "credit_dagster": ("dagster", False),
        "credit_dvc": ("dvc", True),
        "credit_file": ("file", True),
    }
    assert systems["credit_dagster"]["tasks"] == {
        "evidence": "passed",
        "fresh": "passed",
        "controls": "failed",
        "clauses": "passed",
        "approval": "passed",
    }
    checks = systems["credit_dagster"]["checks"]  # pass/fail per system and check
    assert checks["controls[parity-gap] > control_passes:1.0.0 > find_control.not_failed"] == (
        "failed"
    )
    assert checks["controls[accuracy-floor] > control_passes:1.0.0 > find_control.exists"] == (
        "passed"
    )
    exports = _outcome(cli_doc)["exports"]
    assert exports["credit_dvc"] == {
        "gate": "green",
        "approved_by": "Risk Officer <risk@example.test>",
    }
    assert exports["credit_dagster"]["gate"] == "red"
    # dichotomous scoring: `controls` earns nothing because one system failed it
    assert {s["task"]: s["earned"] for s in cli_doc["summary"]["steps"]}["controls"] == 0
    # the dvc system's freshness asked DVC itself (platform variant of the command)
    dvc = next(r for r in cli_doc["results"] if r["system"] == "credit_dvc")
    fresh = next(t for t in dvc["tasks"] if t["task"] == "fresh")
    pending = next(t for t in fresh["children"] if t["task"] == "collect_pipeline_state")
    assert pending["collector"] == "pipeline_status"
    assert pending["command"][1:] == ["status", "--json"]
    # the result document is signed
    pubkey = signing.public_key_hex(signing.load_or_create_key())
    for path in (job_doc_path, Path(printed["document"])):
        assert signing.verify_file(path, pubkey, path.name).ok


def test_checks_fail_when_the_evidence_drifts(fleet: Path, sei, tmp_path) -> None:
    """evidence_fresh 1.0.0 and 1.1.0 side by side; a data change makes both fail."""
    repo = fleet / "credit_file"
    records = repo / "data" / "records.csv"
    original = records.read_text()
    records.write_text(original + "a,1\n")
    try:
        args = ["--systems-file", str(fleet / "systems.yaml"), "--system", "credit_file"]
        printed = {}
        for version in ("1.0.0", "1.1.0"):
            out = sei("check", "run", f"evidence_fresh:{version}", *args, "--out", str(tmp_path))
            assert out.exit_code == 1
            assert "The evidence of credit_file is stale" in out.stdout
            printed[version] = out.stdout
        # only 1.1.0 asks the pipeline tool (git, for the `file` platform) too
        pending = "The file pipeline of credit_file has pending changes"
        assert pending in printed["1.1.0"] and pending not in printed["1.0.0"]
        custom = ["--error-override", "freshness.no_drift=@system drifted: re-run it"]
        out = sei("check", "run", "evidence_fresh:1.0.0", *args, *custom, "--out", str(tmp_path))
        assert "credit_file drifted: re-run it" in out.stdout
    finally:
        records.write_text(original)


def test_cli_list_validate_and_errors(sei, tmp_path: Path) -> None:
    listed = sei("check", "list", "--json")
    rows = {(r["name"], r["version"]) for r in json.loads(listed.stdout)}
    assert {("evidence_fresh", "1.0.0"), ("evidence_fresh", "1.1.0")} <= rows
    assert ("release_readiness", "1.0.0") in rows
    assert sei("check", "validate").exit_code == 0
    bad = _library(tmp_path / "bad", _caller("missing:1.0.0"))
    out = sei("check", "validate", "--checks-dir", str(bad))
    assert out.exit_code == 2
    assert "s0.yaml" in out.output and "task call_it" in out.output
    unknown = sei("check", "run", "release_readiness:7.0.0")
    assert unknown.exit_code == 2 and "registered versions are 1.0.0" in unknown.output
    param = sei("check", "run", "release_readiness", "--param", "colour=red")
    assert param.exit_code == 2 and "unknown parameter of release_readiness" in param.output


def test_dialect_registered_and_a_bad_file_reported(tmp_path: Path) -> None:
    from sei_assets.scenarios.dialects import DIALECTS

    checks = next(d for d in DIALECTS if d.name == "checks")
    assert checks.seed == "003"
    jobs, problems = checks.jobs(None)
    assert not problems
    assert "check_release_readiness_1_0_0" in {j.name for j in jobs}
    import dagster as dg

    dg.Definitions.validate_loadable(dg.Definitions(jobs=jobs))
    folder = _library(tmp_path / "checks", CHILD_V1, "scenario: [not, a, mapping]\n")
    jobs, problems = checks.jobs(tmp_path)
    assert [j.name for j in jobs] == ["check_child_1_0_0"]
    assert problems and problems[0][0] == folder / "s1.yaml"


def test_job_over_targets_given_by_the_caller(seed_registry, device, tmp_path: Path) -> None:
    """The fan-out job with targets from the run config (not the registry): one mapped op per
    target, each on its own platform, and the summary's signed document."""
    from sei_assets.scenarios.dialects.checks.jobs import build_check_job

    scenario = seed_registry.get("check_interface_up_up_with_ip_and_mask")
    job = build_check_job(seed_registry, scenario)
    targets = [
        {"name": "R10", "repo": str(device), "platform": "ios"},
        {"name": "R11", "repo": str(device), "platform": "xr"},
    ]
    config = {"targets": targets, "params": LOOPBACK, "results_dir": str(tmp_path)}
    result = job.execute_in_process(
        run_config={"ops": {f"{scenario.job_name}__targets": {"config": config}}}
    )
    assert result.success
    summary = result.output_for_node(f"{scenario.job_name}__summary")
    assert {n: (s["platform"], s["passed"]) for n, s in summary["systems"].items()} == {
        "R10": ("ios", True),
        "R11": ("xr", True),
    }
    doc = json.loads(Path(summary["document"]).read_text())
    assert [r["exports"]["interface_name"] for r in doc["results"]] == ["Loopback0", "Loopback0"]
    bad = {**config, "params": {**LOOPBACK, "mask": "not-a-mask"}}
    failed = job.execute_in_process(
        run_config={"ops": {f"{scenario.job_name}__targets": {"config": bad}}},
        raise_on_error=False,
    )
    assert not failed.success
    failure = next(e for e in failed.all_node_events if e.is_step_failure)
    assert (
        "parameter 'mask': expected a dotted network mask"
        in failure.event_specific_data.error.message
    )


def test_cli_runs_the_dagster_job_with_the_same_results(
    sei, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sei check run --dagster` runs the fan-out job in-process; same document as without."""
    monkeypatch.delenv("DAGSTER_HOME")  # a throwaway in-memory instance: no SQLite to set up
    make_system(tmp_path / "fresh_one", "fresh_one")  # declared, no evidence yet
    registry = tmp_path / "systems.yaml"
    registry.write_text(yaml.safe_dump({"systems": [{"name": "fresh_one", "repo": "fresh_one"}]}))
    docs = {}
    for mode in ([], ["--dagster"]):
        out = sei(
            "check",
            "run",
            "evidence_fresh:1.0.0",
            "--systems-file",
            str(registry),
            "--out",
            str(tmp_path / (mode[0][2:] if mode else "direct")),
            *mode,
            "--json",
        )
        assert out.exit_code == 1, out.output
        docs[bool(mode)] = json.loads(Path(json.loads(out.stdout)["document"]).read_text())
    assert _outcome(docs[True]) == _outcome(docs[False])
    assert docs[True]["summary"]["failures"][0]["message"] == (
        "fresh_one has no evidence yet: run `sei run` there."
    )
    bad = sei(
        "check",
        "run",
        "evidence_fresh",
        "--systems-file",
        str(registry),
        "--dagster",
        "--system",
        "nope",
    )
    assert bad.exit_code == 2 and "unknown system(s) nope" in bad.output


def test_a_target_platform_comes_from_the_manifest_its_registry_entry_names() -> None:
    """A registry entry's ``manifest`` (relative to its repository) picks the platform."""
    from sei_assets.core.paths import resources_dir
    from sei_assets.scenarios.dialects.checks.runner import platform_of

    loan = resources_dir() / "loan"
    assert platform_of(loan) == "dvc"
    assert platform_of(loan, "sei_dagster.yaml") == "dagster"
    assert platform_of(loan, "sei_mlflow.yaml") == "mlflow"
