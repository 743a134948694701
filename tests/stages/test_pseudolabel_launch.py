import json
import shutil

import pytest

from seltda.stages.pseudolabel import pseudolabel
from seltda.stages.pseudolabel.config import PseudoLabelConfig


def test_interrupted_run_resumes_to_identical_output(tiny_teacher, tmp_path):
    cfg = PseudoLabelConfig.plain(per_image=3, batch_size=3, shard_size=4, seed=7)
    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    pseudolabel(teacher, root, tmp_path / "full", cfg)
    expected = (tmp_path / "full" / "pseudolabels.jsonl").read_text()

    # a run killed while writing shard 1: shard 0 done, shard 1 records written but not its stats
    shutil.copytree(tmp_path / "full" / "shards", tmp_path / "cut" / "shards")
    (tmp_path / "cut" / "shards" / "shard-00001.json").unlink()
    (tmp_path / "cut" / "shards" / "shard-00002.json").unlink()
    (tmp_path / "cut" / "shards" / "shard-00002.jsonl").unlink()
    partial = pseudolabel(
        teacher, root, tmp_path / "cut", cfg.model_copy(update={"num_tasks": 2, "task_index": 1})
    )
    assert partial.status == "shards_done" and partial.shards == 3 and partial.manifest is None
    manifest = pseudolabel(teacher, root, tmp_path / "cut", cfg).manifest
    assert (tmp_path / "cut" / "pseudolabels.jsonl").read_text() == expected
    assert manifest.funnel == json.loads((tmp_path / "full" / "manifest.json").read_text())["funnel"]


def test_fresh_relabels_the_finished_shards(tiny_teacher, tmp_path):
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=4, shard_size=6, seed=4)
    teacher, root, out = str(tiny_teacher["teacher"]), tiny_teacher["root"], tmp_path / "pl"
    pseudolabel(teacher, root, out, cfg)
    expected = (out / "pseudolabels.jsonl").read_text()
    (out / "shards" / "shard-00000.jsonl").write_text("")  # a finished shard that lost its records
    pseudolabel(teacher, root, out, cfg)  # resuming keeps the finished shard as it is
    assert (out / "pseudolabels.jsonl").read_text() != expected
    assert pseudolabel(teacher, root, out, cfg, fresh=True).status == "merged"
    assert (out / "pseudolabels.jsonl").read_text() == expected


def _pool(tiny_teacher, folder, copies=6):
    for copy in range(copies):
        shutil.copytree(tiny_teacher["root"] / "images", folder / f"part{copy}")
    return folder


def _command(teacher, pool, out, *extra):
    import sys

    return [
        sys.executable,
        "-m",
        "seltda.cli",
        "pseudolabel",
        "--teacher",
        str(teacher),
        "--images",
        str(pool),
        "--out",
        str(out),
        "--shard-size",
        "2",
        "--batch-size",
        "2",
        "--seed",
        "5",
        *extra,
    ]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_records(tiny_teacher, tmp_path):
    import signal
    import subprocess
    import time

    pool = _pool(tiny_teacher, tmp_path / "pool")
    teacher = tiny_teacher["teacher"]
    subprocess.run(_command(teacher, pool, tmp_path / "whole"), check=True, capture_output=True, timeout=300)

    process = subprocess.Popen(
        _command(teacher, pool, tmp_path / "cut"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not list((tmp_path / "cut" / "shards").glob("shard-*.json")) and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(list((tmp_path / "cut" / "shards").glob("shard-*.json")))
    assert 0 < done < 36 and not (tmp_path / "cut" / "manifest.json").exists(), (
        "killed too late to test resume"
    )

    subprocess.run(_command(teacher, pool, tmp_path / "cut"), check=True, capture_output=True, timeout=300)
    whole = (tmp_path / "whole" / "pseudolabels.jsonl").read_text().splitlines()
    resumed = (tmp_path / "cut" / "pseudolabels.jsonl").read_text().splitlines()
    assert resumed == whole and len(set(resumed)) == len(resumed) > 0


@pytest.mark.slow
def test_two_processes_give_the_one_process_records(tiny_teacher, tmp_path):
    import subprocess

    pool = _pool(tiny_teacher, tmp_path / "pool", copies=2)
    teacher = tiny_teacher["teacher"]
    subprocess.run(_command(teacher, pool, tmp_path / "one"), check=True, capture_output=True, timeout=300)
    jobs = [
        subprocess.Popen(
            _command(teacher, pool, tmp_path / "two", "--num-tasks", "2", "--task-index", str(i)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    assert all(job.wait(timeout=300) == 0 for job in jobs)
    if not (tmp_path / "two" / "pseudolabels.jsonl").exists():  # both finished before the other's shards
        subprocess.run(
            _command(teacher, pool, tmp_path / "two"), check=True, capture_output=True, timeout=300
        )
    one = (tmp_path / "one" / "pseudolabels.jsonl").read_text()
    assert (tmp_path / "two" / "pseudolabels.jsonl").read_text() == one and one


@pytest.mark.slow
def test_torchrun_two_processes_give_the_one_process_records(tiny_teacher, tmp_path):
    """Under torchrun each rank takes its shards; after a barrier rank 0 merges."""
    import os
    import subprocess
    import sys

    pool = _pool(tiny_teacher, tmp_path / "pool", copies=2)
    teacher = tiny_teacher["teacher"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun's default: sampling depends on the thread count
    subprocess.run(
        _command(teacher, pool, tmp_path / "one"), check=True, capture_output=True, timeout=300, env=env
    )
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command = torchrun + _command(teacher, pool, tmp_path / "two")[1:]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    one = (tmp_path / "one" / "pseudolabels.jsonl").read_text()
    assert (tmp_path / "two" / "pseudolabels.jsonl").read_text() == one and one
    assert len(list((tmp_path / "two" / "shards").glob("shard-*.json"))) == 12
    assert "rank 0 merges" in done.stdout  # the other rank reported its shards done
