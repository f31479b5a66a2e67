"""`sei verify REPO [REPO ...]`: one line per repository, one exit code, and the verdicts a
`sei verify --repo` of each in turn gives, in one process or shared with forked ones."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sei_assets.core import signing, trust

ROOT = Path(__file__).resolve().parent.parent


def _repo(root: Path, name: str, system: str, key: ec.EllipticCurvePrivateKey) -> Path:
    """A repository whose `.sei` holds a signed bundle of ``system`` and its PUBKEY.txt."""
    evidence = root / name / ".sei"
    evidence.mkdir(parents=True)
    bundle = evidence / "bundle.json"
    bundle.write_text(json.dumps({"system_name": system, "gate": "green"}, indent=2) + "\n")
    signing.sign_file(bundle, key)
    signing.write_pubkey(evidence, key)
    return root / name


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def good(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> list[Path]:
    return [_repo(tmp_path, f"repo{i}", f"system-{i}", key) for i in range(3)]


def _tamper(repo: Path) -> None:
    bundle = repo / ".sei" / "bundle.json"
    bundle.write_text(bundle.read_text().replace("green", "red  "))


def test_all_good_exit_0_one_line_each(good: list[Path], sei) -> None:
    result = sei("verify", *map(str, good))
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["OK"] * 3
    assert all(str(repo) in line for repo, line in zip(good, lines, strict=False))
    assert lines[-1] == "verified: 3 of 3 repositories"
    # --repo counts as the first of them
    assert sei("verify", "--repo", str(good[0]), str(good[1])).exit_code == 0


def test_a_tampered_repository_among_good_ones_fails(good: list[Path], sei) -> None:
    _tamper(good[1])
    result = sei("verify", *map(str, good))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK") and lines[1].startswith("FAIL") and str(good[1]) in lines[1]
    assert "file altered" in lines[2] and "bundle.json" in lines[2]
    assert lines[3].startswith("OK") and lines[-1] == "NOT verified: 2 of 3 repositories"

    code, doc = sei.json("verify", *map(str, good))
    assert code == 1 and doc["ok"] is False
    assert [r["ok"] for r in doc["repositories"]] == [True, False, True]
    assert [r["repo"] for r in doc["repositories"]] == [str(r) for r in good]
    bad = doc["repositories"][1]
    assert bad["signatures_ok"] is False and not bad["files"][0]["ok"]


def test_bad_input_among_good_ones_exits_2(good: list[Path], tmp_path: Path, sei) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _tamper(good[2])
    result = sei("verify", str(good[0]), str(empty), str(good[2]))
    assert result.exit_code == 2  # the worst: bad input before not verified
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK") and lines[1].startswith("ERROR")
    assert "no evidence directory" in lines[1] and lines[2].startswith("FAIL")
    code, doc = sei.json("verify", str(good[0]), str(empty))
    assert code == 2 and doc["repositories"][1]["exit_code"] == 2
    assert "no evidence directory" in doc["repositories"][1]["error"]


def test_one_repository_is_sei_verify_as_before(good: list[Path], sei) -> None:
    positional, option = sei("verify", str(good[0])), sei("verify", "--repo", str(good[1]))
    assert positional.exit_code == option.exit_code == 0
    same = positional.stdout.replace(str(good[0]), "REPO").replace("system-0", "SYSTEM")
    assert same == option.stdout.replace(str(good[1]), "REPO").replace("system-1", "SYSTEM")
    assert "repositories" not in same and same.endswith("verified: 1 signed files\n")


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


def _scenario(root: Path) -> list[Path]:
    """Repositories whose verdicts depend on the ones before them: the same system under
    another key (refused), a set without PUBKEY.txt verified by the key an earlier repository
    of the command made known, a tampered one, one without evidence."""
    first, second = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    repos = [_repo(root, f"r{i:02d}", f"sys-{i % 4}", first) for i in range(8)]
    repos.insert(2, _repo(root, "other-key", "sys-0", second))
    keyless = _repo(root, "keyless", "sys-1", first)
    (keyless / ".sei" / "PUBKEY.txt").unlink()
    repos.insert(0, keyless)  # before any sys-1 repository is known: no key to verify it
    repos.append(_repo(root, "keyless-late", "sys-1", first))
    (repos[-1] / ".sei" / "PUBKEY.txt").unlink()
    _tamper(repos[5])
    (root / "nothing").mkdir()
    repos.append(root / "nothing")
    return repos


def _summary(checks: list[trust.RepositoryCheck]) -> list[list]:
    """The verdicts, the store's path and the times of first trust left out."""
    store = str(trust.known_keys_path())
    out = []
    for c in checks:
        if c.evidence is None:
            out.append([c.error, c.exit_code])
            continue
        t = c.evidence.trust
        current = [c.current.current, c.current.reasons] if c.current else None
        sig = [[str(f.path), f.ok, f.reason] for f in c.evidence.signatures.files]
        out.append(
            [
                c.evidence.ok,
                t.source,
                _STAMP.sub("T", t.message).replace(store, "STORE"),
                t.notes,
                current,
                sig,
            ]
        )
    return out


def _in_turn(repos: list[Path]) -> list[list]:
    """What `sei verify --repo` of each repository in turn decides."""
    checks = []
    for repo in repos:
        check = trust.RepositoryCheck(repo)
        try:
            evidence = trust.verify_trusted(repo)
            check.evidence = evidence
            check.current = trust.currency(repo, evidence.signatures.index, evidence.trust.older)
        except trust.SeiError as exc:
            check.error, check.exit_code = str(exc), exc.exit_code
        checks.append(check)
    return _summary(checks)


def test_many_gives_the_verdicts_of_each_in_turn(tmp_path: Path, monkeypatch) -> None:
    repos = _scenario(tmp_path / "repos")
    monkeypatch.setenv(trust.KNOWN_ENV, str(tmp_path / "one-by-one.json"))
    expected = _in_turn(repos)
    assert expected[0][0].startswith("no public key")  # the order matters here
    assert "KEY CHANGED for sys-0" in expected[3][2] and expected[-2][0] is True
    monkeypatch.setenv(trust.KNOWN_ENV, str(tmp_path / "together.json"))
    assert _summary(trust.check_repositories(repos, workers=1)) == expected
    remembered = json.loads((tmp_path / "one-by-one.json").read_text())
    assert json.loads((tmp_path / "together.json").read_text()).keys() == remembered.keys()

    # shared with a forked process (POOL_FROM forced down), in a fresh single-threaded process
    driver = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from sei_assets.core import signing, trust\n"
        "from tests.test_verify_many import _summary\n"
        "signing.POOL_FROM = 1\n"
        "repos = [Path(p) for p in sys.argv[1:]]\n"
        "forks = signing._worker_count(2, len(repos))\n"
        "print(json.dumps({'forks': forks, 'summary': _summary(trust.check_repositories("
        "repos, workers=2))}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), trust.KNOWN_ENV: str(tmp_path / "forked.json")}
    done = subprocess.run(
        [sys.executable, "-c", driver, *map(str, repos)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["forks"] == 2 and doc["summary"] == json.loads(json.dumps(expected))


def test_many_through_the_sei_entry_imports_no_dagster(good: list[Path]) -> None:
    code = (
        "import sys\n"
        "from sei_assets.entry import run\n"
        f"rc = run(['verify', *{[str(r) for r in good]!r}])\n"
        "heavy = [m for m in ('dagster', 'sklearn', 'pandas', 'mlflow', 'dvc')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, 'RC', rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY [] RC 0" in out.stdout, out.stdout + out.stderr
    assert out.stdout.count("OK ") == 3
