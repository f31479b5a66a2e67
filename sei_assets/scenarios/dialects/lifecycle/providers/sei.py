"""`sei.*`: every engine verb through the real `sei` command line of this checkout, run with
`--json` on the sandbox repository; the payload is the parsed JSON it prints.

`with:` becomes the verb's options (`noRepro: true` or `no-repro: true` -> `--no-repro`,
`pubkey: X` -> `--pubkey X`, a list repeats the option); `repo` overrides the sandbox
repository, `env` adds variables (another signing key, say) for this call only. A verb of a
command group has a name of its own: `sei.monitor` is `sei monitoring run`, `sei.incident_open`
and `sei.incident_list` are `sei incident open` and `sei incident list`.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from sei_assets.core.exitcodes import ExitCode
from sei_assets.scenarios.dialects.lifecycle.providers.base import (
    Context,
    Result,
    Verb,
    VerbError,
    sei_executable,
    tail,
)

#: Engine verbs and whether they write (evidence, plans, commits).
ENGINE_VERBS = {
    "compile": True,
    "run": True,
    "status": False,
    "verify": False,
    "pubkey": False,
    "request": True,
    "approve": True,
    "review": True,
    "reject": True,
    "retire": True,
    "lifecycle": False,
    "reconstruct": True,
    "conformance": True,
    "impact": True,
    "assess": True,
    "monitor": True,
    "incident_open": True,
    "incident_list": False,
}
#: Engine verbs that are a command of a group: the words of the command line.
COMMANDS = {
    "monitor": ("monitoring", "run"),
    "incident_open": ("incident", "open"),
    "incident_list": ("incident", "list"),
}
_NO_REPO = ("pubkey",)


def _option(name: str) -> str:
    return "--" + re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower().replace("_", "-")


@functools.cache
def _commands() -> Any:
    """The command line's commands, built once per process."""
    import typer.main

    from sei_assets.cli import app

    return typer.main.get_command(app).commands  # type: ignore[attr-defined]  # an app of commands is a click Group


def options(verb: str) -> set[str]:
    """The long options `sei <verb>` accepts (read from the command line's own definition)."""
    *group, name = COMMANDS.get(verb, (verb,))
    commands = _commands()
    for word in group:
        commands = commands[word].commands
    command = commands[name]
    return {o for p in command.params for o in p.opts if o.startswith("--")}


def option_problems(verb: str, args: dict[str, Any]) -> list[str]:
    """The `with:` keys that are no option of `sei <verb>`."""
    known = options(verb)
    command = " ".join(COMMANDS.get(verb, (verb,)))
    return [
        f"sei {command} has no option {_option(k)} (`with: {k}`); options: "
        + ", ".join(sorted(known - {"--json", "--help"}))
        for k in args
        if k not in ("repo", "env") and _option(k) not in known
    ]


def argv(ctx: Context, verb: str, args: dict[str, Any]) -> list[str]:
    """The command line of `sei <verb>` for these arguments."""
    cmd = [sei_executable(), *COMMANDS.get(verb, (verb,))]
    if verb not in _NO_REPO:
        repo = ctx.path(args["repo"], "repo") if args.get("repo") else ctx.base
        cmd += ["--repo", str(repo)]
    for key, value in args.items():
        if key in ("repo", "env"):
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is True:
                cmd.append(_option(key))
            elif v is False or v is None or v == "":
                continue
            else:
                cmd += [_option(key), str(v)]
    return [*cmd, "--json"]


def _handler(verb: str):
    def handler(ctx: Context, args: dict[str, Any]) -> Result:
        env = args.get("env") or {}
        if not isinstance(env, dict):
            raise VerbError("env: expected a mapping NAME: value")
        code, out, err = ctx.run(argv(ctx, verb, args), env=env)
        try:
            payload = json.loads(out) if out.strip() else None
        except ValueError:
            payload = None
        text = tail(err) if payload is not None else tail(out + err)
        return Result(payload, text, ok=code == ExitCode.OK, exit_code=code)

    handler.__doc__ = (
        f"`sei {' '.join(COMMANDS.get(verb, (verb,)))} --json` on the sandbox repository."
    )
    return handler


VERBS = [
    Verb(
        f"sei.{verb}",
        _handler(verb),
        None,
        mutating,
        f"`sei {' '.join(COMMANDS.get(verb, (verb,)))} --json`",
    )
    for verb, mutating in ENGINE_VERBS.items()
]
