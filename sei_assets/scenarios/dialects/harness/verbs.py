"""The scenario verbs, as one registry: verb -> handler + the JSON Schema of its arguments.

A handler gets the step's context and arguments and returns what happened (a command, its exit
code and output). It never judges: expectations do. Adding a verb is one `register_verb` call
(and `python -m sei_assets.scenarios.dialects.harness.schema --write` to refresh the schema
file); the runner, the Dagster jobs and the validation pick it up from here.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sei_assets.core.errors import SeiError

FIXTURE_IDENTITY = {
    "GIT_AUTHOR_NAME": "Scenario Fixture",
    "GIT_AUTHOR_EMAIL": "fixture@scenario.test",
    "GIT_COMMITTER_NAME": "Scenario Fixture",
    "GIT_COMMITTER_EMAIL": "fixture@scenario.test",
}
STEP_TIMEOUT = float(os.environ.get("SEI_PIPELINE_TIMEOUT", "1800"))

# Path arguments name one of these schema definitions (see schema.py): the pattern refuses
# absolute paths and any '..' segment, so a path cannot leave its base folder.
RESOURCE_PATH = {"$ref": "#/$defs/resource_path"}
REPO_PATH = {"$ref": "#/$defs/repo_path"}


class SandboxError(SeiError):
    """A step that would reach outside the scenario's working folder, follow a link out of
    its resource folder, or run a command the scenario did not declare: refused before it
    runs."""


#: Manifest keys whose values are paths of the working repository (an `edit_sei` that makes
#: one leave it is refused).
MANIFEST_PATHS = (
    ("oscal", "assessment_plan"),
    ("pipeline", "metrics"),
    ("pipeline", "params"),
    ("dataset", "croissant"),
    ("eval", "script"),
)


def inside(base: Path, rel: str, what: str = "the working repository") -> Path:
    """``rel`` under ``base`` after symlinks are resolved; a `SandboxError` when it leaves."""
    root = Path(base).resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise SandboxError(f"'{rel}' resolves outside {what} ({path})")
    return path


def links_out(src: Path, root: Path, _seen: set[Path] | None = None) -> list[str]:
    """The symbolic links under ``src`` (itself included, and under the folders its links lead
    to, as a copy follows them) whose targets leave ``root``."""
    root = root.resolve()
    seen = set() if _seen is None else _seen
    found: list[str] = []
    candidates = [src, *src.rglob("*")] if src.is_dir() and not src.is_symlink() else [src]
    for p in candidates:
        if not p.is_symlink():
            continue
        target = p.resolve()
        if not target.is_relative_to(root):
            found.append(f"{p} -> {target}")
        elif target.is_dir() and target not in seen:
            seen.add(target)
            found.extend(links_out(target, root, seen))
    return found


@dataclass
class StepContext:
    """What a handler may use: the scenario's folders and the environment of its commands.

    ``commands`` are the commands the scenario declares (its `commands` list): an edited
    manifest may name no other (e.g. a `file` reproducer's `pipeline.command`)."""

    scenario: str
    index: int
    repo: Path
    resources: Path
    env: dict[str, str]
    env_updates: dict[str, str] = field(default_factory=dict)
    commands: tuple[str, ...] = ()

    def setenv(self, **values: str) -> None:
        """Set variables for this step's later commands and for every later step."""
        self.env.update(values)
        self.env_updates.update(values)

    def inside_repo(self, rel: str) -> Path:
        """``rel`` under the working repository; refuses a path that resolves outside it."""
        return inside(self.repo, rel)


@dataclass
class StepResult:
    """What a step did: the command (as text), its exit code and its output."""

    command: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""


Handler = Callable[[StepContext, dict[str, Any]], StepResult]
Validator = Callable[[dict[str, Any], Path], list[str]]


@dataclass(frozen=True)
class Verb:
    """One verb: its handler, its arguments' schema, and what it expects when a step says nothing.

    ``check`` runs at load time, before any step, for rules a schema cannot state (it gets the
    step and the scenario's resource folder and returns the reasons to refuse it).
    """

    name: str
    handler: Handler
    properties: dict[str, Any]
    required: tuple[str, ...] = ()
    summary: str = ""
    default_expect: dict[str, Any] = field(default_factory=dict)
    check: Validator | None = None


VERBS: dict[str, Verb] = {}


def register_verb(verb: Verb) -> Verb:
    """Add ``verb`` to the registry (a later registration of the same name replaces it)."""
    VERBS[verb.name] = verb
    return verb


def _run(ctx: StepContext, argv: list[str], shown: str | None = None) -> StepResult:
    """Run ``argv`` in the working repository with the scenario's environment."""
    command = shown or shlex.join(argv)
    try:
        proc = subprocess.run(
            argv,
            cwd=ctx.repo,
            env=ctx.env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
    except FileNotFoundError:
        return StepResult(command, 127, stderr=f"'{argv[0]}' is not installed")
    except subprocess.TimeoutExpired:
        return StepResult(command, 124, stderr=f"timed out after {STEP_TIMEOUT:g} s")
    return StepResult(command, proc.returncode, proc.stdout, proc.stderr)


def _tool(name: str) -> str:
    """A command of the project's environment (beside its interpreter), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def _chain(ctx: StepContext, *commands: list[str]) -> StepResult:
    """Several commands as one step, like `a && b`: stops at the first that fails."""
    done: list[StepResult] = []
    for argv in commands:
        done.append(_run(ctx, argv))
        if done[-1].exit_code:
            break
    return StepResult(
        " && ".join(r.command for r in done),
        done[-1].exit_code,
        "".join(r.stdout for r in done),
        "".join(r.stderr for r in done),
    )


# ── fixture verbs ────────────────────────────────────────────────────────────────────────────


def git_init(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """`git init -b main` and the fixture identity (env for commits, repo config for the engine)."""
    ctx.setenv(**FIXTURE_IDENTITY)
    return _chain(
        ctx,
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.name", FIXTURE_IDENTITY["GIT_AUTHOR_NAME"]],
        ["git", "config", "user.email", FIXTURE_IDENTITY["GIT_AUTHOR_EMAIL"]],
        ["git", "config", "commit.gpgsign", "false"],
    )


def _unsatisfied(requirement: str) -> str | None:
    """Why ``requirement`` is not met by this interpreter's environment (None when it is)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(requirement)
    except InvalidRequirement as exc:
        return f"'{requirement}' is not a valid requirement: {exc}"
    if req.marker is not None and not req.marker.evaluate():
        return None
    try:
        version = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return f"'{requirement}': {req.name} is not installed in the project's environment"
    if req.specifier and not req.specifier.contains(version, prereleases=True):
        return f"'{requirement}': the project's environment has {req.name} {version}"
    return None


def uv_init(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """Write the repository's pyproject.toml; check every dep against this environment (no
    download, no `uv sync`)."""
    deps: list[str] = args["deps"]
    listed = "".join(f"  {json.dumps(d)},\n" for d in deps)
    ctx.inside_repo("pyproject.toml").write_text(
        f'[project]\nname = {json.dumps(ctx.scenario.replace("_", "-"))}\nversion = "0.0.0"\n'
        f'requires-python = ">=3.11"\ndependencies = [\n{listed}]\n',
        encoding="utf-8",
    )
    problems = [p for p in map(_unsatisfied, deps) if p]
    command = "write pyproject.toml; check deps: " + ", ".join(deps)
    if problems:
        return StepResult(command, 1, stderr="unsatisfied: " + "; ".join(problems) + "\n")
    return StepResult(command, 0, stdout=f"{len(deps)} deps satisfied by the environment\n")


def dvc_init(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """`dvc init`."""
    return _run(ctx, [_tool("dvc"), "init", "-q"], "dvc init -q")


def _check_copy(step: dict[str, Any], resources: Path) -> list[str]:
    src = (resources / step["from"]).resolve()
    if not src.is_relative_to(resources.resolve()):
        return [f"'from' path '{step['from']}' leaves the resource folder {resources}"]
    if not src.exists():
        return [f"'from' path '{step['from']}' does not exist in {resources}"]
    out = links_out(resources / step["from"], resources)
    if out:
        return [f"'from' path '{step['from']}' holds links out of {resources}: {', '.join(out)}"]
    return []


def copy(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """Copy a file or folder from the resource folder into the working repository; a link
    that leaves the resource folder refuses the step (a copy never follows one out)."""
    src = inside(ctx.resources, args["from"], f"the resource folder {ctx.resources}")
    out = links_out(ctx.resources / args["from"], ctx.resources)
    if out:
        raise SandboxError(f"links out of the resource folder: {', '.join(out)}")
    dest = ctx.inside_repo(args["to"])
    if dest.is_dir() and src.is_file():
        dest = dest / src.name
    flag = "-r " if src.is_dir() else ""
    command = f"cp {flag}resources/{ctx.resources.name}/{args['from']} {args['to']}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)
    return StepResult(command, 0)


def dvc_add(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """`dvc add <path>`: the file is versioned by DVC (git tracks its .dvc pointer)."""
    ctx.inside_repo(args["path"])
    argv = [_tool("dvc"), "add", "-q", "--", args["path"]]  # a path is never an option
    return _run(ctx, argv, f"dvc add -q {args['path']}")


def commit(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """`git add -A && git commit -m <message>`."""
    return _chain(ctx, ["git", "add", "-A"], ["git", "commit", "-q", "-m", args["message"]])


def _pairs(replace: Any) -> list[tuple[str, str, int]]:
    """The substitutions of `edit_sei`, from [old, new] pairs or {old, new, count} objects."""
    items = [replace] if isinstance(replace, dict) else replace
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append((item["old"], item["new"], item.get("count", -1)))
        else:
            out.append((item[0], item[1], -1))
    return out


def edit_sei(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """Substitute literals in sei.yaml (all occurrences, or the first ``count``); a literal that
    is absent fails the step."""
    path = ctx.inside_repo("sei.yaml")
    pairs = _pairs(args["replace"])
    command = "edit sei.yaml: " + "; ".join(f"{old!r} -> {new!r}" for old, new, _ in pairs)
    if not path.is_file():
        return StepResult(command, 1, stderr="sei.yaml does not exist in the working repository\n")
    text = original = path.read_text(encoding="utf-8")
    log = []
    for old, new, count in pairs:
        found = text.count(old)
        if not found:
            return StepResult(command, 1, stderr=f"{old!r} does not occur in sei.yaml\n")
        text = text.replace(old, new, count)
        log.append(f"{old!r} -> {new!r}: {found if count < 0 else min(found, count)} replaced\n")
    _check_edited_manifest(ctx, original, text)
    path.write_text(text, encoding="utf-8")
    return StepResult(command, 0, stdout="".join(log))


def _manifest_value(text: str, keys: tuple[str, ...]) -> Any:
    import yaml

    from sei_assets.core.manifest import screen_yaml

    try:
        screen_yaml(Path("sei.yaml"), text)  # never hand libyaml a hostile depth
        node: Any = yaml.safe_load(text)
    except (SeiError, yaml.YAMLError):
        return None  # an unparseable manifest is refused by the engine itself
    for k in keys:
        node = node.get(k) if isinstance(node, dict) else None
    return node


def _check_edited_manifest(ctx: StepContext, before: str, after: str) -> None:
    """Refuse an edit whose manifest names a path outside the working repository, or gains a
    command (`pipeline.command`) that the scenario does not declare in its `commands`."""
    for keys in MANIFEST_PATHS:
        value = _manifest_value(after, keys)
        if isinstance(value, str):
            try:
                ctx.inside_repo(value)
            except SandboxError as exc:
                raise SandboxError(f"{'.'.join(keys)}: {exc}") from None
    command = _manifest_value(after, ("pipeline", "command"))
    if command and command != _manifest_value(before, ("pipeline", "command")):
        if command not in ctx.commands:
            declared = ", ".join(repr(c) for c in ctx.commands) or "none"
            raise SandboxError(
                f"pipeline.command: {command!r} is not a command the scenario declares "
                f"(its `commands`: {declared})"
            )


def tamper(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """Flip one bit (XOR 0x01) of the byte at ``offset`` (negative: from the end) of a file."""
    path = ctx.inside_repo(args["path"])
    offset = args["offset"]
    command = f"tamper {args['path']} at byte {offset} (xor 0x01)"
    if not path.is_file():
        return StepResult(command, 1, stderr=f"{args['path']} does not exist\n")
    data = bytearray(path.read_bytes())
    if not -len(data) <= offset < len(data):
        return StepResult(command, 1, stderr=f"offset {offset} is outside {len(data)} bytes\n")
    before = data[offset]
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    return StepResult(command, 0, stdout=f"byte {offset}: {before:#04x} -> {data[offset]:#04x}\n")


# ── engine verbs: the real `sei` command line ───────────────────────────────────────────────


def _sei_argv() -> list[str]:
    exe = Path(sys.executable).parent / "sei"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "sei_assets.entry"]


def engine_verb(verb: str, flags: Callable[[dict[str, Any]], list[str]] | None = None) -> Handler:
    """A handler that runs `sei <verb> [flags]` in the working repository."""

    def handler(ctx: StepContext, args: dict[str, Any]) -> StepResult:
        extra = flags(args) if flags else []
        return _run(ctx, [*_sei_argv(), verb, *extra], " ".join(["sei", verb, *extra]))

    handler.__name__ = f"sei_{verb}"
    handler.__doc__ = f"`sei {verb}` in the working repository."
    return handler


def _fixture(
    name: str,
    handler: Handler,
    properties: dict[str, Any],
    required: tuple[str, ...] = (),
    summary: str = "",
    check: Validator | None = None,
) -> Verb:
    """Register a fixture verb: unless the step says otherwise, it must succeed."""
    return register_verb(Verb(name, handler, properties, required, summary, {"exit": "ok"}, check))


_fixture("git_init", git_init, {}, summary="git init -b main, with the fixture identity")
_fixture(
    "uv_init",
    uv_init,
    {"deps": {"type": "array", "items": {"type": "string", "minLength": 1}}},
    ("deps",),
    "write pyproject.toml; each dep must be satisfied by the project's environment",
)
_fixture("dvc_init", dvc_init, {}, summary="dvc init")
_fixture(
    "copy",
    copy,
    {"from": RESOURCE_PATH, "to": REPO_PATH},
    ("from", "to"),
    "copy a file or folder of resources/<resource_dir>/ into the working repository",
    check=_check_copy,
)
_fixture("dvc_add", dvc_add, {"path": REPO_PATH}, ("path",), "dvc add <path>")
_fixture(
    "commit",
    commit,
    {"message": {"type": "string", "minLength": 1}},
    ("message",),
    "git add -A && git commit -m <message>",
)
_fixture(
    "edit_sei",
    edit_sei,
    {"replace": {"$ref": "#/$defs/replacements"}},
    ("replace",),
    "substitute literals in sei.yaml (an absent literal fails the step)",
)
_fixture(
    "tamper",
    tamper,
    {"path": REPO_PATH, "offset": {"type": "integer"}},
    ("path", "offset"),
    "flip one bit (xor 0x01) of the byte at offset (negative: from the end)",
)
register_verb(Verb("compile", engine_verb("compile"), {}, summary="sei compile"))
register_verb(
    Verb(
        "run",
        engine_verb("run", lambda a: ["--no-repro"] if a.get("no_repro") else []),
        {"no_repro": {"type": "boolean"}},
        summary="sei run [--no-repro]",
    )
)
register_verb(Verb("status", engine_verb("status"), {}, summary="sei status"))
register_verb(Verb("verify", engine_verb("verify"), {}, summary="sei verify"))


# ── governance verbs (issue 7): the same `sei` commands ─────────────────────────────────────


def _standards(args: dict[str, Any]) -> list[str]:
    wanted = args.get("standard")
    wanted = [wanted] if isinstance(wanted, str) else (wanted or [])
    return [flag for s in wanted for flag in ("--standard", s)]


def _decision_flags(args: dict[str, Any]) -> list[str]:
    flags = ["--by", args["by"]]
    if args.get("reason"):
        flags += ["--reason", args["reason"]]
    if args.get("accept_residual"):
        flags.append("--accept-residual")
    return flags


BY = {"type": "string", "minLength": 3}
register_verb(Verb("reconstruct", engine_verb("reconstruct"), {}, summary="sei reconstruct"))
register_verb(
    Verb(
        "conformance",
        engine_verb("conformance", _standards),
        {
            "standard": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            }
        },
        summary="sei conformance [--standard ID ...]",
    )
)
register_verb(Verb("impact", engine_verb("impact"), {}, summary="sei impact"))
register_verb(Verb("assess", engine_verb("assess"), {}, summary="sei assess"))
register_verb(Verb("lifecycle", engine_verb("lifecycle"), {}, summary="sei lifecycle"))
_DECISION_VERBS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("request", {}, ("by",)),
    ("approve", {"accept_residual": {"type": "boolean"}}, ("by",)),
    ("review", {}, ("by",)),
    ("reject", {"reason": {"type": "string", "minLength": 1}}, ("by", "reason")),
    ("retire", {"reason": {"type": "string", "minLength": 1}}, ("by",)),
]
for _verb, _extra, _required in _DECISION_VERBS:
    register_verb(
        Verb(
            _verb,
            engine_verb(_verb, _decision_flags),
            {"by": BY, **_extra},
            _required,
            summary=f"sei {_verb} --by NAME <EMAIL> (a commit with a Sei- trailer)",
        )
    )


def roster(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """A throwaway organisation for the sandbox: a key for each person and a roster listing
    them, signed by a throwaway administrator key; later `sei` commands trust it (with no roster
    trusted, no decision counts)."""
    from sei_assets.core import roster as rosters
    from sei_assets.core.errors import SeiError

    people = args["people"]
    command = "sei keys new --person ... && sei roster sign && sei roster trust (sandbox)"
    try:
        env = rosters.sandbox(ctx.repo.parent / "state" / "org", people)
    except SeiError as exc:
        return StepResult(command, 2, stderr=f"{exc}\n")
    ctx.setenv(**env)
    listed = "".join(f"{who}: {', '.join(roles)}\n" for who, roles in people.items())
    return StepResult(command, 0, stdout=f"roster trusted in the sandbox\n{listed}")


_fixture(
    "roster",
    roster,
    {
        "people": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "array",
                "items": {"enum": ["risk_owner", "management"]},
                "minItems": 1,
            },
        }
    },
    ("people",),
    "a throwaway roster (people's keys, roles) the sandbox's later `sei` commands trust",
)


# ── dvc_exp (issue 5): a candidate run as a DVC experiment, never committed ─────────────────


def dvc_exp(ctx: StepContext, args: dict[str, Any]) -> StepResult:
    """`dvc exp run` with ``set_param`` applied as a temporary experiment; prints its metrics."""
    from sei_assets.core.errors import SeiError
    from sei_assets.core.reproducers.dvc_exp import run_candidate

    params = args.get("set_param") or {}
    command = "dvc exp run --temp " + " ".join(f"(params {k}={v})" for k, v in params.items())
    for key in params:
        file, sep, _ = key.rpartition(":")
        if sep:
            ctx.inside_repo(file)
    try:
        candidate = run_candidate(ctx.repo, params)
    except SeiError as exc:
        return StepResult(command, 2, stderr=f"{exc}\n")
    out = {"experiment": candidate.name, "ref": candidate.ref, "metrics": candidate.metrics}
    return StepResult(command, 0, stdout=json.dumps(out, indent=2) + "\n")


def _check_dvc_exp(step: dict[str, Any], resources: Path) -> list[str]:
    out = []
    for key in step.get("set_param") or {}:
        file, sep, _ = key.rpartition(":")
        if sep and (file.startswith("/") or ".." in Path(file).parts):
            out.append(f"set_param {key!r}: the params file leaves the working repository")
    return out


_fixture(
    "dvc_exp",
    dvc_exp,
    {
        "set_param": {
            "type": "object",
            "additionalProperties": {"type": ["number", "string", "boolean"]},
        }
    },
    summary="dvc exp run [params set]: a stashed candidate, not committed (prints its metrics)",
    check=_check_dvc_exp,
)
