"""Management decisions recorded as git commits with trailers, and the lifecycle they give.

A decision is an empty commit (``git commit --only --allow-empty``: anything already staged
stays staged and out of it) whose message ends with one trailer added by ``git commit
--trailer``, as the reference engine records them::

    Sei-Approval-Requested-by: Dev Demo <dev@example-loan-corp.demo>     request
    Sei-Approved-by: Quality Demo <quality@example-loan-corp.demo>       approve
    Sei-Reviewed-by: ...                                                  review (periodic)
    Sei-Rejected-by: ...  + Sei-Reason: ...                               reject
    Sei-Retired-by: ...   (+ Sei-Reason: ...)                             retire

Trailers of the reference's earlier names (``Venth-``, ``Froga-``) are read too. An approval
needs an evidence bundle that is committed as it is in the working tree and whose signature
verifies against the ``PUBKEY.txt`` beside it. Approving a red gate needs
``accept_residual=True``; an approval with it carries ``Sei-Residual-Accepted:`` naming the
failing blocking controls it accepts (or, on a green gate, the overall residual level).

Lifecycle: ``draft`` (no decision), then the latest of ``requested``, ``approved``,
``rejected``, ``retired`` (terminal: no decision is accepted after it). A review does not change
the state; the latest one is reported as ``last_review``. An approval is *stale* when a commit
after it changed the evidence bundle (``bundle.json`` under ``.sei/``, ``.venth/`` or
``.froga/``), or when the working tree's bundle differs from the one committed at the approval.
Decisions may also be records, one JSON file per decision committed under ``lifecycle/`` of an
evidence folder (``.sei/lifecycle/*.json``, ``.venth/...``, ``.froga/...``), as the reference
engine keeps them (the format is inferred; no sample of it is public): see :func:`records`.
They are merged with the trailers by date. A decision taken with the person's own key commits
a signed record (:mod:`decision_record`) that its ``Sei-Record:`` trailer names: the two are one
decision. Whether a decision counts is the roster's rule (:mod:`counting`). No Dagster here.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sei_assets.core.errors import SeiError
from sei_assets.core.layout import BUNDLE, EVIDENCE_DIR, LEGACY_DIRS

if TYPE_CHECKING:
    from sei_assets.core.model import Bundle
from sei_assets.core.gitutil import blob_at, git, git_text, has_head, object_id  # noqa: F401

PREFIXES = ("Sei", "Venth", "Froga")
#: decision kind -> the trailer key this engine writes.
TRAILERS = {
    "request": "Sei-Approval-Requested-by",
    "approve": "Sei-Approved-by",
    "review": "Sei-Reviewed-by",
    "reject": "Sei-Rejected-by",
    "retire": "Sei-Retired-by",
}
REASON = "Sei-Reason"
RESIDUAL = "Sei-Residual-Accepted"
#: decision kind -> the lifecycle state it leads to (a review leaves the state as it is).
STATE_OF = {
    "request": "requested",
    "approve": "approved",
    "reject": "rejected",
    "retire": "retired",
}
STATES = ("draft", "requested", "approved", "rejected", "retired")
BUNDLE_PATHS = tuple(f"{d}/{BUNDLE}" for d in (EVIDENCE_DIR, *LEGACY_DIRS))

DEFAULT_MESSAGES = {
    "request": "sei: request management approval of the treatment plan",
    "approve": "sei: management approval of the treatment plan",
    "review": "sei: periodic management review of the risk programme",
    "reject": "sei: management rejection of the treatment plan",
    "retire": "sei: retirement of the AI system",
}

_IDENTITY = re.compile(r"^(?P<name>[^<>\r\n]*[^<>\s])\s+<(?P<email>[^<>\s@]+@[^<>\s@]+)>$")
_SUFFIX_KIND = {key.split("-", 1)[1].lower(): kind for kind, key in TRAILERS.items()}
_OUR_TRAILER = re.compile(rf"^\s*(?:{'|'.join(PREFIXES)})-[A-Za-z-]+\s*:", re.I | re.M)
_GREP = r"^(" + "|".join(PREFIXES) + r")-(" + "|".join(_SUFFIX_KIND) + r"):"


# --------------------------------------------------------------------------- git


def utc_z(timestamp: int | str) -> str:
    """A unix timestamp as ISO 8601 UTC with ``Z`` (decision and identification dates)."""
    return dt.datetime.fromtimestamp(int(timestamp), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- recording


def check_identity(by: object, what: str = "by") -> str:
    """``by`` normalised, or SeiError unless it looks like ``Name <email>``."""
    text = " ".join(str(by).split()) if isinstance(by, str) and "\n" not in by else ""
    if not _IDENTITY.match(text):
        raise SeiError(
            f"{what}: {by!r} is not an identity: expected 'Name <email>', "
            "for example 'Quality Lead <quality@example.com>'"
        )
    return text


def _one_line(text: str, what: str) -> str:
    value = " ".join(str(text).split())
    if not value:
        raise SeiError(f"{what}: expected a non-empty text")
    return value


def _record(
    repo: Path,
    kind: str,
    by: str,
    message: str | None,
    extra: list[tuple[str, str]],
    key: Any = None,
    role: str | None = None,
) -> str:
    """Commit the decision (an empty commit with its trailers; with the person's ``key``, the
    commit adds the signed decision record its ``Sei-Record`` trailer names); return its id."""
    repo = Path(repo)
    who = check_identity(by)
    has_head(repo)
    state = lifecycle(repo)["state"]
    if state == "retired":
        raise SeiError(f"the system in {repo} is retired: no {kind} can be recorded after that")
    text = (message or DEFAULT_MESSAGES[kind]).strip()
    if not text:
        raise SeiError("message: expected a non-empty commit message")
    if _OUR_TRAILER.search(text):
        raise SeiError(
            "message: must not carry Sei-/Venth-/Froga- trailers itself; "
            "pass the decider as `by` and the reason as `reason`"
        )
    paths: list[str] = []
    if key is not None:
        from sei_assets.core import decision_record

        rel = decision_record.sign_decision(repo, kind, who, role, key, dict(extra))
        paths = [rel, rel + ".sig"]
        from sei_assets.core import translog

        translog.record("decision", (repo / rel).read_bytes())
        extra = [*extra, (decision_record.TRAILER, rel)]
        git_text(repo, "add", "-f", "--", *paths)
    args = ["-c", "commit.cleanup=whitespace", "commit", "--only", "--allow-empty", "-q"]
    args += ["-m", text, "--trailer", f"{TRAILERS[kind]}: {who}"]
    for name, value in extra:
        args += ["--trailer", f"{name}: {value}"]
    git_text(repo, *args, *(["--", *paths] if paths else []))
    return git_text(repo, "rev-parse", "HEAD").strip()


def request(
    repo: Path, by: str, message: str | None = None, *, key: Any = None, role: str | None = None
) -> str:
    """Record a request for management approval (``Sei-Approval-Requested-by``)."""
    return _record(repo, "request", by, message, [], key, role)


def approve(
    repo: Path,
    by: str,
    message: str | None = None,
    accept_residual: bool = False,
    *,
    key: Any = None,
    role: str | None = None,
) -> str:
    """Record a management approval of the committed, signed evidence (``Sei-Approved-by``).

    Refused without an evidence bundle, when the bundle in the working tree is not the committed
    one, when its signature does not verify, and for a red gate unless ``accept_residual`` is
    True: the approval then names the failing blocking controls in ``Sei-Residual-Accepted``.
    """
    repo = Path(repo)
    if not has_head(repo):
        raise SeiError(f"no evidence to approve in {repo}: the repository has no commit yet")
    rel, bundle = current_bundle(repo)
    if bundle is None:
        raise SeiError(
            f"no evidence to approve in {repo}: expected {' or '.join(BUNDLE_PATHS)} "
            "(run `sei run` and commit the evidence first)"
        )
    if object_id(repo, "HEAD", rel) != _worktree_id(repo, rel):
        raise SeiError(
            f"{rel} is not committed as it is: commit the evidence before approving it "
            "(an approval points at committed evidence)"
        )
    _check_signature(repo, rel)
    failing = bundle.failing
    extra: list[tuple[str, str]] = []
    if failing and not accept_residual:
        raise SeiError(
            f"the gate is red ({', '.join(failing)} failing): approving it accepts that residual "
            "risk; pass accept_residual=True (--accept-residual) to record that acceptance"
        )
    if accept_residual:
        residual = bundle.overall_residual
        if failing:
            summary = "red gate: " + ", ".join(failing)
        elif residual and residual.level:
            summary = f"overall residual {residual.level} (criterion {residual.criterion})"
        else:
            summary = "yes"
        extra.append((RESIDUAL, summary))
        message = message or DEFAULT_MESSAGES["approve"] + " and acceptance of the residual risk"
    return _record(repo, "approve", by, message, extra, key, role)


def review(
    repo: Path, by: str, message: str | None = None, *, key: Any = None, role: str | None = None
) -> str:
    """Record a periodic management review (``Sei-Reviewed-by``); the state does not change."""
    return _record(repo, "review", by, message, [], key, role)


def reject(
    repo: Path,
    by: str,
    reason: str,
    message: str | None = None,
    *,
    key: Any = None,
    role: str | None = None,
) -> str:
    """Record a rejection with its reason (``Sei-Rejected-by`` + ``Sei-Reason``)."""
    extra = [(REASON, _one_line(reason, "reason"))]
    return _record(repo, "reject", by, message, extra, key, role)


def retire(
    repo: Path,
    by: str,
    reason: str | None = None,
    message: str | None = None,
    *,
    key: Any = None,
    role: str | None = None,
) -> str:
    """Record the retirement of the system (``Sei-Retired-by``); no decision is accepted after."""
    extra = [(REASON, _one_line(reason, "reason"))] if reason is not None else []
    return _record(repo, "retire", by, message, extra, key, role)


# --------------------------------------------------------------------------- evidence


def current_bundle(repo: Path) -> tuple[str, Bundle | None]:
    """The working tree's bundle (``.sei`` first, then the legacy folders) and its path."""
    from sei_assets.core.evidence import bundle_path, load_bundle

    path = bundle_path(repo)
    if path is None:
        return BUNDLE_PATHS[0], None
    return path.relative_to(repo).as_posix(), load_bundle(path)


def _check_signature(repo: Path, rel: str) -> None:
    """The evidence to approve verifies under a trusted key (the rule of `sei verify`)."""
    from sei_assets.core import signing, trust

    path = Path(repo) / rel
    pubkey = path.parent / signing.PUBKEY_FILE
    if not pubkey.is_file():
        raise SeiError(f"cannot approve {rel}: {pubkey.name} is missing beside it to verify it")
    checked = trust.verify_trusted(repo, evidence_dir=path.parent)
    if not checked.ok:
        raise SeiError(f"cannot approve {rel}: the evidence is not trusted ({checked.reason})")


def _worktree_id(repo: Path, rel: str) -> str | None:
    """The blob id the working tree's ``rel`` would be committed as (git's filters applied)."""
    if not (Path(repo) / rel).is_file():
        return None
    return git_text(repo, "hash-object", f"--path={rel}", rel).strip()


def staleness(repo: Path, sha: str) -> str | None:
    """Why the evidence approved at ``sha`` is stale now, or None when it is not."""
    repo = Path(repo)
    changed = git_text(
        repo, "log", "--format=%H%x00%s", f"{sha}..HEAD", "--", *BUNDLE_PATHS
    ).splitlines()
    if changed:
        newest, _, subject = changed[0].partition("\x00")
        return f"evidence changed after the approval in {newest[:12]} ({subject})"
    for rel in BUNDLE_PATHS:
        if object_id(repo, sha, rel) != _worktree_id(repo, rel):
            return f"{rel} in the working tree differs from the one committed at the approval"
    return None


# --------------------------------------------------------------------------- reading


def decisions(repo: Path, head_known: bool = False) -> list[dict[str, Any]]:
    """Every decision in the history of HEAD, oldest first: the trailers and the records.

    Each: ``kind``, ``by``, ``sha``, ``date`` (committer date, UTC, ``Z``), ``subject``,
    ``reason`` (or None), ``residual_accepted`` (or None) and ``trailer`` (the key as written;
    None for a record, which has ``record``: its file, see :func:`records`).
    ``head_known``: the caller already checked :func:`has_head` (two git runs fewer).
    """
    repo = Path(repo)
    if not head_known and not has_head(repo):
        return []
    out = git_text(
        repo,
        "log",
        "--reverse",
        "--topo-order",
        "-E",
        "-i",
        f"--grep={_GREP}",
        "--format=%x1e%H%x00%ct%x00%s%x00%(trailers:only,unfold)",
        "HEAD",
    )
    found: list[dict[str, Any]] = []
    for record in out.split("\x1e")[1:]:
        sha, ct, subject, trailers = record.split("\x00", 3)
        pairs = []
        for line in trailers.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                pairs.append((key.strip(), value.strip()))
        values = {k.split("-", 1)[1].lower(): v for k, v in pairs if "-" in k and _ours(k)}
        for key, value in pairs:
            if not _ours(key):
                continue
            kind = _SUFFIX_KIND.get(key.split("-", 1)[1].lower())
            if kind is None:
                continue
            found.append(
                {
                    "kind": kind,
                    "by": value,
                    "sha": sha,
                    "date": utc_z(ct),
                    "subject": subject,
                    "reason": values.get("reason"),
                    "residual_accepted": values.get("residual-accepted")
                    if kind == "approve"
                    else None,
                    "trailer": key,
                }
            )
            if values.get("record"):
                found[-1]["record"] = values["record"]
    named = {d["record"] for d in found if d.get("record")}
    kept = [r for r in records(repo) if r["record"] not in named]
    if not kept:
        return found
    import heapq

    # the trailers in history order, the records by date: merged by date, each order kept
    return list(heapq.merge(found, kept, key=lambda d: d["date"]))


#: Where decision records live: ``lifecycle/`` of each evidence folder.
RECORD_DIRS = tuple(f"{d}/lifecycle" for d in (EVIDENCE_DIR, *LEGACY_DIRS))
#: A record's field -> the names it may go by (first found wins).
_RECORD_FIELDS = {
    "kind": ("decision", "kind", "action", "event", "state", "status", "type"),
    "by": (
        "by",
        "actor",
        "decided_by",
        "approver",
        "approved_by",
        "requested_by",
        "reviewer",
        "author",
        "who",
    ),
    "date": ("date", "decided_at", "at", "timestamp", "time", "created_at", "when"),
    "sha": ("commit", "sha", "git_sha", "git_commit", "revision"),
    "reason": ("reason", "rationale", "comment", "justification"),
    "residual_accepted": ("residual_accepted", "residual-accepted", "residual"),
    "subject": ("subject", "message", "title", "summary"),
}
#: A record's decision word (lower case, ``-`` and spaces as ``_``) -> the decision kind.
_RECORD_KINDS = {
    **{
        w: "request"
        for w in (
            "request",
            "requested",
            "approval_requested",
            "request_approval",
            "approval_request",
            "submitted",
            "submit",
        )
    },
    **{w: "approve" for w in ("approve", "approved", "approval", "accepted")},
    **{w: "review" for w in ("review", "reviewed", "periodic_review")},
    **{w: "reject" for w in ("reject", "rejected", "rejection")},
    **{w: "retire" for w in ("retire", "retired", "retirement", "decommissioned")},
}


def records(repo: Path) -> list[dict[str, Any]]:
    """The decision records committed at HEAD under `RECORD_DIRS`, oldest first.

    A record is a JSON object (a file may hold a list of them) read tolerantly: the decision
    (``decision``/``kind``/``state``..., e.g. ``approved``), who decided (``by``/``actor``..., a
    ``Name <email>`` text or ``{name, email}``), when (``date``/``at``/``timestamp``: ISO 8601 or
    unix seconds; else the date of the commit that added the file), the commit it decides on
    (``commit``/``sha``; else the commit that added the file), ``reason``, ``residual_accepted``
    and ``subject``; other fields are ignored. Each comes out as :func:`decisions` gives a
    trailer, with ``record`` naming the file. A record that says no decision is refused,
    naming the file and the field.
    """
    import json

    repo = Path(repo)
    listed = git_text(repo, "ls-tree", "-r", "--name-only", "HEAD", "--", *RECORD_DIRS)
    out: list[dict[str, Any]] = []
    for rel in sorted(p for p in listed.splitlines() if p.endswith(".json")):
        raw = blob_at(repo, "HEAD", rel) or b""
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise SeiError(f"{repo / rel}: a lifecycle record, not valid JSON: {exc}") from None
        items = doc if isinstance(doc, list) else [doc]
        added = git_text(
            repo, "log", "--diff-filter=A", "--format=%H%x00%ct%x00%s", "-1", "HEAD", "--", rel
        ).strip()
        add_sha, _, rest = added.partition("\x00")
        add_ct, _, add_subject = rest.partition("\x00")
        for n, item in enumerate(items):
            where = f"{repo / rel}" + (f"[{n}]" if isinstance(doc, list) else "")
            out.append(_record_decision(repo, where, rel, item, add_sha, add_ct, add_subject))
    out.sort(key=lambda d: d["date"])
    return out


def _field(item: dict[str, Any], name: str) -> tuple[str | None, Any]:
    for key in _RECORD_FIELDS[name]:
        if item.get(key) not in (None, ""):
            return key, item[key]
    return None, None


def _record_decision(
    repo: Path, where: str, rel: str, item: Any, add_sha: str, add_ct: str, add_subject: str
) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SeiError(f"{where}: a lifecycle record: expected a JSON object")
    key, word = _field(item, "kind")
    kind = _RECORD_KINDS.get(re.sub(r"[\s-]+", "_", str(word).strip().lower())) if key else None
    if kind is None:
        expected = ", ".join(sorted({*_RECORD_KINDS.values()}))
        raise SeiError(
            f"{where}: {key or 'decision'}: expected a decision ({expected}), got {word!r}"
        )
    _, by = _field(item, "by")
    if isinstance(by, dict):
        name, email = by.get("name"), by.get("email")
        by = f"{name} <{email}>" if name and email else name or email
    if not isinstance(by, str) or not by.strip():
        raise SeiError(f"{where}: by: expected who decided ('Name <email>')")
    dkey, when = _field(item, "date")
    date = _record_date(where, dkey, when) if dkey else (utc_z(add_ct) if add_ct else None)
    if date is None:
        raise SeiError(f"{where}: date: expected when the decision was taken")
    skey, sha = _field(item, "sha")
    if skey:
        text = str(sha).strip()
        hexed = re.fullmatch(r"[0-9a-fA-F]{4,64}", text) is not None
        resolved = (
            git(repo, "rev-parse", "-q", "--verify", f"{text}^{{commit}}", check=False)
            if hexed
            else ""
        )
        if not resolved:
            raise SeiError(f"{where}: {skey}: {sha!r} is not a commit of this repository")
        sha = resolved
    else:
        sha = add_sha or None
    _, reason = _field(item, "reason")
    _, residual = _field(item, "residual_accepted")
    _, subject = _field(item, "subject")
    return {
        "kind": kind,
        "by": " ".join(by.split()),
        "sha": sha,
        "date": date,
        "subject": str(subject) if subject is not None else add_subject or rel,
        "reason": str(reason) if reason is not None else None,
        "residual_accepted": (str(residual) if residual is not None else None)
        if kind == "approve"
        else None,
        "trailer": None,
        "record": rel,
    }


def _record_date(where: str, key: str, value: Any) -> str:
    """A record's date as ISO 8601 UTC with ``Z`` (a date alone is its midnight UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return utc_z(int(value))
    try:
        moment = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise SeiError(
            f"{where}: {key}: expected an ISO 8601 date or date-time, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ours(key: str) -> bool:
    prefix = key.split("-", 1)[0].lower()
    return prefix in {p.lower() for p in PREFIXES}


def approval(repo: Path, history: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The latest approval as the reconstruct reports it: approver, sha, date, stale."""
    history = decisions(repo) if history is None else history
    approvals = [d for d in history if d["kind"] == "approve"]
    if not approvals:
        return None
    last = approvals[-1]
    return {
        "approver": last["by"],
        "sha": last["sha"],
        "date": last["date"],
        "stale": staleness(repo, last["sha"]) is not None,
    }


def lifecycle(repo: Path, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The current lifecycle state: ``state`` and, past ``draft``, ``by``, ``sha``, ``date``.

    ``approved`` adds ``stale`` (and ``stale_reason`` when stale); ``rejected`` and ``retired``
    add ``reason``; ``last_review`` is present once a review was recorded.
    """
    history = decisions(repo) if history is None else history
    current = None
    last_review = None
    for d in history:
        if d["kind"] == "review":
            last_review = d
        elif current is None or current["kind"] != "retire":
            current = d
    if current is None:
        state: dict[str, Any] = {"state": "draft"}
    else:
        state = {
            "state": STATE_OF[current["kind"]],
            "by": current["by"],
            "sha": current["sha"],
            "date": current["date"],
        }
        if current.get("record"):
            state["record"] = current["record"]
        if current["kind"] == "approve":
            reason = staleness(repo, current["sha"])
            state["stale"] = reason is not None
            if reason:
                state["stale_reason"] = reason
        elif current["kind"] in ("reject", "retire"):
            state["reason"] = current["reason"]
    if last_review is not None:
        state["last_review"] = {k: last_review[k] for k in ("by", "sha", "date")}
    return state


def accepted_controls(repo: Path, history: list[dict[str, Any]] | None = None) -> frozenset[str]:
    """The failing blocking controls whose residual risk management accepted: those the
    ``Sei-Residual-Accepted`` trailer of the current decision names (``red gate: a, b``), when
    that decision is an approval (a later request, rejection or retirement withdraws it)."""
    history = decisions(repo) if history is None else history
    current = next((d for d in reversed(history) if d["kind"] != "review"), None)
    if current is None or current["kind"] != "approve":
        return frozenset()
    text = str(current.get("residual_accepted") or "")
    head, sep, names = text.partition(":")
    if not sep or head.strip().lower() != "red gate":
        return frozenset()
    return frozenset(n.strip() for n in names.split(",") if n.strip())
