"""The accelerator guard: wait in the FIFO, then take the lock, or fail at once naming the holder.

A run takes the lock only when it is first in the queue, the lock is free, and no
process outside tpudeck holds the device or libtpu's lockfile.
"""

from __future__ import annotations

import time

from ..errors import TpudeckError
from .holders import HolderScan, ScanResult
from .lock import AcceleratorLock
from .queue import RunQueue, ticket_of_this_launch


class AcceleratorBusy(TpudeckError):
    """The accelerator is held and the user asked not to wait."""


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
    home, run_dir, wait: bool, scan: HolderScan | None = None, poll: float = 0.2
):
    """Queue `run_dir`'s run and return the AcceleratorLock once it holds it.

    The queue position is the launch's ticket, so runs are served in launch order.
    """
    lock, queue, scan = AcceleratorLock(home), RunQueue(home), scan or HolderScan.from_env()
    position = ticket_of_this_launch()
    queue.add(run_dir.run_id, position)
    shown = None
    try:
        while True:
            ahead = queue.place(run_dir.run_id)
            if ahead is None:  # our entry was taken for a dead one's: back in our place
                queue.add(run_dir.run_id, position)
                continue
            if ahead == 0:
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
