"""The teacher's sampling call alone, three ways, side by side in one run: what each change buys.

1. transformers' sampling: `generate(do_sample=True, top_p, num_return_sequences=N, output_logits=True)`,
   the score from the kept logits (seltda before `NucleusSampler`);
2. `NucleusSampler` with each image's encoding repeated N times;
3. `NucleusSampler` with `shared_image_attention` (seltda's `BlipAdapter.sample_questions`).
Prints images/s of each (median of alternating repeats) and their ratio to the first, in fp32 and bf16;
then, per path, bf16's rate over fp32's (the question `precision: auto` settles on a CPU), the mean
generated length in each dtype, and what seltda's CPU probe (`stages/pseudolabel/precision.py`: a batch of
at most 8 images, a warm-up and 3 alternating timed calls per dtype) measures and decides for this teacher.
The first line names what else differs between machines: the CPU, its cores, torch's threads.

    python benchmarks/sampling_paths.py --teacher runs/curve/fraction-0.05/seed-0/teacher
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

import torch
from PIL import Image

from seltda.demo import easyvqa
from seltda.demo.run import SHIPPED_PRETRAINED
from seltda.models import blip
from seltda.models.blip import BlipAdapter, load_vqg_model
from seltda.stages.pseudolabel.precision import PROBE_IMAGES, cpu_model, decide, time_dtypes


@contextlib.contextmanager
def repeated_encodings(text_decoder):
    yield False


@torch.inference_mode()
def transformers_sampling(adapter: BlipAdapter, model, pixels: torch.Tensor, n: int) -> None:
    output = model.generate(
        pixel_values=pixels,
        do_sample=True,
        top_p=0.9,
        top_k=0,
        num_return_sequences=n,
        max_new_tokens=adapter.max_target_tokens,
        output_logits=True,
        return_dict_in_generate=True,
    )
    logprobs = torch.stack(output.logits, dim=1).float().log_softmax(-1)
    generated = output.sequences[:, -len(output.logits) :]
    logprobs.gather(-1, generated.unsqueeze(-1)).mean()
    adapter.tokenizer.batch_decode(output.sequences, skip_special_tokens=True)


def sampler_repeated(adapter: BlipAdapter, model, pixels: torch.Tensor, n: int) -> None:
    shared = blip.shared_image_attention
    blip.shared_image_attention = repeated_encodings
    try:
        adapter.sample_questions(model, pixels, n)
    finally:
        blip.shared_image_attention = shared


def sampler_shared(adapter: BlipAdapter, model, pixels: torch.Tensor, n: int) -> None:
    adapter.sample_questions(model, pixels, n)


PATHS = {
    "transformers sampling": transformers_sampling,
    "NucleusSampler, repeated encodings": sampler_repeated,
    "NucleusSampler, shared image attention": sampler_shared,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teacher", default=str(SHIPPED_PRETRAINED))
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--per-image", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{cpu_model()}: {os.cpu_count()} cores ({cores} usable), torch threads {torch.get_num_threads()}, "
        f"batch {args.batch_size}, N = {args.per_image}, {args.images} images, {args.repeats} repeats"
    )
    adapter = BlipAdapter.from_pretrained(args.teacher)
    names = sorted({r.image for r in easyvqa.load_split("train")})[: args.images]
    root = easyvqa.image_root()
    pixels = adapter.prepare_images([Image.open(root / name).convert("RGB") for name in names])
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for dtype in (torch.float32, torch.bfloat16):
            model = load_vqg_model(args.teacher).eval().to(dtype)
            for name, run in PATHS.items():
                torch.manual_seed(0)
                start = time.perf_counter()
                for first in range(0, len(names), args.batch_size):
                    run(adapter, model, pixels[first : first + args.batch_size].to(dtype), args.per_image)
                rates.setdefault((str(dtype).removeprefix("torch."), name), []).append(
                    len(names) / (time.perf_counter() - start)
                )
    for dtype in ("float32", "bfloat16"):
        base = statistics.median(rates[(dtype, "transformers sampling")])
        for name in PATHS:
            rate = statistics.median(rates[(dtype, name)])
            print(f"{dtype:9s} {name:40s} {rate:7.0f} img/s  {rate / base:.2f}x")
    for name in PATHS:
        fp32, bf16 = rates[("float32", name)], rates[("bfloat16", name)]
        each = ", ".join(f"{b / f:.2f}" for f, b in zip(fp32, bf16, strict=True))
        ratio = statistics.median(bf16) / statistics.median(fp32)
        print(f"bf16 / fp32, {name:40s} {ratio:.2f}x (per repeat: {each})")
    sample = pixels[: args.batch_size]
    for dtype in (torch.float32, torch.bfloat16):
        model = load_vqg_model(args.teacher).eval().to(dtype)
        torch.manual_seed(0)
        texts = [
            t for image in adapter.sample_questions(model, sample.to(dtype), args.per_image) for t, _ in image
        ]
        tokens = statistics.mean(len(adapter.tokenizer(t).input_ids) for t in texts)
        print(f"generated length, {str(dtype).removeprefix('torch.'):9s} {tokens:.1f} tokens per sample")
    probe = pixels[:PROBE_IMAGES]
    with torch.inference_mode():
        seconds, _ = time_dtypes(
            load_vqg_model(args.teacher).eval(),
            lambda m: adapter.sample_questions(m, probe.to(next(m.parameters()).dtype), args.per_image),
        )
    print(f"seltda's probe ({len(probe)} images): {decide(seconds, {}).why} -> {decide(seconds, {}).dtype}")


if __name__ == "__main__":
    main()
