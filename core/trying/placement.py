"""Where a model is tried: on the accelerator only when nobody holds it, under the same
lock as a run (so no run can start on it meanwhile), else on the CPU, saying why. Decided
before jax is imported, which reads JAX_PLATFORMS once."""

from __future__ import annotations

import os
from pathlib import Path

from ..runs.lock import AcceleratorLock


def place(home: Path) -> tuple[AcceleratorLock | None, str | None]:
    """(the lock, held by this process until it is released, or None; a note for the user
    when the model goes to the CPU)."""
    lock = AcceleratorLock(home)
    if lock.try_acquire(f"try-{os.getpid()}"):
        return lock, None
    holder = lock.holder() or {}
    who = holder.get("run_id") or f"pid {holder.get('pid')}"
    os.environ["JAX_PLATFORMS"] = "cpu"
    return None, f"the accelerator is held by {who} ({holder.get('user', '?')}): trying on the CPU"
