"""A launch into a run directory that is undone when its input is refused.

The rule (README, "The run directory"): a launch whose input is refused before the run
holds the accelerator leaves the directory as it found it. A new run's directory is
removed; a resumed run gets its spec.json and status.json back byte for byte, and its
events and log are cut back to where they were; what `--overwrite_output_dir` set aside
comes back. The launcher and the trainer may be two processes (a detached launch), so the
launcher writes what it changed to a journal, `.launch.json`, that the trainer then
accepts (the run goes on) or refuses (everything is put back). A journal left by a
process that died while preparing is refused by the next launch into that directory.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .procs import start_ticks
from .rundir import RUN_ENTRIES, RunDir, write_atomic

JOURNAL = ".launch.json"
SET_ASIDE = ".previous-run"  # what --overwrite_output_dir replaces, until the new run is accepted


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


class LaunchAttempt:
    """What one launch changed in a run directory, and how to take it back."""

    def __init__(self, run_dir: RunDir, record: dict):
        self.run_dir = run_dir
        self.record = record

    @property
    def journal(self) -> Path:
        return self.run_dir.path / JOURNAL

    @classmethod
    def begin(
        cls,
        run_dir: RunDir,
        spec_json: str,
        overwrite: bool = False,
        store_link: Path | None = None,
    ) -> LaunchAttempt:
        """Record the directory as it is, then write the launch's spec.json."""
        path = run_dir.path
        stale = cls.pending(run_dir)
        if stale is not None:
            stale.refuse()
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        record = {
            "pid": os.getpid(),
            "pid_start": start_ticks(os.getpid()),
            "created": created,
            "store_link": str(store_link) if store_link else None,
            "set_aside": False,
            "entries": [name for name in RUN_ENTRIES if (path / name).exists()],
            "spec": _text(run_dir.spec_path),
            "status": _text(run_dir.status_path),
            "events_size": _size(run_dir.events_path),
            "log_size": _size(run_dir.log_path),
        }
        if overwrite:
            record["set_aside"] = _set_aside(path)
            record.update(spec=None, status=None, events_size=None, log_size=None)
        attempt = cls(run_dir, record)
        write_atomic(attempt.journal, json.dumps(record, indent=2) + "\n")
        write_atomic(run_dir.spec_path, spec_json + "\n")
        return attempt

    @classmethod
    def pending(cls, run_dir: RunDir) -> LaunchAttempt | None:
        """The attempt whose journal is in the directory: ours, or one a dead process left."""
        try:
            record = json.loads((run_dir.path / JOURNAL).read_text())
        except (OSError, ValueError):
            return None
        return cls(run_dir, record)

    def accept(self) -> None:
        """The input was good: the run goes on, and what it replaced is deleted."""
        shutil.rmtree(self.run_dir.path / SET_ASIDE, ignore_errors=True)
        self.journal.unlink(missing_ok=True)

    def refuse(self) -> None:
        """Put the directory back as the launch found it (or remove what it created)."""
        path, record = self.run_dir.path, self.record
        if record["status"] is None:  # a new run: nothing of it is worth keeping
            for name in RUN_ENTRIES:
                _remove(path / name)
            if record["set_aside"]:
                _restore_set_aside(path)
        else:
            for name in set(RUN_ENTRIES) - set(record.get("entries", RUN_ENTRIES)):
                _remove(path / name)  # e.g. a tokenizer/ the refused preparation wrote
            write_atomic(self.run_dir.spec_path, record["spec"])
            write_atomic(self.run_dir.status_path, record["status"])
            _cut_back(self.run_dir.events_path, record["events_size"])
            _cut_back(self.run_dir.log_path, record["log_size"])
        self.journal.unlink(missing_ok=True)
        if record["created"] and not any(path.iterdir()):
            path.rmdir()
            if record["store_link"]:
                Path(record["store_link"]).unlink(missing_ok=True)


def _set_aside(path: Path) -> bool:
    """Move the previous run's own entries (never other files) into SET_ASIDE."""
    aside = path / SET_ASIDE
    if aside.exists():  # an earlier overwrite died before it was accepted: aside is older
        for name in RUN_ENTRIES:
            _remove(path / name)
        return True
    moved = [name for name in RUN_ENTRIES if (path / name).exists() or (path / name).is_symlink()]
    if not moved:
        return False
    aside.mkdir()
    for name in moved:
        os.replace(path / name, aside / name)
    return True


def _restore_set_aside(path: Path) -> None:
    aside = path / SET_ASIDE
    for entry in aside.iterdir():
        os.replace(entry, path / entry.name)
    aside.rmdir()


def remove_run_entries(path: Path) -> None:
    """Delete what tpudeck keeps in a run directory, and the directory if nothing else is
    left: files of the user's own in an --output_dir stay."""
    for name in (*RUN_ENTRIES, JOURNAL, SET_ASIDE):
        _remove(path / name)
    if not any(path.iterdir()):
        path.rmdir()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _cut_back(path: Path, size: int | None) -> None:
    if size is None:
        path.unlink(missing_ok=True)
    elif path.exists():
        os.truncate(path, size)
