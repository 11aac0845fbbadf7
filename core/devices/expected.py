"""How many devices jax will start with, known without starting it.

The Launch screen sizes the global batch with this, and the trainer checks the batch
against it before taking the accelerator: the CPU count comes from XLA_FLAGS, TPU chips
from sysfs (on v2/v3 a chip is two jax devices). A GPU count is known only to jax.
"""

from __future__ import annotations

import os
import re

from .tpu import TpuChipsProbe

_CPU_COUNT = re.compile(r"--xla_force_host_platform_device_count=(\d+)")


def expected_devices(platform: str = "auto") -> tuple[int | None, str]:
    """(device count or None when only jax can tell, where they are) for `platform`."""
    chosen = platform
    if platform == "auto":
        chosen = os.environ.get("JAX_PLATFORMS", "").split(",")[0] or None
    if chosen in ("tpu", None):
        reading = TpuChipsProbe.from_env().sample()
        if reading.available:
            chips = reading.values["chips"]
            count = sum(chip["jax_devices"] for chip in chips)
            return count, f"{len(chips)} TPU {chips[0]['kind']} chips"
        if chosen == "tpu":
            return None, "TPU"
    if chosen in ("cpu", None):
        found = _CPU_COUNT.search(os.environ.get("XLA_FLAGS", ""))
        return (int(found[1]), "XLA_FLAGS host devices") if found else (1, "CPU")
    return None, chosen.upper()
