"""Release: promotion of the model, allowed only on green, signed evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.core.evidence import BUNDLE, EVIDENCE_DIR, dump, write_signed
from sei_assets.core.fsutil import sha256_file

RELEASE = "release.json"


def promote(repo: Path) -> dict[str, Any]:
    """Record the released model (its digest, the evidence it rests on); refuse on a red gate."""
    from sei_assets.core import signing

    bundle_path = repo / EVIDENCE_DIR / BUNDLE
    if not bundle_path.is_file():
        raise SeiError(f"{bundle_path}: no evidence to release on")
    verdict = signing.verify_evidence(repo)
    if not verdict.ok:
        raise SeiError(f"{repo}: the evidence does not verify; refusing to release")
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    if bundle.get("gate") != "green":
        raise SeiError(f"{repo}: the gate is {bundle.get('gate')}; refusing to release")
    model = next((repo / p for p in ("model.pkl", "model.joblib") if (repo / p).is_file()), None)
    record = {
        "system": bundle["system_name"],
        "model": model.name if model else None,
        "model_digest": "sha256:" + sha256_file(model) if model else None,
        "bundle_digest": "sha256:" + sha256_file(bundle_path),
        "code": bundle["triple"]["code"],
        "gate": bundle["gate"],
    }
    key = signing.load_or_create_key()
    out = repo / EVIDENCE_DIR / RELEASE
    write_signed(out, dump(record), key)
    return record
