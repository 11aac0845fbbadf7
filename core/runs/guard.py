"""The accelerator guard: wait in the FIFO, then take the lock, or fail at once naming the holder.

A run takes the lock only when it is first in the queue, the lock is free, and no
process outside tpudeck holds the device or libtpu's lockfile.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import TpudeckError
from .holders import HolderScan, ScanResult
from .lock import AcceleratorLock
from .queue import Place, RunQueue, ticket_of_this_launch
from .rundir import FINAL_STATES
from .store import read_run


class AcceleratorBusy(TpudeckError):
    """The accelerator is held and the user asked not to wait."""


class Cancelled(TpudeckError):
    """The run will not take the accelerator: the run it was chained after did not finish."""

    def record(self, run_dir) -> str:
        """Say so in the run's events and status (stopped, with the reason); its state."""
        run_dir.emit("cancelled", message=str(self))
        run_dir.write_status("stopped", message=str(self))
        return "stopped"


def describe_holder(record: dict) -> str:
    since = time.strftime("%H:%M", time.localtime(record["since"])) if record.get("since") else "?"
    return f"run {record.get('run_id')} of {record.get('user')} (pid {record.get('pid')}) since {since}"


def describe_foreign(scan: ScanResult) -> str | None:
    """One line naming a process outside tpudeck that holds the accelerator, if any."""
    if scan.holders:
        p = scan.holders[0].process
        return f"pid {p.pid} of {p.user} ({p.command[:80]}) holding {', '.join(scan.holders[0].devices)}"
    if scan.libtpu.state == "held":
        return f"pid {scan.libtpu.pid} of {scan.libtpu.owner} holding libtpu's lockfile"
    return None


def acquire_accelerator(
    home, run_dir, wait: bool, scan: HolderScan | None = None, poll: float = 0.2,
    place: Place | None = None,
):  # fmt: skip
    """Queue `run_dir`'s run and return the AcceleratorLock once it holds it.

    The queue position is the launch's ticket, so runs are served in launch order among
    equal priorities. A run chained after another waits for it to finish first.
    """
    lock, queue, scan = AcceleratorLock(home), RunQueue(home), scan or HolderScan.from_env()
    place, position = place or Place(), ticket_of_this_launch()
    queue.add(run_dir.run_id, position, place)
    shown = None
    try:
        while True:
            if place.after and (parent := _unfinished(place.after)) is None:
                place = Place(place.priority)  # it finished: into the line, in our place
                queue.add(run_dir.run_id, position, place)
            ahead = queue.place(run_dir.run_id)
            if ahead is None:  # our entry was taken for a dead one's: back in our place
                queue.add(run_dir.run_id, position, place)
                continue
            if place.after:
                blocker, state = _chain_note(parent), "queued"
            elif ahead == 0:
                foreign = describe_foreign(scan.scan())
                if foreign is None and lock.try_acquire(run_dir.run_id):
                    return lock
                holder = lock.holder()
                blocker = describe_holder(holder) if holder else foreign or "another process"
                state = "waiting-for-accelerator"
            else:
                blocker, state = f"{ahead} run(s) ahead in the queue", "queued"
            if not wait:
                raise AcceleratorBusy(
                    f"the accelerator is busy: {blocker}; pass --wait to queue behind it"
                )
            if (state, blocker) != shown:
                run_dir.write_status(state, queue_position=ahead, waiting_for=blocker)
                shown = (state, blocker)
            time.sleep(poll)
    finally:
        queue.remove(run_dir.run_id)


def wait_for_chain(run_dir, place: Place | None, poll: float = 0.2) -> None:
    """For a run that takes no lock (--platform cpu): wait for the run it is chained after
    to finish; Cancelled if it ends otherwise."""
    shown = None
    while place and place.after and (parent := _unfinished(place.after)) is not None:
        if parent.state != shown:
            run_dir.write_status("queued", waiting_for=_chain_note(parent))
            shown = parent.state
        time.sleep(poll)


def _chain_note(parent) -> str:
    return f"run {parent.run_id} to finish ({parent.state})"


def _unfinished(parent_dir: str):
    """The run a chained run waits for while it has yet to finish; None once it finished;
    Cancelled when it ended any other way."""
    parent = read_run(Path(parent_dir))
    if parent.state == "finished":
        return None
    if parent.state in FINAL_STATES:
        raise Cancelled(
            f"cancelled: run {parent.run_id}, which it was chained after, {parent.state}"
        )
    return parent
