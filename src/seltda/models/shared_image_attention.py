"""BLIP's text decoder attending to each image once for its N sampled questions.

With N samples per image, transformers repeats every image encoding N times, so each decoding step's
cross-attention reads N identical copies of the image's keys and values (and the first step projects
them N times). `SharedImageCrossAttention` computes the N rows of one image together against one copy:
the same numbers (tests: identical samples) with N times less cross-attention cache memory and traffic
(figures in docs/benchmarks.md). It replaces the decoder's cross-attention modules only inside
`shared_image_attention`, and only when they have the structure it was written for.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn
from transformers.cache_utils import EncoderDecoderCache

_NEEDED = ("query", "key", "value", "num_attention_heads", "attention_head_size", "layer_idx")


class SharedImageCrossAttention(nn.Module):
    """Cross-attention for rows grouped by image (rows i*N .. i*N+N-1 belong to image i) against
    `encoder_hidden_states` holding each image once; wraps (and shares the weights of) BLIP's module."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        # (the image states, their keys, their values) of the last step: BLIP's text decoder hands its
        # cross-attention no encoder-decoder cache (transformers 5.x), so without this every decoding
        # step would project the same image states again (a quarter of N = 1 sampling time on a CPU)
        self._projected: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _keys_values(
        self, encoder_hidden_states: torch.Tensor, past_key_values: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The image keys and values, projected at the first step and read from the cache afterwards
        (the encoder-decoder cache when the decoder passes one, else the last step's projection of the
        very same image states: `generate` hands the same tensor to every step)."""
        inner = self.inner
        cache = past_key_values if isinstance(past_key_values, EncoderDecoderCache) else None
        if cache is not None and cache.is_updated.get(inner.layer_idx):
            layer = cache.cross_attention_cache.layers[inner.layer_idx]
            return layer.keys, layer.values
        if cache is None and self._projected is not None and self._projected[0] is encoder_hidden_states:
            return self._projected[1], self._projected[2]
        shape = (*encoder_hidden_states.shape[:-1], inner.num_attention_heads, inner.attention_head_size)
        key = inner.key(encoder_hidden_states).view(shape).transpose(1, 2)
        value = inner.value(encoder_hidden_states).view(shape).transpose(1, 2)
        if cache is not None:
            key, value = cache.cross_attention_cache.update(key, value, inner.layer_idx)
            cache.is_updated[inner.layer_idx] = True
        elif not torch.is_grad_enabled():  # generation only: a training step's states change in place
            self._projected = (encoder_hidden_states, key, value)
        return key, value

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        past_key_values: object = None,
        **kwargs: object,
    ) -> tuple[torch.Tensor, None]:
        heads, size = self.inner.num_attention_heads, self.inner.attention_head_size
        key, value = self._keys_values(encoder_hidden_states, past_key_values)
        rows, length, _ = hidden_states.shape
        images = key.shape[0]
        group = rows // images
        query = self.inner.query(hidden_states).view(images, group, length, heads, size)
        query = query.permute(0, 3, 1, 2, 4).reshape(images, heads, group * length, size)
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(size)
        if attention_mask is not None and attention_mask.shape[0] == images:  # (images, 1, 1, keys)
            scores = scores + attention_mask.to(scores.dtype)
        context = torch.matmul(scores.softmax(dim=-1), value).view(images, heads, group, length, size)
        return context.permute(0, 2, 3, 1, 4).reshape(rows, length, heads * size), None


def _cross_attention_holders(text_decoder: nn.Module) -> list[nn.Module] | None:
    """The decoder layers' cross-attention wrappers, or None when the structure is not BLIP's."""
    layers = getattr(getattr(getattr(text_decoder, "bert", None), "encoder", None), "layer", None)
    generation = getattr(text_decoder, "generation_config", None)
    if not layers or getattr(generation, "cache_implementation", None) is not None:
        return None  # a preallocated (static) cache would hold N rows per image
    holders = [getattr(layer, "crossattention", None) for layer in layers]
    if any(h is None or not all(hasattr(h.self, name) for name in _NEEDED) for h in holders):
        return None
    return holders


@contextlib.contextmanager
def shared_image_attention(text_decoder: nn.Module) -> Iterator[bool]:
    """Within the block, BLIP's text decoder takes each image's encoding once for its N rows (yields
    True); yields False, changing nothing, for a decoder of another structure (then repeat the encodings)."""
    holders = _cross_attention_holders(text_decoder)
    if holders is None:
        yield False
        return
    originals = [holder.self for holder in holders]
    try:
        for holder, original in zip(holders, originals, strict=True):
            holder.self = SharedImageCrossAttention(original)
        yield True
    finally:
        for holder, original in zip(holders, originals, strict=True):
            holder.self = original
