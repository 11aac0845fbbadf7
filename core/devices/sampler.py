"""Sampling every probe at a steady rate, off the UI loop, with a bounded history per source."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

from .host import HostProbe
from .nvidia import NvmlProbe
from .reading import Reading
from .tpu import TpuChipsProbe
from .tpu_runtime import TpuRuntimeProbe


def default_probes(store_path: Path) -> list:
    """Host, TPU chips, their runtime metrics and NVIDIA GPUs."""
    return [
        HostProbe(store_path),
        TpuChipsProbe.from_env(),
        TpuRuntimeProbe.from_env(),
        NvmlProbe(),
    ]


class Sampler:
    """`sample_once()` reads every probe; `start()` does it every `period` s on a thread."""

    def __init__(self, probes: list, period: float = 1.0, history: int = 300):
        self.probes, self.period = probes, period
        self.history: dict[str, deque[Reading]] = {p.source: deque(maxlen=history) for p in probes}
        self._stop = threading.Event()

    def sample_once(self) -> dict[str, Reading]:
        readings = {}
        for probe in self.probes:
            reading = probe.sample()
            self.history[probe.source].append(reading)
            readings[probe.source] = reading
        return readings

    def start(self, on_readings=None) -> threading.Thread:
        def loop():
            while not self._stop.is_set():
                readings = self.sample_once()
                if on_readings:
                    on_readings(readings)
                self._stop.wait(self.period)

        thread = threading.Thread(target=loop, name="device-sampler", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
