"""Benchmark: evidence verification against the bare ECDSA verify rate of ``cryptography``.

Generates N signed ``bundle.json`` files (5-70 KB, shaped like the reference bundles), each in
a repository of its own, then in one process times:

* ``verify_evidence``: what ``sei verify`` does per repository (find ``.sei``, read
  ``PUBKEY.txt``, every ``*.sig``, sha256 of the file, envelope and statement checks, ECDSA);
* ``verify_file``: the same without the directory walk and key file;
* ``verify_repositories`` of the N repositories shared by 2 processes (this one and a forked
  child, each claiming small chunks of repositories in turn);
* ``verify_evidence`` of one evidence directory holding all N files as signed documents
  (``conformance/*.json``), in 1 and in 2 processes;
* ``trust.verify_trusted`` per repository (what ``sei verify --repo`` runs: the signatures and
  the trust decision, trust on first use in a known-keys store of the bench's own) and
  ``trust.check_repositories`` of the N repositories (``sei verify REPO ...``: the same and
  currency) in 1 and 2 processes, with the store as the earlier rounds left it (every system
  known, its bundle's name remembered by sha256) and, at first sight, in a new store each time
  (every bundle parsed for its name, every key remembered, the store written);
* bare: ``EllipticCurvePublicKey.verify`` of the same N signatures over pre-hashed PAE digests
  (no file IO, no JSON, no base64, no hashing of the payload), in one thread and split over two
  (``cryptography`` releases the GIL while it verifies); the same plus the sha256 of each bundle,
  and plus parsing it for its system name (what the trust decision needs when there is no
  signed index);
* the break-even of the second process: the first 32, 64, ... repositories verified in this
  process alone and shared with a forked child (forced, whatever the size), side by side.

Run: ``.venv/bin/python bench/bench_verify.py [--n 1000] [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sei_assets.core import signing, trust  # noqa: E402

_WORDS = (
    "riesgo control evidencia equidad paridad demográfica umbral gate modelo dataset "
    "treatment residual measurement fairness accuracy drift governance review approval "
    "subgroup proxy calibration threshold seed pipeline lineage owner rationale"
).split()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def make_bundle(rng: random.Random, target: int) -> bytes:
    """A bundle.json of about ``target`` bytes, indented like the reference engine's."""
    bundle: dict = {
        "system_name": f"pilot-{rng.choice(_WORDS)}-{rng.randrange(10**6)}",
        "intended_purpose": _sentence(rng, 14),
        "assessor": {"name": "Dev Demo", "email": "dev@example.demo", "organization": "Demo"},
        "triple": {"code": f"{rng.getrandbits(160):040x}", "model": "logreg:seed=42"},
        "classification": {"tier": rng.choice(["high", "limited"]), "basis": [_sentence(rng, 9)]},
        "control_results": [],
        "pipeline_lock_digest": f"sha256:{rng.getrandbits(256):064x}",
    }
    size = len(json.dumps(bundle, indent=2, ensure_ascii=False).encode())
    while size < target:
        entry = {
            "control_id": f"ctl.{rng.choice(_WORDS)}-{rng.randrange(1000)}",
            "risk": f"risk.{rng.choice(_WORDS)}",
            "metric": rng.choice(["demographic_parity_difference", "accuracy", "auc"]),
            "value": round(rng.random(), 6),
            "threshold": round(rng.random(), 3),
            "passed": rng.random() < 0.8,
            "subgroups": {rng.choice(_WORDS): round(rng.random(), 4) for _ in range(4)},
            "rationale": _sentence(rng, 25),
        }
        bundle["control_results"].append(entry)
        size += len(json.dumps(entry, indent=2, ensure_ascii=False).encode()) + 8
    return (json.dumps(bundle, indent=2, ensure_ascii=False) + "\n").encode()


def best_times(fns: dict[str, Callable[[], int]], rounds: int) -> dict[str, float]:
    """Best-of-``rounds`` seconds per function; rounds interleave the functions against drift."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for label, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of signed bundles")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds; the best is kept")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    key = ec.generate_private_key(ec.SECP256R1())
    pub_hex = signing.public_key_hex(key)
    public = key.public_key()
    with tempfile.TemporaryDirectory(prefix="sei-bench-") as tmp:
        repos: list[Path] = []
        bundles: list[Path] = []
        digests: list[bytes] = []
        ders: list[bytes] = []
        total = 0
        for i in range(args.n):
            repo = Path(tmp) / f"repo{i:04d}"
            evidence = repo / ".sei"
            evidence.mkdir(parents=True)
            bundle = evidence / "bundle.json"
            data = make_bundle(rng, rng.randint(5_000, 70_000))
            total += len(data)
            bundle.write_bytes(data)
            signing.sign_file(bundle, key)
            signing.write_pubkey(evidence, key)
            env = json.loads(signing.sig_path(bundle).read_bytes())
            raw = base64.b64decode(env["signatures"][0]["sig"])
            ders.append(
                utils.encode_dss_signature(
                    int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
                )
            )
            payload = base64.b64decode(env["payload"])
            digests.append(hashlib.sha256(signing.pae(env["payloadType"], payload)).digest())
            repos.append(repo)
            bundles.append(bundle)

        shared = Path(tmp) / "shared"
        (shared / ".sei" / "conformance").mkdir(parents=True)
        for i, bundle in enumerate(bundles):
            doc = shared / ".sei" / "conformance" / f"doc{i:04d}.json"
            doc.write_bytes(bundle.read_bytes())
            signing.sign_file(doc, key)
        (shared / ".sei" / "bundle.json").write_bytes(bundles[0].read_bytes())
        signing.sign_file(shared / ".sei" / "bundle.json", key)
        signing.write_pubkey(shared / ".sei", key)

        def run_shared(workers: int) -> Callable[[], int]:
            def run() -> int:
                verdict = signing.verify_evidence(shared, workers=workers)
                if not verdict.ok:
                    raise SystemExit(f"verification failed in {shared}")
                return len(verdict.files)

            return run

        def run_evidence() -> int:
            for repo in repos:
                if not signing.verify_evidence(repo).ok:
                    raise SystemExit(f"verification failed in {repo}")
            return len(repos)

        def run_repositories(workers: int, some: list[Path]) -> Callable[[], int]:
            def run() -> int:
                verdicts = signing.verify_repositories(some, workers=workers)
                if not all(v.ok for v in verdicts):
                    raise SystemExit("verification failed in a repository")
                return len(verdicts)

            return run

        os.environ.update(trust.sandbox_env(Path(tmp) / "trust"))  # a store of the bench's own

        def run_trusted() -> int:
            for repo in repos:
                if not trust.verify_trusted(repo).ok:
                    raise SystemExit(f"verification failed in {repo}")
            return len(repos)

        def run_checks(workers: int) -> Callable[[], int]:
            def run() -> int:
                checks = trust.check_repositories(repos, workers=workers)
                if not all(c.evidence is not None and c.evidence.ok for c in checks):
                    raise SystemExit("verification failed in a repository")
                return len(checks)

            return run

        first_sight = iter(range(1 << 30))

        def run_first_sight(workers: int) -> Callable[[], int]:
            def run() -> int:
                store = Path(tmp) / "trust" / f"first-{next(first_sight)}.json"
                os.environ[trust.KNOWN_ENV] = str(store)
                try:
                    count = run_checks(workers)()
                finally:
                    os.environ[trust.KNOWN_ENV] = str(Path(tmp) / "trust" / "known_keys.json")
                if len(json.loads(store.read_text())["systems"]) != len(repos):
                    raise SystemExit("the first sight did not remember every system")
                return count

            return run

        def run_file() -> int:
            for bundle in bundles:
                if not signing.verify_file(bundle, pub_hex).ok:
                    raise SystemExit(f"verification failed for {bundle}")
            return len(bundles)

        prehashed = ec.ECDSA(utils.Prehashed(hashes.SHA256()))

        def run_bare(lo: int = 0, hi: int | None = None) -> int:
            for der, digest in zip(ders[lo:hi], digests[lo:hi], strict=True):
                public.verify(der, digest, prehashed)  # raises InvalidSignature on failure
            return len(ders)

        def run_bare_threads() -> int:
            half = len(ders) // 2
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda span: run_bare(*span), [(0, half), (half, None)]))
            return len(ders)

        contents = [b.read_bytes() for b in bundles]

        def run_bare_hash() -> int:
            for data in contents:
                hashlib.sha256(data).digest()
            return run_bare()

        def run_bare_hash_parse() -> int:
            for data in contents:
                hashlib.sha256(data).digest()
                trust.system_of(Path(tmp), None, data)  # msgspec, as sei verify at first sight
            return run_bare()

        fns = {
            "bare ECDSA verify (prehashed)": run_bare,
            "bare ECDSA verify, 2 threads": run_bare_threads,
            "  + sha256 of the bundle bytes": run_bare_hash,
            "  + its system name (JSON parse)": run_bare_hash_parse,
            "verify_file (ours)": run_file,
            "verify_evidence (ours, signatures)": run_evidence,
            "N repositories, 2 workers (ours)": run_repositories(2, repos),
            "sei verify N repos, 1 worker (ours)": run_checks(1),
            "sei verify N repos, 2 workers (ours)": run_checks(2),
            "  at first sight, 1 worker (ours)": run_first_sight(1),
            "  at first sight, 2 workers (ours)": run_first_sight(2),
            "verify_trusted (ours, sei verify)": run_trusted,
            "one dir of N files, 1 worker (ours)": run_shared(1),
            "one dir of N files, 2 workers (ours)": run_shared(2),
        }
        for fn in fns.values():  # warm-up: page cache, key cache, allocator
            fn()
        best = best_times(fns, args.rounds)
        forks = signing._can_fork()  # else the "2 workers" lines ran in this process alone

        # the second process's break-even: forced (POOL_FROM = 1) on the first `size` repositories
        sizes = [size for size in (32, 64, 128, 256, 512) if size <= args.n]
        pool_from, signing.POOL_FROM = signing.POOL_FROM, 1
        try:
            even = best_times(
                {
                    f"{size}/{workers}": run_repositories(workers, repos[:size])
                    for size in sizes
                    for workers in (1, 2)
                },
                args.rounds,
            )
        finally:
            signing.POOL_FROM = pool_from

    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{platform.machine()}; {args.n} bundles, {total / args.n / 1024:.1f} KiB mean "
        f"({total / 1024 / 1024:.1f} MiB), best of {args.rounds} interleaved rounds"
    )
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end")
    if not forks:
        print("note: this process cannot fork safely here; the '2 workers' lines used one")
    bare_s = best["bare ECDSA verify (prehashed)"]
    for label, secs in best.items():
        line = f"{label:37s} {args.n / secs:9.0f} /s  {secs / args.n * 1e6:7.1f} us each"
        if secs != bare_s:
            who = "ours/bare" if "ours" in label else "this/bare"
            line += f"  ratio {who} {bare_s / secs:.2f} (x{secs / bare_s:.2f} the time)"
        print(line)
    print(f"break-even of 2 processes (sets from signing.POOL_FROM = {signing.POOL_FROM} on):")
    for size in sizes:
        one, two = even[f"{size}/1"], even[f"{size}/2"]
        print(
            f"  {size:4d} repositories: 1 worker {one * 1e3:7.2f} ms, 2 workers {two * 1e3:7.2f} ms"
            f"  speed-up x{one / two:.2f}"
        )


if __name__ == "__main__":
    main()
