"""Which independent job this is: `num_tasks`/`task_index` as given, else read from a Slurm job array.

A Slurm array task sees `SLURM_ARRAY_TASK_ID` (its id in the array), `SLURM_ARRAY_TASK_COUNT` and
`SLURM_ARRAY_TASK_MIN`/`_MAX`/`_STEP` (the range given to `--array`). The task's index is the position of
its id in that range (`--array=1-8`: id 3 is index 2; `--array=0-15:2`: id 6 is index 3), so any evenly
spaced array splits the shards with no flag. A value given explicitly wins over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel

from seltda.core.fileio import SeltdaInputError

ARRAY_VARIABLES = (
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
)


class JobTask(BaseModel):
    """This job's share of the shards: it runs shard k when `k % num_tasks == task_index`.

    `source`: where the values came from (`given`: the config or flags, `slurm`: the array's environment,
    `single`: neither, one job does everything); `slurm_array`: `JOBID_TASKID` inside a Slurm array.
    """

    num_tasks: int
    task_index: int
    source: Literal["given", "slurm", "given+slurm", "single"]
    slurm_array: str | None = None


def _environment_error(problem: str, env: Mapping[str, str]) -> SeltdaInputError:
    seen = ", ".join(f"{name}={env[name]!r}" for name in ARRAY_VARIABLES if name in env) or "none set"
    return SeltdaInputError(
        f"Slurm array environment: {problem} ({seen}); pass --num-tasks and --task-index explicitly"
    )


def _integer(env: Mapping[str, str], name: str) -> int | None:
    if name not in env or env[name].strip() == "":
        return None
    try:
        return int(env[name])
    except ValueError:
        raise _environment_error(f"{name} is not an integer", env) from None


def array_task(env: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """(task count, this task's index) of the Slurm array this process runs in; None outside an array.

    The range is `SLURM_ARRAY_TASK_MIN..MAX` by `SLURM_ARRAY_TASK_STEP` (default 1) when MIN and MAX are
    set, else `0..SLURM_ARRAY_TASK_COUNT-1`. Refused (one error naming the variables): an id outside the
    range, a count that disagrees with the range (an uneven list such as `--array=1,2,7`), neither the
    count nor the range.
    """
    env = os.environ if env is None else env
    task_id = _integer(env, "SLURM_ARRAY_TASK_ID")
    if task_id is None:
        return None
    count = _integer(env, "SLURM_ARRAY_TASK_COUNT")
    low, high = _integer(env, "SLURM_ARRAY_TASK_MIN"), _integer(env, "SLURM_ARRAY_TASK_MAX")
    step = _integer(env, "SLURM_ARRAY_TASK_STEP") or 1
    if (low is None) != (high is None):
        raise _environment_error("SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_MAX come together", env)
    if low is None:
        if count is None:
            raise _environment_error(
                "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
                "SLURM_ARRAY_TASK_MIN/SLURM_ARRAY_TASK_MAX",
                env,
            )
        ids = range(count)
    else:
        if step < 1 or high < low:
            raise _environment_error("the array range is empty", env)
        ids = range(low, high + 1, step)
        if count is not None and count != len(ids):
            raise _environment_error(
                f"SLURM_ARRAY_TASK_COUNT={count} but the range MIN..MAX by STEP holds {len(ids)} ids "
                "(an array that is not one evenly spaced range)",
                env,
            )
    if task_id not in ids:
        raise _environment_error(f"SLURM_ARRAY_TASK_ID={task_id} is not in the array's range", env)
    return len(ids), ids.index(task_id)


def job_task(num_tasks: int | None, task_index: int | None, env: Mapping[str, str] | None = None) -> JobTask:
    """This job's task: each value given wins, one left at None is the Slurm array's (else 1 task, index 0;
    `num_tasks=1` alone is index 0, so `--num-tasks 1` makes each array task label the whole pool).

    Refused: an index outside `[0, num_tasks)`.
    """
    env = os.environ if env is None else env
    if num_tasks == 1 and task_index is None:  # one task given: it runs everything, whatever the array
        task_index = 0
    array = array_task(env) if num_tasks is None or task_index is None else None
    if array is None:
        source = "single" if num_tasks is None and task_index is None else "given"
        task = JobTask(num_tasks=num_tasks or 1, task_index=task_index or 0, source=source)
    else:
        task = JobTask(
            num_tasks=array[0] if num_tasks is None else num_tasks,
            task_index=array[1] if task_index is None else task_index,
            source="slurm" if num_tasks is None and task_index is None else "given+slurm",
        )
    if "SLURM_ARRAY_TASK_ID" in env:
        task.slurm_array = f"{env.get('SLURM_ARRAY_JOB_ID', '?')}_{env['SLURM_ARRAY_TASK_ID']}"
    if not 0 <= task.task_index < task.num_tasks:
        where = " (with the Slurm array's values)" if "slurm" in task.source else ""
        raise SeltdaInputError(
            f"task index {task.task_index} is not in [0, {task.num_tasks}) for {task.num_tasks} "
            f"task(s){where}: --task-index must be below --num-tasks"
        )
    return task
