"""Generate small AI systems for sweeps and automation: the `file` reproducer, no training.

Each system is a git repository with a manifest (two controls: a blocking fairness bound and an
audit accuracy floor), a tiny dataset with its Croissant file, `params.yaml` (the treatment) and
`make_metrics.py`, which derives the metrics from the data and the params deterministically.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import yaml

MAKE_METRICS = '''"""Metrics from the records and the params: no training, deterministic."""
import csv
import json

import yaml

params = yaml.safe_load(open("params.yaml"))
rows = list(csv.DictReader(open("data/records.csv")))
approved = {g: [int(r["approved"]) for r in rows if r["group"] == g] for g in ("a", "b")}
rates = {g: sum(v) / len(v) for g, v in approved.items()}
gap = abs(rates["a"] - rates["b"]) * float(params["bias"])
json.dump({"parity-gap": {"value": gap, "power": {"n": len(rows), "groups": {
    g: len(v) for g, v in approved.items()}, "ci_low": gap * 0.9, "ci_high": gap * 1.1,
    "ci_level": 0.95, "method": "bootstrap", "n_boot": 100, "seed": 1}},
    "accuracy-floor": 0.8}, open("metrics.json", "w"), indent=2)
'''


def manifest(name: str, review_interval: str = "P1Y") -> dict:
    """A small manifest in the reference schema."""
    return {
        "apiVersion": "venturalitica.ai/v1alpha1",
        "kind": "AISystem",
        "system": {
            "name": name,
            "intended_purpose": "Generated test system.",
            "organization": "Test Org",
            "version": "1.0.0",
        },
        "dataset": {"croissant": "data/records.croissant.json"},
        "pipeline": {
            "tool": "file",
            "metrics": "metrics.json",
            "params": "params.yaml",
            "command": "python make_metrics.py",
        },
        "oscal": {"assessment_plan": "assessment_plan.oscal.yaml"},
        "classification": {"tier": "high", "basis": ["generated"], "rationale": "test"},
        "risk": {
            "appetite": {"individual": "MEDIUM", "society": "MEDIUM", "organization": "HIGH"},
            "overall_residual_criterion": "HIGH",
            "review_interval": review_interval,
            "risks": [
                {
                    "id": "risk.unfair",
                    "title": "Unfair outcomes",
                    "domain": "fairness",
                    "impact": {"individual": "HIGH"},
                    "likelihood": "POSSIBLE",
                    "treat": [
                        {
                            "method": "REDUCE",
                            "action": "bound the gap",
                            "residual_likelihood": "UNLIKELY",
                            "measures": [
                                {
                                    "id": "parity-gap",
                                    "metric": "demographic_parity_diff",
                                    "constraint": "< 0.05",
                                    "severity": "high",
                                    "enforcement": "gate",
                                    "article": "15",
                                },
                                {
                                    "id": "accuracy-floor",
                                    "metric": "accuracy_score",
                                    "constraint": ">= 0.7",
                                    "severity": "medium",
                                    "enforcement": "audit",
                                    "article": "15",
                                },
                            ],
                        }
                    ],
                }
            ],
        },
    }


def croissant(name: str, csv: Path) -> dict:
    """A minimal valid Croissant 1.0 description of the records file (mlcroissant accepts it):
    the loan system's JSON-LD context, one file, one record set of two fields."""
    loan = Path(__file__).resolve().parent.parent / "resources" / "loan" / "data"
    context = json.loads((loan / "german_credit.croissant.json").read_text())["@context"]

    def column(field: str, kind: str) -> dict:
        return {
            "@type": "cr:Field",
            "@id": f"records/{field}",
            "name": field,
            "dataType": kind,
            "source": {"fileObject": {"@id": "records.csv"}, "extract": {"column": field}},
        }

    return {
        "@context": context,
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": f"{name}-records",
        "description": f"Generated records of {name}.",
        "license": "https://creativecommons.org/publicdomain/zero/1.0/",
        "url": "https://example.test/records",
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": "records.csv",
                "name": "records.csv",
                "contentUrl": "records.csv",
                "encodingFormat": "text/csv",
                "sha256": hashlib.sha256(csv.read_bytes()).hexdigest(),
            }
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "records",
                "name": "records",
                "field": [column("group", "sc:Text"), column("approved", "sc:Integer")],
            }
        ],
    }


def make_system(path: Path, name: str, bias: float = 0.1, review_interval: str = "P1Y") -> Path:
    """Create and commit one system; ``bias`` scales its parity gap (0.1 green, 1.0 red)."""
    (path / "data").mkdir(parents=True, exist_ok=True)
    rows = ["group,approved"] + [
        f"a,{int(i % 3 != 0)}" if i % 2 else f"b,{int(i % 4 != 0)}" for i in range(60)
    ]
    (path / "data" / "records.csv").write_text("\n".join(rows) + "\n")
    (path / "data" / "records.croissant.json").write_text(
        json.dumps(croissant(name, path / "data" / "records.csv"), indent=2)
    )
    (path / "params.yaml").write_text(f"bias: {bias}\n")
    (path / "make_metrics.py").write_text(MAKE_METRICS)
    (path / "sei.yaml").write_text(yaml.safe_dump(manifest(name, review_interval), sort_keys=False))
    git = ["git", "-c", "user.name=Gen", "-c", "user.email=gen@example.test"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-qm", f"declare {name}"], cwd=path, check=True)
    return path


def make_registry(
    root: Path, count: int, red: frozenset[int] = frozenset(), due: frozenset[int] = frozenset()
) -> Path:
    """``count`` systems under ``root`` and the registry file that lists them; the ``red`` ones
    fail their gate, the ``due`` ones have a review interval that has already passed."""
    entries = []
    for i in range(count):
        name = f"sys_{i:03d}"
        make_system(
            root / name,
            name,
            bias=1.0 if i in red else 0.1,
            review_interval="PT0S" if i in due else "P1Y",
        )
        entries.append({"name": name, "repo": str(root / name)})
    registry = root / "systems.yaml"
    registry.write_text(yaml.safe_dump({"systems": entries}))
    return registry


def forge_evidence(repo: Path) -> str:
    """Re-sign the whole evidence set of ``repo`` green with another key (PUBKEY.txt replaced),
    as an attacker with write access would; return the forger's hex public key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from sei_assets.core import engine, signing

    other = ec.generate_private_key(ec.SECP256R1())
    bundle = json.loads((repo / ".sei" / "bundle.json").read_text())
    bundle["gate"], bundle["gate_failures"] = "green", []
    loaded = engine.load_manifest(repo)
    run = engine.reproduce(loaded, repro=False)
    _b, _r, bom, inputs = engine.evaluate(loaded, run)
    engine.seal(loaded, bundle, bom, inputs, key=other)
    return signing.public_key_hex(other)
