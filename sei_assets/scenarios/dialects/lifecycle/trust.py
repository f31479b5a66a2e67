"""Which lifecycle scenarios may run code: the project's own, or others the caller trusts.

A step runs a program the scenario chooses when its verb is `process.exec` or `process.start`,
or `sei.run` (it reproduces the sandbox's pipeline, whose files the scenario may have written or
overlaid), directly or through a composed verb. Such a scenario from a folder other than the
project's `scenarios/lifecycle/` is refused unless the caller passes ``--allow-exec``, or the
folder is a signed scenario set; the refusal names each step.

A signed scenario set is a folder with ``.sei-scenario-set`` (JSON: the sha256 of every other
file of the folder, by its path in it) and ``.sei-scenario-set.sig`` (its DSSE envelope, the
evidence's format), written by `sei scenario sign`. It is trusted when the envelope verifies
under a key listed in the scenario-keys file (``$SEI_SCENARIO_KEYS``, else ``scenario_keys`` in
the configuration folder: one hex public key a line, ``#`` comments), a file the user writes
explicitly, and when the folder holds exactly the signed files with the signed digests: a file
changed, added or removed since, or a symbolic link, breaks the trust, and the refusal names it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError
from sei_assets.scenarios.dialects.lifecycle.model import Catalog, Scenario, Step

EXEC_VERBS = ("process.exec", "process.start", "sei.run")
SET_FILE = ".sei-scenario-set"
SET_SIG = SET_FILE + ".sig"
SET_TYPE = "https://sei-assets.dev/scenario-set/v1"
KEYS_ENV = "SEI_SCENARIO_KEYS"
#: A scenario set is a folder of text files: more than this is not one.
MAX_FILES = 10_000
MAX_MANIFEST = 4 * 1024 * 1024


def scenario_keys_path() -> Path:
    """The file of keys trusted to sign scenario sets (it need not exist)."""
    from sei_assets.core.trust import config_dir

    return Path(os.environ.get(KEYS_ENV) or config_dir() / "scenario_keys")


def scenario_keys() -> list[str]:
    """The hex public keys trusted to sign scenario sets; a malformed line is bad input."""
    from sei_assets.core import safeload

    path = scenario_keys_path()
    if not path.is_file():
        return []
    keys = []
    for n, line in enumerate(safeload.read_text(path, "scenario keys").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if len(text) != 130 or not text.startswith("04") or text.strip("0123456789abcdef"):
            raise SeiError(f"{path}:{n}: expected a hex P-256 public key (130 digits, 04...)")
        keys.append(text)
    return keys


def set_files(folder: Path) -> dict[str, str]:
    """The sha256 of every file of ``folder`` (recursively) by its POSIX path in it, but the
    set's own two files; a symbolic link, or more than :data:`MAX_FILES` files, is refused."""
    folder = Path(folder)
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        here = Path(root)
        for name in sorted(dirs + files):
            path = here / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise SeiError(f"{path}: a symbolic link: a scenario set holds files only")
            if name in dirs or rel in (SET_FILE, SET_SIG):
                continue
            if len(found) >= MAX_FILES:
                raise SeiError(f"{folder}: more than {MAX_FILES} files: not a scenario set")
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            found[rel] = digest.hexdigest()
    return found


def sign_set(folder: Path, key: Any) -> Path:
    """Sign ``folder`` as a scenario set with ``key``: write ``.sei-scenario-set`` and its
    envelope; the manifest's path."""
    from sei_assets.core import signing
    from sei_assets.core.fsutil import atomic_write

    folder = Path(folder)
    doc = {"type": SET_TYPE, "files": set_files(folder)}
    data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
    atomic_write(folder / SET_FILE, data)
    atomic_write(folder / SET_SIG, signing.sign_bytes(data, SET_FILE, key))
    return folder / SET_FILE


def _read(path: Path, limit: int) -> bytes:
    if path.is_symlink():
        raise SeiError(f"{path}: a symbolic link: a scenario set holds files only")
    with open(path, "rb") as fh:
        raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise SeiError(f"{path}: larger than {limit} bytes")
    return raw


def set_trust(folder: Path) -> tuple[bool, str]:
    """Whether ``folder`` is a scenario set signed by a trusted key and unchanged since, and
    what was found (the signer's keyid, or why not)."""
    try:
        return _set_trust(Path(folder))
    except SeiError as exc:
        return False, str(exc)


def _set_trust(folder: Path) -> tuple[bool, str]:
    from sei_assets.core import dsse

    manifest, envelope_path = folder / SET_FILE, folder / SET_SIG
    if not manifest.exists() and not manifest.is_symlink():
        return False, f"{folder} is not a signed scenario set (no {SET_FILE})"
    try:
        data = _read(manifest, MAX_MANIFEST)
        envelope = _read(envelope_path, dsse.MAX_ENVELOPE)
    except FileNotFoundError:
        return False, f"{envelope_path} is missing: the scenario set is not signed"
    except OSError as exc:
        return False, f"cannot read the scenario set's files: {exc.strerror or exc}"
    keys = scenario_keys()
    if not keys:
        return False, (
            f"no key is trusted to sign scenario sets ({scenario_keys_path()} lists none): add "
            "the signer's public key there to trust its sets"
        )
    reasons = []
    for key in keys:
        try:
            keyid = dsse.verify_envelope(data, envelope, SET_FILE, key)
            break
        except dsse.EnvelopeError as exc:
            reasons.append(str(exc))
    else:
        return False, (
            f"{manifest} is not signed by a key trusted for scenario sets in "
            f"{scenario_keys_path()} ({reasons[0]})"
        )
    try:
        doc = dsse.strict_json(data, SET_FILE)
    except dsse.EnvelopeError as exc:
        return False, f"{manifest}: {exc}"
    signed = doc.get("files") if isinstance(doc, dict) and doc.get("type") == SET_TYPE else None
    if not isinstance(signed, dict) or not all(isinstance(v, str) for v in signed.values()):
        return False, f"{manifest}: expected {{type: {SET_TYPE}, files: {{path: sha256}}}}"
    current = set_files(folder)
    changes = [
        *(f"{rel} changed since the set was signed" for rel in sorted(signed)
          if rel in current and current[rel] != signed[rel]),
        *(f"{rel} was added after the set was signed" for rel in sorted(current)
          if rel not in signed),
        *(f"{rel} was removed after the set was signed" for rel in sorted(signed)
          if rel not in current),
    ]  # fmt: skip
    if changes:
        return False, f"the signed scenario set {folder} no longer holds: " + "; ".join(changes)
    return True, f"a scenario set signed by keyid {keyid}"


def project_folder() -> Path:
    """The project's own lifecycle folder (`scenarios/lifecycle/` of the checkout)."""
    from sei_assets.scenarios.dialects.harness.model import scenarios_dir

    return (scenarios_dir() / "lifecycle").resolve()


def is_project_folder(catalog: Catalog) -> bool:
    """Whether ``catalog`` is the project's own lifecycle folder."""
    return Path(catalog.directory).resolve() == project_folder()


def _runs_code(name: str, catalog: Catalog, seen: frozenset[str] = frozenset()) -> str | None:
    if name in EXEC_VERBS:
        return name
    verb = catalog.verbs.get(name)
    if verb is None or name in seen:
        return None
    for step in verb.steps:
        found = _runs_code(step.run, catalog, seen | {name})
        if found:
            return f"{name} -> {found}"
    return None


def exec_steps(scenario: Scenario, catalog: Catalog) -> list[tuple[Step, str]]:
    """The steps of ``scenario`` that run a program it chooses, with the verb chain."""
    out = []
    for _section, step in scenario.all_steps():
        chain = _runs_code(step.run, catalog)
        if chain:
            out.append((step, chain))
    return out


def refusals(scenarios: list[Scenario], catalog: Catalog, allow_exec: bool) -> list[str]:
    """Why each step that runs code may not run (none for the project's folder, a signed
    scenario set whose signer is trusted, or with ``allow_exec``)."""
    if allow_exec or is_project_folder(catalog):
        return []
    steps = [(s, step, chain) for s in scenarios for step, chain in exec_steps(s, catalog)]
    if not steps:
        return []
    trusted, why = set_trust(Path(catalog.directory))
    if trusted:
        return []
    return [
        *([why] if (Path(catalog.directory) / SET_FILE).exists() else []),
        *(
            f"{s.file}:{step.line or '?'}: {step.path}: {s.name} runs a command ({chain}) and "
            f"comes from {catalog.directory}, outside the project's scenarios/: pass "
            "--allow-exec to trust it, or sign the folder (`sei scenario sign`) with a key "
            f"listed in {scenario_keys_path()}"
            for s, step, chain in steps
        ),
    ]
