"""The accelerator lock: one flock per VM under $TPUDECK_HOME/locks, held for a trainer's life.

flock is released by the kernel when the last descriptor of its open file closes, on any
death, so no stale lock survives a crash. A holder record beside it names who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from .home import share_file, store_folder
from .procs import current_user


class AcceleratorLock:
    def __init__(self, home: Path):
        self.dir = Path(home) / "locks"
        self.path = self.dir / "accelerator.lock"
        self.record_path = self.dir / "accelerator.holder.json"
        self.log_path = (
            self.dir / "holders.jsonl"
        )  # every acquire and release: the team's audit trail
        self._fd: int | None = None
        self._run_id: str | None = None

    def _open(self) -> int:
        store_folder(self.dir.name, self.dir.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # a team shares one lock file
        share_file(self.path)
        return fd

    def try_acquire(self, run_id: str) -> bool:
        """Take the lock without waiting; on success write the holder record."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        record = {
            "pid": os.getpid(),
            "user": current_user(),
            "run_id": run_id,
            "since": time.time(),
        }
        tmp = self.record_path.with_name(f".holder.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record) + "\n")
        os.replace(tmp, self.record_path)
        self._log("acquired", record)
        self._run_id = run_id
        return True

    def _log(self, event: str, record: dict) -> None:
        with open(self.log_path, "a") as f:
            f.write(json.dumps({"event": event, "t": time.time(), **record}) + "\n")
        share_file(self.log_path)  # every user of a team store appends to it

    @property
    def fileno(self) -> int | None:
        """The locked descriptor; a child that inherits it keeps the lock held while it lives."""
        return self._fd

    def release(self) -> None:
        """Free the lock (logged first, so the log never shows two holders at once)."""
        if self._fd is not None:
            self._log("released", {"pid": os.getpid(), "run_id": self._run_id})
            os.close(self._fd)
            self._fd = None

    def is_held(self) -> bool:
        """True if some process holds the lock now (this one included)."""
        if self._fd is not None:
            return True
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's shared lock, if it got one

    def holder(self) -> dict | None:
        """The record of the current holder, or None when nobody holds the lock."""
        if not self.is_held():
            return None
        try:
            return json.loads(self.record_path.read_text())
        except (OSError, ValueError):
            return {"pid": None, "user": "?", "run_id": None, "since": None}
