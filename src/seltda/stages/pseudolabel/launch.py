"""SelTDA step 2: the teacher writes question-answer pairs for unlabeled images.

Images are processed in shards of a stable order; each finished shard is written atomically and skipped
on a rerun, so a killed run resumes without loss or duplicates. Each image is encoded once per batch and
the N samples come from `num_return_sequences`. Outputs are parsed and filtered; `manifest.json` reports
the funnel (generated -> parsed -> each filter -> kept).

Who runs which shards: independent jobs (e.g. a Slurm array) pass `num_tasks`/`task_index`; processes
started together (`torchrun`, `accelerate launch`) split the shards by rank (accelerate's `PartialState`),
and after a barrier the main process merges.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import torch
from accelerate import PartialState

from seltda.core.progress import track
from seltda.models import load_adapter, load_vqg
from seltda.run.pseudolabels import PseudoLabelFolder, PseudoLabelOutcome
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.pseudolabel.merge import merge
from seltda.stages.pseudolabel.pool import load_pool
from seltda.stages.pseudolabel.shard import RoundTrip, inference_dtype, run_shard, shard_paths


def process_state() -> PartialState:
    """The processes launched together (one when not launched). Their barrier runs over gloo, so it needs no
    GPU and any number of processes may share one; it waits up to 12 hours for the slowest rank."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # accelerate picks no backend for a lone process
        return PartialState(cpu=not torch.cuda.is_available(), backend="gloo", timeout=timedelta(hours=12))
    return PartialState(cpu=not torch.cuda.is_available())


def launcher_tasks(cfg: PseudoLabelConfig, state: PartialState) -> PseudoLabelConfig:
    """Under `torchrun`/`accelerate launch` each process takes its own shards (unless tasks are given)."""
    if cfg.num_tasks == 1 and state.num_processes > 1:
        return cfg.model_copy(update={"num_tasks": state.num_processes, "task_index": state.process_index})
    return cfg


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
    cfg = launcher_tasks(cfg or PseudoLabelConfig(), state)
    out_dir = Path(out_dir)
    start = time.perf_counter()
    if fresh:
        if state.is_main_process and PseudoLabelFolder(out_dir).shards.exists():
            shutil.rmtree(PseudoLabelFolder(out_dir).shards)
        state.wait_for_everyone()
    pool = load_pool(Path(image_root), out_dir, image_list, cfg.image_column)
    shards = [pool.images[i : i + cfg.shard_size] for i in range(0, len(pool.images), cfg.shard_size)]
    todo = [
        i
        for i in range(len(shards))
        if i % cfg.num_tasks == cfg.task_index and not shard_paths(out_dir, i)[1].exists()
    ]
    if todo:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = inference_dtype(cfg.precision)
        adapter = load_adapter(teacher_dir, max_pixels=cfg.max_pixels, max_target_tokens=cfg.max_new_tokens)
        model = load_vqg(teacher_dir).eval().to(device=device, dtype=dtype)
        roundtrip = None
        if cfg.roundtrip_model:
            roundtrip = RoundTrip.load(
                cfg.roundtrip_model, device, dtype, cfg.roundtrip_batch_size, cfg.max_pixels
            )
        for index in track(todo, description="pseudo-labeling shards"):
            run_shard(
                index, shards[index], pool.root, model, adapter, cfg, str(teacher_dir), out_dir, roundtrip
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
