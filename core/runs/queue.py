"""The FIFO of runs waiting for the accelerator: one small JSON file per waiting run.

Order is by `position`: when the launch was asked for, in nanoseconds since boot (a launch
command's own start, or the moment the app launched), so the queue is first-launched,
first-served however long each trainer took to start and prepare its data. An entry whose
process died is dropped on the next read. Owners may reorder only among their own entries.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import TpudeckError
from .home import store_folder
from .procs import current_user, is_alive, start_ticks

# A launch's place in line, handed from the launching process to the trainer it starts.
TICKET_ENV = "TPUDECK_QUEUE_TICKET"
NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def ticket(launcher_pid: int | None = None) -> int:
    """A place in line: the start of `launcher_pid` (a launch command: the order the commands
    were issued in, whatever each did before launching), else now; in ns since boot, the
    clock /proc counts process starts in."""
    started = start_ticks(launcher_pid) if launcher_pid else None
    if started is not None:
        return started * NS_PER_TICK
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def ticket_of_this_launch() -> int:
    """The ticket the launcher handed this process, taken once (a script it runs does not
    inherit it), else one taken now."""
    given = os.environ.pop(TICKET_ENV, None)
    return int(given) if given and given.isdigit() else ticket()


class RunQueue:
    def __init__(self, home: Path):
        self.dir = Path(home) / "queue"

    def _path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def _write(self, entry: dict) -> None:
        tmp = self.dir / f".{entry['run_id']}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(entry) + "\n")
        os.replace(tmp, self._path(entry["run_id"]))

    def add(self, run_id: str, position: int) -> None:
        """Queue the calling process's run at `position` (a ticket)."""
        store_folder(self.dir.name, self.dir.parent)
        pid = os.getpid()
        entry = {
            "run_id": run_id,
            "pid": pid,
            "pid_start": start_ticks(pid),
            "user": current_user(),
        }
        self._write({**entry, "position": position})

    def remove(self, run_id: str) -> None:
        self._path(run_id).unlink(missing_ok=True)

    def entries(self) -> list[dict]:
        """Live entries, first in line first."""
        live = []
        for path in self.dir.glob("*.json"):
            try:
                entry = json.loads(path.read_text())
            except FileNotFoundError:
                continue
            except ValueError:
                entry = {}
            if is_alive(entry.get("pid"), entry.get("pid_start")):
                live.append(entry)
            else:  # its waiter died (or the file is garbage): it waits for nothing
                try:
                    path.unlink(missing_ok=True)
                except PermissionError:
                    continue
        return sorted(live, key=lambda e: (e["position"], e["run_id"]))

    def place(self, run_id: str) -> int | None:
        """How many runs are ahead of `run_id`, or None if it is not queued."""
        ids = [e["run_id"] for e in self.entries()]
        return ids.index(run_id) if run_id in ids else None

    def move(self, run_id: str, offset: int, user: str | None = None) -> None:
        """Swap places with the nearest entry in direction `offset` (-1 up, +1 down) that
        `user` may reorder: their own, or anyone's for root."""
        user = user or current_user()
        entries = self.entries()
        ids = [e["run_id"] for e in entries]
        if run_id not in ids:
            raise TpudeckError(f"run {run_id} is not in the queue: see `tpudeck queue`")
        mine = entries[ids.index(run_id)]
        if user != "root" and mine["user"] != user:
            raise TpudeckError(
                f"run {run_id} belongs to {mine['user']}: only they (or root) may reorder it"
            )
        i = ids.index(run_id) + offset
        while 0 <= i < len(entries) and user != "root" and entries[i]["user"] != user:
            i += offset
        if not 0 <= i < len(entries):
            raise TpudeckError(
                f"run {run_id} cannot move {'up' if offset < 0 else 'down'}: no run of yours there"
            )
        other = entries[i]
        mine["position"], other["position"] = other["position"], mine["position"]
        self._write(mine)
        self._write(other)
