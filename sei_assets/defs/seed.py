"""Seeding the registered systems: an explicit step (`sei init`, or the `seed_systems` job),
never a side effect of loading the definitions."""

import dagster as dg

from sei_assets.core.registry import SystemEntry


def seed_job(entries: list[SystemEntry]) -> dg.JobDefinition:
    """A job with one op that seeds every registered system whose repository is missing and
    prepares every system's declarations (`sei init`'s two steps)."""

    @dg.op(
        name="seed_missing_systems", description="Create missing system repositories from seeds."
    )
    def seed_systems(context: dg.OpExecutionContext) -> dg.Output:
        from sei_assets.core import declarations
        from sei_assets.core.workspace import seed_registered

        done = seed_registered(entries)
        context.log.info(f"seeded: {', '.join(done) or 'nothing to seed'}")
        prepared = declarations.prepare(entries)
        for name, why in prepared.items():
            if why is not None:
                context.log.warning(f"{name}: declarations not prepared: {why}")
        return dg.Output(
            done,
            metadata={
                "seeded": ", ".join(done) or "none",
                "prepared": sum(why is None for why in prepared.values()),
            },
        )

    @dg.job(name="seed_systems", executor_def=dg.in_process_executor)
    def job():
        seed_systems()

    return job
