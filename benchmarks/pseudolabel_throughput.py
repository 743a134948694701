"""Pseudo-labeling throughput: seltda vs the paper's reference algorithm, side by side in one run.

The reference algorithm (written out below from the SelTDA code): batches of 64 images with the last
partial batch dropped, one full `generate` call per question over the batch (the images are encoded again
for every question), sampling with top-p 0.9, repetition penalty 1.1, max length 40, min length 5, fp32.
seltda: `seltda.stages.pseudolabel.pseudolabel` end to end (decoding, one `generate` per batch with
`num_return_sequences`, parsing, filters, atomic shard writes, merge). Both use the same teacher and images.
Prints images/s of both and their ratio for N = 1 and 3 questions per image; timings alternate between the
two and the median of `--repeats` is used, because this machine's timings are noisy.

    python benchmarks/pseudolabel_throughput.py --teacher runs/curve/fraction-0.05/seed-0/teacher
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from seltda.core.records import read_records
from seltda.demo import easyvqa
from seltda.demo.run import SHIPPED_PRETRAINED
from seltda.models.blip import BlipAdapter, load_vqg_model
from seltda.stages.pseudolabel import pseudolabel
from seltda.stages.pseudolabel.config import PseudoLabelConfig


def build_blip_base(out: Path) -> str:
    """A randomly initialised BLIP-base (transformers' default `BlipConfig`: ViT-B/16 at 384 px, 12-layer
    text decoder, BERT's uncased vocabulary): throughput does not depend on the weights once the generated
    length is fixed (`--new-tokens`)."""
    from transformers import BlipConfig, BlipForConditionalGeneration

    from seltda.models.tiny_blip import build_processor, build_tokenizer, bundled_vocab_file

    tokenizer = build_tokenizer(out, bundled_vocab_file().read_text(encoding="utf-8").splitlines())
    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "eos_token_id": tokenizer.sep_token_id,
    }
    torch.manual_seed(0)
    BlipForConditionalGeneration(BlipConfig(text_config=special)).save_pretrained(out)
    build_processor(tokenizer, BlipConfig().vision_config.image_size).save_pretrained(out)
    return str(out)


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@torch.inference_mode()
def reference_label(
    teacher: str, root: Path, images: list[str], per_image: int, new_tokens: int | None = None
) -> tuple[int, int]:
    """The reference algorithm (fp32; with `new_tokens`, every sequence is that long); returns (images
    labeled, generated tokens)."""
    adapter = BlipAdapter.from_pretrained(teacher)
    model = load_vqg_model(teacher).eval().to(_device())
    lengths = {"max_length": 40, "min_length": 5}
    if new_tokens:
        lengths = {"max_length": 1 + new_tokens, "min_length": 1 + new_tokens}
    batch_size = 64
    labeled = tokens = 0
    for start in range(0, len(images) - batch_size + 1, batch_size):  # drop_last=True
        batch = [Image.open(root / name).convert("RGB") for name in images[start : start + batch_size]]
        pixel_values = adapter.prepare_images(batch).to(_device())
        outputs = []
        for _ in range(per_image):  # one generate call (and one image encoding) per question
            output = model.generate(
                pixel_values=pixel_values,
                do_sample=True,
                top_p=0.9,
                repetition_penalty=1.1,
                **lengths,
            )
            outputs.append(adapter.tokenizer.batch_decode(output, skip_special_tokens=True))
            tokens += int((output != adapter.tokenizer.pad_token_id).sum())
        labeled += len(batch)
    return labeled, tokens


def seltda_label(teacher: str, root: Path, images: list[str], per_image: int, out: Path, **settings) -> dict:
    """seltda's pseudo-labeling, end to end (`settings`: `PseudoLabelConfig` fields); returns the manifest."""
    listing = out.parent / f"{out.name}.txt"
    listing.write_text("".join(f"{name}\n" for name in images))
    cfg = PseudoLabelConfig(per_image=per_image, shard_size=1024, **settings)
    return pseudolabel(teacher, root, out, cfg, listing).manifest.to_json()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--teacher", default=str(SHIPPED_PRETRAINED), help="teacher folder (default: shipped)"
    )
    parser.add_argument("--images", type=int, default=500, help="easy-VQA train images to label")
    parser.add_argument("--per-image", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seltda-batch-size", type=int, default=64, help="images per generate call (seltda)")
    parser.add_argument("--seltda-workers", type=int, default=None, help="image-decoding processes (seltda)")
    parser.add_argument(
        "--seltda-precision", default="auto", help="auto: a GPU's bf16, else a timed CPU probe (seltda)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--blip-base", action="store_true", help="teacher: a random BLIP-base (the GPU target's model)"
    )
    parser.add_argument("--new-tokens", type=int, default=None, help="fix every generated length (both)")
    parser.add_argument("--skip-reference", action="store_true", help="time seltda alone")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="pl-throughput-"))
    if args.blip_base:
        args.teacher = build_blip_base(work / "blip-base")
    lengths = {}
    if args.new_tokens:
        lengths = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
    paths = easyvqa.export(work / "data")
    images = sorted({r.image for r in read_records(paths["train"])})[: args.images]
    root = paths["image_root"]
    results = {}
    for per_image in args.per_image:
        ref_rates: list[float] = []
        our_rates: list[float] = []
        for repeat in range(args.repeats):
            if not args.skip_reference:
                start = time.perf_counter()
                labeled, _ = reference_label(args.teacher, root, images, per_image, args.new_tokens)
                ref_rates.append(labeled / (time.perf_counter() - start))
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            out = work / f"seltda-n{per_image}-r{repeat}"
            start = time.perf_counter()
            manifest = seltda_label(
                args.teacher,
                root,
                images,
                per_image,
                out,
                batch_size=args.seltda_batch_size,
                dataloader_workers=args.seltda_workers,
                precision=args.seltda_precision,
                **lengths,
            )
            our_rates.append(manifest["images"]["seen"] / (time.perf_counter() - start))
            dtypes = manifest["sampling_dtypes"]
            shutil.rmtree(out)
        ours = statistics.median(our_rates)
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
        results[per_image] = {
            "seltda_images_per_s": ours,
            "seltda_dtypes": dtypes,
            "seltda_batch_size": args.seltda_batch_size,
            "peak_gpu_memory_gib": peak,
        }
        line = f"N={per_image}: seltda {ours:.1f} img/s ({'/'.join(dtypes)}, labels all {len(images)})"
        if ref_rates:
            ref = statistics.median(ref_rates)
            results[per_image].update(reference_images_per_s=ref, ratio=ours / ref)
            per_repeat = ", ".join(f"{o / r:.2f}" for o, r in zip(our_rates, ref_rates, strict=True))
            line += (
                f", reference {ref:.1f} img/s (labels {len(images) // 64 * 64} of {len(images)}); "
                f"ratio {ours / ref:.2f}x (per repeat: {per_repeat})"
            )
        print(line + (f"; peak GPU memory {peak:.1f} GiB" if peak is not None else ""))
    print(
        json.dumps(
            {
                "teacher": args.teacher,
                "images": len(images),
                "threads": torch.get_num_threads(),
                **{f"n{k}": v for k, v in results.items()},
            },
            indent=2,
        )
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
