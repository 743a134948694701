"""The vLLM engine on a tiny Idefics3 teacher (trained briefly, so that it writes parseable pairs), beside
the transformers engine. Marked `vllm`: runs in `make test-vllm`'s venv, deselected where vLLM is not
installed (tests/conftest.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from conftest import draw, make_dataset  # noqa: E402
from test_models_vlm import build_idefics3, chat_tokenizer  # noqa: E402

from seltda.core.records import read_records, write_records  # noqa: E402
from seltda.models import load_vqg  # noqa: E402
from seltda.stages.pseudolabel import pseudolabel  # noqa: E402
from seltda.stages.pseudolabel.config import PseudoLabelConfig  # noqa: E402
from seltda.stages.pseudolabel.engines import choose_engine  # noqa: E402
from seltda.stages.pseudolabel.vllm_engine import VllmEngine  # noqa: E402
from seltda.stages.teacher import train_teacher  # noqa: E402
from seltda.stages.teacher_config import TeacherConfig  # noqa: E402

__all__ = ["chat_tokenizer"]  # the session fixture this module uses
pytestmark = pytest.mark.vllm

MAX_PIXELS = 24 * 24  # the pool's images are 32 x 32
CFG = PseudoLabelConfig.plain(
    per_image=3, max_new_tokens=24, precision="fp32", shard_size=4, batch_size=4, max_pixels=MAX_PIXELS
)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, chat_tokenizer: Path) -> dict:
    """A tiny Idefics3 fine-tuned 30 steps by the teacher stage on the tiny dataset (6 images)."""
    torch.manual_seed(0)
    base = build_idefics3(tmp_path_factory.mktemp("idefics3"), chat_tokenizer)
    root = tmp_path_factory.mktemp("pool")
    write_records(root / "train.jsonl", make_dataset(root, count=6))
    settings = dict(max_steps=30, batch_size=8, learning_rate=1e-2, save_steps=1000, logging_steps=10)
    train_teacher(root / "train.jsonl", root, root / "teacher", TeacherConfig(model=str(base), **settings))
    return {"teacher": str(root / "teacher"), "images": root / "images"}


@pytest.fixture(scope="module")
def engine(teacher: dict) -> VllmEngine:
    return VllmEngine.load(teacher["teacher"], CFG, torch.float32)


@pytest.fixture(scope="module")
def runs(teacher: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The pool labeled by each engine; the images vLLM was handed are recorded."""
    out = tmp_path_factory.mktemp("runs")
    handed: list[tuple[int, int]] = []
    generate = VllmEngine.generate

    def recording(self, names, images, cfg, seed):
        handed.extend(image.size for image in images)
        return generate(self, names, images, cfg, seed)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(VllmEngine, "generate", recording)
        for name in ("vllm", "hf"):
            cfg = CFG.model_copy(update={"engine": name})
            pseudolabel(teacher["teacher"], teacher["images"], out / name, cfg)
    return {"out": out, "handed": handed}


def test_auto_picks_vllm_where_it_is_installed_with_a_gpu(teacher: dict, monkeypatch):
    assert choose_engine(teacher["teacher"], "auto") == "hf"  # on a CPU vLLM is slower here (0.66x)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_engine(teacher["teacher"], "auto") == "vllm"


def test_prompt_is_the_one_the_teacher_was_trained_with(engine: VllmEngine):
    """vLLM's prompt tokens (image tokens expanded) are the transformers processor's, and N samples come
    back per image, each stopped by the adapter's end ids or the token limit."""
    pictures = [draw("circle", "red"), draw("rectangle", "blue", size=48)]
    outputs = engine.generate(["a.png", "b.png"], engine.prepare(pictures), CFG, seed=3)
    expected = engine.adapter.sampling_inputs(pictures)
    for row, output in enumerate(outputs):
        ids = expected["input_ids"][row][expected["attention_mask"][row].bool()].tolist()
        assert list(output.prompt_token_ids) == ids
        assert len(output.outputs) == CFG.per_image
        for completion in output.outputs:
            ends = [i for i, token in enumerate(completion.token_ids) if token in engine.end_ids]
            assert ends in ([], [len(completion.token_ids) - 1])  # stops at its first end id
            assert ends or len(completion.token_ids) == CFG.max_new_tokens


@torch.inference_mode()
def test_scores_are_the_transformers_mean_token_logprobs(engine: VllmEngine, teacher: dict):
    """Each sample's score is the mean log-probability of its tokens under the teacher (transformers,
    teacher-forced), as `NucleusSampler` scores the transformers engine's samples."""
    picture = draw("circle", "green")
    [output] = engine.generate(["c.png"], engine.prepare([picture]), CFG, seed=5)
    [samples] = engine.sample(["c.png"], engine.prepare([picture]), CFG, seed=5)
    model = load_vqg(teacher["teacher"]).eval()
    prompt = engine.adapter.sampling_inputs([picture])
    for completion, (text, score) in zip(output.outputs, samples, strict=True):
        tokens = torch.tensor([list(completion.token_ids)])
        ids = torch.cat([prompt["input_ids"], tokens], dim=1)
        inputs = {**prompt, "input_ids": ids, "attention_mask": torch.ones_like(ids)}
        logits = model(**inputs).logits[0, prompt["input_ids"].shape[1] - 1 : -1]
        expected = logits.float().log_softmax(-1).gather(-1, tokens[0, :, None]).mean().item()
        assert score == pytest.approx(expected, abs=1e-3)
        assert text == engine.adapter.tokenizer.decode(tokens[0], skip_special_tokens=True).strip()


def test_vllm_writes_the_records_the_transformers_engine_writes(runs: dict):
    out = runs["out"]
    manifests = {name: json.loads((out / name / "manifest.json").read_text()) for name in ("vllm", "hf")}
    assert manifests["vllm"]["sampling_engines"] == ["vllm"] and manifests["hf"]["sampling_engines"] == ["hf"]
    for manifest in manifests.values():
        assert manifest["funnel"]["generated"] == 6 * CFG.per_image
        assert manifest["sampling_dtypes"] == ["float32"]
    records = {name: read_records(out / name / "pseudolabels.jsonl") for name in ("vllm", "hf")}
    assert records["vllm"], "the trained tiny teacher writes parseable pairs"
    dumps = {name: [r.model_dump() for r in rs] for name, rs in records.items()}
    assert {tuple(d) for d in dumps["vllm"]} == {tuple(d) for d in dumps["hf"]}  # the same fields
    assert {tuple(d["provenance"]) for d in dumps["vllm"]} == {tuple(d["provenance"]) for d in dumps["hf"]}
    for record in records["vllm"]:
        assert record.question and record.answers and record.source == "synthetic"
        assert record.provenance.sampling == {"top_p": CFG.top_p, "temperature": 1.0, "seed": CFG.seed}
        assert -15 < record.provenance.score <= 0
    means = {name: sum(r.provenance.score for r in rs) / len(rs) for name, rs in records.items()}
    assert abs(means["vllm"] - means["hf"]) < 1.0  # one model's distribution, sampled twice


def test_max_pixels_reaches_the_processor(runs: dict):
    assert len(runs["handed"]) == 6 and set(runs["handed"]) == {(24, 24)}


def test_resume_skips_finished_shards(runs: dict, teacher: dict):
    out = runs["out"] / "vllm"
    expected = (out / "pseudolabels.jsonl").read_text()
    finished = out / "shards" / "shard-00000.jsonl"
    before = finished.stat().st_mtime_ns
    (out / "shards" / "shard-00001.json").unlink()  # shard 1 interrupted before its stats
    cfg = CFG.model_copy(update={"engine": "vllm"})
    assert pseudolabel(teacher["teacher"], teacher["images"], out, cfg).status == "merged"
    assert finished.stat().st_mtime_ns == before  # not relabeled
    assert (out / "pseudolabels.jsonl").read_text() == expected  # per-image seeds: the same draws


def _cli(teacher: str, pool: Path, out: Path, *extra: str) -> list[str]:
    """`seltda pseudolabel` with the vLLM engine, as a user runs it (a new process each time)."""
    command = [sys.executable, "-m", "seltda.cli", "pseudolabel", "--teacher", teacher, "--images", str(pool)]
    command += [
        "--out",
        str(out),
        "--engine",
        "vllm",
        "--shard-size",
        "2",
        "--batch-size",
        "2",
        "--seed",
        "5",
    ]
    return command + ["--per-image", "3", "--max-new-tokens", "24", "--max-pixels", str(MAX_PIXELS), *extra]


def _copies(teacher: dict, folder: Path, copies: int) -> Path:
    import shutil

    for copy in range(copies):
        shutil.copytree(teacher["images"], folder / f"part{copy}")
    return folder


def test_sigkill_then_resume_gives_the_uninterrupted_records(teacher: dict, tmp_path: Path):
    import signal
    import subprocess
    import time

    pool = _copies(teacher, tmp_path / "pool", 4)  # 24 images, 12 shards
    subprocess.run(_cli(teacher["teacher"], pool, tmp_path / "whole"), check=True, capture_output=True)
    process = subprocess.Popen(
        _cli(teacher["teacher"], pool, tmp_path / "cut"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    shards = tmp_path / "cut" / "shards"
    deadline = time.time() + 300
    while not list(shards.glob("shard-*.json")) and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(list(shards.glob("shard-*.json")))
    assert 0 < done < 12 and not (tmp_path / "cut" / "manifest.json").exists(), "killed too late"
    subprocess.run(_cli(teacher["teacher"], pool, tmp_path / "cut"), check=True, capture_output=True)
    whole = (tmp_path / "whole" / "pseudolabels.jsonl").read_text().splitlines()
    assert (tmp_path / "cut" / "pseudolabels.jsonl").read_text().splitlines() == whole and whole


def test_two_tasks_give_the_one_process_records(teacher: dict, tmp_path: Path):
    import subprocess

    pool = _copies(teacher, tmp_path / "pool", 2)
    subprocess.run(_cli(teacher["teacher"], pool, tmp_path / "one"), check=True, capture_output=True)
    jobs = [
        subprocess.Popen(
            _cli(teacher["teacher"], pool, tmp_path / "two", "--num-tasks", "2", "--task-index", str(i)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    assert all(job.wait(timeout=600) == 0 for job in jobs)
    if not (tmp_path / "two" / "pseudolabels.jsonl").exists():  # each finished before the other's shards
        subprocess.run(_cli(teacher["teacher"], pool, tmp_path / "two"), check=True, capture_output=True)
    one = (tmp_path / "one" / "pseudolabels.jsonl").read_text()
    assert (tmp_path / "two" / "pseudolabels.jsonl").read_text() == one and one


def test_torchrun_ranks_each_run_their_own_engine(teacher: dict, tmp_path: Path):
    """Under torchrun every rank builds its own in-process vLLM engine (one model per rank, as data
    parallelism) beside the ranks' process group, takes its shards, and rank 0 merges the one-process
    records."""
    import os
    import subprocess

    pool = _copies(teacher, tmp_path / "pool", 2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_cli(teacher["teacher"], pool, tmp_path / "one"), check=True, capture_output=True, env=env)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command = torchrun + _cli(teacher["teacher"], pool, tmp_path / "two")[1:]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    one = (tmp_path / "one" / "pseudolabels.jsonl").read_text()
    assert (tmp_path / "two" / "pseudolabels.jsonl").read_text() == one and one
    assert "rank 0 merges" in done.stdout
