"""The transparency log: RFC 6962/9162 hashes and proofs (vectors and properties), and the log
checked the way sigstore's conformance suite checks clients: bad inclusion proofs, inconsistent
heads, a wrong log key, a truncated or rolled-back log, a fork, a duplicated leaf."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sei_assets.core import merkle, signing, translog

# The leaves of the RFC 6962 test vectors used by certificate-transparency implementations.
VECTOR_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]


@pytest.fixture(autouse=True)
def _machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a machine of its own: the heads it saw are its own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(b"leaf %d" % i) for i in range(n)]


def test_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    hashes = [merkle.leaf_hash(x) for x in VECTOR_LEAVES]
    assert merkle.root(hashes[:1]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.root(hashes).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    # three leaves: the split is at 2 (the largest power of two below 3)
    a, b, c = hashes[:3]
    assert merkle.root(hashes[:3]) == merkle.node_hash(merkle.node_hash(a, b), c)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_verify_and_nothing_else_does(case: tuple[int, int]) -> None:
    n, i = case
    hashes = _hashes(n)
    root = merkle.root(hashes)
    proof = merkle.inclusion_proof(i, hashes)
    assert merkle.verify_inclusion(i, n, hashes[i], proof, root)
    assert not merkle.verify_inclusion(i, n, merkle.leaf_hash(b"other"), proof, root)
    assert not merkle.verify_inclusion(n, n, hashes[i], proof, root)  # index out of the tree
    for k in range(len(proof)):  # every element of the path matters
        bad = [*proof[:k], hashlib.sha256(proof[k]).digest(), *proof[k + 1 :]]
        assert not merkle.verify_inclusion(i, n, hashes[i], bad, root)
    if proof:
        assert not merkle.verify_inclusion(i, n, hashes[i], proof[:-1], root)  # truncated
        assert not merkle.verify_inclusion(i, n, hashes[i], [*proof, proof[0]], root)  # padded
    if n > 1:
        other = (i + 1) % n
        assert not merkle.verify_inclusion(other, n, hashes[i], proof, root)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 70).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))))
def test_consistency_proofs_verify_and_forks_do_not(case: tuple[int, int]) -> None:
    m, n = case
    hashes = _hashes(n)
    old, new = merkle.root(hashes[:m]), merkle.root(hashes)
    proof = merkle.consistency_proof(m, hashes)
    assert merkle.verify_consistency(m, n, old, new, proof)
    forked = [*hashes[: m - 1], merkle.leaf_hash(b"forked"), *hashes[m:]]
    assert not merkle.verify_consistency(m, n, merkle.root(forked[:m]), new, proof)
    assert not merkle.verify_consistency(m, n, old, merkle.root(forked), proof)
    assert not merkle.verify_consistency(n, m, new, old, proof)  # backwards
    for k in range(len(proof)):
        bad = [*proof[:k], hashlib.sha256(proof[k]).digest(), *proof[k + 1 :]]
        assert not merkle.verify_consistency(m, n, old, new, bad)
    assert merkle.verify_consistency(n, n, new, new, [])
    assert not merkle.verify_consistency(n, n, new, old, [])


def _log(tmp_path: Path, name: str, n: int) -> Path:
    folder = tmp_path / name
    for i in range(n):
        translog.append("evidence", b"set %d" % i, folder)
    return folder


def test_append_is_idempotent_and_heads_are_signed(tmp_path: Path) -> None:
    folder = _log(tmp_path, "log", 3)
    index, head = translog.append("evidence", b"set 1", folder)  # a duplicate is not added
    assert (index, head["tree_size"]) == (1, 3)
    assert translog.read_leaves(folder)[1] == translog.leaf_for("evidence", b"set 1")
    assert translog.head_problem(head, head["pubkey"]) is None
    assert (folder / translog.KEY).stat().st_mode & 0o077 == 0
    verdict = translog.verify(b"set 2", folder=folder)
    assert verdict.ok and "evidence index included at entry 2 of 3" in verdict.checked


def test_a_duplicated_leaf_is_refused(tmp_path: Path) -> None:
    folder = _log(tmp_path, "log", 2)
    leaves = (folder / translog.LEAVES).read_text()
    (folder / translog.LEAVES).write_text(leaves + leaves.splitlines()[0] + "\n")
    translog.append("evidence", b"set 9", folder)  # re-signs a head over the bad leaves
    verdict = translog.verify(b"set 9", folder=folder)
    assert not verdict.ok
    assert verdict.problems == ["the log holds one leaf twice (entries 0 and 2)"]


def test_a_truncated_log_is_refused(tmp_path: Path) -> None:
    folder = _log(tmp_path, "log", 4)
    lines = (folder / translog.LEAVES).read_text().splitlines()
    (folder / translog.LEAVES).write_text("\n".join(lines[:3]) + "\n")
    verdict = translog.verify(None, folder=folder)
    assert not verdict.ok and "truncated or altered" in verdict.problems[0]


def test_a_rollback_is_refused_against_the_last_head_seen(tmp_path: Path) -> None:
    folder = _log(tmp_path, "log", 3)
    shutil.copytree(folder, tmp_path / "old")
    translog.append("evidence", b"set 3", folder)
    assert translog.verify(b"set 3", folder=folder).ok  # remembered: 4 entries
    shutil.rmtree(folder)
    shutil.copytree(tmp_path / "old", folder)  # rolled back, head and all: self-consistent
    verdict = translog.verify(b"set 1", folder=folder)
    assert not verdict.ok
    assert verdict.problems == [
        "rolled back or truncated: the log has 3 entries, the last seen head 4"
    ]


def test_a_fork_is_refused_on_a_machine_that_never_saw_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _log(tmp_path, "log", 3)
    shutil.copytree(folder, tmp_path / "fork")
    _, org_head = translog.append("evidence", b"set 3", folder)  # the organisation's head
    translog.append("evidence", b"other 3", tmp_path / "fork")  # same key, other history
    translog.append("evidence", b"other 4", tmp_path / "fork")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "new-machine"))  # nothing seen
    assert translog.last_seen() is None
    verdict = translog.verify(None, org_head, tmp_path / "fork")
    assert not verdict.ok and verdict.problems[0].startswith(
        "forked: the given head of 4 entries (root "
    )
    assert translog.verify(None, org_head, folder).ok  # the organisation's own log is fine
    # an inconsistent head: the right size, another root, signed by the log
    key = signing.load_or_create_key(folder / translog.KEY)
    liar = translog.sign_head(4, hashlib.sha256(b"x").digest(), key)
    verdict = translog.verify(None, liar, folder, remember=False)
    assert verdict.problems[0].startswith("forked: the given head of 4 entries")


def test_a_head_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    folder = _log(tmp_path, "log", 2)
    _, head = translog.append("evidence", b"x", _log(tmp_path, "other", 0))
    verdict = translog.verify(None, head, folder, pubkey_hex=translog.log_pubkey(folder))
    assert not verdict.ok and verdict.problems[0].startswith(
        "the reference tree head: not signed by the log key"
    )
    other = translog.log_pubkey(tmp_path / "other")
    verdict = translog.verify(None, None, folder, pubkey_hex=other)
    assert verdict.problems[0].startswith("the log's tree head: not signed by the log key")
    forged = dict(head, origin=json.loads((folder / translog.HEAD).read_text())["origin"])
    assert "signature is not the log key's" in translog.head_problem(
        forged, translog.log_pubkey(folder)
    )


def test_evidence_not_in_the_log_is_refused(tmp_path: Path) -> None:
    folder = _log(tmp_path, "log", 2)
    verdict = translog.verify(b"never logged", folder=folder)
    assert not verdict.ok and "is not in the log" in verdict.problems[0]


def test_sei_verify_log_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sei) -> None:
    """`sei run` appends its evidence index; `sei verify --log` checks inclusion and
    consistency with the organisation's head, and refuses the log rolled back."""
    from tests.test_reconstruct import declare, measure

    monkeypatch.setenv(translog.LOG_ENV, str(tmp_path / "log"))
    repo = tmp_path / "repo"
    declare(repo)
    org_head = tmp_path / "org-head.json"
    assert sei("log", "head", "--out", str(org_head)).exit_code == 0
    code, doc = sei.json("verify", "--repo", str(repo), "--log", str(org_head))
    assert code == 0 and doc["log"]["ok"], doc
    assert any(c.startswith("evidence index included") for c in doc["log"]["checked"])
    leaves = tmp_path / "log" / translog.LEAVES
    index = (repo / ".sei" / "index.json").read_bytes()
    assert translog.leaf_for("evidence", index) in leaves.read_text()
    # new evidence, seen here; then the log rolled back to before it: refused
    shutil.copytree(tmp_path / "log", tmp_path / "saved")
    measure(repo, 0.02)
    code, doc = sei.json("verify", "--repo", str(repo), "--log", "last")
    assert code == 0 and doc["log"]["ok"], doc
    shutil.rmtree(tmp_path / "log")
    shutil.copytree(tmp_path / "saved", tmp_path / "log")
    code, doc = sei.json("verify", "--repo", str(repo), "--log", "last")
    assert code == 1 and doc["log"]["problems"][0].startswith("rolled back or truncated")
    shown = sei("verify", "--repo", str(repo), "--log", str(org_head))
    assert shown.exit_code == 1 and "log: REFUSED" in shown.stdout


def test_an_unwritable_log_warns_and_verify_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    (tmp_path / "not-a-folder").write_text("x")
    monkeypatch.setenv(translog.LOG_ENV, str(tmp_path / "not-a-folder" / "log"))
    assert translog.record("evidence", b"set") is False
    assert "not appended to the transparency log" in capsys.readouterr().err
    monkeypatch.setenv(translog.LOG_ENV, "off")
    assert translog.record("evidence", b"set") is False
