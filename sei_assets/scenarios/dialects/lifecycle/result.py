"""The signed result document of a scenario run: `<workdir>/.sei/scenarios/<name>.json`.

It is signed like evidence (a DSSE envelope `<name>.json.sig`, `PUBKEY.txt` beside in
`.sei/`), with a throwaway key made for this run in a temporary folder and discarded: never
the machine's key. `sei verify --repo <workdir>` checks it offline.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sei_assets.core import signing
from sei_assets.core.fsutil import atomic_write


def write_result(workdir: Path, slug: str, doc: dict[str, Any]) -> Path:
    """Write and sign the result document; return its path."""
    evidence = workdir / ".sei"
    folder = evidence / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}.json"
    data = json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    atomic_write(path, data.encode("utf-8"))
    with tempfile.TemporaryDirectory(prefix="sei-scenario-key-") as tmp:
        key = signing.load_or_create_key(Path(tmp) / "signing-key.pem")
        signing.sign_file(path, key, tool="sei-scenario")
        signing.write_pubkey(evidence, key)
    return path


def verify_result(path: Path) -> bool:
    """Whether a result document's signature holds under the public key beside it."""
    path = Path(path)
    pubkey = (path.parent.parent / signing.PUBKEY_FILE).read_text(encoding="utf-8").strip()
    return signing.verify_file(path, pubkey).ok
