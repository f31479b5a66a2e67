"""The exit codes of every `sei` verb and every scenario dialect: one meaning per number.

0-3 hold on every verb. 4 and 5 are verdicts of a lifecycle scenario (`sei scenario run`) that
are neither a pass nor a failure of the system under test, so they never reuse 1 or 3.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    """What a `sei` process's exit status means."""

    #: green, verified, fresh, passed, or the verb did what it was asked
    OK = 0
    #: a failing verdict: red gate, not verified, stale, a failed check or scenario
    FAILED = 1
    #: bad input, refused before anything is written: the message names file, field and line
    BAD_INPUT = 2
    #: internal error: one short line and the file holding the full trace
    INTERNAL_ERROR = 3
    #: lifecycle scenario INCONCLUSIVE: its steady state did not hold before the fault
    INCONCLUSIVE = 4
    #: lifecycle scenario ERRORED: its setup failed, so the experiment never ran
    ERRORED = 5


#: One line per code, in order: the README's table and `sei --help` say the same.
MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "green / verified / fresh / passed (or the verb did what it was asked)",
    ExitCode.FAILED: "red / not verified / stale / failed, or the last `compile`/`run` failed "
    "(`status`)",
    ExitCode.BAD_INPUT: "bad input: the message names the file, the field and the line",
    ExitCode.INTERNAL_ERROR: "internal error: one short line and `full trace: <file>` under "
    "`$SEI_STATE_DIR/crashes/`; never a traceback",
    ExitCode.INCONCLUSIVE: "`sei scenario run`: a lifecycle scenario INCONCLUSIVE (its steady "
    "state did not hold before the fault)",
    ExitCode.ERRORED: "`sei scenario run`: a lifecycle scenario ERRORED (its setup failed; the "
    "experiment never ran)",
}


def verdict_code(passed: bool) -> ExitCode:
    """``OK`` for a passing verdict, ``FAILED`` otherwise."""
    return ExitCode.OK if passed else ExitCode.FAILED
