"""A run on several hosts, detached (`tpudeck train --hosts ... --detach`): its supervisor
(supervisor.py) runs in a session of its own, so closing the terminal or the SSH session
that launched it stops neither the supervisor nor the trainers it started. The supervisor's
output (process 0's, and which worker died) goes to the run's hosts.log, the one file a new
run's directory may hold before process 0 has accepted it.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import TpudeckError
from ..runs.rundir import RunDir

_PAST_PREPARING = ("queued", "waiting-for-accelerator", "compiling", "training", "finished")


@dataclasses.dataclass(frozen=True)
class DetachedRun:
    run_dir: RunDir
    state: str
    supervisor_pid: int

    @property
    def run_id(self) -> str:
        return self.run_dir.run_id

    def describe(self) -> str:
        return (
            f"run {self.run_id}: {self.state} (its supervisor, pid {self.supervisor_pid}, "
            f"logs to {self.run_dir.hosts_log_path})"
        )


def start_on_hosts(hosts: str, train_args: list[str], output_dir: Path) -> DetachedRun:
    """Start `tpudeck train --hosts HOSTS TRAIN_ARGS` detached and return once process 0 is
    past preparing; a launch it refused raises its one-line error, and the directory is left
    as it was found."""
    found = output_dir.exists()
    output_dir.mkdir(parents=True, exist_ok=True)
    run_dir = RunDir(output_dir)
    log_path, had_log = run_dir.hosts_log_path, run_dir.hosts_log_path.exists()
    offset = log_path.stat().st_size if had_log else 0  # an earlier launch's lines come first
    began = time.time()
    with open(log_path, "ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "tpudeck", "train", "--hosts", hosts, *train_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # no controlling terminal: a SIGHUP never reaches it
            close_fds=True,
        )  # fmt: skip
    threading.Thread(target=supervisor.wait, daemon=True).start()  # reaped, never a zombie
    while True:
        status = _written_since(run_dir, began)
        if status.get("state") in _PAST_PREPARING:
            return DetachedRun(run_dir, status["state"], supervisor.pid)
        code = supervisor.poll()
        if code is not None:
            break
        time.sleep(0.1)
    status = _written_since(run_dir, began)
    if status.get("state") == "failed":  # process 0 took the run, then it failed
        raise TpudeckError(status.get("message") or f"the run failed: see {log_path}")
    if code == 0 and status:
        return DetachedRun(run_dir, status["state"], supervisor.pid)
    reason = _first_error(log_path, offset) or f"the supervisor exited with status {code}"
    if not had_log:  # refused before process 0 took the directory: put it back
        log_path.unlink(missing_ok=True)
        if not found and not any(output_dir.iterdir()):
            output_dir.rmdir()
    raise TpudeckError(reason)


def start_spec_on_hosts(spec, hosts: str) -> DetachedRun:
    """The app's launch of `spec` on `hosts` (its --output_dir, which every worker sees)."""
    return start_on_hosts(hosts, spec.flags(), Path(spec.output_dir).resolve())


def _written_since(run_dir: RunDir, began: float) -> dict:
    """The run's status if this launch's process 0 wrote it (a resumed run has an older one)."""
    try:
        if run_dir.status_path.stat().st_mtime < began:
            return {}
    except FileNotFoundError:
        return {}
    return run_dir.read_status()


def _first_error(log_path: Path, offset: int) -> str | None:
    """The first one-line error this launch logged: process 0's own reason comes before the
    supervisor's "worker 0 of N exited"."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    errors = [line for line in lines if line.startswith("tpudeck: error: ")]
    return errors[0].removeprefix("tpudeck: error: ") if errors else None
