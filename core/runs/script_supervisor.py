"""The supervisor of a user's script run: `tpudeck _script RUN_DIR`, started detached.

It takes the accelerator lock, starts the script with the locked descriptor inherited (so
the lock is held as long as the script lives, even if the supervisor dies), turns its
TensorBoard scalars (or, without TensorBoard files, the metrics it prints, as the HF Flax
scripts print them) into events, and records how it ended.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from ..devices.tpu_runtime import enable_metrics
from .guard import Cancelled, acquire_accelerator
from .home import tpudeck_home
from .launcher import report
from .queue import Place
from .rundir import RunDir
from .script_output import ScriptOutputTail
from .tensorboard_tail import TensorBoardTail

log = logging.getLogger(__name__)

# What libtpu says when the TPU is taken; recognised in a failed script's log.
_LIBTPU_BUSY = re.compile(
    r"(TPU (?:is already )?in use by process with pid \d+[^\n]*|libtpu\.so already in use[^\n]*"
    r"|Internal error when accessing libtpu multi-process lockfile[^\n]*)"
)


def supervise(
    run_dir: RunDir, wait: bool = True, place: Place | None = None, poll: float = 0.5
) -> str:
    """Run the script of `run_dir` under the accelerator lock, queued at `place`; returns
    the final state."""
    spec = json.loads(run_dir.spec_path.read_text())
    run_dir.write_status("preparing")
    report(prepared=True)  # a script has nothing to prepare: the launcher may return
    try:
        lock = acquire_accelerator(tpudeck_home(), run_dir, wait, place=place)
    except Cancelled as exc:
        return exc.record(run_dir)
    env = dict(os.environ)
    enable_metrics(env)  # the Devices and Run screens then show the script's chips too
    if spec["script_dir"]:  # the copy must still import the modules beside the original
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [spec["script_dir"], env.get("PYTHONPATH")])
        )
    child = subprocess.Popen(spec["command"], cwd=spec["cwd"], env=env, pass_fds=(lock.fileno,))
    run_dir.write_status("training", child_pid=child.pid)
    stop = []
    signal.signal(
        signal.SIGTERM, lambda signum, _f: (stop.append(signum), child.send_signal(signum))
    )
    tail = TensorBoardTail(Path(spec["tensorboard_dir"])) if spec["tensorboard_dir"] else None
    printed = ScriptOutputTail(run_dir.log_path)
    try:
        while child.poll() is None:
            _forward_metrics(run_dir, tail, printed)
            time.sleep(poll)
        _forward_metrics(run_dir, tail, printed, final=True)
    finally:
        lock.release()
    code = child.returncode
    if stop:
        run_dir.write_status("stopped", exit_code=code, message="stopped by SIGTERM")
        return "stopped"
    if code == 0:
        run_dir.write_status("finished", exit_code=0, message="")
        return "finished"
    message = _failure_reason(run_dir, code)
    run_dir.emit("error", message=message)
    run_dir.write_status("failed", exit_code=code, message=message)
    return "failed"


def _forward_metrics(run_dir: RunDir, tail: TensorBoardTail | None, printed: ScriptOutputTail,
                     final: bool = False) -> None:  # fmt: skip
    """TensorBoard's scalars where the script writes them; else the metrics it prints (the
    HF scripts print the same numbers: reading both would count each step twice)."""
    events = tail.read_events(final) if tail else []
    if not (tail and tail.offsets):  # the tail found no event file: one scan, not two
        events = printed.read_events()
    for kind, fields in events:
        run_dir.emit(kind, **fields)


def _failure_reason(run_dir: RunDir, code: int) -> str:
    try:
        with open(run_dir.log_path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 65536))
            tail = f.read().decode(errors="replace")
    except OSError:
        tail = ""
    busy = _LIBTPU_BUSY.search(tail)
    if busy:
        return f"the TPU was taken outside tpudeck: {busy.group(1).strip()}; see `tpudeck who`"
    return f"the script exited with code {code}; see {run_dir.log_path}"
