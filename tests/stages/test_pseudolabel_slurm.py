import json

import pytest

from seltda.core.fileio import SeltdaInputError
from seltda.run.pseudolabels import ShardWriter
from seltda.stages.pseudolabel import pseudolabel
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.pseudolabel.launch import runs_shard
from seltda.stages.pseudolabel.slurm import ARRAY_VARIABLES, array_task, job_task


def _array(task_id, low=None, high=None, step=None, count=None, job="4242"):
    """The environment Slurm gives one task of `--array=low-high:step`."""
    env = {"SLURM_ARRAY_JOB_ID": job, "SLURM_ARRAY_TASK_ID": str(task_id)}
    for name, value in [("MIN", low), ("MAX", high), ("STEP", step), ("COUNT", count)]:
        if value is not None:
            env[f"SLURM_ARRAY_TASK_{name}"] = str(value)
    return env


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (_array(3, 0, 7, 1, 8), (8, 3)),  # --array=0-7
        (_array(0, 0, 7, 1, 8), (8, 0)),
        (_array(5, count=6), (6, 5)),  # only the count: a 0-based array
        (_array(1, 1, 8, 1, 8), (8, 0)),  # --array=1-8: id 1 is the first task
        (_array(8, 1, 8, 1, 8), (8, 7)),
        (_array(3, 1, 8), (8, 2)),  # no count: the range says it
        (_array(6, 0, 15, 2, 8), (8, 3)),  # --array=0-15:2 -> 0, 2, 4, ..., 14
        (_array(14, 0, 15, 2, 8), (8, 7)),
        (_array(7, 1, 7, 2, 4), (4, 3)),  # --array=1-7:2 -> 1, 3, 5, 7
        (_array(0, 0, 0, 1, 1), (1, 0)),  # an array of one task
    ],
)
def test_array_task_is_the_position_in_the_range(env, expected):
    assert array_task(env) == expected


def test_outside_an_array_one_job_runs_everything():
    assert array_task({"SLURM_JOB_ID": "17"}) is None
    task = job_task(None, None, {"SLURM_JOB_ID": "17"})
    assert (task.num_tasks, task.task_index, task.source, task.slurm_array) == (1, 0, "single", None)


def test_every_task_of_a_stepped_array_gets_its_own_index():
    indices = [array_task(_array(i, 2, 20, 3, 7))[1] for i in range(2, 21, 3)]
    assert indices == list(range(7))


def test_job_task_reads_the_array_and_names_it():
    task = job_task(None, None, _array(3, 1, 8, 1, 8, job="99"))
    assert (task.num_tasks, task.task_index, task.source, task.slurm_array) == (8, 2, "slurm", "99_3")


def test_given_values_win_over_the_environment():
    env = _array(3, 1, 8, 1, 8)
    task = job_task(2, 1, env)
    assert (task.num_tasks, task.task_index, task.source) == (2, 1, "given")
    assert task.slurm_array == "4242_3"  # still recorded
    # explicit values need no consistent environment
    assert job_task(4, 0, {"SLURM_ARRAY_TASK_ID": "99"}).task_index == 0
    # one value given, the other read from the array
    mixed = job_task(16, None, _array(5, 0, 7, 1, 8))
    assert (mixed.num_tasks, mixed.task_index, mixed.source) == (16, 5, "given+slurm")
    # one task given: each array task labels the whole pool (e.g. one array task per teacher)
    whole = job_task(1, None, _array(5, 0, 7, 1, 8))
    assert (whole.num_tasks, whole.task_index, whole.source) == (1, 0, "given")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (_array(9, 0, 7, 1, 8), ["SLURM_ARRAY_TASK_ID='9'", "not in the array's range"]),
        (_array(0, 1, 8), ["SLURM_ARRAY_TASK_ID=0", "not in the array's range"]),
        (_array(3, 0, 15, 2, 8), ["SLURM_ARRAY_TASK_ID=3", "SLURM_ARRAY_TASK_STEP='2'"]),  # between steps
        (_array(6, count=6), ["SLURM_ARRAY_TASK_ID=6", "SLURM_ARRAY_TASK_COUNT='6'"]),
        (_array(3), ["neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/SLURM_ARRAY_TASK_MAX"]),
        (_array(3, low=1, count=8), ["SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_MAX come together"]),
        (_array(7, 1, 7, 1, 3), ["SLURM_ARRAY_TASK_COUNT=3", "holds 7 ids"]),  # --array=1,2,7
        (
            {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"},
            ["SLURM_ARRAY_TASK_ID is not an integer"],
        ),
    ],
)
def test_an_inconsistent_environment_is_one_clear_error(env, names):
    with pytest.raises(SeltdaInputError) as error:
        job_task(None, None, env)
    message = str(error.value)
    assert message.startswith("Slurm array environment:") and "--num-tasks and --task-index" in message
    for name in names:
        assert name in message


def test_an_index_beyond_the_task_count_is_refused():
    with pytest.raises(SeltdaInputError, match=r"task index 2 is not in \[0, 2\)"):
        job_task(2, 2, {})
    with pytest.raises(SeltdaInputError, match=r"task index 3 is not in \[0, 1\)"):
        job_task(None, 3, {})  # formerly ran nothing at all
    with pytest.raises(SeltdaInputError, match="with the Slurm array's values"):
        job_task(4, None, _array(5, 0, 7, 1, 8))


def _writer(tasks, task, ranks=1, rank=0):
    return ShardWriter(num_tasks=tasks, task_index=task, tasks_from="given", ranks=ranks, rank=rank)


@pytest.mark.parametrize(("tasks", "ranks"), [(1, 1), (1, 3), (3, 1), (2, 2), (3, 4)])
def test_tasks_and_ranks_split_the_shards_exactly_once(tasks, ranks):
    shards = range(23)
    owners = {
        i: [(t, r) for t in range(tasks) for r in range(ranks) if runs_shard(i, _writer(tasks, t, ranks, r))]
        for i in shards
    }
    assert all(len(who) == 1 for who in owners.values())
    # a task's share does not depend on how many ranks it runs (nor on the other tasks' rank counts)
    assert all(owners[i][0][0] == i % tasks for i in shards)
    if tasks == 1:  # with one task the ranks split as before: shard k to rank k % ranks
        assert all(owners[i][0][1] == i % ranks for i in shards)


@pytest.fixture
def no_slurm(monkeypatch):
    for name in (*ARRAY_VARIABLES, "SLURM_ARRAY_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_two_array_tasks_write_disjoint_shards_and_merge_to_the_single_run(tiny_teacher, tmp_path, no_slurm):
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=4, shard_size=4, seed=3)
    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    single = pseudolabel(teacher, root, tmp_path / "one", cfg)
    assert single.status == "merged" and single.shards == 3
    assert [w.shards for w in single.manifest.writers] == [[0, 1, 2]]
    assert single.manifest.writers[0].tasks_from == "single"

    out = tmp_path / "array"
    first = _array(1, 1, 2, 1, 2, job="777")  # `--array=1-2`: id 1 is task 0, id 2 is task 1
    for name, value in first.items():
        no_slurm.setenv(name, value)
    assert pseudolabel(teacher, root, out, cfg).status == "shards_done"
    done = sorted(p.name for p in (out / "shards").glob("shard-*.json"))
    assert done == ["shard-00000.json", "shard-00002.json"] and not (out / "manifest.json").exists()
    stats = json.loads((out / "shards" / "shard-00002.json").read_text())
    assert stats["writer"]["slurm_array"] == "777_1" and stats["writer"]["task_index"] == 0

    no_slurm.setenv("SLURM_ARRAY_TASK_ID", "2")
    second = pseudolabel(teacher, root, out, cfg)
    assert second.status == "merged"  # the last task to finish finds every shard complete and merges
    one = (tmp_path / "one" / "pseudolabels.jsonl").read_text()
    assert (out / "pseudolabels.jsonl").read_text() == one and one
    writers = [
        (w.task_index, w.num_tasks, w.tasks_from, w.slurm_array, w.shards) for w in second.manifest.writers
    ]
    assert writers == [(0, 2, "slurm", "777_1", [0, 2]), (1, 2, "slurm", "777_2", [1])]
    assert second.manifest.funnel == single.manifest.funnel

    # a merge job outside the array (or a rerun) labels nothing and writes the same merge
    for name in first:
        no_slurm.delenv(name)
    again = pseudolabel(teacher, root, out, cfg)
    assert again.status == "merged" and (out / "pseudolabels.jsonl").read_text() == one
    assert again.manifest.writers == second.manifest.writers


def test_relabeling_afresh_in_one_of_several_tasks_is_refused(tiny_teacher, tmp_path, no_slurm):
    for name, value in _array(0, 0, 3, 1, 4).items():
        no_slurm.setenv(name, value)
    out = tmp_path / "pl"
    (out / "shards").mkdir(parents=True)
    (out / "shards" / "shard-00001.json").write_text("{}")  # another task's finished shard
    with pytest.raises(SeltdaInputError, match="would delete the other tasks' shards"):
        pseudolabel(str(tiny_teacher["teacher"]), tiny_teacher["root"], out, PseudoLabelConfig(), fresh=True)
    assert (out / "shards" / "shard-00001.json").exists()


def test_a_run_inside_an_array_labels_its_whole_pool_and_old_folders_stay_fresh(
    dataset, tiny_model, tmp_path, no_slurm
):
    """`seltda run configs/$SLURM_ARRAY_TASK_ID.yaml`: each run is one job, not a share of one."""
    import yaml
    from conftest import tiny_run_config

    from seltda.orchestrate.pipeline import _stage_models
    from seltda.orchestrate.preflight import stale_stages

    for name, value in _array(2, 0, 3, 1, 4).items():
        no_slurm.setenv(name, value)
    cfg = tiny_run_config(dataset, tiny_model, tmp_path / "run")
    resolved = _stage_models(cfg, str(tiny_model))
    assert (resolved.pseudolabel.num_tasks, resolved.pseudolabel.task_index) == (1, 0)
    # a folder recorded when the fields defaulted to 1 and 0 is not stale
    recorded = resolved.model_dump(mode="json")
    assert recorded["pseudolabel"]["num_tasks"] == 1 and recorded["pseudolabel"]["task_index"] == 0
    (cfg.out / "pseudolabels").mkdir(parents=True)
    (cfg.out / "pseudolabels" / "manifest.json").write_text("{}")
    (cfg.out / "config.yaml").write_text(yaml.safe_dump(recorded))
    assert stale_stages(resolved) == {}
    unpinned = resolved.pseudolabel.model_copy(update={"num_tasks": None, "task_index": None})
    assert "pseudolabels" in stale_stages(resolved.model_copy(update={"pseudolabel": unpinned}))
