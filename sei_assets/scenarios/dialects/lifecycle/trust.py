"""Which lifecycle scenarios may run code: the project's own, or others the caller trusts.

A step runs a program the scenario chooses when its verb is `process.exec` or `process.start`,
or `sei.run` (it reproduces the sandbox's pipeline, whose files the scenario may have written or
overlaid), directly or through a composed verb. Such a scenario from a folder other than the
project's `scenarios/lifecycle/` is refused unless the caller passes ``--allow-exec``; the
refusal names each step.
"""

from __future__ import annotations

from pathlib import Path

from sei_assets.scenarios.dialects.lifecycle.model import Catalog, Scenario, Step

EXEC_VERBS = ("process.exec", "process.start", "sei.run")


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
    """Why each step that runs code may not run (none for the project's folder or with
    ``allow_exec``)."""
    if allow_exec or is_project_folder(catalog):
        return []
    return [
        f"{s.file}:{step.line or '?'}: {step.path}: {s.name} runs a command ({chain}) and comes "
        f"from {catalog.directory}, outside the project's scenarios/: pass --allow-exec to trust it"
        for s in scenarios
        for step, chain in exec_steps(s, catalog)
    ]
