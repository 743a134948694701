import json
import shutil

import pydantic
import pytest
import torch
from PIL import Image

from seltda.core.records import read_records
from seltda.models.chat_vlm import ImageBatch
from seltda.qa_text import parse_generation
from seltda.stages.pseudolabel import (
    answer_problem,
    inference_dtype,
    label_image,
    pseudolabel,
    run_shard,
    size_ordered,
    synthetic_id,
)
from seltda.stages.pseudolabel import launch as pseudolabel_module
from seltda.stages.pseudolabel.config import PseudoLabelConfig


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
    records, rejected = label_image("img/a.png", samples, PseudoLabelConfig.plain(), "teacher")
    assert [r.answers for r in records] == [["blue"]]
    assert records[0].question_id == synthetic_id("img/a.png", 1)
    assert records[0].source == "synthetic" and records[0].provenance.score == -0.5
    reasons = {r["sample_index"]: r["reason"] for r in rejected}
    assert reasons == {0: "duplicate_question", 2: "unparseable", 3: "contradictory_yes_no"}
    assert rejected[0]["raw_text"] == "question : what color ? answer : red"


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_precision_uses_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, native_bf16):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(pseudolabel_module, "cpu_has_native_bf16", lambda: native_bf16)
    assert inference_dtype("auto") == (torch.bfloat16 if native_bf16 else torch.float32)
    assert inference_dtype("fp32") == torch.float32 and inference_dtype("bf16") == torch.bfloat16
    assert inference_dtype("fp16") == torch.float32  # fp16 only on a GPU
    with pytest.raises(pydantic.ValidationError, match="precision"):
        PseudoLabelConfig(precision="fp64")


def test_every_image_is_processed_and_funnel_adds_up(tiny_teacher, tmp_path):
    pool = tmp_path / "pool"
    shutil.copytree(tiny_teacher["root"] / "images", pool / "nested" / "images")
    (pool / "broken.PNG").write_bytes(b"not an image")
    (pool / "notes.txt").write_text("not listed: not an image extension")
    cfg = PseudoLabelConfig.plain(per_image=3, batch_size=5, shard_size=4)
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
    assert manifest["sampling_dtypes"] == [str(inference_dtype("auto")).removeprefix("torch.")]
    records = read_records(tmp_path / "pl" / "pseudolabels.jsonl")
    assert len(records) == funnel["kept"] and len({r.question_id for r in records}) == len(records)
    assert all(r.image.startswith("nested/images/") for r in records)


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
    assert partial == {"complete": False, "shards": 3}
    manifest = pseudolabel(teacher, root, tmp_path / "cut", cfg)
    assert (tmp_path / "cut" / "pseudolabels.jsonl").read_text() == expected
    assert manifest["funnel"] == json.loads((tmp_path / "full" / "manifest.json").read_text())["funnel"]


def test_confidence_filter_keeps_top_fraction(tiny_teacher, tmp_path):
    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    full = pseudolabel(teacher, root, tmp_path / "a", PseudoLabelConfig.plain(seed=1))
    half = pseudolabel(teacher, root, tmp_path / "b", PseudoLabelConfig.plain(seed=1, keep_top_fraction=0.5))
    assert half["funnel"]["kept"] == max(1, round(full["funnel"]["kept"] / 2))
    kept = read_records(tmp_path / "b" / "pseudolabels.jsonl")
    dropped = {r.question_id for r in read_records(tmp_path / "a" / "pseudolabels.jsonl")} - {
        r.question_id for r in kept
    }
    all_records = {r.question_id: r for r in read_records(tmp_path / "a" / "pseudolabels.jsonl")}
    if dropped:
        assert min(r.provenance.score for r in kept) >= max(all_records[q].provenance.score for q in dropped)


def test_rebalance_caps_yes_no_share_keeping_the_most_confident():
    from seltda.core.records import Provenance, Record
    from seltda.stages.pseudolabel import rebalance

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
    from seltda.stages.pseudolabel import merge

    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    full = pseudolabel(teacher, root, tmp_path / "a", PseudoLabelConfig.plain(seed=2, shard_size=5))
    half = merge(
        tmp_path / "b",
        full["shards"],
        PseudoLabelConfig.plain(keep_top_fraction=0.5),
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


def _salt(folder):
    """Bad files of every kind beside the good images (and a symlink that leaves the root)."""
    import os

    from PIL import Image

    (folder / "bad").mkdir()
    (folder / "bad" / "empty.jpg").write_bytes(b"")
    (folder / "bad" / "fake.png").write_text("this is text, not a PNG")
    (folder / "bad" / "corrupt.webp").write_bytes(os.urandom(2000))
    noisy = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    noisy.save(folder / "bad" / "full.png")
    data = (folder / "bad" / "full.png").read_bytes()
    (folder / "bad" / "full.png").unlink()
    (folder / "bad" / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.new("1", (20_000, 20_000)).save(folder / "bad" / "bomb.png")  # 400 megapixels, a few kB
    outside = folder.parent / "outside.png"
    Image.new("RGB", (8, 8), "red").save(outside)
    (folder / "bad" / "escape.png").symlink_to(outside)
    return {"empty": 1, "not_an_image": 2, "truncated": 1, "too_large": 1, "outside_root": 1}


def test_salted_folder_labels_every_good_image_and_reports_every_bad_one(tiny_teacher, tmp_path):
    from typer.testing import CliRunner

    from seltda.cli import app

    pool = _pool(tiny_teacher, tmp_path / "pool", copies=1)
    expected_skips = _salt(pool)
    out = tmp_path / "pl"
    args = [
        "pseudolabel",
        "--teacher",
        str(tiny_teacher["teacher"]),
        "--images",
        str(pool),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, [*args, "--per-image", "2", "--batch-size", "4", "--shard-size", "5"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    unreadable = manifest["images"]["unreadable"]
    # "corrupt" random bytes are not an image; the bomb is refused from its header
    assert sum(unreadable.values()) == sum(expected_skips.values()) == 6
    assert unreadable.get("outside_root") == 1 and unreadable.get("empty") == 1
    assert unreadable.get("truncated") == 1 and unreadable.get("too_large") == 1
    assert manifest["images"]["listed"] == 18 and manifest["images"]["seen"] == 12
    assert manifest["funnel"]["generated"] == 12 * 2
    labeled = {r.image for r in read_records(out / "pseudolabels.jsonl")}
    rejected = {json.loads(line)["image"] for line in (out / "rejected.jsonl").read_text().splitlines()}
    assert labeled | rejected == {f"part0/{i:03d}.png" for i in range(12)}


def test_roundtrip_filter_keeps_only_pairs_the_vqa_model_confirms(
    tiny_teacher, tiny_model, tmp_path, monkeypatch
):
    from seltda.stages.pseudolabel import launch as module

    teacher, root = str(tiny_teacher["teacher"]), tiny_teacher["root"]
    cfg = PseudoLabelConfig.plain(per_image=3, batch_size=4, shard_size=6, seed=3)
    plain = pseudolabel(teacher, root, tmp_path / "plain", cfg)
    # a real VQA model answers every kept pair; its answers are stored with the record
    checked = pseudolabel(
        teacher, root, tmp_path / "real", cfg.model_copy(update={"roundtrip_model": str(tiny_model)})
    )
    shard_records = [
        r for p in sorted((tmp_path / "real" / "shards").glob("*[0-9].jsonl")) for r in read_records(p)
    ]
    assert len(shard_records) == plain["funnel"]["deduplicated"]
    assert all(isinstance(r.provenance.roundtrip_answer, str) for r in shard_records)
    assert checked["funnel"]["consistent"] == sum(module.agrees(r) for r in shard_records)

    # a VQA model that agrees on every other pair: exactly those are kept
    def half_agree(self, records, pictures):
        return [r.majority_answer() if i % 2 == 0 else "nonsense" for i, r in enumerate(records)]

    monkeypatch.setattr(module.RoundTrip, "answer", half_agree)
    manifest = pseudolabel(
        teacher, root, tmp_path / "half", cfg.model_copy(update={"roundtrip_model": str(tiny_model)})
    )
    funnel = manifest["funnel"]
    assert funnel["deduplicated"] == plain["funnel"]["deduplicated"] > 1
    assert 0 < funnel["consistent"] == funnel["kept"] < funnel["deduplicated"]
    assert manifest["drops"]["roundtrip_disagrees"] == funnel["deduplicated"] - funnel["consistent"]
    assert all(
        r.provenance.roundtrip_answer == r.majority_answer()
        for r in read_records(tmp_path / "half" / "pseudolabels.jsonl")
    )
    # merging shards labeled without the round-trip model under the filter is a clear error
    from seltda.core.fileio import SeltdaInputError

    with pytest.raises(SeltdaInputError, match="without the round-trip model"):
        pseudolabel(
            teacher, root, tmp_path / "plain", cfg.model_copy(update={"roundtrip_model": str(tiny_model)})
        )


def test_datasets_folder_pool_and_decoding_workers(tiny_teacher, tmp_path):
    from datasets import Dataset, Features, Image, Value

    images = sorted((tiny_teacher["root"] / "images").glob("*.png"))
    rows = {"image": [str(p) for p in images] + [None], "name": [p.name for p in images] + ["none"]}
    Dataset.from_dict(rows, features=Features({"image": Image(), "name": Value("string")})).save_to_disk(
        tmp_path / "pool-ds"
    )
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=4, shard_size=5, seed=1)
    teacher = str(tiny_teacher["teacher"])
    manifest = pseudolabel(teacher, tmp_path / "pool-ds", tmp_path / "ds", cfg)
    assert manifest["images"]["seen"] == 12 and manifest["images"]["unreadable"] == {"missing": 1}
    assert manifest["image_root"] == str(tmp_path / "ds" / "images")
    records = read_records(tmp_path / "ds" / "pseudolabels.jsonl")
    assert records and all((tmp_path / "ds" / "images" / r.image).is_file() for r in records)
    # two decoding workers give exactly the single-process records
    workers = pseudolabel(
        teacher, tmp_path / "pool-ds", tmp_path / "ds-w", cfg.model_copy(update={"dataloader_workers": 2})
    )
    assert workers["funnel"] == manifest["funnel"]
    assert (tmp_path / "ds-w" / "pseudolabels.jsonl").read_text() == (
        tmp_path / "ds" / "pseudolabels.jsonl"
    ).read_text()


def test_dynamic_resolution_pools_are_batched_by_size(tmp_path):
    root = tmp_path / "pool"
    root.mkdir()
    for index, size in enumerate([(64, 64), (8, 8), (32, 16), (16, 16), (48, 40)]):
        Image.new("RGB", size).save(root / f"{index}.png")
    (root / "bad.png").write_bytes(b"not an image")
    names = sorted(path.name for path in root.iterdir())
    assert size_ordered(names, root) == ["1.png", "3.png", "2.png", "4.png", "0.png", "bad.png"]

    batches = []

    class RecordingAdapter:  # a dynamic-resolution VLM's adapter, minus the model
        image_tokens_vary = True

        def sampling_inputs(self, images):
            return ImageBatch(images)

        def sampling_inputs_on(self, inputs, device, dtype):
            return inputs

        def sample_questions(self, model, pixels, num_samples, **settings):
            batches.append([picture.width * picture.height for picture in pixels])
            return [[("question: what is it? answer: a square", -1.0)] * num_samples for _ in pixels]

    cfg = PseudoLabelConfig.plain(per_image=1, batch_size=2)
    stats = run_shard(0, names, root, torch.nn.Linear(1, 1), RecordingAdapter(), cfg, "t", tmp_path / "pl")
    assert batches == [[64, 256], [512, 1920], [4096]]
    assert stats["records"] == 5 and stats["unreadable"] == {"not_an_image": 1}


def test_a_records_file_lists_the_pool_once_per_image(tiny_teacher, tmp_path):
    root = tiny_teacher["root"]
    names = sorted(path.relative_to(root).as_posix() for path in (root / "images").iterdir())[:3]
    rows = [
        {"question_id": f"{name}-{k}", "image": name, "question": "what?", "answers": ["x"]}
        for name in [*names, "images/missing.png"]
        for k in range(2)
    ]
    listing = tmp_path / "unlabeled.jsonl"
    listing.write_text("".join(json.dumps(row) + "\n" for row in rows))
    cfg = PseudoLabelConfig.plain(per_image=2, batch_size=4)
    manifest = pseudolabel(str(tiny_teacher["teacher"]), root, tmp_path / "pl", cfg, listing)
    assert manifest["images"] == {"listed": 4, "unreadable": {"missing": 1}, "seen": 3}
    assert manifest["funnel"]["generated"] == 3 * 2
