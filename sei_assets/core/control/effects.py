"""What an accepted action does to the system, by name: the engine's verbs behind the plane.

Each effect receives the action's context (repository, profile, actor, payload, the preflight
plan) and returns the files it wrote (relative paths). It writes only files of the plan: the
preflight checked them against the profile before the effect ran. An effect that the engine
refuses raises `EffectRefused` (the plane answers Block with the engine's reason).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sei_assets.core.errors import SeiError
from sei_assets.core.fsutil import atomic_write, sha256_file

if TYPE_CHECKING:
    from sei_assets.core.control.profile import LoadedProfile


class EffectRefused(SeiError):
    """The engine refused the action's effect."""


@dataclass
class EffectContext:
    """What an effect may use."""

    repo: Path
    profile: LoadedProfile
    action: str
    actor: dict[str, str]
    payload: dict[str, Any]
    plan: dict[str, Any]
    hook_wrote: list[str] = field(default_factory=list)

    def artifact_path(self, name: str) -> Path:
        """The repository path of a declared artifact."""
        return self.repo / self.profile.profile.artifacts[name].path

    def identity(self) -> str:
        """The decider as git records it: the payload's ``by``, else one made from the actor."""
        by = self.payload.get("by")
        if by:
            return str(by)
        who = self.actor["id"]
        return f"{who} <{who}@control.sei.invalid>"

    def decider_key(self) -> Any:
        """The decider's own key when this machine holds it (the decision is then signed),
        else None (a trailer only, which counts for nothing)."""
        from sei_assets.core import people

        by = self.identity()
        return people.load_key(by) if people.has_key(by) else None


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _record_doc(ctx: EffectContext, **extra: Any) -> dict[str, Any]:
    return {
        "action": ctx.action,
        "actor": ctx.actor,
        "payload": {k: v for k, v in ctx.payload.items() if k != "dry_run"},
        "profile": {k: ctx.profile.ref[k] for k in ("id", "version", "sha256")},
        "at": _now(),
        **extra,
    }


def _produce(ctx: EffectContext, **extra: Any) -> list[str]:
    written = []
    for name in ctx.profile.profile.actions[ctx.action].produces:
        path = ctx.artifact_path(name)
        _write_json(path, _record_doc(ctx, artifact=name, **extra))
        written.append(path.relative_to(ctx.repo).as_posix())
    return written


def record(ctx: EffectContext) -> list[str]:
    """Write the action's produced artifacts: the request as it was accepted."""
    return _produce(ctx)


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EffectRefused(f"git {' '.join(args)}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def commit_evidence(ctx: EffectContext) -> list[str]:
    """Commit what the hook wrote (the signed evidence, the lock, the pipeline's outputs)."""
    if not ctx.hook_wrote:
        raise EffectRefused(f"{ctx.action}: the hook wrote no evidence")
    tracked = [p for p in ctx.hook_wrote if not _ignored(ctx.repo, p)]
    if tracked:
        _git(ctx.repo, "add", "--", *tracked)
        _git(
            ctx.repo,
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "-m",
            f"evidence: {ctx.action} by {ctx.actor['id']}",
            "--",
            *tracked,
        )
    return []


def _ignored(repo: Path, rel: str) -> bool:
    proc = subprocess.run(["git", "check-ignore", "-q", "--", rel], cwd=repo, capture_output=True)
    return proc.returncode == 0


def verify_evidence(ctx: EffectContext) -> list[str]:
    """Verify every signature of the evidence offline; record the verdict for the bundle."""
    from sei_assets.core import trust

    checked = trust.verify_trusted(ctx.repo)
    verdict = checked.signatures
    if not checked.ok:
        raise EffectRefused(f"the evidence is not trusted: {checked.reason}")
    bundle = ctx.repo / ".sei" / "bundle.json"
    return _produce(
        ctx,
        verified=True,
        keyid=verdict.keyid,
        files=sorted(f.path.name for f in verdict.files),
        bundle_digest="sha256:" + sha256_file(bundle),
    )


def request_approval(ctx: EffectContext) -> list[str]:
    """Record the request for management approval as a git trailer."""
    from sei_assets.core import governance

    sha = governance.request(
        ctx.repo, ctx.identity(), ctx.payload.get("message"), key=ctx.decider_key()
    )
    return _produce(ctx, commit=sha)


def approve(ctx: EffectContext) -> list[str]:
    """Record management's approval of the committed, signed evidence (green gate)."""
    from sei_assets.core import governance

    governance.approve(ctx.repo, ctx.identity(), ctx.payload.get("message"), key=ctx.decider_key())
    return []


def accept_residual(ctx: EffectContext) -> list[str]:
    """Record management's approval with explicit acceptance of the residual risk."""
    from sei_assets.core import governance

    governance.approve(
        ctx.repo,
        ctx.identity(),
        ctx.payload.get("message"),
        accept_residual=True,
        key=ctx.decider_key(),
    )
    return []


def reject(ctx: EffectContext) -> list[str]:
    """Record management's rejection with its reason."""
    from sei_assets.core import governance

    governance.reject(
        ctx.repo, ctx.identity(), str(ctx.payload.get("reason", "")), key=ctx.decider_key()
    )
    return []


def promote(ctx: EffectContext) -> list[str]:
    """The real promotion: the signed release record, and the registry alias when one is asked."""
    from sei_assets.core import counting, governance, release, signing

    approvals = [d for d in governance.decisions(ctx.repo) if d["kind"] == "approve"]
    accepted = approvals[-1]["residual_accepted"] if approvals else None
    if counting.enforced():  # under a roster, only a counted approval accepts (see release)
        accepted = None
    supplied_ok = bool(ctx.payload.get("accept_supplied_metrics"))
    record_ = release.promote(ctx.repo, residual_accepted=accepted, accept_supplied=supplied_ok)
    written = [".sei/release.json", ".sei/release.json.sig"]
    alias = ctx.payload.get("alias")
    if alias:
        registry = ctx.repo / ".sei" / "control" / "registry.json"
        current = json.loads(registry.read_text(encoding="utf-8")) if registry.is_file() else {}
        current[str(alias)] = {**record_, "at": _now(), "by": ctx.actor["id"]}
        _write_json(registry, current)
        signing.sign_file(registry, signing.load_or_create_key())
        written += [".sei/control/registry.json", ".sei/control/registry.json.sig"]
    return written


def complete(ctx: EffectContext) -> list[str]:
    """The completion report: what was released, on which evidence, decided by whom."""
    from sei_assets.core import governance

    release_path = ctx.repo / ".sei" / "release.json"
    released = (
        json.loads(release_path.read_text(encoding="utf-8")) if release_path.is_file() else None
    )
    written = _produce(
        ctx, release=released, lifecycle=governance.lifecycle(ctx.repo), plan=ctx.plan["files"]
    )
    summary = ctx.payload.get("summary_path")
    if summary:
        lines = [f"# Release of {released['system'] if released else 'the model'}", ""]
        if released:
            lines += [f"- model digest: {released['model_digest']}", f"- gate: {released['gate']}"]
        lines.append(f"- completed by: {ctx.actor['id']} ({ctx.actor['role']})")
        atomic_write(ctx.repo / str(summary), "\n".join(lines) + "\n")
        written.append(str(summary))
    return written


EFFECTS: dict[str, Callable[[EffectContext], list[str]]] = {
    "record": record,
    "commit_evidence": commit_evidence,
    "verify_evidence": verify_evidence,
    "request_approval": request_approval,
    "approve": approve,
    "accept_residual": accept_residual,
    "reject": reject,
    "promote": promote,
    "complete": complete,
}
