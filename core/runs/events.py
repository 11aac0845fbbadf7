"""Reading events.jsonl while a trainer appends to it: by byte offset, whole lines only."""

from __future__ import annotations

import json
import os
from pathlib import Path


class EventTail:
    """Yields new whole events on each `read()`; a torn last line waits for its end.

    Lines that are whole but not JSON objects are counted in `garbage`, never raised.
    """

    def __init__(self, path: Path, offset: int = 0):
        self.path, self.offset, self.garbage = Path(path), offset, 0
        self.behind = False  # the last bounded read stopped before the end of the file

    def read(self, max_bytes: int = -1) -> list[dict]:
        """New whole events; `max_bytes` bounds one read (call again while `behind`)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(max_bytes)
                self.behind = max_bytes > 0 and len(chunk) == max_bytes
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1  # only complete lines
        self.offset += end
        events = []
        for line in chunk[:end].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict):
                events.append(event)
            elif line.strip():
                self.garbage += 1
        return events


def last_event(path: Path, kind: str, window: int = 1 << 16) -> dict | None:
    """The newest event of `kind` within the file's last `window` bytes (cheap for big logs)."""
    return last_events(path, (kind,), window).get(kind)


def last_events(path: Path, kinds: tuple[str, ...], window: int = 1 << 16) -> dict[str, dict]:
    """The newest event of each of `kinds` found within the file's last `window` bytes, in
    one read."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - window))
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    found: dict[str, dict] = {}
    marks = {kind: f'"kind": "{kind}"'.encode() for kind in kinds}  # as emit writes them
    for line in reversed(lines):
        if not any(mark in line for kind, mark in marks.items() if kind not in found):
            continue  # not parsed: other kinds, and kinds found already (a tail of steps)
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("kind") in kinds:
            found.setdefault(event["kind"], event)
            if len(found) == len(kinds):
                break
    return found
