"""What a Run screen shows of a run's events, as columns: the train loss and learning rate
by step, the evaluations, the newest event of each kind and the Hub pushes.

Summarised from events.jsonl by whoever reads it, and kept beside it (events.summary) up
to a byte offset: a screen opening a run of a million steps loads a few arrays instead of
parsing a million lines, then reads only the lines after the offset. The file still holds
the bytes the summary was made from, or the summary is not used (an attempt cut the
events back, the file was replaced): the reader reads from the start again.

events.summary: one JSON line (the offset, the file's first bytes and those just before
the offset, the small parts), then the float64 columns one after another, their lengths
in the JSON.
"""

from __future__ import annotations

import json
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from .events import EventTail

CHECK_BYTES = 64  # the events' first bytes and those before the offset recognise the file
READ_BYTES = 8 << 20  # events are parsed in bounded slices: a long run in bounded memory


@dataclass
class Curve:
    """(x, y) points in two float64 arrays."""

    x: array = field(default_factory=lambda: array("d"))
    y: array = field(default_factory=lambda: array("d"))

    def append(self, x: float, y: float | None) -> None:
        if y is not None:
            self.x.append(x)
            self.y.append(y)

    def extend(self, other: Curve) -> None:
        self.x.extend(other.x)
        self.y.extend(other.y)

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class EventSummary:
    offset: int = 0  # events.jsonl's bytes summarised
    loss: Curve = field(default_factory=Curve)  # train loss by step
    lr: Curve = field(default_factory=Curve)
    evals: Curve = field(default_factory=Curve)  # eval loss by step
    latest: dict = field(default_factory=dict)  # newest event of each kind
    pushes: list = field(default_factory=list)

    def add_events(self, events: list[dict], offset: int) -> None:
        """Events read up to byte `offset` of the file."""
        for event in events:
            kind = event.get("kind")
            self.latest[kind] = event
            if kind == "step":
                self.loss.append(event["step"], event.get("loss"))
                self.lr.append(event["step"], event.get("lr"))
            elif kind == "eval":
                self.evals.append(event["step"], event.get("loss"))
            elif kind == "push":
                self.pushes.append(event)
        self.offset = offset

    def merge(self, newer: EventSummary) -> None:
        """`newer`'s events, read after these."""
        for mine, theirs in zip(self.curves, newer.curves, strict=True):
            mine.extend(theirs)
        self.latest.update(newer.latest)
        self.pushes += newer.pushes
        self.offset = newer.offset

    @property
    def curves(self) -> tuple[Curve, ...]:
        return self.loss, self.lr, self.evals


def refresh_summary(events_path: Path, save_after: int = 1) -> EventSummary:
    """The saved summary brought up to the file's end, saved again when that read
    `save_after` bytes or more: the trainer refreshes it at each checkpoint, a screen that
    opens a run whose summary is far behind (or missing) saves what it had to read."""
    summary = load_summary(events_path)
    start, tail = summary.offset, EventTail(events_path, summary.offset)
    while True:
        summary.add_events(tail.read(READ_BYTES), tail.offset)
        if not tail.behind:
            break
    if summary.offset - start >= save_after:
        save_summary(events_path, summary)
    return summary


def summary_path(events_path: Path) -> Path:
    return events_path.with_name("events.summary")


def load_summary(events_path: Path) -> EventSummary:
    """The saved summary of `events_path` if it still describes the file, else an empty one."""
    try:
        with open(summary_path(events_path), "rb") as f:
            head = json.loads(f.readline())
            body = f.read()
        if _check(events_path, head["offset"]) != head["check"]:
            return EventSummary()
        summary = EventSummary(head["offset"], latest=head["latest"], pushes=head["pushes"])
        at = 0
        for curve, length in zip(summary.curves, head["lengths"], strict=True):
            for column in (curve.x, curve.y):
                column.frombytes(body[at : at + 8 * length])
                at += 8 * length
        return summary
    except (OSError, ValueError, KeyError, TypeError):
        return EventSummary()  # none yet, unreadable or of another shape: read the events


def save_summary(events_path: Path, summary: EventSummary) -> None:
    """Replace the saved summary (atomically); a run folder the reader may not write into
    costs the next reader the parse, nothing else."""
    path = summary_path(events_path)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        head = {"offset": summary.offset, "check": _check(events_path, summary.offset),
                "latest": summary.latest, "pushes": summary.pushes,
                "lengths": [len(curve) for curve in summary.curves]}  # fmt: skip
        with open(partial, "wb") as f:
            f.write(json.dumps(head).encode() + b"\n")
            for curve in summary.curves:
                f.write(curve.x.tobytes())
                f.write(curve.y.tobytes())
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)


def _check(events_path: Path, offset: int) -> str:
    """The file's first bytes and its bytes just before `offset` (hex), or "" where it no
    longer reaches `offset`: an append-only file keeps both, a cut-back or replaced one
    (another run's events, a rewrite: other timestamps) does not."""
    with open(events_path, "rb") as f:
        head = f.read(min(offset, CHECK_BYTES))
        start = max(0, offset - CHECK_BYTES)
        f.seek(start)
        chunk = f.read(offset - start)
    return (head + chunk).hex() if len(chunk) == offset - start else ""
