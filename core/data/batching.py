"""Deterministic batch order: the examples of any step are a pure function of (seed, step).

That is what makes resume exact: restoring the step restores the data position. A stream
(--streaming) has no random access: its position is saved with each checkpoint instead.
"""

from __future__ import annotations

import numpy as np

ALL = slice(None)  # every device's rows: the one process of a single-host run
SHUFFLE_WINDOW = 4096  # blocks a stream is shuffled within: 8 MB of 512-token blocks


class StepBatches:
    """Shuffled-per-epoch batches of a dict of equally long example arrays."""

    def __init__(self, examples: dict[str, np.ndarray], global_batch: int, seed: int):
        self.examples = examples
        self.n_examples = len(next(iter(examples.values())))
        self.global_batch = global_batch
        self.seed = seed
        self.steps_per_epoch = self.n_examples // global_batch
        self._order_epoch, self._order = -1, None

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch index within it) of a step."""
        return divmod(step, self.steps_per_epoch)

    def indices(self, step: int) -> np.ndarray:
        epoch, index = self.position(step)
        if epoch != self._order_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order, self._order_epoch = rng.permutation(self.n_examples), epoch
        return self._order[index * self.global_batch : (index + 1) * self.global_batch]

    def batch(self, step: int, shape: tuple[int, ...], rows: slice = ALL) -> dict[str, np.ndarray]:
        """The step's examples, leading axis reshaped to `shape` (e.g. devices, accum, batch);
        of a run of several processes, only the `rows` of the devices this one feeds."""
        idx = np.sort(self.indices(step))  # sorted reads are faster; order within a step is moot
        idx = idx.reshape(shape[0], -1)[rows].ravel()  # this process's devices' examples only
        return {k: v[idx].reshape(-1, *shape[1:], *v.shape[1:]) for k, v in self.examples.items()}

    def state(self, step: int) -> dict:
        """The data position after `step` steps, for a checkpoint's metadata."""
        epoch, index = self.position(step)
        return {"epoch": epoch, "batch_in_epoch": index}

    def restore(self, state: dict) -> None:
        """Nothing to do: the step alone says where the data stands."""


class StreamBatches:
    """Batches of a TokenStream (--streaming), "input_ids" only, shuffled within windows of
    SHUFFLE_WINDOW blocks (or 8 global batches, if more), asked for step after step (the
    same step twice gives the same batch: compiling reads the first one)."""

    n_examples = steps_per_epoch = None  # a stream's length is known at its end only

    def __init__(self, examples: dict, global_batch: int, seed: int):
        from .token_stream import ShuffledStream

        window = max(SHUFFLE_WINDOW, 8 * global_batch)
        self.stream = ShuffledStream(examples["input_ids"], window, seed)
        self.global_batch = global_batch
        self._last: tuple[int, np.ndarray] | None = None

    def batch(self, step: int, shape: tuple[int, ...], rows: slice = ALL) -> dict[str, np.ndarray]:
        if self._last is None or self._last[0] != step:  # every process reads the whole stream
            self._last = (step, self.stream.take(self.global_batch))
        return {"input_ids": self._last[1].reshape(*shape, -1)[rows]}

    def position(self, step: int) -> tuple[int, int]:
        return self.stream.epoch, step

    def state(self, step: int) -> dict:
        return {"epoch": self.stream.epoch, "stream": self.stream.state()}

    def restore(self, state: dict) -> None:
        self.stream.restore(state["stream"])
        self._last = None  # a batch read before (the step's compile) is not this position's


def step_batches(examples: dict, global_batch: int, seed: int):
    """StreamBatches for a stream's examples, else StepBatches."""
    from .token_stream import TokenStream

    streamed = isinstance(examples.get("input_ids"), TokenStream)
    return (StreamBatches if streamed else StepBatches)(examples, global_batch, seed)


def eval_batches(examples: dict[str, np.ndarray], shape: tuple[int, ...], rows: slice = ALL):
    """Every example once, in order; the last batch is padded and has weight 0 on padding.
    Of a run of several processes, the `rows` of the devices this one feeds."""
    n = len(next(iter(examples.values())))
    size = int(np.prod(shape))
    for start in range(0, n, size):
        stop = min(start + size, n)
        weights = np.zeros(size, np.float32)
        weights[: stop - start] = 1.0
        batch = {}
        for key, value in examples.items():
            chunk = np.zeros((size, *value.shape[1:]), value.dtype)
            chunk[: stop - start] = value[start:stop]
            batch[key] = chunk.reshape(*shape, *value.shape[1:])
        batch["weights"] = weights.reshape(shape)
        yield {key: value[rows] for key, value in batch.items()}
