"""Tokenise documents and pack them into fixed blocks (the HF scripts' group_texts)."""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer


def pack_blocks(texts: list[str], tokenizer: Tokenizer, eos: int, block_size: int) -> np.ndarray:
    """Documents joined with EOS and cut into [N, block_size] int32; the tail is dropped."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    lengths = [len(e.ids) + 1 for e in encodings]
    flat = np.empty(sum(lengths), dtype=np.int32)
    offset = 0
    for encoding, length in zip(encodings, lengths, strict=True):
        flat[offset : offset + length - 1] = encoding.ids
        flat[offset + length - 1] = eos
        offset += length
    n_blocks = len(flat) // block_size
    return flat[: n_blocks * block_size].reshape(n_blocks, block_size)
