"""The app's one reader of the run store: a thread lists the runs (re-reading only what
changed: run_rows.RunRows), hands the rows to the app, and turns runs that end while the
app is open into notices. It lists them each second while a run is live (its process may
die without a word), else when the store changes: the kernel tells (inotify, through
watchfiles) and a listing every IDLE_SECONDS covers what it cannot see (a run linked
from elsewhere, a file system without inotify)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from tpudeck.core.runs.notices import Notice, notices_of

LIVE_SECONDS = 1.0
IDLE_SECONDS = 10.0


def watch_changes(runs_dir: Path, changed: Callable[[], None], stop: threading.Event) -> None:
    """Call `changed` at each change under `runs_dir` until `stop` is set; raises OSError
    or RuntimeError where the kernel will not watch it (the caller then polls)."""
    import watchfiles  # its Rust watcher starts a thread: only apps that watch pay for it

    runs_dir.mkdir(parents=True, exist_ok=True)
    for _changes in watchfiles.watch(runs_dir, stop_event=stop, debounce=200,
                                     raise_interrupt=False):  # fmt: skip
        changed()


class EndingsSeen:
    """The notices this app has already seen. The first listing is the baseline: runs that
    ended before the app opened are not news."""

    def __init__(self):
        self.keys: set[str] | None = None

    def news(self, rows: list) -> list[Notice]:
        current = {n.key: n for row in rows for n in notices_of(row.summary)}
        if self.keys is None:
            self.keys = set(current)
            return []
        fresh = [notice for key, notice in current.items() if key not in self.keys]
        self.keys |= set(current)
        return fresh
