"""Where a model is tried: on the accelerator only when nobody uses it or waits for it (no
run holds the lock, none is queued, no process outside tpudeck holds the device), under
the same lock as a run so none can start on it meanwhile; else on the CPU, saying why.
Decided before jax is imported, which reads JAX_PLATFORMS once."""

from __future__ import annotations

import os
from pathlib import Path

from ..runs.guard import describe_foreign, describe_holder
from ..runs.holders import HolderScan
from ..runs.lock import AcceleratorLock
from ..runs.queue import RunQueue


def place(home: Path, scan: HolderScan | None = None) -> tuple[AcceleratorLock | None, str | None]:
    """(the lock, held by this process until it is released, or None; a note for the user
    when the model goes to the CPU)."""
    lock = AcceleratorLock(home)
    foreign = describe_foreign((scan or HolderScan.from_env()).scan())
    waiting = len(RunQueue(home).entries())
    if foreign is None and not waiting and lock.try_acquire(f"try-{os.getpid()}"):
        return lock, None
    holder = lock.holder()
    if holder:
        why = f"the accelerator is held by {describe_holder(holder)}"
    elif foreign:
        why = f"the accelerator is held by {foreign}"
    else:
        why = f"{waiting} run(s) wait for the accelerator"
    os.environ["JAX_PLATFORMS"] = "cpu"
    return None, f"{why}: trying on the CPU"
