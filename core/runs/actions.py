"""What a person may do to a run, shared by the CLI and the UI: stop, kill, delete."""

from __future__ import annotations

import os
import signal

from ..errors import TpudeckError
from .attempt import remove_run_entries
from .procs import current_user, is_alive, process_tree
from .rundir import FINAL_STATES
from .store import RunRecord, RunStore, check_owner


def request_stop(record: RunRecord) -> int:
    """SIGTERM the run (it finishes its step, checkpoints, stops); returns the pid signalled."""
    check_owner(record, "stop")
    if record.state in FINAL_STATES:
        raise TpudeckError(f"run {record.run_id} is already {record.state}")
    pid = record.status["pid"]
    os.kill(pid, signal.SIGTERM)
    return pid


def kill_tree(record: RunRecord) -> int:
    """SIGKILL the run's process tree, children first (a hung data worker must not outlive
    it), and record it as stopped; returns how many processes were signalled."""
    check_owner(record, "kill")
    pid = record.status.get("pid")
    tree = process_tree(pid) if is_alive(pid, record.status.get("pid_start")) else []
    for member in reversed(tree):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            continue
    record.run_dir.write_status(
        "stopped", own=False, message=f"killed by {current_user()} after SIGTERM"
    )
    return len(tree)


def delete_run(record: RunRecord, store: RunStore) -> None:
    """Remove a run that is not running, and its link in the store (files of the user's own
    in its --output_dir stay)."""
    check_owner(record, "delete")
    if record.state not in (*FINAL_STATES, "unknown"):
        raise TpudeckError(
            f"run {record.run_id} is {record.state}: `tpudeck stop {record.run_id}` first"
        )
    link = store.runs_dir / record.run_id
    remove_run_entries(record.run_dir.path.resolve())
    if link.is_symlink():
        link.unlink()
