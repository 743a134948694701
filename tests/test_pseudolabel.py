import json
import shutil

from seltda.pseudolabel import answer_problem, label_image, pseudolabel, synthetic_id
from seltda.pseudolabel_config import PseudoLabelConfig
from seltda.records import read_records
from seltda.teacher import parse_generation


def test_answer_checks():
    def problem(text):
        return answer_problem(parse_generation(text), max_words=3)

    assert problem("question: is it red? answer: yes") is None
    assert problem("question: is it red? answer: yes, no") == "contradictory_yes_no"
    assert problem("question: is it red? answer: Yes., no") == "contradictory_yes_no"
    assert problem("question: what is it? answer: a very long rambling answer") == "answer_too_long"


def test_label_image_dedupes_and_keeps_most_confident():
    samples = [
        ("question : what color ? answer : red", -2.0),
        ("question : What color? answer : blue", -0.5),
        ("garbage", -0.1),
        ("question : is it round ? answer : yes , no", -0.3),
    ]
    records, rejected = label_image("img/a.png", samples, PseudoLabelConfig(), "teacher")
    assert [r.answers for r in records] == [["blue"]]
    assert records[0].question_id == synthetic_id("img/a.png", 1)
    assert records[0].source == "synthetic" and records[0].provenance.score == -0.5
    reasons = {r["sample_index"]: r["reason"] for r in rejected}
    assert reasons == {0: "duplicate_question", 2: "unparseable", 3: "contradictory_yes_no"}
    assert rejected[0]["raw_text"] == "question : what color ? answer : red"


def test_every_image_is_processed_and_funnel_adds_up(tiny_teacher, tmp_path):
    pool = tmp_path / "pool"
    shutil.copytree(tiny_teacher["root"] / "images", pool / "nested" / "images")
    (pool / "broken.PNG").write_bytes(b"not an image")
    (pool / "notes.txt").write_text("not listed: not an image extension")
    cfg = PseudoLabelConfig(per_image=3, batch_size=5, shard_size=4)
    manifest = pseudolabel(str(tiny_teacher["teacher"]), pool, tmp_path / "pl", cfg)
    assert manifest["images"]["listed"] == 13 and manifest["images"]["unreadable"] == {"not_an_image": 1}
    funnel = manifest["funnel"]
    assert funnel["generated"] == 12 * 3  # 12 readable images, batch 5: the last partial batch is kept
    assert (
        funnel["generated"]
        >= funnel["parsed"]
        >= funnel["answer_ok"]
        >= funnel["deduplicated"]
        >= funnel["kept"]
    )
    assert funnel["kept"] > 0, "the trained tiny teacher should write parseable pairs"
    records = read_records(tmp_path / "pl" / "pseudolabels.jsonl")
    assert len(records) == funnel["kept"] and len({r.question_id for r in records}) == len(records)
    assert all(r.image.startswith("nested/images/") for r in records)


def test_interrupted_run_resumes_to_identical_output(tiny_teacher, tmp_path):
    cfg = PseudoLabelConfig(per_image=3, batch_size=3, shard_size=4, seed=7)
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
    assert partial == {"complete": False, "shards": 3}
    manifest = pseudolabel(teacher, root, tmp_path / "cut", cfg)
    assert (tmp_path / "cut" / "pseudolabels.jsonl").read_text() == expected
    assert manifest["funnel"] == json.loads((tmp_path / "full" / "manifest.json").read_text())["funnel"]


def test_confidence_filter_keeps_top_fraction(tiny_teacher, tmp_path):
    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    full = pseudolabel(teacher, root, tmp_path / "a", PseudoLabelConfig(seed=1))
    half = pseudolabel(teacher, root, tmp_path / "b", PseudoLabelConfig(seed=1, keep_top_fraction=0.5))
    assert half["funnel"]["kept"] == max(1, round(full["funnel"]["kept"] / 2))
    kept = read_records(tmp_path / "b" / "pseudolabels.jsonl")
    dropped = {r.question_id for r in read_records(tmp_path / "a" / "pseudolabels.jsonl")} - {
        r.question_id for r in kept
    }
    all_records = {r.question_id: r for r in read_records(tmp_path / "a" / "pseudolabels.jsonl")}
    if dropped:
        assert min(r.provenance.score for r in kept) >= max(all_records[q].provenance.score for q in dropped)


def test_rebalance_caps_yes_no_share_keeping_the_most_confident():
    from seltda.pseudolabel import rebalance
    from seltda.records import Provenance, Record

    def pair(i, answer, score):
        return Record(
            question_id=str(i),
            image="a.png",
            question=f"q{i}?",
            answers=[answer],
            source="synthetic",
            provenance=Provenance(teacher="t", score=score),
        )

    records = [pair(i, "yes" if i % 2 else "no", -i) for i in range(8)] + [
        pair(10, "red", -1),
        pair(11, "cat", -2),
    ]
    assert rebalance(records, None) == records
    assert [r.question_id for r in rebalance(records, 0.0)] == ["10", "11"]
    half = rebalance(records, 0.5)  # 2 others allow 2 yes/no: the two most confident
    assert [r.question_id for r in half] == ["0", "1", "10", "11"]


def test_merge_refilters_existing_shards_without_sampling(tiny_teacher, tmp_path):
    from seltda.pseudolabel import merge

    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    full = pseudolabel(teacher, root, tmp_path / "a", PseudoLabelConfig(seed=2, shard_size=5))
    half = merge(
        tmp_path / "b",
        full["shards"],
        PseudoLabelConfig(keep_top_fraction=0.5),
        {},
        shards_from=tmp_path / "a",
    )
    assert half["funnel"]["deduplicated"] == full["funnel"]["kept"]
    assert half["funnel"]["kept"] == max(1, round(full["funnel"]["kept"] / 2))
    rejected = (tmp_path / "b" / "rejected.jsonl").read_text()
    assert rejected.count("low_confidence") == full["funnel"]["kept"] - half["funnel"]["kept"]


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
