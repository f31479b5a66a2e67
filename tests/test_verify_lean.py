"""The lean verification path gives the full check's verdicts, and the process pool the serial
loop's: same results, same reasons, whatever the form of the envelope or the size of the set."""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sei_assets.core import evidence_set, signing
from sei_assets.core.errors import SeiError
from tests.reference import replay

ROOT = Path(__file__).resolve().parent.parent
ALTERED = "sha256 of the file does not match the signed statement (file altered)"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("quickstart")
    replay("quickstart", repo)
    return repo


def _run_fresh(code: str, *args: str, timeout: float) -> dict:
    """Run ``code`` in a fresh single-threaded interpreter (where forking happens); its JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _outcome(path: Path, envelope: Path, name: str, pubkey_hex: str) -> tuple:
    key = signing._key_for(pubkey_hex.strip().lower())
    return signing._verify_paths(str(path), str(envelope), name, key)


def _full_check_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signing, "_fast_check", lambda *args: None)


# --------------------------------------------------------------------------- the lean check


def test_canonical_envelopes_take_the_lean_path(quickstart: Path, key, tmp_path: Path) -> None:
    """Reference envelopes and ours are in the canonical form: the lean check verifies them
    (were it to give up on them, verification would silently be slow again)."""
    evidence = quickstart / ".froga"
    ref_key = signing._key_for((evidence / "PUBKEY.txt").read_text().strip())
    for sig in sorted(evidence.rglob("*.sig")):
        data = sig.with_name(sig.name[:-4]).read_bytes()
        name = signing.subject_name(sig.with_name(sig.name[:-4]))
        digest = signing.sha256_bytes(data)
        assert signing._fast_check(sig.read_bytes(), name, ref_key, digest) == ref_key[1], sig
    ours = tmp_path / ".sei" / "conformance" / "iso.json"
    ours.parent.mkdir(parents=True)
    ours.write_bytes(b'{"clauses": []}\n')
    signing.sign_file(ours, key)
    own_key = signing._key_for(signing.public_key_hex(key))
    envelope = signing.sig_path(ours).read_bytes()
    digest = signing.sha256_bytes(ours.read_bytes())
    assert signing._fast_check(envelope, "conformance/iso.json", own_key, digest) == own_key[1]


@pytest.mark.parametrize("mask", [0x01, 0x20, 0x80])
def test_every_byte_flip_gives_the_full_checks_reason(
    quickstart: Path, tmp_path: Path, mask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = tmp_path / ".froga"
    shutil.copytree(quickstart / ".froga", evidence)
    bundle, sig = evidence / "bundle.json", evidence / "bundle.json.sig"
    pubkey = (evidence / "PUBKEY.txt").read_text()
    original = sig.read_bytes()
    lean, full = [], []
    for position in range(len(original)):
        changed = bytearray(original)
        changed[position] ^= mask
        sig.write_bytes(bytes(changed))
        lean.append(_outcome(bundle, sig, "bundle.json", pubkey))
    with monkeypatch.context() as patched:
        _full_check_only(patched)
        for position in range(len(original)):
            changed = bytearray(original)
            changed[position] ^= mask
            sig.write_bytes(bytes(changed))
            full.append(_outcome(bundle, sig, "bundle.json", pubkey))
    assert lean == full
    assert not any(ok for ok, _, _ in lean)


def _variants(envelope: bytes) -> dict[str, bytes]:
    """The same signature in other JSON forms, and broken ones."""
    env = json.loads(envelope)
    compact = {"sort_keys": True, "separators": (",", ":")}
    other = {"keyid": "00" * 32, "sig": "AA=="}
    return {
        "spaced": json.dumps(env).encode(),
        "newline": json.dumps(env, **compact).encode() + b"\n",
        "two signatures": json.dumps(
            {**env, "signatures": env["signatures"] * 2}, **compact
        ).encode(),
        "another key first": json.dumps(
            {**env, "signatures": [other, *env["signatures"]]}, **compact
        ).encode(),
        "escaped slash": envelope.replace(b"/", b"\\/"),
        "duplicate payload key": envelope.replace(b'"payload"', b'"payload":"x","payload"', 1),
        "list": b"[]",
        "empty": b"",
        "not utf-8": b"\xff\xfe",
    }


def test_other_envelope_forms_get_the_full_check(
    quickstart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = tmp_path / ".froga"
    shutil.copytree(quickstart / ".froga", evidence)
    bundle, sig = evidence / "bundle.json", evidence / "bundle.json.sig"
    pubkey = (evidence / "PUBKEY.txt").read_text()
    for label, envelope in _variants(sig.read_bytes()).items():
        sig.write_bytes(envelope)
        lean = _outcome(bundle, sig, "bundle.json", pubkey)
        with monkeypatch.context() as patched:
            _full_check_only(patched)
            assert lean == _outcome(bundle, sig, "bundle.json", pubkey), label
    sig.write_bytes(_variants((quickstart / ".froga/bundle.json.sig").read_bytes())["spaced"])
    assert signing.verify_file(bundle, pubkey).ok  # valid JSON of a valid signature: verified


def test_names_outside_plain_ascii_verify(key, tmp_path: Path) -> None:
    """A subject name JSON escapes (non-ASCII) is not in the lean form; it still verifies."""
    target = tmp_path / ".sei" / "conformance" / "norme_é.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"{}")
    signing.sign_file(target, key)
    signing.write_pubkey(tmp_path / ".sei", key)
    [verdict] = signing.verify_evidence(tmp_path).files
    assert verdict.ok and verdict.reason == "signature verified"
    target.write_bytes(b"[]")
    [verdict] = signing.verify_evidence(tmp_path).files
    assert not verdict.ok and verdict.reason == ALTERED


def test_der_encoding_is_cryptographys() -> None:
    rng = random.Random(19)
    edges = [b"\0" * 32, b"\0" * 31 + b"\1", b"\x80" + b"\0" * 31, b"\x7f" + b"\xff" * 31]
    edges += [b"\0\x80" + bytes(30), b"\xff" * 32]
    halves = edges + [rng.randbytes(32) for _ in range(200)]
    for r in halves:
        s = rng.choice(halves)
        expected = utils.encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
        assert signing._der(r + s) == expected, (r.hex(), s.hex())


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 70_000, (1 << 20) + 3])
def test_files_are_read_whole(tmp_path: Path, size: int) -> None:
    target = tmp_path / "data"
    data = random.Random(size).randbytes(size)
    target.write_bytes(data)
    assert signing._read(str(target)) == data
    assert signing._read(str(target), signing._SMALL) == data


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_pipe_is_read_to_its_end() -> None:
    """A pipe's size is 0: it is read until its end, not by its size."""
    read, write = os.pipe()
    os.write(write, b"first, second")
    os.close(write)
    try:
        assert signing._read(f"/proc/self/fd/{read}") == b"first, second"
    finally:
        os.close(read)


def test_file_verdicts_compare_and_pickle_by_value(tmp_path: Path) -> None:
    lazy = signing.FileVerdict(str(tmp_path / "a.json"), False, "why", "k")
    eager = signing.FileVerdict(tmp_path / "a.json", False, "why", "k")
    assert lazy == eager and lazy.path == tmp_path / "a.json"
    assert isinstance(lazy.path, Path) and repr(lazy) == repr(eager)
    assert pickle.loads(pickle.dumps(lazy)) == eager
    assert lazy != signing.FileVerdict(tmp_path / "a.json", False, "other", "k")
    lazy.path = "elsewhere.json"
    assert lazy.path == Path("elsewhere.json")


def test_a_repository_named_as_text_gets_the_same_verdict(
    quickstart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder is carried as text through the check: however the repository is named, the
    verdict, its paths and its warnings are those of the Path."""
    repo = tmp_path / "repo"
    shutil.copytree(quickstart, repo)
    (repo / ".froga" / "notes.txt").write_text("unsigned")
    expected = signing.verify_evidence(repo)
    assert any("notes.txt: unsigned file" in w for w in expected.warnings)
    monkeypatch.chdir(tmp_path)
    for named in (str(repo), str(repo) + "/", "repo/", "./repo"):
        verdict = signing.verify_evidence(named)
        assert verdict.evidence_dir == repo / ".froga" or (
            verdict.evidence_dir == Path("repo/.froga")
        ), named
        absolute = [str((tmp_path / f.path).resolve()) for f in verdict.files]
        assert absolute == [str(f.path) for f in expected.files], named
        assert [w.replace(str(tmp_path) + "/", "") for w in verdict.warnings] == [
            w.replace(str(tmp_path) + "/", "") for w in expected.warnings
        ], named
        assert not any("//" in w for w in verdict.warnings), named


def test_evidence_verdicts_pickle_by_value(quickstart: Path) -> None:
    """What a forked verifier sends back is the verdict it found, the kept bundle included."""
    verdict = signing.verify_evidence(quickstart, keep_bundle=True)
    assert verdict.bundle is not None and verdict.bundle_sha256 is not None
    back = pickle.loads(pickle.dumps(verdict))
    assert back == verdict and back is not verdict
    assert isinstance(back.evidence_dir, Path) and back.evidence_dir == verdict.evidence_dir
    assert (back.bundle, back.bundle_sha256) == (verdict.bundle, verdict.bundle_sha256)
    assert [f.path for f in back.files] == [f.path for f in verdict.files]
    back.files[0].ok = not back.files[0].ok
    assert back != verdict


# --------------------------------------------------------------------------- both cores


def _indexed_set(repo: Path, key, files: int) -> None:
    """An evidence set of ``files`` signed conformance documents with its signed index."""
    staged: dict[str, bytes] = {".sei/bundle.json": b'{"system_name": "pool-test"}\n'}
    for i in range(files):
        staged[f".sei/conformance/doc{i:03d}.json"] = json.dumps({"doc": i}).encode()
    for rel in list(staged):
        staged[rel + ".sig"] = signing.sign_bytes(staged[rel], rel[len(".sei/") :], key)
    staged[".sei/PUBKEY.txt"] = (signing.public_key_hex(key) + "\n").encode()
    staged[".sei/bom.cdx.json"] = b"{}\n"
    evidence_set.commit(repo, staged, key, run={"system_name": "pool-test"})


def _tamper(repo: Path) -> None:
    conformance = repo / ".sei" / "conformance"
    (conformance / "doc003.json").write_bytes(b'{"doc": "altered"}')
    (conformance / "doc011.json.sig").write_bytes(b"{}")
    (conformance / "doc017.json").unlink()
    (conformance / "doc023.json.sig").write_bytes((conformance / "doc024.json.sig").read_bytes())
    (repo / ".sei" / "bom.cdx.json").write_bytes(b"changed")
    (repo / ".sei" / "notes.txt").write_bytes(b"unsigned")


def _summary(verdict: signing.EvidenceVerdict) -> dict:
    return {
        "ok": verdict.ok,
        "files": [(str(f.path), f.ok, f.reason, f.keyid) for f in verdict.files],
        "warnings": verdict.warnings,
        "index": verdict.index,
        "source": verdict.pubkey_source,
    }


_DRIVER = """
import json, sys
from pathlib import Path
from sei_assets.core import signing

pooled = []
start = signing._shared
signing._shared = lambda *args: pooled.append(args[2]) or start(*args)
signing.POOL_FROM = 4
folder, *repos = [Path(arg) for arg in sys.argv[1:]]

def summary(v):
    return {"ok": v.ok, "files": [(str(f.path), f.ok, f.reason, f.keyid) for f in v.files],
            "warnings": v.warnings, "index": v.index, "source": v.pubkey_source}

serial = summary(signing.verify_evidence(folder, workers=1))
pool = summary(signing.verify_evidence(folder, workers=2))
each = [summary(signing.verify_evidence(r)) for r in repos]
listed = [summary(v) for v in signing.verify_repositories(repos, workers=2)]
try:
    signing.verify_repositories([*repos, Path(sys.argv[1]).parent], workers=2)
    error = None
except signing.SeiError as exc:
    error = str(exc)
print(json.dumps({"serial": serial, "pool": pool, "each": each, "listed": listed,
                  "pooled": pooled, "error": error}))
"""


def test_the_process_pool_gives_the_serial_verdicts(key, tmp_path: Path, quickstart: Path) -> None:
    """Run in a fresh process: forking needs a single-threaded parent (pytest-xdist workers
    are not), and the pool must really start for the comparison to mean anything."""
    folder = tmp_path / "folder"
    _indexed_set(folder, key, 30)
    _tamper(folder)
    repos = []
    for i in range(6):
        repo = tmp_path / f"repo{i}"
        shutil.copytree(quickstart / ".froga", repo / ".froga")
        repos.append(repo)
    (repos[2] / ".froga" / "bundle.json").write_bytes(b"{}")
    (repos[4] / ".froga" / "PUBKEY.txt").write_text("04" + "ab" * 64 + "\n")
    out = _run_fresh(_DRIVER, str(folder), *map(str, repos), timeout=300)
    assert out["pooled"] == [2, 2, 2], "the pool did not start"
    assert out["pool"] == out["serial"]
    assert out["listed"] == out["each"]
    reasons: dict[str, list[str]] = {}
    for path, ok, reason, _ in out["pool"]["files"]:
        if not ok:
            reasons.setdefault(Path(path).name, []).append(reason)
    assert reasons["doc003.json"] == [ALTERED]
    assert reasons["doc011.json"] == [f"payloadType is None, expected {signing.PAYLOAD_TYPE!r}"]
    assert reasons["doc017.json"] == [
        "conformance/doc017.json.sig signs a file that is missing",
        "named by the signed index but missing",
    ]
    [swapped] = reasons["doc023.json"]
    assert "statement names 'conformance/doc024.json'" in swapped
    for changed in ("bom.cdx.json", "doc011.json.sig", "doc023.json.sig"):
        [reason] = reasons.pop(changed)
        assert reason.startswith("differs from the file the signed index names"), changed
    assert len(reasons) == 4
    assert any("notes.txt: unsigned file" in w for w in out["pool"]["warnings"])
    assert [e["ok"] for e in out["listed"]] == [True, True, False, True, False, True]
    assert out["error"] is not None and "no evidence directory" in out["error"]


def test_in_this_process_the_verdicts_are_the_same(
    key, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wherever forking is not safe (a threaded process) or fails, the set is verified here."""
    _indexed_set(tmp_path, key, 30)
    _tamper(tmp_path)
    serial = _summary(signing.verify_evidence(tmp_path, workers=1))
    monkeypatch.setattr(signing, "POOL_FROM", 4)
    assert _summary(signing.verify_evidence(tmp_path, workers=2)) == serial

    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(signing, "_can_fork", lambda: True)
    monkeypatch.setattr(os, "fork", no_fork)
    assert _summary(signing.verify_evidence(tmp_path, workers=2)) == serial
    assert _summary(signing.verify_evidence(tmp_path, workers=3)) == serial


def test_small_sets_start_no_pool(
    quickstart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    monkeypatch.setattr(signing, "_shared", lambda *args: started.append(args[2]))
    monkeypatch.setattr(signing, "_can_fork", lambda: True)
    assert signing.verify_evidence(quickstart, workers=2).ok
    repos = [quickstart] * 3
    assert all(v.ok for v in signing.verify_repositories(repos, workers=2))
    assert started == []
    assert signing._worker_count(2, signing.POOL_FROM - 1) == 1
    assert signing._worker_count(2, signing.POOL_FROM) == 2
    assert signing._worker_count(1, 10 * signing.POOL_FROM) == 1


def test_a_repository_list_raises_like_the_loop(quickstart: Path, tmp_path: Path) -> None:
    with pytest.raises(SeiError, match="no evidence directory"):
        signing.verify_repositories([quickstart, tmp_path])


_SHARED = """
import json, os, signal, time
from sei_assets.core import signing

parent = os.getpid()

def squares(part):
    if os.getpid() == parent:
        time.sleep(0.02)  # slow here: the children claim chunks too
    elif 4 in part:
        os.kill(os.getpid(), signal.SIGKILL)  # a child dies: its chunks are done in the parent
    return [(x * x, os.getpid() == parent) for x in part]

def failing(part):
    if os.getpid() == parent:
        time.sleep(0.02)
    for x in part:
        if x in (5, 7):
            raise ValueError(f"item {x}")
    return part

handed = []
out = {"squares": signing._shared(squares, list(range(10)), 3,
                                  lambda start, got: handed.append([start, len(got)]))}
out["handed"] = handed
try:
    signing._shared(failing, list(range(9)), 3)
except ValueError as exc:
    out["error"] = str(exc)
try:
    os.waitpid(-1, os.WNOHANG)
    out["reaped"] = False
except ChildProcessError:
    out["reaped"] = True
print(json.dumps(out))
"""


def test_a_shared_set_survives_its_children() -> None:
    """The children claim chunks; one that dies has its chunks done here; the first error in
    order is raised, as the loop would raise it, whichever process met it; no child is left
    behind."""
    out = _run_fresh(_SHARED, timeout=120)
    squares = out.pop("squares")
    assert [value for value, _ in squares] == [x * x for x in range(10)]
    assert squares[4][1], "the chunk of the child that died was not done here"
    assert not all(here for _, here in squares), "no child computed a chunk"
    handed = out.pop("handed")
    starts = [start for start, _ in handed]
    assert starts == [sum(n for _, n in handed[:i]) for i in range(len(handed))], handed
    assert sum(n for _, n in handed) == 10, "ready was not given every result, once, in order"
    assert out == {"error": "item 5", "reaped": True}


def test_chunks_are_small_and_few_enough() -> None:
    assert signing._chunk_size(10, 3) == 1
    assert signing._chunk_size(1000, 2) == signing.CHUNK
    assert signing._chunk_size(100_000, 2) * signing._TICKETS >= 100_000
