"""One run on several hosts: start a trainer per worker through a launcher, show process
0's output, and end them all when one fails.

A worker that dies leaves the others waiting in a collective for it; the supervisor sends
every trainer SIGTERM, then SIGKILL after a grace, and marks the run failed with the worker
that died; `--resume` continues from the last whole checkpoint. Ctrl-C or SIGTERM here stops every worker the
same way a stop of a one-host run does.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

from ..runs.rundir import RunDir
from .hosts import Launcher

log = logging.getLogger(__name__)

# After SIGTERM: a trainer not yet joined (waiting for the lock) ends cleanly; one in a step
# waits in a collective for the dead worker forever, and is killed.
GRACE_S = 5.0


def tpudeck_command(args: list[str], env: dict | None = None) -> str:
    """The shell command that runs `tpudeck ARGS` on a worker: this directory, this Python."""
    assignments = "".join(
        f"{name}={shlex.quote(str(value))} " for name, value in (env or {}).items()
    )
    argv = shlex.join([sys.executable, "-m", "tpudeck", *args])
    return f"cd {shlex.quote(os.getcwd())} && {assignments}exec {argv}"


def worker_command(launcher: Launcher, index: int, coordinator: str, train_args: list[str]):
    """The shell command that runs worker `index`'s trainer."""
    env = {"TPUDECK_NUM_PROCESSES": launcher.workers, "TPUDECK_PROCESS_ID": index,
           "JAX_COORDINATOR_ADDRESS": coordinator}  # fmt: skip
    return tpudeck_command(["train", *train_args], env)


def busy_worker(launcher: Launcher) -> str | None:
    """For --no-wait: the first worker whose accelerator someone holds, and who, asked of
    each worker's own `tpudeck who` before any trainer starts; None when all are free."""
    for index in range(launcher.workers):
        code, out = launcher.run(index, tpudeck_command(["who", "--json"]))
        if code:
            return f"worker {index} cannot say who holds its accelerator (exit {code})"
        summary = json.loads(out)["summary"]
        if summary != "free":
            return f"worker {index}'s accelerator is held by {summary}"
    return None


def run_on_hosts(launcher: Launcher, train_args: list[str], output_dir: Path) -> int:
    """Train on every worker; the exit status is process 0's, or 1 when a worker died."""
    coordinator = launcher.coordinator()
    logs = [tempfile.TemporaryFile("w+") for _ in range(1, launcher.workers)]  # noqa: SIM115
    workers = [launcher.start(0, worker_command(launcher, 0, coordinator, train_args))]
    workers += [
        launcher.start(index, worker_command(launcher, index, coordinator, train_args), out)
        for index, out in enumerate(logs, start=1)
    ]
    stop = _forward_stops(launcher, str(output_dir))
    try:
        while True:
            codes = [worker.poll() for worker in workers]
            # A killed worker first: the others may fail on its account a moment later.
            failed = min((i for i, code in enumerate(codes) if code), default=None,
                         key=lambda i: (codes[i] > 0, i))  # fmt: skip
            if failed is not None:
                return _end_after_failure(launcher, workers, failed, logs, output_dir)
            if all(code == 0 for code in codes):
                return 0
            time.sleep(0.2)
    finally:
        stop()
        for file in logs:
            file.close()


def _end_after_failure(launcher, workers, failed: int, logs, output_dir: Path) -> int:
    code = workers[failed].returncode
    reason = f"worker {failed} of {launcher.workers} {_exit_text(code)}"
    if failed:  # its error, where it said one (its log in the run dir may not exist yet)
        logs[failed - 1].seek(0)
        last = (logs[failed - 1].read().strip().splitlines() or [""])[-1]
        reason += f" ({last.removeprefix('tpudeck: error: ')})" if "error" in last else ""
    log.error("%s; stopping the other workers", reason)
    launcher.signal("TERM", str(output_dir))
    deadline = time.monotonic() + GRACE_S
    while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    if any(w.poll() is None for w in workers):
        launcher.signal("KILL", str(output_dir))
    for worker in workers:
        worker.wait()
    # Process 0 exiting with a status recorded its own outcome (or undid a refused launch,
    # leaving the directory as it was): only a follower's failure, or process 0 killed, is
    # the supervisor's to record, where the run's records are (worker 0 is this host).
    recorded = failed == 0 and 0 < code <= 128
    run_dir = RunDir(output_dir)
    if run_dir.status_path.exists() and not recorded:
        run_dir.emit("error", message=reason)
        run_dir.write_status("failed", own=False, message=reason)
    print(f"tpudeck: error: {reason}", file=sys.stderr)
    return 1


def _exit_text(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    if code > 128 and code - 128 in signal.Signals._value2member_map_:  # a shell's, ssh's
        return f"was killed by {signal.Signals(code - 128).name}"
    return f"exited with status {code}"


def _forward_stops(launcher: Launcher, output_dir: str):
    """Ctrl-C or SIGTERM here: SIGTERM to every worker's trainer; returns the undo."""

    def stop_workers(signum, _frame):
        log.info("%s: stopping every worker", signal.Signals(signum).name)
        launcher.signal("TERM", output_dir)

    previous = {s: signal.signal(s, stop_workers) for s in (signal.SIGTERM, signal.SIGINT)}

    def undo() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return undo
