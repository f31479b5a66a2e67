"""The one-pass history reading of `reconstruct` answers as git answers each question alone."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from sei_assets.core import governance
from sei_assets.core import reconstruct as rec
from sei_assets.core.gitutil import BlobReader
from tests.test_reconstruct import commit_all, declare, git, measure

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_reconstruct.py"


def _bench():
    # the bench scripts import their shared timer as `timing`, from their own folder
    if str(BENCH.parent) not in sys.path:
        sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_reconstruct", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _OneProcessPerBlob:
    """The former way: `git cat-file blob` once per question."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo

    def read(self, rev: str, path: str) -> tuple[str, bytes] | None:
        data = governance.blob_at(self.repo, rev, path)
        return None if data is None else (hashlib.sha1(data).hexdigest(), data)

    def read_many(self, specs):
        return (self.read(rev, path) for rev, path in specs)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _asked_one_by_one(repo: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    with monkeypatch.context() as m:
        m.setattr(rec, "BlobReader", _OneProcessPerBlob)
        m.setattr(rec._Ranges, "_load", lambda self: False)  # every range question to git
        return rec.reconstruct(repo)


def test_generated_history_same_as_one_question_per_process(tmp_path: Path, monkeypatch) -> None:
    repo = _bench().make_history(tmp_path / "history", commits=160, seed=3)
    ours = rec.reconstruct(repo)
    assert ours == _asked_one_by_one(repo, monkeypatch)
    payload = ours["payload"]
    assert len(payload["snapshots"]) > 40 and payload["treatment_arcs"]
    assert any(a["treatment"] for a in payload["treatment_arcs"])
    assert {r["risk_id"] for r in payload["risks"]} >= {"risk.late-finding"}
    assert payload["lifecycle"]["state"] == "approved"


def test_treatment_on_a_merged_branch(tmp_path: Path, monkeypatch) -> None:
    """With a merge the ranges are git's own: the treatment made on a branch is found."""
    shas = declare(tmp_path)
    git(tmp_path, "checkout", "-q", "-b", "fix")
    (tmp_path / "train.py").write_text("MITIGATE = True\n")
    shas["treatment"] = commit_all(tmp_path, "treatment: on a branch")
    git(tmp_path, "checkout", "-q", "main")
    (tmp_path / "NOTES.md").write_text("notes\n")
    commit_all(tmp_path, "docs: notes on main")
    git(tmp_path, "-c", "commit.gpgsign=false", "merge", "-q", "--no-ff", "-m", "merge fix", "fix")
    measure(tmp_path, 0.02)
    commit_all(tmp_path, "run: V2 evidence (green)")
    ours = rec.reconstruct(tmp_path)
    (arc,) = ours["payload"]["treatment_arcs"]
    assert arc["treatment"]["sha"] == shas["treatment"]
    assert ours == _asked_one_by_one(tmp_path, monkeypatch)


def test_blob_reader_answers_like_cat_file(tmp_path: Path) -> None:
    shas = declare(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.txt").write_text("inside\n")
    commit_all(tmp_path, "sub")
    questions = [
        (shas["v1"], "sei.yaml"),
        (shas["declare"], ".sei/bundle.json"),  # absent then
        ("HEAD", "sub"),  # a tree, not a blob
        ("HEAD", "sub/f.txt"),
        ("no-such-rev", "sei.yaml"),
    ]
    expected = [governance.blob_at(tmp_path, rev, path) for rev, path in questions]
    with BlobReader(tmp_path) as blobs:
        one = [blobs.read(rev, path) for rev, path in questions]
        many = list(blobs.read_many(questions))
        first = next(blobs.read_many(questions))  # stopped early: the rest is drained
        after = blobs.read("HEAD", "sub/f.txt")
    for answers in (one, many):
        assert [a and a[1] for a in answers] == expected
    assert first == one[0] and after == one[3]
    with BlobReader(tmp_path / "sub") as blobs:  # paths are relative to the directory given
        assert blobs.read("HEAD", "f.txt")[1] == b"inside\n"


@pytest.mark.parametrize(
    "text",
    [
        "risks: [{id: risk.a}]",
        'risks: [{id: "risk\\x2ea"}]',  # an escape spells the id without its text
        "note: 'risk.a-not'\nid: risk.a",
        "id: >\n  risk.a\n",
        "a: &x risk.a\nb: *x\n",
        "id: risk.ab",
        "{unclosed: risk.a",
    ],
)
def test_manifest_prefilter_never_hides_an_id(text: str) -> None:
    """Skipping the parse of a manifest that cannot name an id changes no identification."""
    raw = text.encode()
    for ids in ({"risk.a"}, {"risk.a", "risk.b"}, {"risk a"}):
        if not rec._may_name(raw, ids):
            assert rec._named(raw, ids) == set(), (text, ids)
    assert rec._may_name(b'id: "risk\\x2ea"', {"risk.a"})
    assert not rec._may_name(b"id: risk.b", {"risk.a"})
