"""Rows for the Runs screen, read from the store off the UI thread; re-reads only what changed."""

from __future__ import annotations

import dataclasses
import time

from tpudeck.core.runs.rundir import FINAL_STATES
from tpudeck.core.runs.store import RunRecord, RunStore, read_run


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


@dataclasses.dataclass(frozen=True)
class RunRow:
    run_id: str
    state: str
    step: int | None
    total_steps: int | None
    loss: float | None
    tokens_per_s: float | None
    eta_s: float | None
    owner: str
    created: float | None
    message: str | None
    summary: dict = dataclasses.field(compare=False, repr=False)  # the rest, for notices

    def cells(self) -> tuple[str, ...]:
        progress = f"{self.step or 0}/{self.total_steps}" if self.total_steps else "-"
        return (
            self.run_id,
            self.state,
            progress,
            "-" if self.loss is None else f"{self.loss:.4f}",
            "-" if self.tokens_per_s is None else f"{self.tokens_per_s:,.0f}",
            format_duration(self.eta_s),
            self.owner,
            format_duration(time.time() - self.created) if self.created else "-",
        )


def row_of(record: RunRecord) -> RunRow:
    summary = record.summary()
    return RunRow(
        summary["run_id"], summary["state"], summary["step"], summary["total_steps"], summary["loss"],
        summary["tokens_per_s"], summary["eta_s"], summary["owner"], summary["created"], summary["message"],
        summary,
    )  # fmt: skip


class RunRows:
    """Caches each run's row until its status or events file changes (size or mtime)."""

    def __init__(self, store: RunStore):
        self.store = store
        self._cache: dict[str, tuple[tuple, RunRow]] = {}

    def read(self) -> list[RunRow]:
        rows = []
        for path in self.store.paths():
            key = tuple(_stamp(path / name) for name in ("status.json", "events.jsonl"))
            cached = self._cache.get(path.name)
            # A live run is re-read anyway: its process may have died without a word.
            if cached is None or cached[0] != key or cached[1].state not in FINAL_STATES:
                cached = (key, row_of(read_run(path)))
                self._cache[path.name] = cached
            rows.append(cached[1])
        return rows


def _stamp(path) -> tuple:
    try:
        st = path.stat()
        return (st.st_size, st.st_mtime_ns)
    except OSError:
        return (None, None)
