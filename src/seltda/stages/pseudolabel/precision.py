"""The inference dtype of the teacher (and of the round-trip model beside it).

Explicit `bf16`/`fp16`/`fp32` are used as asked (fp16 runs as fp32 on a CPU). `auto` on a GPU is bf16
where it is supported, else fp16. `auto` on a CPU is measured: a capability flag does not say whether bf16
is faster (a Xeon with AVX512-BF16 but no AMX sampled at 0.7x the fp32 rate in bf16, an AMD EPYC with
AVX512-BF16 at 1.4-1.7x, an AVX2-only one at 0.2x; docs/benchmarks.md), so a short probe times the real
work (the caller's `work`: sampling a small batch of the pool's images) in fp32 and in bf16, alternating,
and bf16 is chosen only when it is at least `BF16_MARGIN` faster. The decision is cached in a small JSON
per key (the model folder's identity, the CPU model and its bf16 features, torch's version and thread
count, the workload), so resumed shards and later runs do not probe again; under `torchrun`/`accelerate`
rank 0 probes alone and the others use its result.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from seltda.core.fileio import SeltdaInputError, atomic_write_json, read_json
from seltda.models.registry import resolve_model
from seltda.run.pseudolabels import PrecisionChoice

BF16_MARGIN = 1.10  # on a CPU, bf16 must run at least this many times the fp32 rate to be chosen
PROBE_REPEATS = 3  # timed calls per dtype, after one warm-up call each
PROBE_IMAGES = 8  # the probe's batch: at most this many images (fewer when the batch size is smaller)
CACHE_ENV = "SELTDA_CACHE_DIR"
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
BF16_FLAGS = ("avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "avx_vnni")


def cache_dir() -> Path:
    """Where probe results are kept: `$SELTDA_CACHE_DIR`, else `$XDG_CACHE_HOME/seltda`, else
    `~/.cache/seltda`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seltda"


def torch_dtype(choice: PrecisionChoice) -> torch.dtype:
    return getattr(torch, choice.dtype)


def _choice(requested: str, dtype: torch.dtype, reason: str, why: str, **extra: Any) -> PrecisionChoice:
    return PrecisionChoice(
        requested=requested, dtype=str(dtype).removeprefix("torch."), reason=reason, why=why, **extra
    )


def fixed_choice(precision: str) -> PrecisionChoice | None:
    """The choice that needs no probe (explicit, or `auto` on a GPU); None for `auto` on a CPU."""
    if precision != "auto":
        if precision == "fp16" and not torch.cuda.is_available():
            why = "fp16 asked on a CPU: fp32 (fp16 matrix products are slow and lossy on CPUs)"
            return _choice(precision, torch.float32, "explicit", why)
        return _choice(precision, DTYPES[precision], "explicit", f"{precision} asked")
    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return _choice(precision, torch.bfloat16, "gpu", "the GPU supports bf16")
        return _choice(precision, torch.float16, "gpu", "the GPU has no bf16: fp16")
    return None


def _cpuinfo(field: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what `platform` knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_features() -> str:
    """torch's CPU capability and the CPU's bf16-related flags: two virtual machines may share a model name
    ("AMD EPYC") and differ in AVX512-BF16."""
    flags = set((_cpuinfo("flags") or "").split()) & set(BF16_FLAGS)
    return " ".join([torch.backends.cpu.get_cpu_capability(), *sorted(flags)])


def model_identity(name: str) -> dict[str, Any]:
    """A model folder's identity without hashing its weights: its config's hash and its weights' size
    (a hub id not on disk: the id)."""
    folder = Path(resolve_model(name))
    if not folder.is_dir():
        return {"name": str(name)}
    config = folder / "config.json"
    config_hash = hashlib.sha256(config.read_bytes()).hexdigest()[:16] if config.exists() else None
    weights = sum(p.stat().st_size for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    return {"config_sha256": config_hash, "weight_bytes": weights}


def probe_key(model_name: str, workload: dict[str, Any]) -> dict[str, Any]:
    """What a probe's result depends on: the model, the CPU, torch and its threads, the workload."""
    return {
        "model": model_identity(model_name),
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **workload,
    }


def cache_file(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / "precision" / f"{digest}.json"


def read_cached(key: dict[str, Any]) -> PrecisionChoice | None:
    """The cached probe result for `key` (an unreadable or mismatched file counts as none)."""
    path = cache_file(key)
    if not path.exists():
        return None
    try:
        choice = PrecisionChoice.model_validate(read_json(path))
    except (SeltdaInputError, ValueError):
        return None
    return choice if choice.key == key else None


def time_dtypes(
    model: torch.nn.Module,
    work: Callable[[torch.nn.Module], Any],
    repeats: int = PROBE_REPEATS,
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[dict[str, list[float]], dict[str, torch.nn.Module]]:
    """Seconds of `work` per call in fp32 and in bf16 (a bf16 copy of `model`): one warm-up call each,
    then `repeats` timed calls each, alternating which goes first. Every call starts from the same seed;
    the global random state is left as it was. Returns the timings and both models."""
    models = {"fp32": model.to(torch.float32), "bf16": copy.deepcopy(model).to(torch.bfloat16)}
    seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
    with torch.random.fork_rng(devices=[]):
        for name in models:
            torch.manual_seed(0)
            work(models[name])
        for repeat in range(repeats):
            for name in ("fp32", "bf16") if repeat % 2 == 0 else ("bf16", "fp32"):
                torch.manual_seed(0)
                start = timer()
                work(models[name])
                seconds[name].append(timer() - start)
    return seconds, models


def decide(seconds: dict[str, list[float]], key: dict[str, Any]) -> PrecisionChoice:
    """bf16 when its median call is at least `BF16_MARGIN` times faster than fp32's, else fp32."""
    fp32, bf16 = statistics.median(seconds["fp32"]), statistics.median(seconds["bf16"])
    speedup = fp32 / bf16 if bf16 > 0 else float("inf")
    chosen = torch.bfloat16 if speedup >= BF16_MARGIN else torch.float32
    verdict = ">=" if chosen == torch.bfloat16 else "<"
    why = f"CPU probe: bf16 ran at {speedup:.2f}x the fp32 rate ({verdict} {BF16_MARGIN:.2f}x for bf16)"
    return _choice(
        "auto",
        chosen,
        "probed",
        why,
        fp32_seconds=[round(s, 4) for s in seconds["fp32"]],
        bf16_seconds=[round(s, 4) for s in seconds["bf16"]],
        bf16_speedup=round(speedup, 3),
        key=key,
    )


def probed_choice(
    model: torch.nn.Module,
    work: Callable[[torch.nn.Module], Any],
    key: dict[str, Any],
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[torch.nn.Module, PrecisionChoice]:
    """`auto` on a CPU: the cached result for `key`, else a probe (then cached; an unwritable cache
    folder only costs a probe next time). Returns the model in the chosen dtype and the choice."""
    cached = read_cached(key)
    if cached is not None:
        return model.to(torch_dtype(cached)), cached.model_copy(update={"reason": "cached"})
    seconds, models = time_dtypes(model, work, timer=timer)
    choice = decide(seconds, key)
    with contextlib.suppress(OSError):  # an unwritable cache folder costs a probe next time
        atomic_write_json(cache_file(key), choice.model_dump(mode="json"))
    return models["bf16" if choice.dtype == "bfloat16" else "fp32"], choice


def choose_precision(
    precision: str,
    model: torch.nn.Module,
    work: Callable[[torch.nn.Module], Any],
    model_name: str,
    workload: dict[str, Any],
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[torch.nn.Module, PrecisionChoice]:
    """The model (loaded in fp32, on its device) in the dtype `precision` resolves to, and the choice.

    `work(model)` is the probe's unit of real work; `workload` describes it for the cache key (batch
    size, samples per image, ...)."""
    fixed = fixed_choice(precision)
    if fixed is not None:
        return model.to(torch_dtype(fixed)), fixed
    return probed_choice(model, work, probe_key(model_name, workload), timer)


def share_choice(choice: PrecisionChoice | None) -> PrecisionChoice:
    """Rank 0's choice, given to every rank launched together (a collective: every rank calls it)."""
    box = [choice.model_dump(mode="json") if choice is not None else None]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(box, src=0)
    if box[0] is None:
        raise RuntimeError("rank 0 shared no precision choice")
    return PrecisionChoice.model_validate(box[0])
