"""Follow TensorBoard event files as a script writes them, and turn scalars into events.

A user's own script (a copy of run_clm_flax.py, say) reports only through TensorBoard and
stdout; this is how its loss reaches our screens. Record framing: u64 length, u32 crc,
payload, u32 crc; payload is an Event protobuf (tensorboardX ships the generated code).
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..tbx import tensorboardx

event_pb2 = tensorboardx("tensorboardX.proto.event_pb2")

# HF Flax scripts log "train_loss", "train_learning_rate", "eval_loss", ...; ours "train/loss".
_RENAMES = {"learning_rate": "lr", "time": None}


def _split(tag: str) -> tuple[str, str]:
    for sep in ("/", "_"):
        prefix, _, name = tag.partition(sep)
        if prefix in ("train", "eval") and name:
            return prefix, name
    return "train", tag


def _scalar(value) -> float | None:
    if value.HasField("simple_value"):
        return value.simple_value
    tensor = value.tensor  # TF2 summaries (flax.metrics.tensorboard) write scalar tensors
    if tensor.float_val:
        return tensor.float_val[0]
    if tensor.double_val:
        return tensor.double_val[0]
    if tensor.tensor_content and tensor.dtype == 1:  # DT_FLOAT
        return struct.unpack("<f", tensor.tensor_content[:4])[0]
    return None


class TensorBoardTail:
    """Reads new records of every event file under a directory; partial records wait."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.offsets: dict[Path, int] = {}
        self._pending: list[tuple[str, int, str, float]] = []

    def read_events(self, final: bool = False) -> list[tuple[str, dict]]:
        """New ("step"|"eval", fields) events. A step is held back until a later step shows
        up (or `final`), since its scalars may straddle two reads."""
        self._pending += self.read_scalars()
        if not self._pending:
            return []
        newest = max(step for _, step, _, _ in self._pending)
        ready = [s for s in self._pending if final or s[1] < newest]
        self._pending = [s for s in self._pending if not (final or s[1] < newest)]
        return scalars_to_events(ready)

    def read_scalars(self) -> list[tuple[str, int, str, float]]:
        """New (kind, step, name, value) tuples; kind is "train" or "eval"."""
        found = []
        for path in sorted(self.directory.rglob("events.out.tfevents.*")):
            with open(path, "rb") as f:
                f.seek(self.offsets.get(path, 0))
                data = f.read()
            used = 0
            while len(data) - used >= 12:
                (length,) = struct.unpack("<Q", data[used : used + 8])
                end = used + 12 + length + 4
                if end > len(data):
                    break  # the writer is mid-record
                event = event_pb2.Event.FromString(data[used + 12 : used + 12 + length])
                for value in event.summary.value:
                    number = _scalar(value)
                    if number is not None:
                        kind, name = _split(value.tag)
                        name = _RENAMES.get(name, name)
                        if name:
                            found.append((kind, event.step, name, number))
                used = end
            self.offsets[path] = self.offsets.get(path, 0) + used
        return found


def scalars_to_events(scalars) -> list[tuple[str, dict]]:
    """Group scalars by (kind, step) into ("step"|"eval", fields) events, in step order."""
    grouped: dict[tuple[str, int], dict] = {}
    for kind, step, name, value in scalars:
        grouped.setdefault((kind, step), {"step": step})[name] = value
    return [
        ("step" if k == "train" else "eval", f)
        for (k, _), f in sorted(grouped.items(), key=lambda x: x[0][1])
    ]
