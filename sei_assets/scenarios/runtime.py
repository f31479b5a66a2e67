"""The scenario runtime shared by the dialects whose scenario is an ordered list of steps
(harness, profiles): each step an op, each op's output the next one's input, so the steps run in
order and a failed step (a `dagster.Failure`) stops the job."""

from collections.abc import Callable
from typing import Any

import dagster as dg

#: A step's body: (context, state from the previous step) -> the step's Output.
StepBody = Callable[[dg.OpExecutionContext, dict[str, Any]], dg.Output]


def step_op(
    options: dict[str, Any],
    body: StepBody,
    first: Callable[[dg.OpExecutionContext], dict[str, Any]] | None = None,
) -> dg.OpDefinition:
    """The op of one step; ``first`` (for the first step) creates the working state."""
    if first is not None:

        @dg.op(**options)
        def first_step(context: dg.OpExecutionContext):
            return body(context, first(context))

        return first_step

    @dg.op(ins={"previous": dg.In(dict)}, **options)
    def next_step(context: dg.OpExecutionContext, previous):
        return body(context, previous["state"])

    return next_step


def chain_job(ops: list[dg.OpDefinition], **job_options: Any) -> dg.JobDefinition:
    """A job running ``ops`` in order (in process), each fed the previous one's observation."""

    @dg.job(executor_def=dg.in_process_executor, **job_options)
    def scenario_chain():
        observation = ops[0]()
        for op in ops[1:]:
            observation = op(observation)

    return scenario_chain
