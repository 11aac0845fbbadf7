"""Token blocks on disk: a corpus tokenised once, batch by batch in bounded memory, into a
flat int32 file that training reads memory-mapped, and that the next launch (or a resume)
on the same data, tokenizer and block size finds again instead of tokenising anew.

The texts come from a 🤗 Dataset (Arrow, itself memory-mapped), never a whole-corpus list;
the tokenizers library spreads each batch over the cores. Packed (the HF scripts'
group_texts, without Python lists of tokens): documents are joined with the separator, or
each framed by the tokenizer's special tokens (run_mlm_flax.py's <s> ... </s>), and cut
into blocks, the tail dropped. Line by line (run_mlm_flax.py's --line_by_line): each
text one block, framed with the tokenizer's special tokens, truncated and padded.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from ..errors import is_disk_full
from . import block_cache

BATCH_ROWS = 10_000  # texts tokenised at once: ~10 MB of text at most in memory
FIRST_BATCH_ROWS = 1_000  # ... when only the first blocks are wanted: stop soon after them
# (texts done, texts in all), at most once a second
Progress = Callable[[int, int], None]


def text_batches(ds, column: str, rows: int = BATCH_ROWS) -> Iterator[list[str]]:
    """The column's non-blank texts, a batch at a time."""
    for batch in ds.select_columns([column]).iter(batch_size=rows):
        texts = [t for t in batch[column] if isinstance(t, str) and t.strip()]
        if texts:
            yield texts


def blocks_key(ds, column: str, tokenizer: Tokenizer, separator: int | None,
               block_size: int) -> str:  # fmt: skip
    """What the blocks depend on: the rows (datasets' fingerprint, which follows the files,
    their revision and every select), the column, the tokenizer (its framing, truncation
    and padding too), the packing."""
    digest = hashlib.sha256()
    for part in (ds._fingerprint, column, tokenizer.to_str(), separator, block_size):
        digest.update(str(part).encode() + b"\0")
    return digest.hexdigest()[:32]


def packed_blocks(ds, column: str, tokenizer: Tokenizer, separator: int | None,
                  block_size: int, cache: Path, progress: Progress | None = None,
                  first: int | None = None) -> np.ndarray:  # fmt: skip
    """[N, block_size] int32 blocks of the dataset's texts (packed_ids), memory-mapped
    from `cache` (written first if no earlier launch wrote them). With `first`, at least
    the first that many of them: their own file (the same bytes as the start of the
    whole one) unless the whole one is there."""

    def encode(texts: list[str]) -> np.ndarray:
        return packed_ids(tokenizer, texts, separator)

    key = blocks_key(ds, column, tokenizer, separator, block_size)
    # About one int32 token per 4 bytes of text: blocks take about what the text takes.
    needs = text_bytes(ds, column)
    return _cached(ds, column, encode, block_size, cache, key, progress, needs, first)


def line_blocks(ds, column: str, tokenizer: Tokenizer, pad: int, length: int, cache: Path,
                progress: Progress | None = None, first: int | None = None) -> np.ndarray:  # fmt: skip
    """[N, length] int32: each text framed with the tokenizer's special tokens (its
    post-processor's: <s> ... </s>, [CLS] ... [SEP]), truncated to `length` and padded
    with `pad` on the right, memory-mapped from `cache` (and `first` taken) as
    packed_blocks' are."""
    rows = Tokenizer.from_str(tokenizer.to_str())  # the run's own stays unbounded
    rows.enable_truncation(length)
    rows.enable_padding(pad_id=pad, pad_token=rows.id_to_token(pad), length=length)

    def encode(texts: list[str]) -> np.ndarray:
        return np.array([e.ids for e in rows.encode_batch(texts)], np.int32)

    key = blocks_key(ds, column, rows, pad, length)
    needs = len(ds) * length * 4
    return _cached(ds, column, encode, length, cache, key, progress, needs, first)


def text_bytes(ds, column: str) -> int:
    """About how many bytes of text the dataset's rows hold (its share of the Arrow table
    under it, when it is a selection of that table's rows)."""
    table = ds.data
    share = len(ds) / max(1, table.num_rows)
    return int(table.column(column).nbytes * share)


def _cached(ds, column: str, encode: Callable[[list[str]], np.ndarray], block_size: int,
            cache: Path, key: str, progress: Progress | None, needs: int,
            first: int | None) -> np.ndarray:  # fmt: skip
    """The blocks of `key` in the cache, written first if missing (`needs`: about how many
    bytes); with `first`, the whole file if there, else one of the first blocks."""
    path, stop_at = Path(cache, f"{key}.int32"), None
    if first is not None and not path.is_file():
        path, stop_at = Path(cache, f"{key}.first-{first}.int32"), first * block_size
        needs = min(needs, stop_at * 4)
    if path.is_file():
        block_cache.mark_used(path)
    else:
        block_cache.check_room(path.parent, needs)
        rows = FIRST_BATCH_ROWS if stop_at else BATCH_ROWS
        _write(text_batches(ds, column, rows), len(ds), encode, path, progress, stop_at)
        block_cache.prune(path.parent, keep=path)
    blocks = path.stat().st_size // 4 // block_size
    if blocks == 0:
        return np.zeros((0, block_size), np.int32)
    return np.memmap(path, np.int32, "r", shape=(blocks, block_size))


def _write(batches, rows: int, encode: Callable[[list[str]], np.ndarray], path: Path,
           progress: Progress | None, stop_at: int | None) -> None:  # fmt: skip
    """Tokenise the batches into `path`, all of them or until `stop_at` tokens are in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")  # whole files only, by rename
    done, tokens, reported = 0, 0, 0.0
    try:
        with open(partial, "wb") as out:
            for texts in batches:
                ids = encode(texts)
                out.write(ids.tobytes())
                done, tokens = done + len(texts), tokens + ids.size
                if stop_at is not None and tokens >= stop_at:
                    break
                if progress and time.monotonic() - reported >= 1:
                    reported = time.monotonic()
                    progress(done, rows)
        os.replace(partial, path)
    except BaseException as exc:
        partial.unlink(missing_ok=True)  # half a file is worth nothing, and takes the room
        code = getattr(exc, "errno", None)
        if is_disk_full(exc) or code == errno.EFBIG:  # EFBIG: a file-size limit, as full
            why = f"{os.strerror(code or errno.ENOSPC).lower()} after {done:,} texts"
            raise block_cache.no_room(path.parent, why) from None
        raise


def packed_ids(tokenizer: Tokenizer, texts: list[str], separator: int | None) -> np.ndarray:
    """The texts' ids end to end, each followed by `separator`; or with None, each framed
    as the tokenizer frames a text (its post-processor's <s> ... </s>), as
    run_mlm_flax.py's tokenizer call frames every text before group_texts joins them."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=separator is None)
    tail = [] if separator is None else [separator]
    # One pass over each text's ids, straight into the array: reading `.ids` builds a list.
    return np.fromiter(itertools.chain.from_iterable(e.ids + tail for e in encodings), np.int32)
