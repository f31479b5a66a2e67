"""Dagster assets of process profiles: each shipped profile's suite result, one check per
scenario class the seed requires (of every pack and of generated packs; one more for the
signature), and the control ledger of every system.

    assets, checks = profile_definitions()
    dg.Definitions(assets=[*assets], asset_checks=[*checks])

Materializing `profile_suite_<id>` runs the profile's scenario suite and signs its result; a
class's check passes when a scenario of that class is in the latest signed result and passed.
`control_ledgers` shows, per registered system, the last route and gate of each action.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from sei_assets.core.control import ledger_state, load_profile
from sei_assets.core.control import suite as suites
from sei_assets.core.control.profile import profiles_dir

GROUP = "process_profiles"


def _suite_asset(profile_ref: Path) -> tuple[dg.AssetsDefinition, list[dg.AssetChecksDefinition]]:
    """The suite asset of one profile and its checks (a factory: each keeps its profile)."""
    loaded = load_profile(profile_ref)
    pid = loaded.profile.id
    key = dg.AssetKey(f"profile_suite_{pid}")

    @dg.asset(
        key=key,
        group_name=GROUP,
        description=f"The signed scenario-suite result of profile {pid}: its fitness for use.",
        kinds={"python"},
    )
    def suite_result(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from sei_assets.scenarios.dialects.profiles import load_suite
        from sei_assets.scenarios.dialects.profiles.runner import run_suite

        current = load_profile(profile_ref)
        doc, path = run_suite(current, load_suite(current))
        for s in doc["scenarios"]:
            (context.log.info if s["ok"] else context.log.error)(
                f"{'ok' if s['ok'] else 'FAIL'} {s['class']}: {s['id']} {s['failures']}"
            )
        ledgers = {s["id"]: ledger_state(Path(s["repo"])) for s in doc["scenarios"] if s["repo"]}
        return dg.MaterializeResult(
            metadata={
                "status": doc["status"],
                "profile_sha256": current.sha256,
                "result": dg.MetadataValue.path(str(path)),
                "missing_classes": dg.MetadataValue.json(doc["missing_classes"]),
                "scenarios": dg.MetadataValue.json({s["id"]: s["ok"] for s in doc["scenarios"]}),
                "ledgers": dg.MetadataValue.json(ledgers),
            }
        )

    classes = suites.REQUIRED_CLASSES + suites.GENERATED_CLASSES
    checks = [_class_check(key, profile_ref, c) for c in classes]
    checks.append(_signature_check(key, profile_ref))
    return suite_result, checks


def _class_check(key: dg.AssetKey, profile_ref: Path, scenario_class: str):
    @dg.asset_check(
        asset=key,
        name=f"class_{scenario_class}",
        description=f"A scenario of class {scenario_class} passed in the latest signed result.",
    )
    def class_check() -> dg.AssetCheckResult:
        doc, problem = suites.latest_result(load_profile(profile_ref))
        runs = [s for s in (doc or {}).get("scenarios", []) if s["class"] == scenario_class]
        passed = bool(runs) and all(s["ok"] for s in runs) and not problem.endswith("not signed")
        return dg.AssetCheckResult(
            passed=passed,
            metadata={
                "scenarios": dg.MetadataValue.json({s["id"]: s["ok"] for s in runs}),
                "failures": dg.MetadataValue.json([f for s in runs for f in s["failures"]]),
            },
        )

    return class_check


def _signature_check(key: dg.AssetKey, profile_ref: Path):
    @dg.asset_check(
        asset=key,
        name="signed_green_result",
        description="The latest result is green, signed, and of these profile bytes.",
    )
    def signed() -> dg.AssetCheckResult:
        _doc, problem = suites.latest_result(load_profile(profile_ref))
        return dg.AssetCheckResult(passed=not problem, metadata={"problem": problem or "none"})

    return signed


def _ledger_asset() -> dg.AssetsDefinition:
    @dg.asset(
        name="control_ledgers",
        group_name=GROUP,
        description="Per registered system, the last route and gate of each control action.",
        kinds={"sqlite"},
    )
    def control_ledgers() -> dg.MaterializeResult:
        from sei_assets.core.registry import load_registry

        state: dict[str, Any] = {e.name: ledger_state(e.repo) for e in load_registry()}
        return dg.MaterializeResult(metadata={"ledgers": dg.MetadataValue.json(state)})

    return control_ledgers


def profile_definitions(
    directory: Path | None = None,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """Every shipped profile's suite asset and checks, and the control ledgers asset."""
    assets: list[dg.AssetsDefinition] = [_ledger_asset()]
    checks: list[dg.AssetChecksDefinition] = []
    for path in sorted((directory or profiles_dir()).glob("*.yaml")):
        asset, found = _suite_asset(path)
        assets.append(asset)
        checks += found
    return assets, checks
