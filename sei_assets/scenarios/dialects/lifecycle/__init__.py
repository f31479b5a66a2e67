"""The lifecycle dialect (seed 004): resilience experiments on the engine itself.

A scenario (`kind: Scenario`, YAML or JSON, under `scenarios/lifecycle/`) has five sections:
``setup``, ``steadyState`` (run before the method as a gate and after it as a recovery check),
``method`` (ordered phases of steps), ``verify`` (cumulative) and ``teardown`` (always). Each
step runs one verb of a provider (`providers/`) or a composed verb (`kind: Provider`), its
result an Observation ``{value, output, meta}``; ``${...}`` is jq over ``.vars``, ``.outputs``,
``.env`` and ``.params``. Verdicts: PASSED, FAILED, ERRORED, INCONCLUSIVE.

Modules: `model` (loading), `validate` (numbered rules), `interpolate` (jq), `tags` (tag
expressions), `runner` (sections and verdicts), `result` (the signed result document), `jobs`
(one Dagster job per scenario). Importing this package imports neither Dagster nor jq.
"""
