"""NVIDIA GPUs through NVML (nvidia-ml-py, in the `cuda` extra): utilisation, memory, processes."""

from __future__ import annotations

import importlib

from .reading import Reading, unavailable


class NvmlProbe:
    source = "nvidia"

    def __init__(self):
        self._nvml = None

    def _library(self):
        if self._nvml is None:
            nvml = importlib.import_module("pynvml")  # ImportError: handled by sample()
            nvml.nvmlInit()
            self._nvml = nvml
        return self._nvml

    def sample(self) -> Reading:
        try:
            nvml = self._library()
        except ImportError:
            return unavailable(
                self.source, "nvidia-ml-py is not installed (pip install 'tpudeck[cuda]')"
            )
        except Exception as exc:  # NVMLError has many subclasses; all mean "no GPU here"
            return unavailable(self.source, f"NVML did not start: {exc}")
        try:
            gpus = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
                gpus.append(
                    {
                        "index": index,
                        "name": _text(nvml.nvmlDeviceGetName(handle)),
                        "utilisation_percent": nvml.nvmlDeviceGetUtilizationRates(handle).gpu,
                        "memory_used": memory.used,
                        "memory_total": memory.total,
                        "pids": [p.pid for p in processes],
                    }
                )
        except Exception as exc:
            self._nvml = None  # start over next time: the driver may come back
            return unavailable(self.source, f"NVML query failed: {exc}")
        return Reading(self.source, {"gpus": gpus})


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
