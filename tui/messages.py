"""Messages that worker threads post to screens (workers never touch widgets)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class RunsRead(Message):
    """A fresh listing of the run store."""

    rows: list


@dataclass
class LaunchDone(Message):
    """A detached launch returned: the run id, or the one-line error."""

    run_id: str | None
    error: str | None


@dataclass
class DevicesRead(Message):
    """One sampling round of every device probe and of who holds the accelerator."""

    readings: dict
    who: dict
    tpu_history: list  # the sampler's recent tpu_runtime readings, oldest first


@dataclass
class RunEnded(Message):
    """A run finished, failed, died or diverged, or its Hub push stopped, while the app was
    open."""

    notice: object  # core.runs.notices.Notice
