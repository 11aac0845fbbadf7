"""The host: CPU per core, memory, load and the run store's disk (psutil)."""

from __future__ import annotations

from pathlib import Path

import psutil

from .reading import Reading, unavailable


class HostProbe:
    source = "host"

    def __init__(self, store_path: Path):
        self.store_path = store_path
        psutil.cpu_percent(percpu=True)  # primes the counters: each sample measures an interval

    def sample(self) -> Reading:
        try:
            memory = psutil.virtual_memory()
            disk_path = self.store_path if self.store_path.exists() else Path("/")
            disk = psutil.disk_usage(str(disk_path))
            return Reading(
                self.source,
                {
                    "cpu_percent": psutil.cpu_percent(percpu=True),
                    "memory_used": memory.used,
                    "memory_total": memory.total,
                    "disk_free": disk.free,
                    "load": list(psutil.getloadavg()),
                },
            )
        except OSError as exc:
            return unavailable(self.source, f"host counters unreadable: {exc}")
