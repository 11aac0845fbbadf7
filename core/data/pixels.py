"""Images decoded when a batch asks for them, not all at the start: [N, size, size, 3]
uint8 as the trainer indexes it (a step's rows, an evaluation's slice), each row read,
made RGB and resized on a pool of threads (Pillow lets go of the GIL while it decodes and
resizes). The trainer builds step N's batch while the device runs step N-1, so the
decoding stays ahead of the device; host memory holds a batch of pixels, not a dataset.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import UnidentifiedImageError

from ..errors import DataError
from .image_folder import to_pixels


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="decode")


class Pixels:
    """Rows of `read(i)` (a Pillow image; OSError or Pillow's UnidentifiedImageError if it
    cannot be read, which `unreadable(i)` says in the error) as a uint8 array."""

    dtype = np.dtype(np.uint8)

    def __init__(self, read: Callable[[int], object], unreadable: Callable[[int], str],
                 size: int, rows: np.ndarray):  # fmt: skip
        self._read, self._unreadable, self.size, self._rows = read, unreadable, size, rows

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._rows), self.size, self.size, 3)

    def __len__(self) -> int:
        return len(self._rows)

    def take(self, rows) -> Pixels:
        """These rows, still undecoded (a split of the data)."""
        return Pixels(self._read, self._unreadable, self.size, self._rows[rows])

    def __getitem__(self, key) -> np.ndarray:
        rows = self._rows[key]
        if rows.ndim == 0:
            return self._pixels(int(rows))
        decoded = list(_pool().map(self._pixels, rows.tolist()))
        return np.stack(decoded) if decoded else np.zeros((0, *self.shape[1:]), np.uint8)

    def _pixels(self, row: int) -> np.ndarray:
        try:
            return to_pixels(self._read(row), self.size)
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"{self._unreadable(row)} ({exc}); fix or remove it") from None
