"""The `sei` entry point: the read-only verbs without typer, rich or pydantic.

`sei status` and `sei pubkey` (with `--repo`, `--json`), and
`sei reconstruct` (`--repo`, `--out`, `--json`: it reads history and writes one signed document)
are parsed and printed here with the standard library only, so they cost little more than the
interpreter's start and their own work. Everything else (other verbs, `--help`, an option this
parser does not know, a malformed command line) goes to the typer app in :mod:`sei_assets.cli`,
which stays the reference: the output, flags and exit codes here must match it
(tests/test_entry.py compares the two)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sei_assets.core.exitcodes import ExitCode

# rich markup used by the typer app's read-only verbs -> SGR codes (rich's own rendering).
_SGR = {
    "green": "32",
    "yellow": "33",
    "red": "31",
    "bold red": "1;31",
    "bold green": "1;32",
}
# verb -> (options taking a value, flags)
_VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "status": (frozenset({"--repo", "--systems"}), frozenset({"--json", "--all"})),
    # `verify` goes to the typer app: its trust decision (known and organisation keys, the
    # evidence index, currency) lives there and in core.trust, one rule in one place
    "pubkey": (frozenset(), frozenset({"--json"})),
    "reconstruct": (frozenset({"--repo", "--out"}), frozenset({"--json"})),
}


class _Unsupported(Exception):
    """The command line is not one this lean parser serves: the typer app takes it."""


def parse(argv: Sequence[str]) -> tuple[str, dict[str, str | bool]]:
    """``(verb, options)`` for a read-only verb; raise :class:`_Unsupported` otherwise.

    Accepts ``--opt value`` and ``--opt=value`` (the last one wins, as in click) and nothing
    else: help, unknown options, positionals and values that look like options are left to typer.
    """
    if not argv or argv[0] not in _VERBS:
        raise _Unsupported
    valued, flags = _VERBS[argv[0]]
    opts: dict[str, str | bool] = {}
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in valued:
            if not eq:
                if not rest:
                    raise _Unsupported
                value = rest.pop(0)
            if not value or value.startswith("-"):
                raise _Unsupported
            opts[name] = value
        elif arg in flags:
            opts[arg] = True
        else:
            raise _Unsupported
    return argv[0], opts


def _is_terminal(stream: Any) -> bool:
    """Whether rich would treat ``stream`` as a terminal (TTY_COMPATIBLE, FORCE_COLOR, isatty)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class _Out:
    """Lines for one stream, with rich-style markup turned into colour on a terminal only."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.lines: list[str] = []
        self.colour = _is_terminal(stream) and os.environ.get("TERM", "").lower() not in (
            "dumb",
            "unknown",
        )

    def mark(self, style: str, text: str) -> str:
        if not self.colour:
            return text
        code = _SGR[style]
        if os.environ.get("NO_COLOR"):
            code = "1" if code.startswith("1;") else ""
        return f"\x1b[{code}m{text}\x1b[0m" if code else text

    def add(self, line: str) -> None:
        self.lines.append(line + "\n")

    def flush(self) -> None:
        """Write the lines; a character the stream cannot encode (a lone surrogate decoded from
        a hostile JSON escape, or text beyond an ASCII terminal) is written as its escape."""
        text = "".join(self.lines)
        encoding = getattr(self.stream, "encoding", None) or "utf-8"
        try:
            text.encode(encoding)
        except UnicodeEncodeError:
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        except LookupError:  # an encoding Python does not know: plain ASCII is safe
            text = text.encode("ascii", "backslashreplace").decode("ascii")
        self.stream.write(text)
        self.stream.flush()


def _json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def status(opts: dict[str, str | bool], out: _Out) -> int:
    """`sei status`: freshness per section and typed drift; exit 0 fresh and green, else 1."""
    from sei_assets.core.status import system_status

    if opts.get("--all"):
        systems = opts.get("--systems")
        return status_all(
            Path(systems) if isinstance(systems, str) else None, bool(opts.get("--json")), out
        )
    st = system_status(Path(str(opts.get("--repo", "."))))
    if opts.get("--json"):
        out.lines.append(_json(st.to_json()))
        return st.exit_code
    out.add(f"system: {st.system}")
    if st.last_failure:
        out.add(out.mark("bold red", st.failure_text() or ""))
    for s in st.sections:
        out.add(f"  {s.section}: {out.mark('green' if s.fresh else 'yellow', s.describe())}")
    if st.evidence_problem:
        out.add(out.mark("bold red", f"evidence does not verify: {st.evidence_problem}"))
        out.add("last gate: unknown (the evidence does not verify)")
    else:
        out.add(
            f"last gate: {st.gate or 'none (no evidence yet)'}"
            + (f" (evidence of {st.generated_at})" if st.generated_at else "")
        )
    if st.metrics_source == "supplied":
        out.add(
            out.mark(
                "yellow",
                "metrics: supplied (sei run --no-repro), not reproduced by the pipeline tool",
            )
        )
    if st.stale_classes:
        out.add(f"drift: class {', '.join(st.stale_classes)} — run `sei run` to recompute")
    for line in st.breach_lines():
        out.add(out.mark("bold red", line))
    return st.exit_code


_COLUMNS = ("SYSTEM", "GATE", "FRESHNESS", "DRIFT", "LAST RUN", "APPROVAL")


def status_all(systems: Path | None, as_json: bool, out: _Out) -> int:
    """`sei status --all`: one row per registered system (the registry ``systems``, else
    `$SEI_SYSTEMS_FILE`, else the checkout's `systems.yaml`); exit 0 when every system is
    fresh and green, 1 when one is red, stale, not evaluated or its last run failed, 2 when
    one cannot be read."""
    from sei_assets.core import fleet
    from sei_assets.core.registry import load_registry, registry_path

    path = systems or registry_path()
    rows = fleet.fleet_status(load_registry(path))
    code = fleet.exit_code(rows)
    if as_json:
        doc = {"ok": code == ExitCode.OK, "exit_code": code, "registry": str(path)}
        out.lines.append(_json(doc | {"systems": [r.to_json() for r in rows]}))
        return code
    cells = [
        (
            r.name,
            r.gate_text(),
            r.freshness_text(),
            ", ".join(r.stale_classes) or "-",
            r.last_run_text(),
            r.approval_text(),
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [_COLUMNS, *cells]) for i in range(len(_COLUMNS))]
    out.add("  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths, strict=True)).rstrip())
    tones = {"green": "green", "red": "red", "ERROR": "bold red"}
    for row, r in zip(cells, rows, strict=True):
        padded = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        tone = tones.get(row[1].split(" ")[0])
        if tone:
            padded[1] = out.mark(tone, padded[1])
        if r.stale_classes:
            padded[2] = out.mark("yellow", padded[2])
        out.add("  ".join(padded).rstrip())
    for r in rows:
        if r.error:
            out.add(f"{r.name}: {out.mark('bold red', 'error:')} {r.error}")
        elif r.status and r.status.get("last_run_failure"):
            f = r.status["last_run_failure"]
            out.add(f"{r.name}: last run failed: {f.get('reason')}")
    good = sum(1 for r in rows if r.exit_code == ExitCode.OK)
    out.add(f"{good} of {len(rows)} systems fresh and green ({path})")
    return code


def pubkey(opts: dict[str, str | bool], out: _Out) -> int:
    """`sei pubkey`: this machine's signing public key (created on first use)."""
    from sei_assets.core import signing

    hexkey = signing.public_key_hex(signing.load_or_create_key())
    if opts.get("--json"):
        out.lines.append(_json({"pubkey": hexkey, "keyid": signing.keyid_for(hexkey)}))
    else:
        out.add(hexkey)
    return ExitCode.OK


def reconstruct(opts: dict[str, str | bool], out: _Out) -> int:
    """`sei reconstruct`: the risk-management cycle from git history, signed."""
    from sei_assets.core.reconstruct import reconstruct_cycle

    target = opts.get("--out")
    doc, path = reconstruct_cycle(
        Path(str(opts.get("--repo", "."))), Path(target) if isinstance(target, str) else None
    )
    if opts.get("--json"):
        out.lines.append(_json({"file": str(path), **doc}))
        return ExitCode.OK
    p = doc["payload"]
    out.add(
        f"{len(p['snapshots'])} evidence snapshots, {len(p['risks'])} measured risks, "
        f"{len(p.get('treatment_arcs', []))} treatment arcs"
    )
    for arc in p.get("treatment_arcs", []):
        anchor = (arc.get("treatment") or {}).get("sha", "?")
        out.add(f"  treatment arc: {arc['control_id']} FAIL → PASS (treatment {anchor[:12]})")
    out.add(f"lifecycle: {p['lifecycle']['state']}")
    out.add(f"written: {path} (signed)")
    return ExitCode.OK


_HANDLERS: dict[str, Callable[[dict[str, str | bool], _Out], int]] = {
    "status": status,
    "pubkey": pubkey,
    "reconstruct": reconstruct,
}


def _typer(argv: Sequence[str]) -> int:
    """Run the full typer app on ``argv``; its exit code."""
    from sei_assets.cli import app

    try:
        app(list(argv), prog_name="sei")
    except SystemExit as exc:
        if isinstance(exc.code, int):
            return exc.code
        return ExitCode.OK if exc.code is None else ExitCode.FAILED
    return ExitCode.OK


def run(argv: Sequence[str]) -> int:
    """Serve ``argv`` (without the program name); the exit code."""
    from sei_assets.core.errors import SeiError

    try:
        verb, opts = parse(argv)
    except _Unsupported:
        verb, opts = None, {}
    if verb is None:  # outside the handler: nothing the typer app raises chains onto it
        return _typer(argv)
    out = _Out(sys.stdout)
    try:
        code = _HANDLERS[verb](opts, out)
    except SeiError as exc:
        err = _Out(sys.stderr)
        err.add(f"{err.mark('bold red', 'error:')} {exc}")
        err.flush()
        return exc.exit_code
    except Exception:  # noqa: BLE001 - nothing printed yet: let the typer app report it its way
        return _typer(argv)
    out.flush()
    return code


def main() -> None:
    """Entry point of the `sei` script. Text the output streams cannot encode (a lone surrogate
    decoded from a hostile JSON escape) is written as its escape, whichever front prints it."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
