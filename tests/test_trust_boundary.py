"""A repository's content is data, never a command (issue 31, the dialects' part).

One test per attack: each would run a program, write outside its place or read the signing
key on the main branch before this change; here each is refused with exit 2 and a message that
says why, and leaves no trace."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from sei_assets.core import untrusted
from sei_assets.scenarios.dialects.checks.collect import Call, collect
from tests.systems import make_system

PAYLOAD = "touch PWNED;true"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `file` system with committed, signed evidence, and its systems.yaml beside it."""
    from sei_assets.core.engine import run

    root = tmp_path_factory.mktemp("boundary")
    key = tmp_path_factory.getbasetemp() / "keys" / "signing-key.pem"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEI_SIGNING_KEY", str(key))
        for var, value in (("NAME", "Test Assessor"), ("EMAIL", "assessor@example.test")):
            mp.setenv(f"GIT_AUTHOR_{var}", value)
            mp.setenv(f"GIT_COMMITTER_{var}", value)
        repo = make_system(root / "sys", "sys")
        run(repo)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "evidence")
    (root / "systems.yaml").write_text(
        yaml.safe_dump({"systems": [{"name": "sys", "repo": "sys"}]})
    )
    return root


def _traces(root: Path) -> list[Path]:
    return [p for p in root.rglob("PWNED")] + [p for p in Path.cwd().glob("PWNED")]


def _check_dir(tmp_path: Path, tasks: str) -> Path:
    folder = tmp_path / "evil-checks"
    folder.mkdir()
    doc = textwrap.dedent(
        """\
        scenario:
          name: evil
          version: "1.0.0"
          tasks:
        """
    ) + textwrap.indent(textwrap.dedent(tasks), "    ")
    (folder / "evil-1.0.0.yaml").write_text(doc)
    return folder


def _run_check(sei, root: Path, folder: Path, out: Path):
    return sei(
        "check",
        "run",
        "evil",
        "--checks-dir",
        str(folder),
        "--systems-file",
        str(root / "systems.yaml"),
        "--out",
        str(out),
    )


# --------------------------------------------------------------------------- evidence


def test_control_passes_treats_a_risk_id_from_evidence_as_data(
    evaluated: Path, sei, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped `control_passes` captures `risk_id` from .sei/bundle.json: a value that is a
    git option (`--open-files-in-pager=...`) ran a command; now it is only text that is not
    declared in the manifest."""
    repo = tmp_path / "sys"
    subprocess.run(["cp", "-a", str(evaluated / "sys"), str(repo)], check=True)
    (tmp_path / "systems.yaml").write_text((evaluated / "systems.yaml").read_text())
    with (repo / "sei.yaml").open("a") as fh:  # a match for the old `git grep`: its pager ran
        fh.write("# HEAD\n")
    bundle = repo / ".sei" / "bundle.json"
    text = bundle.read_text()
    doc = json.loads(text)
    real = next(c["risk_id"] for c in doc["control_results"] if c["control_id"] == "parity-gap")
    bundle.write_text(
        text.replace(f'"risk_id": "{real}"', f'"risk_id": "--open-files-in-pager={PAYLOAD}"')
    )
    monkeypatch.chdir(repo)
    result = sei(
        "check",
        "run",
        "control_passes",
        "--param",
        "control=parity-gap",
        "--systems-file",
        str(tmp_path / "systems.yaml"),
        "--out",
        str(tmp_path / "out"),
    )
    assert not _traces(tmp_path), "a value from the evidence ran a command"
    assert result.exit_code == 1, result.output
    assert "is not declared in the committed manifest" in result.output
    # a risk id that is a regex does not match every declared id either
    bundle.write_text(text.replace(f'"risk_id": "{real}"', '"risk_id": ".*"'))
    result = sei(
        "check", "run", "control_passes", "--param", "control=parity-gap",
        "--systems-file", str(tmp_path / "systems.yaml"), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "Risk .*, treated by parity-gap, is not declared" in result.output
    # the genuine id still passes
    bundle.write_text(text)
    result = sei(
        "check", "run", "control_passes", "--param", "control=parity-gap",
        "--systems-file", str(tmp_path / "systems.yaml"), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- check files

ATTACKS = {
    "git grep opens a pager": f"command: \"git grep --open-files-in-pager='{PAYLOAD}' -e x HEAD\"",
    "git diff writes anywhere": 'command: "git diff --output=/tmp/sei-evil-diff HEAD"',
    "git log writes anywhere": 'command: "git log --output=/tmp/sei-evil-log"',
    "git diff reads the key": 'command: "git diff --no-index {key} /dev/null"',
    "dvc exp runs": 'command: "dvc exp -q run"',
    "dagster loads code": 'command: "dagster definitions validate -f evil.py"',
    "sei runs a scenario": 'command: "sei scenario run --dir evil"',
    "sei approves": "command: \"sei approve --by 'Mallory <m@evil>' --accept-residual\"",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_check_file_cannot_name_a_command(
    attack: str, evaluated: Path, sei, tmp_path: Path, _isolated_key: Path
) -> None:
    """Every escape of the old allowlist of command lines: the check file is refused as a
    whole (exit 2, file, line, task), before anything runs."""
    line = ATTACKS[attack].replace("{key}", str(_isolated_key))
    folder = _check_dir(tmp_path, f"- id: grab\n  action: collect\n  {line}\n  store: out\n")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=evaluated / "sys", capture_output=True, text=True
    ).stdout
    result = _run_check(sei, evaluated, folder, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "evil-1.0.0.yaml:5: task grab: tasks[grab].command" in result.output
    assert "a check names a collector, never a command" in result.output
    assert not _traces(evaluated) and not (tmp_path / "out").exists()
    for written in ("/tmp/sei-evil-diff", "/tmp/sei-evil-log"):
        assert not Path(written).exists()
    after = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=evaluated / "sys", capture_output=True, text=True
    ).stdout
    assert after == head  # no approval commit
    validate = sei("check", "validate", "--checks-dir", str(folder))
    assert validate.exit_code == 2


COLLECTOR_ATTACKS = {
    "an unknown collector": ("{name: git_grep, pattern: x}", "unknown collector 'git_grep'"),
    "an option as a parameter": ("{name: sei_status, args: approve}", "unknown parameter(s) args"),
}


@pytest.mark.parametrize("attack", list(COLLECTOR_ATTACKS))
def test_a_collector_takes_only_its_parameters(
    attack: str, evaluated: Path, sei, tmp_path: Path
) -> None:
    call, message = COLLECTOR_ATTACKS[attack]
    folder = _check_dir(tmp_path, f"- id: grab\n  action: collect\n  collector: {call}\n")
    result = _run_check(sei, evaluated, folder, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.output


VALUE_ATTACKS = {
    "a revision that is an option": (
        '{name: git_show, rev: "--output=/tmp/sei-evil-show", path: sei.yaml}',
        "is not a valid git revision",
    ),
    "a path that is an option": (
        '{name: git_log, path: "--output=/tmp/sei-evil-log2"}',
        "a path may not start with '-'",
    ),
    "an absolute path": ("{name: read, path: /etc/passwd}", "an absolute path is outside"),
    "a path out of the repository": (
        "{name: git_show, path: ../../keys/signing-key.pem}",
        "'..' leaves the repository",
    ),
    "a pathspec magic": ('{name: git_log, path: ":(glob)**"}', "may not start with '-' or ':'"),
    "a symlink to the signing key": (
        "{name: read, path: key.pem}",
        "resolves outside the repository",
    ),
}


@pytest.mark.parametrize("attack", list(VALUE_ATTACKS))
def test_collector_parameters_are_data(
    attack: str, evaluated: Path, sei, tmp_path: Path, _isolated_key: Path
) -> None:
    """A parameter that would be an option, a path outside the repository or the key: the run
    is refused (exit 2) with the rule's reason, and nothing is written or read."""
    call, message = VALUE_ATTACKS[attack]
    link = evaluated / "sys" / "key.pem"
    if not link.is_symlink():
        _isolated_key.parent.mkdir(parents=True, exist_ok=True)
        _isolated_key.touch()
        link.symlink_to(_isolated_key)
    folder = _check_dir(
        tmp_path, f"- id: grab\n  action: collect\n  collector: {call}\n  store: out\n"
    )
    result = _run_check(sei, evaluated, folder, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "refused: could not collect" in result.output and message in result.output
    for written in ("/tmp/sei-evil-show", "/tmp/sei-evil-log2"):
        assert not Path(written).exists()
    doc = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert "PRIVATE KEY" not in json.dumps(doc)


def test_collectors_read_and_nothing_more(evaluated: Path) -> None:
    """The argv of each collector is the engine's: options first, values after
    `--end-of-options` / `--`, git without a pager; a committed file is read through git."""
    repo = evaluated / "sys"
    shown = collect(Call("git_show", {"path": "sei.yaml"}), repo, "file", 30)
    assert shown.exit_code == 0 and "kind: AISystem" in shown.stdout
    assert shown.argv[-2:] == ["--end-of-options", "HEAD:./sei.yaml"]
    assert "--no-pager" in shown.argv
    log = collect(Call("git_log", {"path": "sei.yaml", "max": "1"}), repo, "file", 30)
    assert log.exit_code == 0 and len(log.stdout.splitlines()) == 1
    manifest = collect(Call("committed_manifest"), repo, "file", 30)
    assert manifest.stdout == shown.stdout
    pipeline = collect(Call("pipeline_status"), repo, "file", 30)
    assert pipeline.refused and "no status command of its own" in pipeline.error


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("risk id", "risk.unfair-credit-exclusion", "--open-files-in-pager=x"),
        ("measure id", "parity-gap", "-n"),
        ("standard id", "iso/23894@2023", "iso/../x@1"),
        ("system name", "loan-scoring", "a b"),
        ("git revision", "HEAD~2", "HEAD..main"),
        ("commit id", "0123abcd", "HEAD"),
    ],
)
def test_identifiers_are_checked_against_their_grammar(kind: str, good: str, bad: str) -> None:
    assert untrusted.identifier(kind, good) == good
    with pytest.raises(untrusted.UntrustedValue, match=f"is not a valid {kind}"):
        untrusted.identifier(kind, bad, "bundle.json")


def test_git_revisions_from_evidence_are_never_options(tmp_path: Path) -> None:
    """gitutil's readers take revisions from evidence (approval commits, the run's commit):
    one that is an option is refused, not handed to git."""
    from sei_assets.core import gitutil

    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f").write_text("x")
    _git(repo, "add", "f")
    _git(repo, "-c", "commit.gpgsign=false", "commit", "-qm", "one")
    target = tmp_path / "written"
    assert gitutil.commit_id(repo, f"--output={target}") is None
    assert gitutil.is_ancestor(repo, f"--output={target}", "HEAD") is False
    assert gitutil.show(repo, f"--output={target}", "f") is None
    assert gitutil.blob_at(repo, "HEAD", "f") == b"x"
    assert not target.exists()
    assert os.listdir(tmp_path) == ["r"]


# --------------------------------------------------------------------------- lifecycle scenarios


def _lifecycle(folder: Path, marker: Path, composed: bool = False) -> Path:
    folder.mkdir(parents=True)
    run = "evil.touch" if composed else "process.exec"
    (folder / "evil.yaml").write_text(
        "apiVersion: sei/v1\nkind: Scenario\nname: evil\nteardown: []\nsetup:\n"
        "  - {run: fs.write, with: {path: ok.txt, content: done}}\n"
        f"  - {{run: {run}, with: {{cmd: 'touch {marker}'}}}}\n"
    )
    if composed:
        (folder / "provider.yaml").write_text(
            "apiVersion: sei/v1\nkind: Provider\nname: evil\nverbs:\n  touch:\n"
            "    params: {cmd: {required: true}}\n"
            "    steps:\n      - {run: process.exec, with: '${.params.cmd}'}\n"
        )
    return folder


@pytest.mark.parametrize("composed", [False, True])
def test_a_lifecycle_scenario_from_elsewhere_runs_no_command(
    tmp_path: Path, composed: bool
) -> None:
    """`sei scenario run --dir D` ran any command through process.*: from a folder other than
    the project's, a step that runs a command is refused (exit 2) and named, unless the
    caller trusts it with --allow-exec."""
    from typer.testing import CliRunner

    from sei_assets.cli import app

    marker = tmp_path / "PWNED"
    folder = _lifecycle(tmp_path / "lifecycle", marker, composed)
    runner = CliRunner()
    result = runner.invoke(app, ["scenario", "run", "evil", "--dir", str(folder)])
    assert result.exit_code == 2, result.output
    assert f"{folder / 'evil.yaml'}:7: setup[1]: evil runs a command" in result.stderr
    assert "--allow-exec" in result.stderr and not marker.exists()
    result = runner.invoke(app, ["scenario", "run", "evil", "--dir", str(folder), "--allow-exec"])
    assert result.exit_code == 0, result.output
    assert marker.exists()


def _trust_signer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *hexkeys: str) -> Path:
    """This machine trusts ``hexkeys`` to sign scenario sets (the scenario-keys file)."""
    keys = tmp_path / "scenario_keys"
    keys.write_text("# who may sign scenario sets\n" + "".join(f"{k}\n" for k in hexkeys))
    monkeypatch.setenv("SEI_SCENARIO_KEYS", str(keys))
    return keys


def test_a_signed_scenario_set_runs_commands_without_allow_exec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alternative to --allow-exec: the folder signed (`sei scenario sign`) by a key this
    machine trusts for scenario sets. Signed by a key nobody listed, or changed after signing,
    it is refused as before, and the refusal names why (the key, the file)."""
    from typer.testing import CliRunner

    from sei_assets.cli import app

    marker = tmp_path / "PWNED"
    folder = _lifecycle(tmp_path / "lifecycle", marker)
    runner = CliRunner()
    signed = runner.invoke(app, ["scenario", "sign", "--dir", str(folder), "--json"])
    assert signed.exit_code == 0, signed.output
    doc = json.loads(signed.stdout)
    assert doc["files"] == 1 and (folder / ".sei-scenario-set.sig").is_file()
    run = ["scenario", "run", "evil", "--dir", str(folder)]
    result = runner.invoke(app, run)
    assert result.exit_code == 2 and not marker.exists()
    assert "no key is trusted to sign scenario sets" in result.stderr
    own = runner.invoke(app, ["scenario", "sign"])  # the project's folder: nothing to sign
    assert own.exit_code == 2 and "needs no signature" in own.stderr
    _trust_signer(tmp_path, monkeypatch, doc["pubkey"])
    result = runner.invoke(app, run)
    assert result.exit_code == 0, result.output
    assert marker.exists()
    assert _set_refusals(folder) == []  # the run left the set as it was signed
    marker.unlink()
    with (folder / "evil.yaml").open("a") as fh:
        fh.write("# edited after signing\n")
    result = runner.invoke(app, run)
    assert result.exit_code == 2 and not marker.exists()
    assert "evil.yaml changed since the set was signed" in result.stderr
    assert "setup[1]: evil runs a command" in result.stderr


def _set_refusals(folder: Path) -> list[str]:
    from sei_assets.scenarios.dialects.lifecycle.model import load_catalog
    from sei_assets.scenarios.dialects.lifecycle.trust import refusals

    catalog = load_catalog(folder)
    return refusals(catalog.scenarios, catalog, allow_exec=False)


def _signed_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any]:
    from sei_assets.core import signing
    from sei_assets.scenarios.dialects.lifecycle.trust import sign_set

    folder = _lifecycle(tmp_path / "lifecycle", tmp_path / "PWNED", composed=True)
    (folder / "data").mkdir()
    (folder / "data" / "notes.txt").write_text("kept\n")
    key = signing.load_or_create_key(tmp_path / "signer.pem")
    sign_set(folder, key)
    _trust_signer(tmp_path, monkeypatch, signing.public_key_hex(key))
    assert _set_refusals(folder) == []  # signed, trusted, unchanged
    return folder, key


@pytest.mark.parametrize(
    "change,named",
    [
        (
            lambda f: (f / "provider.yaml").write_text((f / "provider.yaml").read_text() + "#\n"),
            "provider.yaml changed",
        ),
        (lambda f: (f / "data" / "more.yaml").write_text("x: 1\n"), "data/more.yaml was added"),
        (lambda f: (f / "data" / "notes.txt").unlink(), "data/notes.txt was removed"),
        (lambda f: (f / "link.yaml").symlink_to(f / "evil.yaml"), "link.yaml: a symbolic link"),
        (
            lambda f: (f / ".sei-scenario-set").write_text(
                (f / ".sei-scenario-set").read_text().replace('"', "'", 1)
            ),
            "file altered",
        ),
        (lambda f: (f / ".sei-scenario-set.sig").unlink(), "the scenario set is not signed"),
    ],
    ids=["changed", "added", "removed", "symlink", "manifest-edited", "unsigned"],
)
def test_any_change_to_a_signed_set_breaks_its_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Any, named: str
) -> None:
    folder, _key = _signed_set(tmp_path, monkeypatch)
    change(folder)
    refused = _set_refusals(folder)
    assert refused and named in refused[0], refused
    assert any("evil runs a command" in r and "--allow-exec" in r for r in refused[1:])


def test_a_set_signed_by_a_key_not_listed_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sei_assets.core import signing

    folder, _key = _signed_set(tmp_path, monkeypatch)
    other = signing.load_or_create_key(tmp_path / "someone-else.pem")
    keys = _trust_signer(tmp_path, monkeypatch, signing.public_key_hex(other))
    refused = _set_refusals(folder)
    assert "is not signed by a key trusted for scenario sets" in refused[0]
    assert str(keys) in refused[0]
    keys.write_text("not a key\n")  # a malformed trust file is bad input, naming the line
    assert f"{keys}:1: expected a hex P-256 public key" in _set_refusals(folder)[0]


# --------------------------------------------------------------------------- bounded loaders

HOSTILE = {
    "invalid UTF-8": (b"scenario:\n  name: x\xff\n", "UTF-8"),
    "a NUL byte": (b"scenario:\n  name: x\x00\n", "U+0000"),
    "deep nesting": (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "deep"),
    "a recursive alias": (b"x: &s [*s]\n", ""),
    "duplicate keys": (b"scenario: {}\nscenario: {}\n", "scenario"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_check_lifecycle_and_profile_files_are_bad_input(
    case: str, tmp_path: Path, sei
) -> None:
    """Check, lifecycle and profile files go through the bounded loader: exit 2 with the file
    (and line where there is one), never a traceback."""
    raw, word = HOSTILE[case]
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "bad.yaml").write_bytes(raw)
    result = sei("check", "validate", "--checks-dir", str(checks))
    assert result.exit_code == 2 and f"{checks / 'bad.yaml'}" in result.output, result.output
    assert word in result.output and "Traceback" not in result.output
    lifecycle = tmp_path / "lifecycle"
    lifecycle.mkdir()
    (lifecycle / "bad.yaml").write_bytes(raw.replace(b"scenario", b"apiVersion"))
    result = sei("scenario", "validate", "--dir", str(lifecycle))
    assert result.exit_code == 2 and "bad.yaml" in result.output, result.output
    assert "[rule 1, error]" in result.output and "Traceback" not in result.output
    profile = tmp_path / "bad_profile.yaml"
    profile.write_bytes(raw)
    result = sei("profile", "validate", str(profile))
    assert result.exit_code == 2 and "bad_profile.yaml" in result.output, result.output
    assert "Traceback" not in result.output


def test_duplicate_keys_in_a_json_profile_are_an_error(tmp_path: Path, sei) -> None:
    from sei_assets.core.control.profile import profiles_dir

    shipped = yaml.safe_load((profiles_dir() / "model_release.yaml").read_text())
    text = json.dumps(shipped, indent=1)
    text = text.replace('"title":', '"title": "first",\n "title":', 1)
    profile = tmp_path / "dup.json"
    profile.write_text(text)
    result = sei("profile", "validate", str(profile))
    assert result.exit_code == 2, result.output
    assert "dup.json:" in result.output and "title" in result.output


# --------------------------------------------------------------------------- sei init


def _registry(tmp_path: Path, repo: str, seed: str) -> Path:
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": [{"name": "s", "repo": repo, "seed": seed}]}))
    return path


def test_init_refuses_a_seed_that_contains_or_is_inside_the_target(tmp_path: Path, sei) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "sei.yaml").write_text("x: 1\n")
    result = sei("init", "--systems", str(_registry(tmp_path, "seed/repo", "seed")))
    assert result.exit_code == 2 and "contains the repository" in result.output, result.output
    assert not (seed / "repo").exists()
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    (outer / "inner" / "sei.yaml").write_text("x: 1\n")
    result = sei("init", "--systems", str(_registry(tmp_path, "outer", "outer/inner")))
    assert result.exit_code == 2 and "lies inside the repository" in result.output


def test_init_copies_no_link_out_of_the_seed_and_etc_is_a_clear_error(tmp_path: Path, sei) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "sei.yaml").write_text("x: 1\n")
    (seed / "key.pem").symlink_to(tmp_path / "secret")
    result = sei("init", "--systems", str(_registry(tmp_path, "repo", "seed")))
    assert result.exit_code == 2 and "a link out of the seed" in result.output, result.output
    assert not (tmp_path / "repo").exists()  # nothing half-seeded
    result = sei("init", "--systems", str(_registry(tmp_path, "etc-repo", "/etc")))
    assert result.exit_code == 2, result.output
    assert "refusing" in result.output or "cannot copy the seed" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "etc-repo").exists()
