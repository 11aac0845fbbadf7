"""--streaming: the training rows read as a stream (a 🤗 datasets IterableDataset),
tokenised and packed into blocks as the steps ask for them. Nothing is written to the block
cache and nothing is read ahead beyond a few rows, so a corpus larger than the disk trains.

Blocks are the packed ones of token_blocks.py (documents joined with the separator, cut
into blocks), in the stream's order; at its end the next epoch reads it again.
ShuffledStream shuffles them within windows, as a shuffle buffer would. Where the
stream stands (its epoch, the dataset's own position, the tokens not yet in a block) is
`state()`, saved with every checkpoint: `restore(state)` continues exactly there, so a
resume trains on the blocks the uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tokenizers import Tokenizer

from ..errors import DataError
from .token_blocks import packed_ids

ROWS_PER_READ = 32  # texts tokenised at once: the carried tokens stay a few documents long


class TokenStream:
    """Blocks of [block_size] int32 from `open_rows(epoch)` (the stream's rows, from the
    start), its `column` tokenised by `tokenizer` and joined by `separator` (or framed by
    the tokenizer's special tokens: token_blocks.packed_ids)."""

    def __init__(self, open_rows: Callable[[int], object], column: str, tokenizer: Tokenizer,
                 separator: int | None, block_size: int):  # fmt: skip
        self._open, self.column, self.tokenizer = open_rows, column, tokenizer
        self.separator, self.block_size = separator, block_size
        self.epoch, self._carry = 0, np.zeros(0, np.int32)
        self._rows = self._batches = None

    def take(self, count: int) -> np.ndarray:
        """The next `count` blocks, [count, block_size]."""
        needed = count * self.block_size
        while len(self._carry) < needed:
            self._read()
        blocks, self._carry = self._carry[:needed], self._carry[needed:]
        return blocks.reshape(count, self.block_size)

    def _read(self) -> None:
        if self._batches is None:
            self._start(self.epoch)
        for texts in self._batches:
            texts = [t for t in texts.get(self.column, ()) if isinstance(t, str) and t.strip()]
            if texts:
                ids = packed_ids(self.tokenizer, texts, self.separator)
                self._carry = np.concatenate([self._carry, ids])
                self._texts_read = True
                return
        if not self._texts_read:  # a whole epoch without text: it would loop for ever
            raise DataError(f"the training stream has no text in column {self.column!r}")
        self.epoch += 1
        self._start(self.epoch)

    def _start(self, epoch: int, position: dict | None = None) -> None:
        self._rows = self._open(epoch)
        if position is not None:
            self._rows.load_state_dict(position)
        self._batches = iter(self._rows.iter(batch_size=ROWS_PER_READ))
        self._texts_read = position is not None  # a resumed epoch had text before

    def state(self) -> dict:
        """Where the stream stands, as JSON: a checkpoint's data position."""
        if self._rows is None:
            self._start(self.epoch)
        return {"epoch": self.epoch, "rows": self._rows.state_dict(),
                "carry": self._carry.tolist()}  # fmt: skip

    def restore(self, state: dict) -> None:
        self.epoch, self._carry = state["epoch"], np.asarray(state["carry"], np.int32)
        self._start(self.epoch, state["rows"])


class ShuffledStream:
    """A TokenStream's blocks shuffled within windows of `window` blocks, each window's
    order drawn from (seed, the window's number): the order is a function of the seed and
    the data, and the position small to save (where the stream stood when the window began,
    its number, how far into it); a restore re-reads that one window."""

    def __init__(self, stream: TokenStream, window: int, seed: int):
        self.stream, self.window, self.seed = stream, window, seed
        self._number, self._index = -1, window  # no window read yet
        self._began = self._blocks = self._order = None

    @property
    def epoch(self) -> int:
        return self.stream.epoch

    def take(self, count: int) -> np.ndarray:
        parts = []
        while count:
            if self._index == self.window:
                self._read_window(self._number + 1)
            n = min(count, self.window - self._index)
            parts.append(self._blocks[self._order[self._index : self._index + n]])
            self._index, count = self._index + n, count - n
        return np.concatenate(parts)

    def _read_window(self, number: int) -> None:
        self._began, self._number = self.stream.state(), number
        self._blocks = self.stream.take(self.window)
        self._order = np.random.default_rng([self.seed, number]).permutation(self.window)
        self._index = 0

    def state(self) -> dict:
        if self._blocks is None:  # nothing taken: the first window starts here
            return {"window_began": self.stream.state(), "window": 0, "index": 0}
        return {"window_began": self._began, "window": self._number, "index": self._index}

    def restore(self, state: dict) -> None:
        self.stream.restore(state["window_began"])
        self._read_window(state["window"])
        self._index = state["index"]
