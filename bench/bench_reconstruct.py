"""`sei reconstruct` on a generated long history against `git log -p` of the evidence files.

    .venv/bin/python bench/bench_reconstruct.py [--commits 1000] [--rounds 5]

Generates a linear history of ``--commits`` commits with `git fast-import` (one process): a
manifest that declares four risks (the last one late in the history), a DVC treatment
(`dvc.yaml`, `params.yaml`, `train.py`), evidence bundles close to the loan bundle (about
50 KB: eight controls, the risk analysis and an embedded bill of materials) whose controls fail
and pass over time (FAIL -> PASS arcs, a relaxed threshold now and then), unrelated commits and
management decisions (trailers). Then times, in turns within each round, the floor
``git log -p HEAD -- <bundle paths> <manifest names>`` (every version of the files reconstruct
reads, as diffs) and the whole command ``sei reconstruct --out FILE``, and reports the medians
and the ratio sei/floor.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import Rounds, machine, timed

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# As users run them: with bytecode caching (a sandbox may set PYTHONDONTWRITEBYTECODE, which
# makes every Python command, ours and DVC alike, compile its modules on each start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BUNDLE_PATHS = (".sei/bundle.json", ".venth/bundle.json", ".froga/bundle.json")
MANIFEST_NAMES = ("sei.yaml", "venth.yaml", "froga.yaml")
RISKS = ("risk.unfair-outcome", "risk.drift", "risk.privacy", "risk.late-finding")
CONTROLS = {f"ctl-{i}": RISKS[i % len(RISKS)] for i in range(8)}
DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [seed]
    metrics:
      - metrics.json: {cache: false}
"""


def _manifest(risks: int, revision: int) -> str:
    lines = [
        "apiVersion: venturalitica.ai/v1alpha1",
        "kind: AISystem",
        "system:",
        "  name: generated-scoring",
        f'  intended_purpose: "A generated system (manifest revision {revision})."',
        "  organization: Example Org",
        "eval: { script: train.py }",
        "pipeline: { tool: dvc, metrics: metrics.json }",
        "risk:",
        "  appetite: { individual: MEDIUM, society: MEDIUM, organization: HIGH }",
        "  overall_residual_criterion: HIGH",
        "  risks:",
    ]
    for rid in RISKS[:risks]:
        lines += [
            f"    - id: {rid}",
            f'      title: "{rid} (generated)"',
            "      impact: { individual: HIGH, society: MEDIUM }",
            "      likelihood: POSSIBLE",
            "      treat:",
            "        - method: REDUCE",
            '          action: "Bound the metric."',
            "          measures:",
        ]
        for cid, owner in CONTROLS.items():
            if owner == rid:
                lines += [
                    f"            - id: {cid}",
                    f"              metric: metric_{cid}",
                    '              constraint: "< 0.05"',
                    "              enforcement: gate",
                ]
    return "\n".join(lines) + "\n"


def _bom(release: int) -> dict:
    """A CycloneDX-like bill of materials as the loan bundle embeds (about 55 KB)."""
    rng = random.Random(release)
    components = [
        {
            "type": "library",
            "name": f"package-{i:03d}",
            "version": f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{release % 7}",
            "purl": f"pkg:pypi/package-{i:03d}@{release}",
            "hashes": [{"alg": "SHA-256", "content": f"{rng.getrandbits(256):064x}"}],
        }
        for i in range(150)
    ]
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components}


def _bundle(rng: random.Random, state: dict[str, bool], risks: int, run: int, ts: int) -> bytes:
    live = [c for c, r in CONTROLS.items() if r in RISKS[:risks]]
    results = []
    for cid in live:
        if rng.random() < 0.1:
            state[cid] = not state.get(cid, False)
        passed = state.setdefault(cid, rng.random() < 0.5)
        threshold = 0.05 if rng.random() < 0.95 else 0.08
        results.append(
            {
                "control_id": cid,
                "risk_id": CONTROLS[cid],
                "metric_key": f"metric_{cid}",
                "actual_value": round(
                    rng.uniform(0, 0.04) if passed else rng.uniform(0.06, 0.2), 6
                ),
                "operator": "lt",
                "threshold": threshold,
                "enforcement_mode": "block",
                "passed": passed,
                "power": {"n": 1000, "ci_low": 0.01, "ci_high": 0.09, "n_boot": 200, "seed": run},
            }
        )
    analysis = [
        {
            "risk_id": rid,
            "provenance": "declared",
            "inherent": {"level": "HIGH", "likelihood": "POSSIBLE"},
            "residual": {"level": "MEDIUM"},
            "status": "closed"
            if all(r["passed"] for r in results if r["risk_id"] == rid)
            else "open",
        }
        for rid in RISKS[:risks]
    ]
    gate = "green" if all(r["passed"] for r in results) else "red"
    doc = {
        "system_name": "generated-scoring",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
        "run": run,
        "gate": gate,
        "gate_failures": [r["control_id"] for r in results if not r["passed"]],
        "control_results": results,
        "risk_analysis": analysis,
        "treatment_events": [],
        "bom": _bom(run // 20),  # the dependencies change now and then
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def make_history(dest: Path, commits: int = 1000, seed: int = 7) -> Path:
    """A git repository at ``dest`` with ``commits`` generated commits (linear), checked out.

    Every bundle is signed (``.sig`` beside it, ``.sei/PUBKEY.txt`` committed) with this
    machine's signing key, as `sei run` signs it: reconstruct verifies the latest one."""
    from sei_assets.core import signing

    key = signing.load_or_create_key()
    pubkey = (signing.public_key_hex(key) + "\n").encode("ascii")
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    ts = 1_700_000_000
    risks, revision, runs, params = 3, 0, 0, 0
    state: dict[str, bool] = {}
    chunks: list[bytes] = []

    def commit(message: str, files: dict[str, bytes]) -> None:
        nonlocal ts
        ts += 600
        who = f"Gen Erator <gen@example.test> {ts} +0000"
        msg = message.encode()
        chunks.append(
            f"commit refs/heads/main\nauthor {who}\ncommitter {who}\ndata {len(msg)}\n".encode()
            + msg
            + b"\n"
        )
        for path, data in files.items():
            chunks.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        chunks.append(b"\n")

    commit(
        "declare: generated-scoring",
        {
            "sei.yaml": _manifest(risks, revision).encode(),
            "dvc.yaml": DVC_YAML.encode(),
            "params.yaml": b"seed: 0\n",
            "train.py": b"MITIGATE = 0\n",
            ".sei/PUBKEY.txt": pubkey,
        },
    )
    for i in range(1, commits):
        if risks < len(RISKS) and i >= commits * 9 // 10:
            risks, revision = risks + 1, revision + 1
            commit("declare: a late risk", {"sei.yaml": _manifest(risks, revision).encode()})
            continue
        roll = rng.random()
        if roll < 0.4:
            runs += 1
            bundle = _bundle(rng, state, risks, runs, ts)
            envelope = signing.sign_bytes(bundle, "bundle.json", key)
            commit(f"run {runs}", {".sei/bundle.json": bundle, ".sei/bundle.json.sig": envelope})
        elif roll < 0.6:
            params += 1
            name = "params.yaml" if params % 2 else "train.py"
            body = f"seed: {params}\n" if name == "params.yaml" else f"MITIGATE = {params}\n"
            commit(f"treatment {params}", {name: body.encode()})
        elif roll < 0.65:
            revision += 1
            commit("scope: reword", {"sei.yaml": _manifest(risks, revision).encode()})
        elif roll < 0.68:
            commit(
                "sei: management approval of the treatment plan\n\n"
                "Sei-Approved-by: Quality Demo <quality@example.test>\n",
                {},
            )
        else:
            commit(f"docs {i}", {"NOTES.md": f"note {i}\n".encode()})
    subprocess.run(["git", "fast-import", "--quiet"], cwd=dest, input=b"".join(chunks), check=True)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=dest, check=True)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SEI_SIGNING_KEY", str(Path(tmp) / "key.pem"))
        os.environ.setdefault("SEI_KNOWN_KEYS", str(Path(tmp) / "known_keys.json"))
        start = time.perf_counter()
        repo = make_history(Path(tmp) / "history", args.commits)
        print(f"generated {args.commits} commits in {time.perf_counter() - start:.2f} s")
        out = Path(tmp) / "reconstruct.json"
        cmds = {
            "git log -p (floor)": [
                "git",
                "log",
                "-p",
                "HEAD",
                "--",
                *BUNDLE_PATHS,
                *MANIFEST_NAMES,
            ],
            "sei reconstruct": [str(BIN / "sei"), "reconstruct", "--out", str(out)],
        }
        rounds = Rounds(list(cmds))
        env = ENV | {k: os.environ[k] for k in ("SEI_SIGNING_KEY", "SEI_KNOWN_KEYS")}
        rounds.run(cmds, args.rounds, lambda cmd: timed(cmd, repo, env))
        med, mcpu = rounds.medians()
        print(machine())
        for label in cmds:
            print(
                f"{label:<20} median {med[label] * 1000:8.0f} ms wall, "
                f"{mcpu[label] * 1000:6.0f} ms CPU over {args.rounds} runs"
            )
        payload = json.loads(out.read_text())["payload"]
        print(
            f"reconstruct: {len(payload['snapshots'])} snapshots, {len(payload['risks'])} risks, "
            f"{len(payload['treatment_arcs'])} treatment arcs"
        )
        floor, sei = "git log -p (floor)", "sei reconstruct"
        print(
            f"ratio sei reconstruct/git log -p {med[sei] / med[floor]:.2f} wall "
            f"({mcpu[sei] / mcpu[floor]:.2f} CPU)"
        )


if __name__ == "__main__":
    main()
