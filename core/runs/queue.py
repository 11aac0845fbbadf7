"""The FIFO of runs waiting for the accelerator: one small JSON file per waiting run.

Order is by `position` (the waiting process's start time), so the queue is
first-launched, first-served however long each run's data preparation took. An entry whose process died
is dropped on the next read. Owners may reorder only among their own entries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import TpudeckError
from .home import store_folder
from .procs import current_user, is_alive, start_ticks


class RunQueue:
    def __init__(self, home: Path):
        self.dir = Path(home) / "queue"

    def _path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def _write(self, entry: dict) -> None:
        tmp = self.dir / f".{entry['run_id']}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(entry) + "\n")
        os.replace(tmp, self._path(entry["run_id"]))

    def add(self, run_id: str) -> None:
        """Queue the calling process's run, placed by the process's start time."""
        store_folder(self.dir.name, self.dir.parent)
        pid, started = os.getpid(), start_ticks(os.getpid())
        entry = {"run_id": run_id, "pid": pid, "pid_start": started, "user": current_user()}
        self._write({**entry, "position": started})

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
