"""SelTDA step 2: the teacher writes question-answer pairs for unlabeled images.

Images are processed in shards of a stable order; each finished shard is written atomically and skipped
on a rerun, so a killed run resumes without loss or duplicates. The engine (`engines.py`: transformers,
or vLLM where installed and serving the teacher) draws N samples per image. Outputs are parsed and
filtered; `manifest.json` reports the funnel (generated -> parsed -> each filter -> kept).

Who runs which shards: independent jobs split them by `num_tasks`/`task_index` (task t runs shards
k with k % num_tasks == t), given or read from a Slurm job array (`slurm.job_task`); processes started
together (`torchrun`, `accelerate launch`, accelerate's `PartialState`) deal their task's shards among
their ranks, and after a barrier the main process merges. Whichever job finds every shard complete merges.
Each shard's stats record which task and rank wrote it; the manifest lists them (`writers`).

The teacher's dtype comes from `precision.py` (`auto` on a CPU: a cached timed probe on a batch of the
pool's own images; launched together, rank 0 probes and the other ranks take its choice).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from PIL import Image

from seltda.core.fileio import SeltdaInputError
from seltda.core.progress import track
from seltda.models import ModelAdapter, load_adapter, load_vqg
from seltda.run.pseudolabels import PrecisionChoice, PseudoLabelFolder, PseudoLabelOutcome, ShardWriter
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.pseudolabel.engines import Engine, HfEngine, choose_engine, sample_batch
from seltda.stages.pseudolabel.merge import merge
from seltda.stages.pseudolabel.pool import image_batches, load_pool
from seltda.stages.pseudolabel.precision import (
    PROBE_IMAGES,
    choose_precision,
    fixed_choice,
    share_choice,
    torch_dtype,
)
from seltda.stages.pseudolabel.shard import RoundTrip, run_shard, shard_paths
from seltda.stages.pseudolabel.slurm import job_task
from seltda.stages.pseudolabel.vllm_engine import VllmEngine


def process_state() -> PartialState:
    """The processes launched together (one when not launched). Their barrier runs over gloo, so it needs no
    GPU and any number of processes may share one; it waits up to 12 hours for the slowest rank."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # accelerate picks no backend for a lone process
        return PartialState(cpu=not torch.cuda.is_available(), backend="gloo", timeout=timedelta(hours=12))
    return PartialState(cpu=not torch.cuda.is_available())


def shard_writer(cfg: PseudoLabelConfig, state: PartialState) -> ShardWriter:
    """This process's place: its job's task (`num_tasks`/`task_index`, else the Slurm array's, else the
    only task) and its rank among the processes launched together."""
    task = job_task(cfg.num_tasks, cfg.task_index)
    return ShardWriter(
        num_tasks=task.num_tasks,
        task_index=task.task_index,
        tasks_from=task.source,
        rank=state.process_index,
        ranks=state.num_processes,
        slurm_array=task.slurm_array,
        host=socket.gethostname(),
    )


def runs_shard(index: int, writer: ShardWriter) -> bool:
    """Shard `index` is this process's: its task's (`index % num_tasks`), and among the task's shards
    (the `index // num_tasks`-th) dealt round-robin to the ranks. With one task, rank r runs the shards
    k with k % ranks == r; each task's share is the same whatever the other tasks' rank counts."""
    mine = index % writer.num_tasks == writer.task_index
    return mine and (index // writer.num_tasks) % writer.ranks == writer.rank


def load_teacher(
    teacher_dir: str,
    cfg: PseudoLabelConfig,
    probe_images: list[str],
    image_root: Path,
    device: str,
    given: PrecisionChoice | None = None,
) -> tuple[ModelAdapter, torch.nn.Module, PrecisionChoice]:
    """The teacher's adapter and model in the dtype `cfg.precision` resolves to, and that choice (`auto`
    on a CPU probes `sample_batch` on the first readable batch of `probe_images`); `given`: rank 0's."""
    adapter = load_adapter(teacher_dir, max_pixels=cfg.max_pixels, max_target_tokens=cfg.max_new_tokens)
    model = load_vqg(teacher_dir).eval().to(device)
    given = given or fixed_choice(cfg.precision)
    if given is not None:
        return adapter, model.to(torch_dtype(given)), given
    size = min(cfg.batch_size, PROBE_IMAGES)
    batches = image_batches(probe_images, image_root, adapter.sampling_inputs, size, 0)
    probe = next((b["inputs"] for b in batches if b["names"]), None)
    if probe is None:  # no readable image: a grey batch of the processor's size
        probe = adapter.sampling_inputs([Image.new("RGB", (384, 384), (128, 128, 128))] * size)
    workload = {
        "work": "sample_questions",
        "probe_images": size,
        "batch_size": cfg.batch_size,
        "per_image": cfg.per_image,
        "max_new_tokens": cfg.max_new_tokens,
    }
    with torch.inference_mode():
        model, choice = choose_precision(
            cfg.precision, model, lambda m: sample_batch(m, adapter, probe, cfg), teacher_dir, workload
        )
    return adapter, model, choice


def load_sampler(
    engine_name: str,
    teacher_dir: str,
    cfg: PseudoLabelConfig,
    probe_images: list[str],
    image_root: Path,
    device: str,
    loaded: tuple[ModelAdapter, torch.nn.Module, PrecisionChoice] | None = None,
    given: PrecisionChoice | None = None,
    **vllm_settings: Any,
) -> tuple[Engine, PrecisionChoice]:
    """The engine that samples (`engine_name`, what `choose_engine` decided: vLLM, or transformers in the
    precision `load_teacher` resolves) and its precision choice; `loaded`: the teacher rank 0 probed."""
    if engine_name == "vllm":  # vLLM: no CPU probe (fp32 there)
        choice = fixed_choice(cfg.precision) or fixed_choice("fp32").model_copy(
            update={"requested": cfg.precision, "why": "vLLM on a CPU: fp32, not probed"}
        )
        return VllmEngine.load(str(teacher_dir), cfg, torch_dtype(choice), **vllm_settings), choice
    adapter, model, choice = loaded or load_teacher(teacher_dir, cfg, probe_images, image_root, device, given)
    return HfEngine(model, adapter), choice


def shared_gpu(teacher_engine: str, roundtrip_engine: str | None) -> dict[str, Any]:
    """vLLM settings when the teacher and the round-trip model are both vLLM engines on one GPU: each takes
    under half of its memory (vLLM's default, 90%, is for a single engine)."""
    both = teacher_engine == roundtrip_engine == "vllm"
    return {"gpu_memory_utilization": 0.44} if both and torch.cuda.is_available() else {}


def pseudolabel(
    teacher_dir: str,
    image_root: Path,
    out_dir: Path,
    cfg: PseudoLabelConfig | None = None,
    image_list: Path | None = None,
    fresh: bool = False,
) -> PseudoLabelOutcome:
    """Label the pool with the teacher; resumable shard by shard (`fresh`: delete finished shards first).

    Merges once every shard is done; otherwise reports this task's or this rank's shards done.
    """
    state = process_state()
    cfg = cfg or PseudoLabelConfig()
    writer = shard_writer(cfg, state)
    cfg = cfg.model_copy(update={"num_tasks": writer.num_tasks, "task_index": writer.task_index})
    out_dir = Path(out_dir)
    start = time.perf_counter()
    if fresh and writer.num_tasks > 1:
        raise SeltdaInputError(
            f"relabeling afresh in task {writer.task_index} of {writer.num_tasks} would delete the other "
            "tasks' shards: delete the shards folder once before starting the tasks, and let them resume"
        )
    if fresh:
        if state.is_main_process and PseudoLabelFolder(out_dir).shards.exists():
            shutil.rmtree(PseudoLabelFolder(out_dir).shards)
        state.wait_for_everyone()
    pool = load_pool(Path(image_root), out_dir, image_list, cfg.image_column)
    shards = [pool.images[i : i + cfg.shard_size] for i in range(0, len(pool.images), cfg.shard_size)]
    pending = [  # this task's unfinished shards
        i
        for i in range(len(shards))
        if i % writer.num_tasks == writer.task_index and not shard_paths(out_dir, i)[1].exists()
    ]
    todo = [i for i in pending if runs_shard(i, writer)]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    probe_images = shards[pending[0]] if pending else []
    teacher, shared = None, None
    engine_name = choose_engine(str(teacher_dir), cfg.engine)
    if state.num_processes > 1 and pending and fixed_choice(cfg.precision) is None and engine_name == "hf":
        # the ranks share the CPU: rank 0 probes alone, and every rank samples in its choice
        teacher = (
            load_teacher(teacher_dir, cfg, probe_images, pool.root, device) if state.is_main_process else None
        )
        shared = share_choice(teacher[2] if teacher else None)
    if todo:
        roundtrip_engine = (
            choose_engine(cfg.roundtrip_model, cfg.engine, role="round-trip model")
            if cfg.roundtrip_model
            else None
        )
        engine, choice = load_sampler(
            engine_name,
            teacher_dir,
            cfg,
            probe_images,
            pool.root,
            device,
            teacher,
            shared,
            **shared_gpu(engine_name, roundtrip_engine),
        )
        dtype = torch_dtype(choice)
        roundtrip = None
        if cfg.roundtrip_model:
            roundtrip = RoundTrip.load(
                cfg.roundtrip_model,
                device,
                dtype,
                cfg.roundtrip_batch_size,
                cfg.max_pixels,
                roundtrip_engine,
                tensor_parallel_size=cfg.tensor_parallel_size,
                **shared_gpu(engine_name, roundtrip_engine),
            )
        for index in track(todo, description="pseudo-labeling shards"):
            run_shard(
                index,
                shards[index],
                pool.root,
                engine,
                cfg,
                str(teacher_dir),
                out_dir,
                roundtrip,
                writer,
                choice,
            )
    if state.num_processes > 1:  # launched together: the main process merges once all are done
        state.wait_for_everyone()
        if not state.is_main_process:
            return PseudoLabelOutcome(status="rank_done", shards=len(shards))
    if not all(shard_paths(out_dir, i)[1].exists() for i in range(len(shards))):
        return PseudoLabelOutcome(status="shards_done", shards=len(shards))
    run = {
        "teacher": str(teacher_dir),
        "image_root": str(pool.root),
        "shards": len(shards),
        "seconds_this_run": round(time.perf_counter() - start, 2),
    }
    manifest = merge(out_dir, len(shards), cfg, run, scan_skips=pool.skips)
    return PseudoLabelOutcome(status="merged", shards=len(shards), manifest=manifest)
