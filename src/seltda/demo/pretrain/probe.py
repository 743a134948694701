"""Has the pretrained model learned to see? Zero-shot captions of held-out images, scored per attribute.

For single-object images never seen in pretraining (another corpus seed), the greedy caption must name the
object's shape and colour; reported overall and per shape. This is measured before any VQA run.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import torch

from seltda.core.images import batched
from seltda.demo.pretrain import corpus
from seltda.models.blip import BlipAdapter, load_vqg_model

PROBE_SEED_OFFSET = 7919


def probe_items(cfg, count: int) -> list[tuple]:
    """`count` held-out single-object corpus items (image, scene)."""
    items, index = [], 0
    while len(items) < count:
        image, _, _, scene = corpus.item(cfg.corpus_seed + PROBE_SEED_OFFSET, index, cfg.tiny.image_size)
        index += 1
        if len(scene.things) == 1:
            items.append((image, scene.things[0]))
    return items


def probe(model_dir: Path, cfg, batch_size: int = 100) -> dict:
    """Shape and colour accuracy of zero-shot captions on held-out images."""
    adapter = BlipAdapter.from_pretrained(str(model_dir), max_target_tokens=20)
    model = load_vqg_model(str(model_dir)).eval()
    items = probe_items(cfg, cfg.probe_images)
    hits: dict[str, list[float]] = defaultdict(list)
    examples = []
    for chunk in batched(items, batch_size):
        with torch.inference_mode():
            ids = model.generate(
                pixel_values=adapter.prepare_images([image for image, _ in chunk]),
                max_new_tokens=20,
                do_sample=False,
            )
        for (_, thing), text in zip(
            chunk, adapter.tokenizer.batch_decode(ids, skip_special_tokens=True), strict=True
        ):
            words = set(re.findall(r"[a-z]+", text.lower()))
            shape_ok = float(thing.shape in words)
            hits["shape"].append(shape_ok)
            hits["color"].append(float(thing.color in words))
            hits[f"shape/{thing.shape}"].append(shape_ok)
            if len(examples) < 10:
                examples.append({"truth": f"{thing.color} {thing.shape}", "caption": text})
    summary = {key: round(100 * sum(v) / len(v), 2) for key, v in sorted(hits.items())}
    return {
        "images": len(items),
        "shape_accuracy": summary.pop("shape"),
        "color_accuracy": summary.pop("color"),
        "chance_shape": round(100 / len(corpus.SHAPES), 2),
        "per_shape": {k.split("/", 1)[1]: v for k, v in summary.items()},
        "examples": examples,
    }
