"""Seeding the registered systems: an explicit step (`sei init`, or the `seed_systems` job),
never a side effect of loading the definitions."""

import dagster as dg

from sei_assets.core.registry import SystemEntry


def seed_job(entries: list[SystemEntry]) -> dg.JobDefinition:
    """A job with one op that seeds every registered system whose repository is missing."""

    @dg.op(
        name="seed_missing_systems", description="Create missing system repositories from seeds."
    )
    def seed_systems(context: dg.OpExecutionContext) -> dg.Output:
        from sei_assets.core.workspace import seed_registered

        done = seed_registered(entries)
        context.log.info(f"seeded: {', '.join(done) or 'nothing to seed'}")
        return dg.Output(done, metadata={"seeded": ", ".join(done) or "none"})

    @dg.job(name="seed_systems", executor_def=dg.in_process_executor)
    def job():
        seed_systems()

    return job
