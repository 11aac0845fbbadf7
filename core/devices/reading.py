"""What a probe returns: values, or the reason there are none."""

from __future__ import annotations

import dataclasses
import time


@dataclasses.dataclass(frozen=True)
class Reading:
    source: str  # "host", "nvidia", "tpu"
    values: dict | None  # None when the source is not available
    reason: str | None = None  # why not, in words a person can act on
    t: float = dataclasses.field(default_factory=time.time)

    @property
    def available(self) -> bool:
        return self.values is not None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def unavailable(source: str, reason: str) -> Reading:
    return Reading(source, None, reason)
