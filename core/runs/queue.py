"""The FIFO of runs waiting for the accelerator: one small JSON file per waiting run.

Order is by `priority` (higher first, 0 by default), then `position`: when the launch was
asked for, in nanoseconds since boot (a launch command's own start, or the moment the app
launched), so among equals the queue is first-launched, first-served however long each
trainer took to start and prepare its data. An entry chained `after` another run waits
outside the line until that run finishes. An entry whose process died is dropped on the
next read. Owners may reorder only their own entries, and only root may put a run ahead of
another user's run that was waiting first.
"""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Place:
    """Where a launch asks to stand: its priority, and the run directory it is chained
    after (it starts only once that run finishes, and is cancelled if it ends otherwise)."""

    priority: int = 0
    after: str | None = None

    def flags(self) -> list[str]:
        """The trainer's or supervisor's command-line form of this place."""
        return ["--priority", str(self.priority)] * bool(self.priority) + (
            ["--after", self.after] if self.after else []
        )


def place_notes(entry: dict) -> str:
    """ "  priority 5  after RUN": what sets an entry's place besides its launch time."""
    notes = f"  priority {entry['priority']}" if entry.get("priority") else ""
    if entry.get("after"):
        notes += f"  after {Path(entry['after']).name}"
    return notes


def order(entry: dict) -> tuple:
    return (-entry.get("priority", 0), entry["position"], entry["run_id"])


class RunQueue:
    def __init__(self, home: Path):
        self.dir = Path(home) / "queue"

    def _path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def _write(self, entry: dict) -> None:
        tmp = self.dir / f".{entry['run_id']}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(entry) + "\n")
        os.replace(tmp, self._path(entry["run_id"]))

    def add(self, run_id: str, position: int, place: Place = Place()) -> None:
        """Queue the calling process's run at `position` (a ticket) and `place`; a priority
        that would jump another user's earlier run is refused (TpudeckError) unless root."""
        store_folder(self.dir.name, self.dir.parent)
        pid, user = os.getpid(), current_user()
        entry = {"run_id": run_id, "pid": pid, "pid_start": start_ticks(pid), "user": user,
                 "position": position, "priority": place.priority, "after": place.after}  # fmt: skip
        self.check_jump(entry, user)
        self._write(entry)

    def set_priority(self, run_id: str, priority: int, user: str | None = None) -> None:
        """Change a waiting run's priority: its owner or root only, and no jumping another
        user's earlier run unless root."""
        user = user or current_user()
        entry = self.entry(run_id)
        if user != "root" and entry["user"] != user:
            raise TpudeckError(
                f"run {run_id} belongs to {entry['user']}: only they (or root) may reprioritise it"
            )
        changed = {**entry, "priority": priority}
        self.check_jump(changed, user, was=entry)
        self._write(changed)

    def check_jump(self, entry: dict, user: str | None = None, was: dict | None = None) -> None:
        """Refuse (TpudeckError) an entry whose priority newly puts it ahead of another
        user's run that was waiting first (`was`: the entry before the change), unless
        `user` is root. Being passed because the other lowered theirs is no jump."""
        user = user or current_user()
        if user == "root":
            return
        for other in self.entries():
            if other["user"] == user or other["run_id"] == entry["run_id"]:
                continue
            earlier = other["position"] < entry["position"]
            ahead_now = order(entry) < order(other)
            ahead_before = was is not None and order(was) < order(other)
            if earlier and ahead_now and not ahead_before:
                raise TpudeckError(
                    f"priority {entry['priority']} would put run {entry['run_id']} ahead of "
                    f"{other['user']}'s run {other['run_id']}, queued first: only root may; "
                    f"use priority {other.get('priority', 0)} or lower"
                )

    def entry(self, run_id: str) -> dict:
        """A waiting run's entry; TpudeckError when it is not in the queue."""
        for entry in self.entries():
            if entry["run_id"] == run_id:
                return entry
        raise TpudeckError(f"run {run_id} is not in the queue: see `tpudeck queue`")

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
        return sorted(live, key=order)

    def place(self, run_id: str) -> int | None:
        """How many runs are ahead of `run_id` (chained runs still waiting for theirs are in
        no one's way), or None if it is not queued."""
        ids = [e["run_id"] for e in self.entries() if not e.get("after") or e["run_id"] == run_id]
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
        other = entries[i]  # trading places means trading priorities too
        for key in ("position", "priority"):
            mine[key], other[key] = other.get(key, 0), mine.get(key, 0)
        self._write(mine)
        self._write(other)
