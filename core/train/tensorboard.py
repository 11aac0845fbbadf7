"""TensorBoard event files under the run's tensorboard/ (the Hub shows them as metrics).

tensorboardX writes the same format as TensorFlow without TensorFlow (flax.metrics.tensorboard
needs it).
"""

from __future__ import annotations

from pathlib import Path


class TensorBoardSink:
    def __init__(self, directory: Path):
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(str(directory), flush_secs=10)

    def scalars(self, prefix: str, step: int, values: dict) -> None:
        for name, value in values.items():
            if isinstance(value, (int, float)) and value is not None:
                self._writer.add_scalar(f"{prefix}/{name}", value, step)
        self._writer.flush()

    def text(self, name: str, text: str) -> None:
        self._writer.add_text(name, text, 0)

    def close(self) -> None:
        self._writer.close()
