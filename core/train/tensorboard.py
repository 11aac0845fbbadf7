"""TensorBoard event files under the run's tensorboard/ (the Hub shows them as metrics).

tensorboardX writes the same format as TensorFlow without TensorFlow (flax.metrics.tensorboard
needs it).
"""

from __future__ import annotations

from pathlib import Path


class TensorBoardSink:
    """Scalars and text into `directory`; None (a process other than a run's leader) drops
    them."""

    def __init__(self, directory: Path | None):
        from ..tbx import tensorboardx

        writer = tensorboardx().SummaryWriter
        self._writer = writer(str(directory), flush_secs=10) if directory else None

    def scalars(self, prefix: str, step: int, values: dict) -> None:
        if not self._writer:
            return
        for name, value in values.items():
            if isinstance(value, (int, float)) and value is not None:
                self._writer.add_scalar(f"{prefix}/{name}", value, step)
        self._writer.flush()

    def text(self, name: str, text: str) -> None:
        if self._writer:
            self._writer.add_text(name, text, 0)

    def close(self) -> None:
        if self._writer:
            self._writer.close()
