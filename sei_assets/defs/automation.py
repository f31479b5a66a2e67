"""Automation: what re-evaluates when, and the sensor that runs it.

Drift observed on disk re-materializes exactly the assets downstream of what changed; the
release follows only when every blocking check of its parent passed. Sources are observed on a
cron cadence (`SeiSettings.observe_cron`, every 5 minutes by default).
"""

from __future__ import annotations

import dagster as dg

EAGER = dg.AutomationCondition.eager()
RELEASE = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
CHECKS = dg.AutomationCondition.any_deps_updated() & ~dg.AutomationCondition.in_progress()


def observe(cron: str) -> dg.AutomationCondition:
    """Observe a source once per tick of ``cron``."""
    return dg.AutomationCondition.cron_tick_passed(cron)


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """The sensor evaluating every automation condition (running by default)."""
    return dg.AutomationConditionSensorDefinition(
        "sei_automation",
        target=dg.AssetSelection.all(include_sources=True),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Drift observed on disk re-evaluates exactly what it made stale.",
    )
