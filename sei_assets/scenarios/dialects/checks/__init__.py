"""Composable check scenarios (seed 003): versioned collect/parse scenarios with regex checks,
platform variants, composition and ``for_each``, run over every registered AI system.

The library is data (`scenarios/checks/*.yaml`, custom filters in `filters.yaml`); the
platform of a system is its manifest's ``pipeline.tool``. `registry.load_checks` loads and
validates it, `runner.run_one` runs one scenario on one system, `jobs.build_check_job` makes
the fan-out Dagster job, `document.write_result` signs the result. No module but `jobs`
imports Dagster.
"""
