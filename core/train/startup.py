"""Where a run's time goes before its first step: the seconds of each phase (the imports
before the trainer's code ran, the data, the wait for the accelerator, starting jax,
building the model, initialising, placing the state on the devices, compiling), reported
once as a `startup` event that the Run screen shows as a short breakdown."""

from __future__ import annotations

import contextlib
import logging
import os
import time

import psutil

from ..runs.procs import start_ticks

log = logging.getLogger(__name__)


class Startup:
    def __init__(self):
        # Interpreter start and imports: from the process's creation to now
        self.seconds = {"imports": process_age()}

    @contextlib.contextmanager
    def phase(self, name: str):
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began

    def report(self, run_dir) -> None:
        phases = {name: round(s, 3) for name, s in self.seconds.items()}
        run_dir.emit("startup", **phases)
        log.info("%s", startup_line(phases))


def startup_line(event: dict) -> str:
    """The `startup` event in words: "startup 9.1s: imports 1.2 · data 3.1 · ... compile 2.4"."""
    phases = {k: v for k, v in event.items() if k not in ("t", "kind")}
    parts = " · ".join(f"{name} {seconds:.1f}" for name, seconds in phases.items())
    return f"startup {sum(phases.values()):.1f}s: {parts}"


def process_age() -> float:
    """Seconds since this process began. Linux counts a process's start in clock ticks
    since boot; psutil's create_time adds those to a boot time in whole seconds, which
    overstates the age by up to a second (the imports phase read 1.1 s for 0.1 s)."""
    ticks = start_ticks(os.getpid())
    if ticks is None:  # no /proc: not Linux
        return time.time() - psutil.Process().create_time()
    return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
