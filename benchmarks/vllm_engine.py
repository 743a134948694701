"""Pseudo-labeling's two engines side by side in one run: transformers (`HfEngine`: one prefill per image,
`NucleusSampler`) vs vLLM (`VllmEngine`), on one tiny Idefics3 teacher folder whose prompt holds 256 image
tokens (128 px images, 8 px patches, no pixel shuffle), with SmolLM2's tokenizer and a language model whose
output layer is scaled so that its next-token distribution is peaked as a trained model's. Every sample
runs to `--max-new-tokens` (min = max). Each repeat draws new random images for both engines (vLLM would
otherwise reuse its cached prompts). The transformers engine gets the processor's output ready-made (a
loader worker's job); vLLM runs the processor inside `generate`, so its time includes it.

Run in the vLLM venv (`make test-vllm` builds it):

    VLLM_ENABLE_V1_MULTIPROCESSING=0 OMP_NUM_THREADS=1 .venv-vllm/bin/python benchmarks/vllm_engine.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from chat_prefill import VISION, smollm2_tokenizer, text_config  # the same tiny language model
from PIL import Image
from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.pseudolabel.engines import HfEngine
from seltda.stages.pseudolabel.vllm_engine import VllmEngine

IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def tiny_idefics3(out: Path, hidden: int, layers: int, logit_scale: float = 32.0) -> Path:
    """A random Idefics3 folder with 256 image tokens per prompt, its output layer scaled by `logit_scale`."""
    tokenizer = smollm2_tokenizer(["<fake_token_around_image>", "<image>", "<end_of_utterance>"])
    images = Idefics3ImageProcessorPil(
        size={"longest_edge": 128}, max_image_size={"longest_edge": 128}, do_image_splitting=False
    )
    processor = Idefics3Processor(images, tokenizer, image_seq_len=256, chat_template=IDEFICS3_TEMPLATE)
    torch.manual_seed(0)
    config = Idefics3Config(
        vision_config=dict(VISION, image_size=128, patch_size=8),
        text_config=text_config(tokenizer, hidden, layers),
        image_token_id=processor.image_token_id,
        scale_factor=1,
    )
    model = Idefics3ForConditionalGeneration(config).eval()
    with torch.no_grad():  # confident as a trained model: a nucleus of a few tokens, not the whole vocabulary
        model.lm_head.weight.mul_(logit_scale)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--per-image", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    folder = tiny_idefics3(Path(tempfile.mkdtemp()) / "teacher", args.hidden, args.layers)
    cfg = PseudoLabelConfig(
        per_image=args.per_image,
        max_new_tokens=args.max_new_tokens,
        min_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        precision="fp32",
    )
    vllm = VllmEngine.load(str(folder), cfg, torch.float32)
    hf = HfEngine(Idefics3ForConditionalGeneration.from_pretrained(folder).eval(), vllm.adapter)
    rng = np.random.default_rng(0)

    def run(engine, seed: int) -> float:
        pictures = [
            Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)) for _ in range(args.images)
        ]
        names = [f"{seed}-{i}.png" for i in range(args.images)]
        chunks = [slice(start, start + args.batch_size) for start in range(0, args.images, args.batch_size)]
        inputs = [engine.prepare(pictures[chunk]) for chunk in chunks]  # a loader worker's share: untimed
        torch.manual_seed(seed)
        start = time.perf_counter()
        for chunk, prepared in zip(chunks, inputs, strict=True):
            samples = engine.sample(names[chunk], prepared, cfg, seed)
            assert all(len(s) == args.per_image for s in samples)
        return args.images / (time.perf_counter() - start)

    prompt = vllm.llm.generate(
        [{"prompt": vllm.prompt, "multi_modal_data": {"image": Image.new("RGB", (128, 128))}}], use_tqdm=False
    )[0].prompt_token_ids
    print(f"prompt: {len(prompt)} tokens")
    run(hf, 0), run(vllm, 0)  # warm-up
    rates: dict[str, list[float]] = {"hf": [], "vllm": []}
    for repeat in range(args.repeats):
        rates["hf"].append(run(hf, repeat + 1))
        rates["vllm"].append(run(vllm, repeat + 1))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, value in medians.items():
        print(f"{name}: {value:.2f} images/s (repeats: {', '.join(f'{v:.2f}' for v in rates[name])})")
    print(f"ratio (vllm / hf): {medians['vllm'] / medians['hf']:.2f}x")


if __name__ == "__main__":
    main()
