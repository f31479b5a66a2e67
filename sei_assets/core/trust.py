"""Whom `sei verify` trusts, and whether the evidence is the latest for the repository.

* Known keys (like SSH's known hosts): the first key that verified a system's evidence is
  remembered in ``$XDG_CONFIG_HOME/sei-assets/known_keys.json`` (``$SEI_KNOWN_KEYS``); another
  key is refused unless accepted explicitly. The store also remembers that the system's
  evidence carried a signed index and the newest evidence seen, so that a deleted index or an
  older evidence set put back in place is noticed; and the sha256 of the bundle its name was
  last read from, so that the same bytes are named without parsing them again.
* Organisation keys: a trusted-keys file (``$SEI_TRUSTED_KEYS``, else the file named by
  ``trusted_keys`` in ``config.json`` of the same folder, else ``trusted_keys`` there), one
  ``<system name or *> <hex public key>`` per line, ``#`` comments. A system listed there
  verifies only under one of its listed keys.
* Currency: the signed index records the run's ``sei.lock`` input hashes and commit; the
  evidence is current when the repository's inputs still hash the same.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sei_assets.core import jsonread
from sei_assets.core.errors import SeiError
from sei_assets.core.exitcodes import ExitCode
from sei_assets.core.fsutil import atomic_write
from sei_assets.core.layout import BUNDLE, EVIDENCE_DIR, MANIFEST_NAMES

KNOWN_ENV = "SEI_KNOWN_KEYS"
TRUSTED_ENV = "SEI_TRUSTED_KEYS"


def config_dir() -> Path:
    """The user's sei-assets configuration folder."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "sei-assets"


def known_keys_path() -> Path:
    """Where the known keys are remembered."""
    return Path(os.environ.get(KNOWN_ENV) or config_dir() / "known_keys.json")


def trusted_keys_path() -> Path:
    """The organisation's trusted-keys file in force (it need not exist): ``$SEI_TRUSTED_KEYS``,
    else ``trusted_keys`` named in ``config.json`` of the config folder, else ``trusted_keys``
    there."""
    if os.environ.get(TRUSTED_ENV):
        return Path(os.environ[TRUSTED_ENV])
    folder = config_dir()
    if os.path.isfile(os.path.join(folder, "config.json")):
        config = folder / "config.json"
        try:
            named = json.loads(config.read_text(encoding="utf-8")).get("trusted_keys")
        except (OSError, ValueError, AttributeError) as exc:
            raise SeiError(f"{config}: expected a JSON object ({exc})") from None
        if named is not None:
            if not isinstance(named, str):
                raise SeiError(f"{config}: trusted_keys: expected the path of a file")
            path = Path(named).expanduser()
            if not path.is_file():
                raise SeiError(f"{config}: trusted_keys: {path} does not exist")
            return path if path.is_absolute() else config.parent / path
    return folder / "trusted_keys"


def sandbox_env(folder: Path) -> dict[str, str]:
    """The variables that give a sandbox (a scenario's) trust of its own: an empty known-keys
    store and an empty organisation list in ``folder``, so its throwaway keys are neither
    remembered on the machine nor judged by the organisation's keys."""
    folder.mkdir(parents=True, exist_ok=True)
    trusted = folder / "trusted_keys"
    if not trusted.exists():
        trusted.write_text("# a sandbox trusts no organisation key\n", encoding="utf-8")
    return {
        KNOWN_ENV: str(folder / "known_keys.json"),
        TRUSTED_ENV: str(trusted),
        "SEI_LOG": str(folder / "log"),  # its evidence goes to a transparency log of its own
    }


def read_trusted_keys(path: Path | None = None) -> dict[str, set[str]]:
    """System name (or ``*``) -> trusted hex public keys; SeiError naming a bad line."""
    path = path or trusted_keys_path()
    if not path.is_file():
        if os.environ.get(TRUSTED_ENV):
            raise SeiError(f"{path}: the trusted-keys file named by ${TRUSTED_ENV} is missing")
        return {}
    try:
        parsed = _parse_file(path, functools.partial(_parse_trusted, path))
    except (OSError, UnicodeDecodeError) as exc:
        raise SeiError(f"{path}: cannot read the trusted-keys file: {exc}") from None
    return {name: set(keys) for name, keys in parsed.items()}


def _parse_trusted(path: Path, raw: bytes) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        key = parts[-1].lower() if parts else ""
        if len(parts) != 2 or len(key) != 130 or not key.startswith("04"):
            raise SeiError(
                f"{path}:{n}: expected '<system name or *> <130 hex digits of a P-256 key>'"
            )
        try:
            bytes.fromhex(key)
        except ValueError:
            raise SeiError(f"{path}:{n}: the public key is not hex") from None
        out.setdefault(parts[0], set()).add(key)
    return out


#: Files as last parsed: path -> (the file's identity then, what parsing it gave).
_parsed_files: dict[str, tuple[tuple[int, ...], Any]] = {}
#: A file changed this recently may change again within its timestamps' granularity unseen
#: (git's "racily clean" entries): it is parsed again on every read.
_RACY_NS = 2_000_000_000


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _parse_file(path: Path, parse: Callable[[bytes], Any]) -> Any:
    """``parse`` of the bytes of ``path`` (not to be changed by the caller), reused while the
    file is the one parsed (device, inode, size, modification and change times) and had not
    changed for two seconds when it was read. Raises what reading and parsing raise."""
    where = os.fspath(path)
    started = time.time_ns()
    known = _parsed_files.get(where)
    if known is not None:
        try:
            st = os.stat(where)
        except OSError:
            pass  # read below, which says why
        else:
            if _identity(st) == known[0]:
                return known[1]
    with open(where, "rb") as fh:
        st = os.fstat(fh.fileno())  # the identity of the bytes parsed
        raw = fh.read()
    value = parse(raw)
    if started - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
        _parsed_files[where] = (_identity(st), value)
    else:
        _parsed_files.pop(where, None)
    return value


#: The store's format: ``{"version": 2, "systems": {name: record}, "repositories": {id: record}}``
#: (a repository's ids: ``path:<its real path>`` and ``root:<its root commit>``). The first
#: format, a mapping of system names only, is read as the systems of version 2.
STORE_VERSION = 2


def _parse_known(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(doc, dict):
        doc = {}
    if doc.get("version") == STORE_VERSION:
        systems, repositories = doc.get("systems"), doc.get("repositories")
    else:  # the first format: system name -> record
        systems, repositories = doc, {}
    return {
        "version": STORE_VERSION,
        "systems": {k: v for k, v in (systems or {}).items() if isinstance(v, dict)}
        if isinstance(systems, dict)
        else {},
        "repositories": {k: v for k, v in (repositories or {}).items() if isinstance(v, dict)}
        if isinstance(repositories, dict)
        else {},
    }


def _read_known(path: Path, copy: bool = True) -> dict[str, Any]:
    """The known-keys store, in the current format (a copy the caller may change, unless not
    ``copy``)."""
    try:
        doc: dict[str, Any] = _parse_file(path, _parse_known)
    except FileNotFoundError:
        return _parse_known(b"{}")
    except (OSError, ValueError) as exc:
        raise SeiError(
            f"{path}: the known-keys store is unreadable ({exc}); fix or remove it"
        ) from None
    if not copy:
        return doc
    return {
        "version": STORE_VERSION,
        "systems": dict(doc["systems"]),
        "repositories": dict(doc["repositories"]),
    }


def repository_path_id(repo: Path | str) -> str:
    """The store's id of a repository by its place: ``path:`` and its real path."""
    return "path:" + os.path.realpath(os.fspath(repo))


def repository_root_ids(repo: Path | str) -> list[str]:
    """The store's ids of a repository by its history: ``root:`` and each root commit (none
    outside a git work tree or before the first commit)."""
    import subprocess

    where = os.fspath(repo)
    if not os.path.exists(os.path.join(where, ".git")):
        return []
    try:
        done = subprocess.run(
            ["git", "rev-list", "--max-parents=0", "HEAD", "--"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    return sorted("root:" + line for line in done.stdout.split() if len(line) in (40, 64))


def manifest_system(repo: Path | str) -> tuple[str, str | None] | None:
    """(manifest file name, the system it names) of the repository, or None without one."""
    from sei_assets.core.lock import read_raw_manifest

    for name in MANIFEST_NAMES:
        path = Path(repo, name)
        if path.is_file():
            raw = read_raw_manifest(path)
            system = raw.get("system") if isinstance(raw, dict) else None
            named = system.get("name") if isinstance(system, dict) else None
            return name, named if isinstance(named, str) else None
    return None


def name_mismatch(repo: Path | str, system: str | None) -> str | None:
    """Why evidence naming ``system`` is not this repository's (its manifest names another
    system), or None."""
    found = manifest_system(repo)
    if found is None or system is None:
        return None
    manifest, named = found
    if named is not None and named != system:
        return (
            f"the evidence names the system {system!r}, but its manifest {manifest} names "
            f"{named!r}: evidence of another system (renamed?)"
        )
    return None


@dataclass
class TrustVerdict:
    """Whether the key that verified the evidence is one we trust, and why."""

    ok: bool
    source: str
    message: str
    notes: list[str] = field(default_factory=list)
    #: Older than evidence of the same system verified before on this machine.
    older: bool = False


def system_of(
    evidence_dir: Path | str,
    index: dict[str, Any] | None,
    bundle: bytes | None = None,
    digest: str | None = None,
    named: dict[str, str] | None = None,
) -> str | None:
    """The system the evidence is about: from its signed index, else its bundle (``bundle``:
    its bytes as verified, else read from the folder). ``named``: the systems of bundles read
    before, by their sha256; a bundle whose sha256 ``digest`` is there is not parsed again."""
    run = (index or {}).get("run") or {}
    if isinstance(name := run.get("system_name"), str):
        return name
    if digest is not None and named and digest in named:
        return named[digest]
    try:
        raw = bundle if bundle is not None else Path(evidence_dir, BUNDLE).read_bytes()
    except OSError:
        return None
    return jsonread.system_name(raw)


def known_key(repo: Path) -> str | None:
    """The key to verify ``repo``'s evidence with when it carries no ``PUBKEY.txt`` (the
    reference's repositories often do not): the one key the organisation trusts for its system,
    else the key remembered for it on this machine; None when there is no such single key."""
    return _Judge().known_key(repo)[0]


#: The last store mapped by :func:`_bundle_names`, and what that gave.
_names_of: tuple[object, dict[str, str]] | None = None


def _bundle_names(known: dict[str, Any]) -> dict[str, str]:
    """Bundle sha256 -> system, from the store's records (computed again only when the store
    is not the one last mapped: the parsed store is shared while its file is unchanged)."""
    global _names_of
    if _names_of is None or _names_of[0] is not known:
        names = {
            entry["bundle_sha256"]: system
            for system, entry in known.items()
            if isinstance(entry, dict) and isinstance(entry.get("bundle_sha256"), str)
        }
        _names_of = (known, names)
    return _names_of[1]


def _newer(a: str | None, b: str | None) -> bool:
    return bool(a and b and a > b)


def _newest(*groups: list[dict[str, Any]]) -> str | None:
    """The latest ``latest`` of the records (text timestamps in one format), or None."""
    stamps = [s for g in groups for r in g if isinstance(s := r.get("latest"), str)]
    return max(stamps) if stamps else None


def _describe_place(ident: str) -> str:
    """A repository id of the store as the messages say it."""
    kind, _, value = ident.partition(":")
    return value if kind == "path" else f"with root commit {value[:12]}"


_UNSET: Any = object()


class _Judge:
    """The trust decisions of one command: the organisation's keys and the known-keys store
    are read when first needed (again after a failed read, which each decision reports), the
    decisions are taken in order on the store as the earlier ones left it, and the store is
    written once, by :meth:`flush`, when they changed it."""

    def __init__(
        self, accept_new_key: bool = False, remember: bool = True, allow_rollback: bool = False
    ) -> None:
        self.accept_new_key = accept_new_key
        self.remember = remember
        self.allow_rollback = allow_rollback
        self.store = known_keys_path()
        self._trusted: dict[str, set[str]] | None = None
        self._known: dict[str, Any] | None = None  # as parsed (shared) until a decision changes it
        self._own = False
        self._changed: list[TrustVerdict] = []
        self._named: dict[str, str] | None = None

    def trusted(self) -> dict[str, set[str]]:
        if self._trusted is None:
            self._trusted = read_trusted_keys()
        return self._trusted

    def document(self) -> dict[str, Any]:
        """The store as the decisions so far left it (not to be changed: see record)."""
        if self._known is None:
            self._known = _read_known(self.store, copy=False)
        return self._known

    def known(self) -> dict[str, Any]:
        """The systems the store remembers, by name (not to be changed: see record)."""
        systems: dict[str, Any] = self.document()["systems"]
        return systems

    def repositories(self) -> dict[str, Any]:
        """The repositories the store remembers, by id (not to be changed: see record)."""
        repositories: dict[str, Any] = self.document()["repositories"]
        return repositories

    def named(self) -> dict[str, str]:
        """The systems of the bundles the store remembers, by the bundles' sha256 (a digest
        names the bytes a system's name was once read from, so the name holds for good)."""
        if self._named is None:
            self._named = _bundle_names(self.known())
        return self._named

    def _owned(self) -> dict[str, Any]:
        if not self._own:
            doc = self.document()
            self._known = {
                "version": STORE_VERSION,
                "systems": dict(doc["systems"]),
                "repositories": dict(doc["repositories"]),
            }
            self._own = True
        return self._known  # type: ignore[return-value]  # set above when it was None

    def record(self, system: str, record: dict[str, Any]) -> None:
        self._owned()["systems"][system] = record

    def record_repository(self, ident: str, record: dict[str, Any]) -> None:
        self._owned()["repositories"][ident] = record

    def remembered_repository(self, repo: Path | str) -> list[tuple[str, dict[str, Any]]]:
        """The store's records of the repository: by its path, else by its root commits
        (looked up only when its path is not remembered: git is asked once per new place)."""
        repositories = self.repositories()
        path_id = repository_path_id(repo)
        if path_id in repositories:
            return [(path_id, repositories[path_id])]
        if not repositories:
            return []
        return [(i, repositories[i]) for i in repository_root_ids(repo) if i in repositories]

    def known_key(self, repo: Path) -> tuple[str | None, bool]:
        """:func:`known_key`, and whether it came from (or was looked for in) the store."""
        from sei_assets.core.signing import PUBKEY_FILE, find_evidence_dir

        if os.path.exists(os.path.join(os.fspath(repo), EVIDENCE_DIR, PUBKEY_FILE)):
            return None, False  # the usual case, in one system call: the first folder names it
        evidence_dir = find_evidence_dir(repo)
        return (None, False) if evidence_dir is None else self.key_without_pubkey(evidence_dir)

    def key_without_pubkey(self, evidence_dir: Path) -> tuple[str | None, bool]:
        """:meth:`known_key` of the repository whose evidence folder is ``evidence_dir``."""
        from sei_assets.core.signing import PUBKEY_FILE

        if os.path.exists(os.path.join(evidence_dir, PUBKEY_FILE)):
            return None, False
        system = system_of(evidence_dir, None)
        if system is None:
            return None, False
        trusted = self.trusted()
        listed = trusted.get(system, set()) or trusted.get("*", set())
        if listed:
            return (next(iter(listed)) if len(listed) == 1 else None), False
        entry = self.known().get(system)
        key = entry.get("pubkey") if isinstance(entry, dict) else None
        return (key if isinstance(key, str) else None), True

    def decide(self, verdict: Any, pinned: bool, system: Any = _UNSET) -> TrustVerdict:
        """:func:`decide` (``system``: the verdict's, when already known)."""
        key = verdict.pubkey_hex
        if system is _UNSET:
            system = system_of(
                verdict.evidence_dir,
                verdict.index,
                getattr(verdict, "bundle", None),
                getattr(verdict, "bundle_sha256", None),
                self.named(),
            )
        repo = os.path.dirname(verdict.evidence_folder.rstrip("/")) or "."
        wrong_name = name_mismatch(repo, system)
        if wrong_name is not None:
            return TrustVerdict(False, "pinned" if pinned else "manifest", wrong_name)
        if pinned:
            return TrustVerdict(True, "pinned", "the public key was pinned with --pubkey")
        if system is None:
            return TrustVerdict(False, "unknown", "the evidence names no system: pin a key")
        trusted = self.trusted()
        listed = (trusted.get(system, set()) | trusted.get("*", set())) if trusted else set()
        if listed or system in trusted:
            if key in listed:
                store_path = trusted_keys_path()
                return TrustVerdict(
                    True, "organisation", f"key trusted for {system} by {store_path}"
                )
            return TrustVerdict(
                False,
                "organisation",
                f"the key of this evidence is not among the keys {trusted_keys_path()} trusts "
                f"for {system}",
            )
        store = self.store
        known = self.known()
        entry = known.get(system)
        notes: list[str] = []
        older = False
        run = (verdict.index or {}).get("run") or {}
        if isinstance(entry, dict):
            if entry.get("pubkey") != key:
                if not self.accept_new_key:
                    return TrustVerdict(
                        False,
                        "known",
                        f"KEY CHANGED for {system}: the evidence is signed by keyid "
                        f"{verdict.keyid}, but {store} remembers keyid {entry.get('keyid')} "
                        f"(first trusted {entry.get('first_trusted')}); if the new key is "
                        "genuine, verify again with --accept-new-key",
                    )
                notes.append(f"new key accepted for {system} (was keyid {entry.get('keyid')})")
                entry = None
            elif entry.get("indexed") and verdict.index is None:
                return TrustVerdict(
                    False,
                    "known",
                    f"the evidence of {system} carried a signed index when last verified; "
                    "it has none now (deleted?)",
                )
        places = self.remembered_repository(repo)
        for ident, place in places:
            where = _describe_place(ident)
            if place.get("pubkey") != key:
                if not self.accept_new_key:
                    return TrustVerdict(
                        False,
                        "known",
                        f"KEY CHANGED for the repository {where}: the evidence (system "
                        f"{system!r}) is signed by keyid {verdict.keyid}, but {store} remembers "
                        f"keyid {place.get('keyid')} for it (system {place.get('system')!r}, "
                        f"first trusted {place.get('first_trusted')}); if the new key is "
                        "genuine, verify again with --accept-new-key",
                    )
                notes.append(f"new key accepted for {where} (was keyid {place.get('keyid')})")
            elif (
                ident.startswith("path:")  # a root commit may be shared (a fork, a template)
                and place.get("system") != system
                and not self.accept_new_key
            ):
                return TrustVerdict(
                    False,
                    "known",
                    f"the evidence names the system {system!r}, but {store} remembers the "
                    f"repository {where} as {place.get('system')!r}: renamed? if the rename "
                    "is genuine, verify again with --accept-new-key",
                )
        newest = _newest(
            [entry] if isinstance(entry, dict) else [],
            [p for i, p in places if i.startswith("path:") and p.get("pubkey") == key],
        )
        if _newer(newest, run.get("generated_at")):
            older = True
            if not self.allow_rollback:
                return TrustVerdict(
                    False,
                    "known",
                    f"ROLLED BACK: the evidence of {system} was generated at "
                    f"{run.get('generated_at')}, before evidence verified on this machine "
                    f"({newest}); verify with --allow-rollback to accept older evidence",
                    older=True,
                )
            notes.append(
                f"older than evidence of {system} verified before on this machine "
                f"({newest}): rolled back? (accepted with --allow-rollback)"
            )
        message = (
            f"key remembered for {system} in {store}"
            if entry is None
            else f"key known for {system} since {entry.get('first_trusted')}"
        )
        source = "first use" if entry is None else "known"
        out = TrustVerdict(True, source, message, notes, older)
        if self.remember and verdict.ok:
            changed = False
            now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
            if isinstance(entry, dict):
                record = dict(entry)
            else:
                record = {"pubkey": key, "keyid": verdict.keyid, "first_trusted": now}
            record["indexed"] = bool(record.get("indexed")) or verdict.index is not None
            digest = getattr(verdict, "bundle_sha256", None)
            if digest and not isinstance(run.get("system_name"), str):
                record["bundle_sha256"] = digest  # its name came from these bytes
            if run.get("generated_at") and not _newer(record.get("latest"), run["generated_at"]):
                record["latest"] = run["generated_at"]
            if record != entry:  # the store is written (fsync'd) only when what it holds changes
                self.record(system, record)
                changed = True
            idents = [i for i, _ in places]
            if not idents or all(not i.startswith("path:") for i in idents):
                idents = [repository_path_id(repo), *repository_root_ids(repo)]
            for ident in idents:
                old = self.repositories().get(ident)
                place = dict(old) if old is not None and old.get("pubkey") == key else {}
                if not place:
                    place = {"pubkey": key, "keyid": verdict.keyid, "first_trusted": now}
                place["system"] = system
                if run.get("generated_at") and not _newer(place.get("latest"), run["generated_at"]):
                    place["latest"] = run["generated_at"]
                if place != old:
                    self.record_repository(ident, place)
                    changed = True
            if changed:
                self._changed.append(out)
        return out

    def flush(self) -> None:
        """Write the store if the decisions changed it; a failure is a note of each of them."""
        if not self._changed or self._known is None:
            return
        changed, self._changed = self._changed, []
        store = self.store
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self._known, indent=2, sort_keys=True) + "\n"  # version 2
            atomic_write(store, text, mode=0o600)
        except OSError as exc:
            for verdict in changed:
                verdict.notes.append(
                    f"could not remember the key in {store}: {exc.strerror or exc}"
                )


def decide(
    verdict: Any,
    pinned: bool,
    accept_new_key: bool = False,
    remember: bool = True,
    allow_rollback: bool = False,
) -> TrustVerdict:
    """Trust decision for a signature verdict (see the module doc); updates the store."""
    judge = _Judge(accept_new_key, remember, allow_rollback)
    out = judge.decide(verdict, pinned)
    judge.flush()
    return out


@dataclass
class ExpectedKeys:
    """The keys a system's evidence must be signed with, as far as this machine knows."""

    #: Hex public keys (empty: none is known, the evidence's own PUBKEY.txt is all there is).
    keys: list[str]
    #: Where they come from, as a message says it.
    source: str | None = None
    #: The newest evidence verified before for the system or the repository.
    latest: str | None = None
    #: Why no key can be expected (the memory contradicts the evidence), or None.
    problem: str | None = None


def expected_keys(repo: Path | str, system: str | None) -> ExpectedKeys:
    """The keys `sei status` checks a bundle naming ``system`` against: the organisation's for
    the system, else those this machine remembers for the system and for the repository (its
    place, else its root commit). Read-only: nothing is remembered."""
    judge = _Judge(remember=False)
    trusted = judge.trusted()
    if system is not None and trusted:
        listed = trusted.get(system, set()) | trusted.get("*", set())
        if listed or system in trusted:
            return ExpectedKeys(sorted(listed), f"{trusted_keys_path()} trusts for {system}")
    entry = judge.known().get(system) if system is not None else None
    records = [entry] if isinstance(entry, dict) else []
    places: list[dict[str, Any]] = []  # by the repository's place: its newest evidence counts
    for ident, place in judge.remembered_repository(repo):
        if ident.startswith("path:"):
            places.append(place)
        if ident.startswith("path:") and place.get("system") != system:
            return ExpectedKeys(
                [],
                problem=f"the evidence names the system {system!r}, but {judge.store} remembers "
                f"the repository {_describe_place(ident)} as {place.get('system')!r} (renamed?)",
            )
        records.append(place)
    keys = sorted({r["pubkey"] for r in records if isinstance(r.get("pubkey"), str)})
    newest = _newest(records[:1] if isinstance(entry, dict) else [], places)
    if len(keys) > 1:
        return ExpectedKeys(
            [],
            problem=f"KEY CHANGED: {judge.store} remembers different keys for {system!r} and "
            "for its repository; run `sei verify` to decide",
        )
    source = f"{judge.store} remembers for {system!r}" if keys else None
    return ExpectedKeys(keys, source, newest)


@dataclass
class TrustedEvidence:
    """Signatures and the trust decision together: what every reader of evidence relies on."""

    signatures: Any  # signing.EvidenceVerdict
    trust: TrustVerdict

    @property
    def ok(self) -> bool:
        """Every signature verifies, under a key we trust."""
        return bool(self.signatures.ok and self.trust.ok)

    @property
    def reason(self) -> str:
        """Why the evidence is not trusted (empty when it is)."""
        if not self.signatures.ok:
            failed = "; ".join(f"{f.path.name}: {f.reason}" for f in self.signatures.failures)
            return f"the signature does not verify: {failed or 'no signed file'}"
        return "" if self.trust.ok else self.trust.message


def verify_trusted(
    repo: Path,
    pinned: str | None = None,
    accept_new_key: bool = False,
    evidence_dir: Path | None = None,
    allow_rollback: bool = False,
) -> TrustedEvidence:
    """Verify the repository's evidence and decide whether its key is trusted: the one rule of
    `sei verify`, used as well by the Dagster signature check, conformance, approvals and
    release. The repository's own ``PUBKEY.txt`` only names the key; trust comes from a pinned
    key, the organisation's trusted keys or the key remembered for the system."""
    from sei_assets.core import signing

    judge = _Judge(accept_new_key, allow_rollback=allow_rollback)
    # no PUBKEY.txt (as in many of the reference's repositories): a key already trusted for the
    # system verifies it, and the decision below still judges that key
    verdict = signing.verify_evidence(
        repo,
        pinned or None,
        evidence_dir=evidence_dir,
        keep_bundle=True,
        keyless=lambda folder: judge.key_without_pubkey(folder)[0],
    )
    checked = TrustedEvidence(verdict, judge.decide(verdict, pinned is not None))
    judge.flush()
    return checked


@dataclass
class Currency:
    """Whether the evidence is the latest for the repository's inputs and HEAD."""

    current: bool | None
    reasons: list[str]


#: What currency compares, before the trust decision says whether the evidence is older than
#: evidence seen before: unknown (a Currency), or (the sections changed, reasons, commit).
_Facts = Currency | tuple[list[str], list[str], str]


def currency(repo: Path, index: dict[str, Any] | None, older_than_seen: bool = False) -> Currency:
    """Compare the run recorded in the signed index with the repository as it is now."""
    return _judged(_currency_facts(repo, index), older_than_seen)


def _currency_facts(repo: Path, index: dict[str, Any] | None) -> _Facts:
    run = (index or {}).get("run")
    if not isinstance(run, dict) or not isinstance(run.get("lock_inputs"), dict):
        return Currency(None, ["the evidence records no run inputs (no signed index)"])
    from sei_assets.core import gitutil
    from sei_assets.core.lock import read_raw_manifest, section_inputs

    repo = Path(repo)
    path = next((repo / n for n in MANIFEST_NAMES if (repo / n).is_file()), None)
    if path is None:
        return Currency(None, ["no manifest in the repository to compare with"])
    now = section_inputs(repo, path, read_raw_manifest(path)).hashes
    changed = [s for s, h in now.items() if run["lock_inputs"].get(s) != h]
    reasons = [f"inputs changed since the evidence: {', '.join(changed)}"] if changed else []
    head, commit = gitutil.head(repo), run.get("commit") or ""
    if head and commit and head != commit:
        ahead = gitutil.git(
            repo, "rev-list", "--count", "--end-of-options", f"{commit}..{head}", check=False
        )
        if ahead:
            reasons.append(f"generated at {commit[:12]}, HEAD is {ahead} commit(s) later")
        else:
            reasons.append(f"generated at {commit[:12]}, which is not in HEAD's history")
    return changed, reasons, commit


def _judged(facts: _Facts, older_than_seen: bool) -> Currency:
    if isinstance(facts, Currency):
        return Currency(facts.current, list(facts.reasons))
    changed, reasons, commit = facts
    reasons = list(reasons)
    if older_than_seen:
        reasons.append("older than evidence verified before on this machine")
    current = not changed and not older_than_seen
    if current and not reasons:
        reasons.append(f"the latest for the repository's inputs (commit {commit[:12]})")
    return Currency(current, reasons)


@dataclass
class RepositoryCheck:
    """`sei verify`'s answer for one repository of many: its evidence, trusted or not, and its
    currency; or the error that stopped it (what `sei verify --repo` alone would report)."""

    repo: Path
    evidence: TrustedEvidence | None = None
    current: Currency | None = None
    error: str | None = None
    exit_code: int = ExitCode.OK


class _Failed(NamedTuple):
    """A SeiError met in a forked process, as the parent reports it (the exception itself
    may not pickle)."""

    message: str
    exit_code: int


#: What a repository's check found before any decision: the signatures, the system's name and
#: currency's facts (or the error that stopped it), the key verified with, and whether that key
#: came from (or was looked for in) the known-keys store.
_Found = tuple[_Failed | tuple[Any, str | None, _Facts | _Failed], str | None, bool]


def _checked_part(
    repos: list[Path],
    judge: _Judge | None,
    pinned: str | None,
    workers: int | None,
    named: dict[str, str] | None = None,
) -> list[_Found]:
    """The per-repository work that needs no decision, for a part of the repositories: the key
    to verify with (pinned, else ``judge``'s :meth:`_Judge.known_key`), the signatures, the
    system's name (``named``: see :func:`system_of`) and currency's facts (picklable)."""
    from sei_assets.core import signing

    out: list[_Found] = []
    looked: list[tuple[str | None, bool]] = []

    def keyless(evidence_dir: Path) -> str | None:
        looked.append(judge.key_without_pubkey(evidence_dir))  # type: ignore[union-attr]  # passed only with a judge
        return looked[-1][0]

    for repo in repos:
        looked.clear()
        try:
            verdict = signing.verify_evidence(
                repo,
                pinned,
                workers=workers,
                keep_bundle=True,
                keyless=None if judge is None else keyless,
            )
        except SeiError as exc:
            key, from_store = looked[0] if looked else (pinned, False)
            out.append((_Failed(str(exc), exc.exit_code), key, from_store))
            continue
        key, from_store = looked[0] if looked else (pinned, False)
        system = system_of(
            verdict.evidence_folder,
            verdict.index,
            verdict.bundle,
            verdict.bundle_sha256,
            named,
        )
        verdict.bundle = None  # not sent back: the name is
        facts: _Facts | _Failed
        try:
            facts = _currency_facts(repo, verdict.index)
        except SeiError as exc:
            facts = _Failed(str(exc), exc.exit_code)
        out.append(((verdict, system, facts), key, from_store))
    return out


def check_repositories(
    repos: list[Path],
    pinned: str | None = None,
    accept_new_key: bool = False,
    workers: int | None = None,
    allow_rollback: bool = False,
) -> list[RepositoryCheck]:
    """`sei verify` of each repository, in order, with the verdicts that `sei verify --repo`
    of each in turn would give: the keys, the signatures and currency's facts are shared with
    forked processes (``workers``, default ``$SEI_VERIFY_WORKERS``, from ``signing.POOL_FROM``
    repositories on), the trust decisions are taken here in order on one reading of the
    known-keys store, written once at the end. (When the store cannot be written, that is a
    note of each decision that changed it, and later repositories of the command still see
    what the earlier ones remembered.)"""
    from sei_assets.core import signing

    judge = _Judge(accept_new_key, allow_rollback=allow_rollback)
    checks = [RepositoryCheck(repo if isinstance(repo, Path) else Path(repo)) for repo in repos]
    named = None if pinned else judge.named()  # the store, read before the work is shared
    finder = None if pinned else judge

    def part(some: list[Path], inner: int | None) -> list[Any]:
        return _checked_part(some, finder, pinned, inner, named)

    def decided(start: int, found: list[_Found]) -> None:
        """The decisions for the checks from ``start`` on (the ones before are taken)."""
        for check, (result, key, from_store) in zip(checks[start:], found, strict=False):
            try:
                # a key from the store: did an earlier repository remember another since?
                if from_store and judge.known_key(check.repo)[0] != key:
                    result = _checked_part([check.repo], judge, None, workers, named)[0][0]
                if isinstance(result, _Failed):
                    check.error, check.exit_code = result
                    continue
                verdict, system, facts = result
                trusted = judge.decide(verdict, pinned is not None, system)
            except SeiError as exc:
                check.error, check.exit_code = str(exc), exc.exit_code
                continue
            check.evidence = TrustedEvidence(verdict, trusted)
            if isinstance(facts, _Failed):
                check.error, check.exit_code = facts
            else:
                check.current = _judged(facts, trusted.older)

    # the decisions are taken in order while the later repositories are still being checked
    signing.shared(part, [check.repo for check in checks], workers, decided)
    judge.flush()
    return checks
