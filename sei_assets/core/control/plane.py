"""The control plane: an actor submits an action; the plane answers a status and a route.

In order, a submission is: looked up by its idempotency key (the same request replays the
recorded answer and does nothing again; a different one is a conflict); refused unless the
profile is approved for use (management's approval, or a shipped profile's green, signed suite
result), except under the caller's explicit opt-out and for the built-in actions; checked
against the actor's role and the action's payload schema; passed through the action's gates in
declared order (the first that does not hold decides the route); planned and preflighted (every
file it would write inside the profile's authority, its hook's authority inside the profile's,
its registry alias allowed: a failed preflight writes nothing); answered ``MaterializeMock``
with the plan for a dry run; else its hook runs (a failing hook, or one that writes outside its
declared authority, blocks), then its engine effect, and the action takes its declared route.
Every answer is recorded in the system's ledger inside one write transaction.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sei_assets.core.control.builtins import BUILTINS
from sei_assets.core.control.effects import EFFECTS, EffectContext
from sei_assets.core.control.ledger import Ledger
from sei_assets.core.control.profile import (
    PAYLOAD_TYPES,
    Action,
    LoadedProfile,
    allowed,
    covers,
    unsafe_path,
)
from sei_assets.core.control.suite import hooks_trusted
from sei_assets.core.errors import SeiError

if TYPE_CHECKING:
    from sei_assets.core.postmarket import Breach

ANSWER_FIELDS = (
    "status",
    "route",
    "gate_id",
    "gate_type",
    "reason",
    "missing_artifacts",
    "completion_report_exists",
    "idempotent_replay",
)
TAIL = 20


@dataclass
class Submission:
    """The plane's answer (exactly the seed's expectation fields) and the trace behind it."""

    answer: dict[str, Any]
    trace: dict[str, Any] = field(default_factory=dict)
    seq: int = 0


class _Stop(Exception):
    """Internal: the decision was taken before the end of the pipeline."""

    def __init__(self, route: str, gate_id: str, gate_type: str, reason: str, **extra: Any):
        super().__init__(reason)
        self.route, self.gate_id, self.gate_type, self.reason = route, gate_id, gate_type, reason
        self.missing = extra.get("missing", [])
        self.status = extra.get("status", "nok")


def request_digest(action: str, actor: dict[str, str], payload: dict[str, Any]) -> str:
    """The identity of a request, for idempotency: its action, actor and payload."""
    text = json.dumps({"action": action, "actor": actor, "payload": payload}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_request(actor: Any, payload: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """The actor (``{id, role}``, both non-empty text) and the payload (an object), or SeiError."""
    if not isinstance(actor, dict) or set(actor) != {"id", "role"}:
        raise SeiError("actor: expected an object with exactly `id` and `role`")
    for key in ("id", "role"):
        if not isinstance(actor[key], str) or not actor[key].strip():
            raise SeiError(f"actor.{key}: expected a non-empty text")
    if not isinstance(payload, dict):
        raise SeiError(f"payload: expected a JSON object, got {type(payload).__name__}")
    return {"id": actor["id"], "role": actor["role"]}, payload


def submit(
    repo: Path,
    loaded: LoadedProfile,
    action: str,
    actor: dict[str, str],
    payload: dict[str, Any],
    idempotency_key: str | None = None,
    require_approved: bool = True,
    trust_hooks: bool = False,
) -> Submission:
    """Submit one action to the plane of ``repo``; see the module doc. The profile's own
    actions run only once it is approved for use (by management, or for a shipped profile by
    its green, signed suite result: :func:`suite.hooks_trusted`); ``require_approved=False``
    is the caller's explicit opt-out, for actions without a hook. An action with a hook (code)
    runs only for an approved profile in any case, unless ``trust_hooks`` says the caller
    trusts this profile explicitly (its suite's own trials); the built-in actions
    (`profile.validate`, `profile.approve_for_use`) need no approval."""
    repo = Path(repo)
    if not repo.is_dir():
        raise SeiError(f"{repo}: the system's repository does not exist")
    actor, payload = check_request(actor, payload)
    digest = request_digest(action, actor, payload)
    ledger = Ledger(repo)
    try:
        with ledger.transaction():
            if idempotency_key is not None:
                previous = ledger.by_key(idempotency_key)
                if previous is not None:
                    sub = _again(repo, loaded, previous, digest, idempotency_key)
                    sub.seq = ledger.record(
                        loaded.ref, action, actor, None, digest, sub.answer, sub.trace
                    )
                    return sub
            sub = _decide(repo, loaded, action, actor, payload, require_approved, trust_hooks)
            sub.trace["idempotency_key"] = idempotency_key
            sub.seq = ledger.record(
                loaded.ref, action, actor, idempotency_key, digest, sub.answer, sub.trace
            )
            return sub
    finally:
        ledger.close()


def _again(repo: Path, loaded: LoadedProfile, previous: Any, digest: str, key: str) -> Submission:
    """A key seen before: the recorded answer again, or a conflict."""
    if previous["request_digest"] == digest:
        answer = {**json.loads(previous["answer"]), "idempotent_replay": True}
        return Submission(answer, {"replay_of": previous["seq"], "idempotency_key": key})
    answer = _answer(
        repo,
        loaded,
        "nok",
        "Block",
        "idempotency_conflict",
        "process_conformance",
        f"idempotency key {key!r} was used by submission {previous['seq']} for a different "
        f"request ({previous['action']} by {previous['actor_id']})",
    )
    return Submission(answer, {"conflict_with": previous["seq"], "idempotency_key": key})


def _answer(
    repo: Path,
    loaded: LoadedProfile,
    status: str,
    route: str,
    gate_id: str | None = None,
    gate_type: str | None = None,
    reason: str | None = None,
    missing: list[str] | None = None,
) -> dict[str, Any]:
    completion = loaded.profile.artifacts[loaded.profile.completion_artifact].path
    return {
        "status": status,
        "route": route,
        "gate_id": gate_id,
        "gate_type": gate_type,
        "reason": reason,
        "missing_artifacts": missing or [],
        "completion_report_exists": (repo / completion).is_file(),
        "idempotent_replay": False,
    }


def _decide(
    repo: Path,
    loaded: LoadedProfile,
    name: str,
    actor: dict[str, str],
    payload: dict[str, Any],
    require_approved: bool = True,
    trust_hooks: bool = False,
) -> Submission:
    trace: dict[str, Any] = {"action": name, "actor": actor, "gates": [], "hook": None}
    trace.update(plan=None, materialized=None, artifacts_written=[], artifacts_missing=[])
    try:
        if name in BUILTINS:
            check, route = BUILTINS[name]
            verdict = check(repo, loaded, actor, payload)
            if verdict is not None:
                raise _Stop(*verdict)
            return Submission(_answer(repo, loaded, "ok", route), trace)
        action = loaded.profile.actions.get(name)
        if action is None:
            known = ", ".join(sorted([*loaded.profile.actions, *BUILTINS]))
            raise _Stop(
                "Block",
                "unknown_action",
                "process_conformance",
                f"{name!r} is not an action of profile {loaded.profile.id}: "
                f"expected one of {known}",
            )
        if not trust_hooks and (require_approved or action.hook is not None):
            trusted, why = hooks_trusted(loaded)
            if not trusted:
                p = loaded.profile
                what = (
                    f"{name} runs the hook {action.hook} of"
                    if action.hook is not None
                    else f"{name} is an action of"
                )
                way_out = (
                    "trust it explicitly (--trust-hooks)"
                    if action.hook is not None
                    else "opt out explicitly (--allow-unapproved)"
                )
                raise _Stop(
                    "Block",
                    "profile_not_approved_for_use",
                    "hard_rule",
                    f"{what} profile {p.id} {p.version} (sha256 {loaded.sha256[:12]}), and "
                    f"{why}: run its suite (`sei profile run`) and have management approve it "
                    f"(`sei profile approve`), or {way_out}",
                )
        _check_role(loaded, name, action, actor)
        _check_payload(name, action, payload)
        _run_gates(repo, loaded, name, actor, payload, trace)
        plan = _plan(loaded, name, action, payload)
        trace["plan"] = plan
        _preflight(loaded, plan)
        if action.route == "Materialize" and payload.get("dry_run") is True:
            trace["materialized"] = False
            answer = _answer(repo, loaded, "ok", "MaterializeMock")
            return Submission(answer, trace)
        ctx = EffectContext(repo, loaded, name, actor, payload, plan)
        if action.hook is not None:
            ctx.hook_wrote = _run_hook(repo, loaded, action.hook, payload, trace)
        try:
            written = EFFECTS[action.effect](ctx)
        except SeiError as exc:
            raise _Stop("Block", f"effect.{action.effect}", "hard_rule", str(exc)) from None
        unplanned = sorted(set(written) - set(plan["files"]))
        if unplanned:
            raise SeiError(f"{name}: effect {action.effect} wrote outside its plan: {unplanned}")
        trace["artifacts_written"] = sorted(set(written) | set(ctx.hook_wrote))
        trace["materialized"] = action.route == "Materialize"
        return Submission(_answer(repo, loaded, "ok", action.route), trace)
    except _Stop as stop:
        trace["artifacts_missing"] = stop.missing
        answer = _answer(
            repo,
            loaded,
            stop.status,
            stop.route,
            stop.gate_id,
            stop.gate_type,
            stop.reason,
            stop.missing,
        )
        return Submission(answer, trace)


def _check_role(loaded: LoadedProfile, name: str, action: Action, actor: dict[str, str]) -> None:
    if actor["role"] not in loaded.profile.roles:
        raise _Stop(
            "Block",
            "unknown_role",
            "hard_rule",
            f"role {actor['role']!r} is not declared by profile {loaded.profile.id}: expected one "
            f"of {', '.join(sorted(loaded.profile.roles))}",
        )
    if actor["role"] not in action.roles:
        raise _Stop(
            "AskUser",
            "actor_role",
            "approval",
            f"{name} is decided by {' or '.join(action.roles)}, not by {actor['role']} "
            f"{actor['id']}: ask a person who holds that role",
        )


def _check_payload(name: str, action: Action, payload: dict[str, Any]) -> None:
    declared = dict(action.payload)
    for key, value in payload.items():
        if key == "dry_run" and action.route == "Materialize":
            if not isinstance(value, bool):
                raise _Stop(
                    "AskUser",
                    "payload_schema",
                    "process_conformance",
                    f"payload.dry_run: expected a boolean for {name}",
                )
            continue
        spec = declared.get(key)
        if spec is None:
            expected = ", ".join(sorted(declared)) or "no fields"
            raise _Stop(
                "AskUser",
                "payload_schema",
                "process_conformance",
                f"payload.{key} is not a field of {name}: expected {expected}",
            )
        kind = PAYLOAD_TYPES[spec.type]
        if not isinstance(value, kind) or (spec.type == "number" and isinstance(value, bool)):
            raise _Stop(
                "AskUser",
                "payload_schema",
                "process_conformance",
                f"payload.{key}: expected a {spec.type} for {name}, got {json.dumps(value)}",
            )
        if spec.type == "string" and not value.strip():
            raise _Stop(
                "AskUser",
                "required_input",
                "process_conformance",
                f"payload.{key} is empty: {spec.description or 'expected a non-empty text'}",
            )
    for key, spec in declared.items():
        if spec.required and key not in payload:
            raise _Stop(
                "AskUser",
                "required_input",
                "process_conformance",
                f"payload.{key} is required by {name}: {spec.description or 'it is missing'}",
            )


# --------------------------------------------------------------------------- gates


#: A fact a gate's reason names in braces, filled in when the gate refuses:
#: ``{postmarket.described}``. Only dotted names: the rest of the text is left as written.
_FACT = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+)\}")


class PostMarket:
    """What gate rules read of the post-market monitoring (``postmarket.*``): the breaches that
    `core.postmarket.open_breaches` finds open (the rule of what is open, treated or accepted
    lives there alone), read once, and only when a rule or a reason asks."""

    def __init__(self, repo: Path) -> None:
        self._repo = repo

    @functools.cached_property
    def _found(self) -> list[Breach]:
        from sei_assets.core.postmarket import open_breaches

        return open_breaches(self._repo)

    @property
    def open(self) -> bool:
        """Whether a triggered breach is open: neither treated by evidence nor accepted."""
        return bool(self._found)

    @property
    def breaches(self) -> list[dict[str, Any]]:
        """The open breaches, as `sei status --json` shows them."""
        return [b.to_json() for b in self._found]

    @property
    def measures(self) -> list[str]:
        """The breached measures."""
        return [b.measure for b in self._found]

    @property
    def risks(self) -> list[str]:
        """The risks the open breaches reopen."""
        return list(dict.fromkeys(b.risk for b in self._found))

    @property
    def described(self) -> str:
        """Each open breach in one line (measure, risk, threshold, since, why still open)."""
        from sei_assets.core.postmarket import describe_open

        return describe_open(self._found)


def facts(
    repo: Path, loaded: LoadedProfile, actor: dict[str, str], payload: dict[str, Any]
) -> dict[str, Any]:
    """What gate rules read: actor, payload, evidence, approval, artifacts, and the post-market
    breaches open (``postmarket``: :class:`PostMarket`)."""
    from sei_assets.core import counting, governance, trust
    from sei_assets.core.gate import failing_blocking

    bundle_path = repo / ".sei" / "bundle.json"
    evidence = SimpleNamespace(exists=False, verified=False, gate=None, failing=[])
    if bundle_path.is_file():
        try:
            bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
        except ValueError:
            bundle = {}
        try:
            verified = trust.verify_trusted(repo).ok
        except SeiError:
            verified = False
        evidence = SimpleNamespace(
            exists=True,
            verified=verified,
            gate=bundle.get("gate"),
            failing=failing_blocking(bundle.get("control_results") or []),
        )
    history = governance.decisions(repo) if (repo / ".git").exists() else []
    state = counting.judged_lifecycle(repo, history) if history else {"state": "draft"}
    approvals = [d for d in history if d["kind"] == "approve"]
    current, why = counting.approval_in_force(state)
    approval = SimpleNamespace(
        state=state["state"],
        stale=bool(state.get("stale", False)),
        approved=current,
        counted=state.get("counted"),
        why_not=None if current else why,
        residual_accepted=(approvals[-1]["residual_accepted"] if approvals and current else None),
    )
    artifacts = {n: (repo / a.path).is_file() for n, a in loaded.profile.artifacts.items()}
    return {
        "actor": SimpleNamespace(**actor),
        "payload": payload,
        "evidence": evidence,
        "approval": approval,
        "artifacts": artifacts,
        "postmarket": PostMarket(repo),
    }


def _run_gates(
    repo: Path,
    loaded: LoadedProfile,
    name: str,
    actor: dict[str, str],
    payload: dict[str, Any],
    trace: dict[str, Any],
) -> None:
    from simpleeval import EvalWithCompoundTypes, InvalidExpression

    gates = loaded.gates_for(name)
    if not gates:
        return
    names = facts(repo, loaded, actor, payload)
    evaluator = EvalWithCompoundTypes(names=names)

    def evaluate(gate_id: str, field_: str, expression: str) -> Any:
        try:
            return evaluator.eval(expression)
        except (InvalidExpression, AttributeError, KeyError, TypeError) as exc:
            raise SeiError(
                f"{loaded.path}: gates[{gate_id}].{field_}: cannot be evaluated: {exc}"
            ) from None

    for gate in gates:
        missing = [a for a in gate.requires if not names["artifacts"][a]]
        holds = not missing
        if holds and gate.rule is not None:
            holds = bool(evaluate(gate.id, "rule", gate.rule))
        trace["gates"].append({"id": gate.id, "type": gate.type, "passed": holds})
        if not holds:
            reason = _reason(gate.id, gate.reason, evaluate)
            raise _Stop(gate.route, gate.id, gate.type, reason, missing=missing)


def _reason(gate_id: str, text: str, evaluate: Callable[[str, str, str], Any]) -> str:
    """A refusing gate's reason with the facts it names in braces filled in (a list as its
    items joined)."""

    def fill(match: re.Match[str]) -> str:
        value = evaluate(gate_id, "reason", match[1])
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return str(value)

    return _FACT.sub(fill, text)


# --------------------------------------------------------------------------- materialization


def _plan(
    loaded: LoadedProfile, name: str, action: Action, payload: dict[str, Any]
) -> dict[str, Any]:
    """What the action would write: files, hook authority, Dagster assets, registry alias."""
    profile = loaded.profile
    files = [profile.artifacts[a].path for a in action.produces]
    if action.effect == "promote":
        files += [".sei/release.json", ".sei/release.json.sig"]
        if payload.get("alias"):
            files += [".sei/control/registry.json", ".sei/control/registry.json.sig"]
    if payload.get("summary_path") is not None:
        files.append(str(payload["summary_path"]))
    hook = profile.hooks.get(action.hook) if action.hook else None
    return {
        "action": name,
        "files": files,
        "hook": action.hook,
        "hook_writes": list(hook.authority.writes) if hook else [],
        "assets": list(action.assets),
        "alias": payload.get("alias"),
    }


def _preflight(loaded: LoadedProfile, plan: dict[str, Any]) -> None:
    """Refuse a plan that leaves the profile's authority; nothing has been written yet."""
    authority = loaded.profile.authority
    for path in plan["files"]:
        problem = unsafe_path(path)
        if problem or not allowed(path, authority.writes):
            raise _Stop(
                "Block",
                "materialization_preflight",
                "process_conformance",
                f"preflight: {plan['action']} would write {path!r}, outside the profile's "
                f"authority ({', '.join(authority.writes)}); nothing was written",
            )
    for pattern in plan["hook_writes"]:
        if not covers(authority.writes, pattern):
            raise _Stop(
                "Block",
                "materialization_preflight",
                "process_conformance",
                f"preflight: hook {plan['hook']} may write {pattern!r}, outside the profile's "
                "authority; nothing was written",
            )
    alias = plan["alias"]
    if alias is not None and alias not in authority.aliases:
        raise _Stop(
            "Block",
            "materialization_preflight",
            "process_conformance",
            f"preflight: registry alias {alias!r} is not allowed (expected one of "
            f"{', '.join(authority.aliases)}); nothing was written",
        )


def hook_command(
    loaded: LoadedProfile, hook_name: str, repo: Path, payload: dict[str, Any]
) -> list[str]:
    """The hook's argv: placeholders ``{repo}``, ``{python}`` filled, its flags that apply."""
    from simpleeval import EvalWithCompoundTypes

    hook = loaded.profile.hooks[hook_name]
    values = {"repo": str(repo), "python": sys.executable}
    argv = [part.format(**values) for part in hook.command]
    evaluator = EvalWithCompoundTypes(names={"payload": payload})
    argv += [flag for flag, when in hook.flags.items() if evaluator.eval(when)]
    return argv


def _run_hook(
    repo: Path,
    loaded: LoadedProfile,
    hook_name: str,
    payload: dict[str, Any],
    trace: dict[str, Any],
) -> list[str]:
    from sei_assets.core import signing
    from sei_assets.core.control.sandbox import run_confined

    hook = loaded.profile.hooks[hook_name]
    try:  # the sandbox is read-only outside the repository: the engine's key must exist first
        signing.load_or_create_key()
    except SeiError:
        pass  # the hook reports the key's problem itself
    start = time.monotonic()
    seen: list[list[str]] = []

    def build(path: Path) -> list[str]:
        seen.append(hook_command(loaded, hook_name, path, payload))
        return seen[-1]

    got = run_confined(
        build,
        repo,
        tuple(hook.authority.writes),
        hook.timeout_seconds,
        ok_exit=tuple(hook.ok_exit),
    )
    code, out, err, wrote, outside = got.exit_code, got.stdout, got.stderr, got.wrote, got.outside
    trace["hook"] = {
        "name": hook_name,
        "command": seen[-1] if seen else [],
        "sandbox": got.mode,
        "authority": hook.authority.model_dump(),
        "exit_code": code,
        "seconds": round(time.monotonic() - start, 2),
        "stdout_tail": "\n".join(out.splitlines()[-TAIL:]),
        "stderr_tail": "\n".join(err.splitlines()[-TAIL:]),
        "wrote": wrote,
        "outside_authority": outside,
        "failed": code not in hook.ok_exit or bool(outside),
    }
    if code not in hook.ok_exit:
        last = (err.strip().splitlines() or out.strip().splitlines() or ["no output"])[-1]
        raise _Stop(
            "Block",
            f"hook.{hook_name}",
            "hard_rule",
            f"hook {hook_name} failed (exit {code}): {last}",
        )
    if outside:
        raise _Stop(
            "Block",
            f"hook_authority.{hook_name}",
            "hard_rule",
            f"hook {hook_name} wrote outside its declared authority: {', '.join(outside)} "
            "(prevented: nothing it wrote was kept)",
        )
    return wrote
