"""Detached launches: the run is a child in its own session, so closing the terminal, a
SIGHUP, or the UI crashing never stops it. Its stdout and stderr go to the run's log.

The child tells the launcher how its preparation ended over a pipe (one JSON line): a
refused input leaves no run directory to read the reason from, and the person who
launched must still see it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from .queue import TICKET_ENV, ticket
from .rundir import RunDir

REPORT_FD = "TPUDECK_LAUNCH_REPORT_FD"


def launch_detached(
    run_dir: RunDir, tpudeck_args: list[str], env: dict | None = None
) -> tuple[subprocess.Popen, int]:
    """Start `tpudeck <tpudeck_args>` detached; returns the child and the report's read end.

    The child queues with the ticket of this launch: the launch command's if it took one,
    else now (the app's launch)."""
    read_end, write_end = os.pipe()
    env = dict(os.environ if env is None else env)
    env.update({REPORT_FD: str(write_end), TICKET_ENV: env.get(TICKET_ENV) or str(ticket())})
    try:
        with open(run_dir.log_path, "ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "tpudeck", *tpudeck_args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # no controlling terminal: SIGHUP of ours never reaches it
                close_fds=True,
                pass_fds=(write_end,),
                env=env,
            )
    except OSError:
        os.close(read_end)  # no child: nobody will report
        raise
    finally:
        os.close(write_end)  # the child holds the only write end: EOF means it is gone
    return child, read_end


def report(**fields) -> None:
    """In the child: tell the launcher how preparation ended (once; later calls do nothing)."""
    fd = os.environ.pop(REPORT_FD, None)
    if fd is None:
        return
    try:
        os.write(int(fd), (json.dumps(fields) + "\n").encode())
    except OSError:
        pass  # the launcher is gone (its terminal closed): the run goes on regardless
    finally:
        os.close(int(fd))


def wait_past_preparing(
    run_dir: RunDir, child: subprocess.Popen, read_end: int, poll: float = 0.1
) -> dict:
    """Block until the child has prepared (queued, waiting, training), was refused, or ended.

    Returns the child's report merged over status.json; `error` is set when it was refused.
    """
    with os.fdopen(read_end, "rb") as pipe:
        line = pipe.readline()
    try:
        told = json.loads(line) if line else {}
    except ValueError:
        told = {}
    if "error" in told:
        child.wait()
        return told
    while True:  # prepared: wait for the guard to say where the run stands
        status = run_dir.read_status()
        if status.get("pid") == child.pid and status.get("state") != "preparing":
            return status
        if child.poll() is not None:
            return run_dir.read_status()
        time.sleep(poll)
