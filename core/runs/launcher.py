"""Detached launches: the run is a child in its own session, so closing the terminal, a
SIGHUP, or the UI crashing never stops it. Its stdout and stderr go to the run's log.
"""

from __future__ import annotations

import subprocess
import sys
import time

from .rundir import RunDir

STARTING_STATES = ("preparing",)


def launch_detached(
    run_dir: RunDir, tpudeck_args: list[str], env: dict | None = None
) -> subprocess.Popen:
    """Start `tpudeck <tpudeck_args>` detached; returns at once."""
    run_dir.path.mkdir(parents=True, exist_ok=True)
    with open(run_dir.log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tpudeck", *tpudeck_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no controlling terminal: SIGHUP of ours never reaches it
            close_fds=True,
            env=env,
        )


def wait_past_preparing(run_dir: RunDir, child: subprocess.Popen, poll: float = 0.1) -> dict:
    """Block until the child has prepared its data (queued, waiting, training) or ended.

    This is where data errors reach the person who launched, as one line.
    """
    while True:
        status = run_dir.read_status()
        if status.get("pid") == child.pid and status.get("state") not in STARTING_STATES:
            return status
        if child.poll() is not None:
            return run_dir.read_status()
        time.sleep(poll)
