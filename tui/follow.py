"""Following one run: one watcher per Run screen reads what the trainer appends to the run
directory, by offset, on its own thread, and keeps it until the screen takes it. Nothing is
read twice or skipped however the screen and the trainer race, and a run whose files have
not changed costs a few stat calls per look. A screen opening a long run starts from the
events' saved summary (core/runs/event_summary.py) and saves a newer one when it read
much more."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from textual.message import Message

from tpudeck.core.runs.event_summary import READ_BYTES, EventSummary, refresh_summary
from tpudeck.core.runs.events import EventTail
from tpudeck.core.runs.rundir import FINAL_STATES, RunDir, list_steps, step_dir
from tpudeck.core.runs.store import read_run

LOG_TAIL_BYTES = 1 << 16  # the log's end shown when a screen opens on a long run
SAVE_AFTER_BYTES = 4 << 20  # a screen saves the summary it had to read this much for


class RunChanged(Message):
    """Something new waits in the follower. Carries nothing, so any number of them queued
    behind a busy screen collapse into one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunChanged)


@dataclass
class Increment:
    """What the run added since the screen last took it, reduced to what is shown."""

    events: EventSummary = field(default_factory=EventSummary)
    log_text: str = ""
    status: dict = field(default_factory=dict)
    state: str = "unknown"
    checkpoints: list = field(default_factory=list)

    def merge(self, newer: Increment) -> None:
        self.events.merge(newer.events)
        self.log_text += newer.log_text
        self.status, self.state, self.checkpoints = newer.status, newer.state, newer.checkpoints


class RunFollower:
    """The reading side of one followed run. `look()` runs on the watcher's thread only;
    `take()` on the screen's; the lock guards what passes between them."""

    def __init__(self, run_dir: RunDir):
        self.run_dir = run_dir
        self.tail = EventTail(run_dir.events_path)
        self.log_path = run_dir.log_path  # or a process's of a run of several (show_log)
        self.log_offset = max(0, _size(self.log_path) - LOG_TAIL_BYTES)
        self._log_shown = 0  # counts show_log calls: a read begun before one is dropped
        self.state = "unknown"
        self._seen: tuple | None = None  # (status mtime, events size, log size) last read
        self._opened = False  # the first look starts from the saved summary
        self._lock = threading.Lock()
        self._pending = Increment()

    def look(self) -> bool:
        """Read what is new; True when there is something for the screen to take."""
        seen = (_mtime(self.run_dir.status_path), _size(self.run_dir.events_path),
                _size(self.log_path), self._log_shown)  # fmt: skip
        if seen == self._seen and self.state in FINAL_STATES:
            return False  # an ended run that nobody resumed: nothing to read
        self._seen = seen
        record = read_run(self.run_dir.path)  # also how a vanished trainer shows as died
        new = Increment(status=record.status, state=record.state, checkpoints=self._checkpoints())
        if not self._opened:  # the saved summary, and the events after it
            self._opened = True
            new.events = refresh_summary(self.run_dir.events_path, SAVE_AFTER_BYTES)
            self.tail.offset = new.events.offset
        while True:  # every whole event there is, in bounded slices
            new.events.add_events(self.tail.read(READ_BYTES), self.tail.offset)
            if not self.tail.behind:
                break
        shown, path, offset = self._log_shown, self.log_path, self.log_offset
        chunk = _read_from(path, offset)
        with self._lock:  # read outside it: the screen never waits on the disk
            if shown == self._log_shown:  # else another log was asked for meanwhile
                self.log_offset += len(chunk)
                new.log_text = chunk.decode(errors="replace")
            self._pending.merge(new)
        self.state = record.state
        return True

    def show_log(self, path) -> None:
        """Follow another of the run's logs (a process's, of a run of several hosts), from
        its last LOG_TAIL_BYTES; the screen clears what it showed of the last one."""
        with self._lock:
            self.log_path, self._log_shown = path, self._log_shown + 1
            self.log_offset = max(0, _size(path) - LOG_TAIL_BYTES)
            self._pending.log_text = ""

    def take(self) -> Increment:
        with self._lock:
            taken = self._pending
            # Status, state and checkpoints are snapshots, not increments: the next repeats them.
            self._pending = Increment(
                status=taken.status, state=taken.state, checkpoints=taken.checkpoints
            )
        return taken

    def _checkpoints(self) -> list[str]:
        folder = self.run_dir.checkpoints_dir
        return [step_dir(folder, step).name for step in list_steps(folder)]


def _read_from(path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


def _size(path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
