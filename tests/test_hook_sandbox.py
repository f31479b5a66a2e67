"""Profile hooks run only when the profile is trusted, and only inside their authority
(issue 31): an unapproved profile's hook does not run; a trusted hook works on a disposable
copy of the repository, inside bubblewrap where available, and only its declared writes are
kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# --------------------------------------------------------------------------- profile hooks

EVIL_PROFILE = """
id: evil_work
version: 1.0.0
title: Evil work
description: One action whose hook writes where it should not.
roles: {agent: does the work}
authority: {writes: ["out/**"]}
artifacts:
  done: {path: out/done.json}
completion_artifact: done
hooks:
  work:
    command: COMMAND
    authority: {writes: ["out/**"]}
actions:
  work.do:
    description: Do the work.
    roles: [agent]
    payload: {}
    hook: work
    produces: [done]
    route: Complete
"""
AGENT = {"id": "agent-1", "role": "agent"}


WRITES_EVERYWHERE = (
    "import pathlib, sys; pathlib.Path('undeclared.txt').write_text('x'); "
    "pathlib.Path('out').mkdir(exist_ok=True); pathlib.Path('out/declared.txt').write_text('x'); "
    "pathlib.Path(sys.argv[1]).write_text('x')"
)


def _evil(tmp_path: Path, outside: Path, code: str = WRITES_EVERYWHERE) -> Path:
    profile = tmp_path / "evil.yaml"
    command = json.dumps(["{python}", "-c", code, str(outside)])
    profile.write_text(EVIL_PROFILE.replace("COMMAND", command))
    return profile


def test_hooks_of_an_unapproved_profile_do_not_run(tmp_path: Path, sei) -> None:
    """`sei control submit ... --profile evil.yaml` ran the hook of a profile nobody approved;
    now the action is blocked before any code runs."""
    repo = tmp_path / "system"
    repo.mkdir()
    outside = tmp_path / "outside.txt"
    profile = _evil(tmp_path, outside)
    args = ["control", "submit", "work.do", "--actor", "agent-1", "--role", "agent"]
    code, answer = sei.json(*args, "--profile", str(profile), "--repo", str(repo))
    assert code == 1 and answer["route"] == "Block"
    assert answer["gate_id"] == "profile_not_approved_for_use"
    assert "runs the hook work of profile evil_work" in answer["reason"]
    assert "not approved for use" in answer["reason"]
    assert not outside.exists() and not (repo / "undeclared.txt").exists()
    assert not (repo / "out").exists()


@pytest.mark.parametrize("how", ["bwrap", "copy"])
def test_a_hook_cannot_write_outside_its_authority(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trusted hook that writes outside the repository and inside it but undeclared: both
    writes are prevented (absent afterwards), and so is its declared write (the action is
    blocked, nothing is kept). With bubblewrap the write outside never reaches the disk."""
    from sei_assets.core.control import load_profile, sandbox, submit

    if how == "bwrap":
        assert sandbox.bwrap(), "bubblewrap is installed on CI (.ci/run) and here"
    monkeypatch.setenv(sandbox.SANDBOX_ENV, how)
    repo = tmp_path / "system"
    repo.mkdir()
    outside = tmp_path / "outside.txt"
    # copy mode cannot stop an absolute write elsewhere: it aims at the copy's own parent
    target = outside if how == "bwrap" else Path("..") / "outside.txt"
    loaded = load_profile(_evil(tmp_path, target))
    sub = submit(repo, loaded, "work.do", AGENT, {}, trust_hooks=True)
    hook = sub.trace["hook"]
    assert hook["sandbox"] == how and sub.answer["route"] == "Block"
    if how == "bwrap":  # the write outside failed: the hook failed, the action is blocked
        assert sub.answer["gate_id"] == "hook.work"
        assert hook["exit_code"] != 0 and "Read-only file system" in hook["stderr_tail"]
    else:
        assert sub.answer["gate_id"] == "hook_authority.work"
        assert hook["outside_authority"] == ["undeclared.txt"]
    assert not outside.exists()
    assert not (repo / "undeclared.txt").exists() and not (repo / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.yaml", "system"]


def test_a_hook_keeps_its_declared_writes_only(tmp_path: Path) -> None:
    """A hook that stays within its authority: its declared write is copied back, in place."""
    from sei_assets.core.control import load_profile, submit

    repo = tmp_path / "system"
    repo.mkdir()
    script = (
        "import pathlib; pathlib.Path('out').mkdir(exist_ok=True); "
        "pathlib.Path('out/declared.txt').write_text('kept')"
    )
    loaded = load_profile(_evil(tmp_path, tmp_path / "unused", script))
    sub = submit(repo, loaded, "work.do", AGENT, {}, trust_hooks=True)
    assert sub.trace["hook"]["wrote"] == ["out/declared.txt"], sub.trace["hook"]
    assert (repo / "out" / "declared.txt").read_text() == "kept"
