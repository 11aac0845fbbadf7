"""Packed token blocks on disk: a corpus tokenised once, batch by batch in bounded memory,
into a flat int32 file that training reads memory-mapped, and that the next launch (or a
resume) on the same data, tokenizer and block size finds again instead of tokenising anew.

The texts come from a 🤗 Dataset (Arrow, itself memory-mapped), never a whole-corpus list;
the tokenizers library spreads each batch over the cores. Documents are joined with the
separator and cut into blocks, the tail dropped: the HF scripts' group_texts, without
Python lists of tokens.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

BATCH_ROWS = 10_000  # texts tokenised at once: ~10 MB of text at most in memory
# (texts done, texts in all), at most once a second
Progress = Callable[[int, int], None]


def text_batches(ds, column: str, rows: int = BATCH_ROWS) -> Iterator[list[str]]:
    """The column's non-blank texts, a batch at a time."""
    for batch in ds.select_columns([column]).iter(batch_size=rows):
        texts = [t for t in batch[column] if isinstance(t, str) and t.strip()]
        if texts:
            yield texts


def blocks_key(ds, column: str, tokenizer: Tokenizer, separator: int, block_size: int) -> str:
    """What the packed blocks depend on: the rows (datasets' fingerprint, which follows the
    files, their revision and every select), the column, the tokenizer, the packing."""
    digest = hashlib.sha256()
    for part in (ds._fingerprint, column, tokenizer.to_str(), separator, block_size):
        digest.update(str(part).encode() + b"\0")
    return digest.hexdigest()[:32]


def packed_blocks(ds, column: str, tokenizer: Tokenizer, separator: int, block_size: int,
                  cache: Path, progress: Progress | None = None) -> np.ndarray:  # fmt: skip
    """[N, block_size] int32 blocks of the dataset's texts, memory-mapped from `cache`
    (written first if no earlier launch wrote them)."""
    key = blocks_key(ds, column, tokenizer, separator, block_size)
    path = Path(cache, f"{key}.int32")
    if not path.is_file():
        _write(text_batches(ds, column), len(ds), tokenizer, separator, path, progress)
    blocks = path.stat().st_size // 4 // block_size
    if blocks == 0:
        return np.zeros((0, block_size), np.int32)
    return np.memmap(path, np.int32, "r", shape=(blocks, block_size))


def _write(batches, rows: int, tokenizer: Tokenizer, separator: int, path: Path,
           progress: Progress | None) -> None:  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")  # whole files only, by rename
    done, reported = 0, 0.0
    with open(partial, "wb") as out:
        for texts in batches:
            encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
            out.write(_joined(encodings, separator).tobytes())
            done += len(texts)
            if progress and time.monotonic() - reported >= 1:
                reported = time.monotonic()
                progress(done, rows)
    os.replace(partial, path)


def _joined(encodings, separator: int) -> np.ndarray:
    """The documents' ids, each followed by the separator."""
    lengths = np.fromiter((len(e.ids) + 1 for e in encodings), np.int64, len(encodings))
    flat = np.full(int(lengths.sum()), separator, np.int32)
    ends = np.cumsum(lengths)
    for encoding, end, length in zip(encodings, ends, lengths, strict=True):
        flat[end - length : end - 1] = encoding.ids
    return flat
