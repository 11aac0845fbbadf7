"""The run directory: the only contract between trainer, UI and CLI (docs/architecture.md).

Writers here are the trainer's; readers must tolerate a torn last line in events.jsonl.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path

from .events import EventTail
from .home import store_folder
from .procs import current_user, is_alive, start_ticks

log = logging.getLogger(__name__)

# Final states; the UI names each. "diverged" is a NaN/Inf loss, "died" a vanished process.
FINAL_STATES = ("finished", "failed", "stopped", "diverged", "died")
STATES = ("queued", "waiting-for-accelerator", "preparing", "compiling", "training", *FINAL_STATES)
# Status fields that describe the state they were written with: a new state drops them, so
# "stopped by SIGTERM" or "waiting for ..." never outlive a resume or a start.
STATE_NOTES = ("message", "waiting_for", "queue_position", "exit_code")

# What a run directory holds (README, "The run directory"); nothing else in it is tpudeck's.
RUN_ENTRIES = (
    "spec.json",
    "status.json",
    "events.jsonl",
    "events.summary",
    "stdout.log",
    "tensorboard",
    "checkpoints",
    "model",
    ".model.tmp",
    "tokenizer",
    "hub",
    "script",
)


def new_run_id(name: str) -> str:
    """Sorts by creation time, reads as what ran: 20261125-201322-gpt2-demo-3f9a."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{secrets.token_hex(2)}"


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` by a temp file and a rename, so readers see the old or the new text.

    On a full disk the temp file is removed and the file is rewritten in place instead:
    truncating it frees its blocks, and a final state matters more than atomicity then.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno != errno.ENOSPC:
            raise
        with open(path, "w") as f:
            f.write(text)


# A checkpoint: step_N, as Orbax names them; step-N/state.msgpack, as tpudeck saved them
# before (still resumed). Orbax's unfinished ones are step_N.orbax-checkpoint-tmp.
_CHECKPOINT = re.compile(r"^step[_-](\d+)$")
LEGACY_STATE = "state.msgpack"


def list_steps(directory: Path) -> list[int]:
    """Steps of the complete checkpoints in a run's checkpoints/, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(int(m[1]) for p in directory.iterdir() if (m := _CHECKPOINT.match(p.name)))


def step_dir(directory: Path, step: int) -> Path:
    legacy = directory / f"step-{step}"
    return legacy if (legacy / LEGACY_STATE).is_file() else directory / f"step_{step}"


# A writer's temp file, `.NAME.PID.tmp` (write_atomic's): its pid says whether it is alive.
TEMP_FILE = re.compile(r"^\..+\.(\d+)\.tmp$")


def remove_stale_temps(directory: Path) -> None:
    """Delete the temp files or folders in `directory` whose name (TEMP_FILE, the writer's
    pid as its group) names a writer that died mid-write."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        match = TEMP_FILE.match(path.name)
        if match and not is_alive(int(match[1]), None):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _finite(value):
    """JSON has no NaN: non-finite floats become null, which readers show as n/a."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunDir:
    """Paths and writers of one run directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    spec_path = property(lambda self: self.path / "spec.json")
    status_path = property(lambda self: self.path / "status.json")
    events_path = property(lambda self: self.path / "events.jsonl")
    log_path = property(lambda self: self.path / "stdout.log")
    # A run on several hosts, detached: its supervisor's output (pod/detached.py)
    hosts_log_path = property(lambda self: self.path / "hosts.log")
    tensorboard_dir = property(lambda self: self.path / "tensorboard")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    model_dir = property(lambda self: self.path / "model")
    tokenizer_dir = property(lambda self: self.path / "tokenizer")
    tried_dir = property(lambda self: self.path / "tried")  # checkpoints exported to try

    def create(self, spec_json: str) -> None:
        """Make the directory and write spec.json once (a resumed run keeps its spec)."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.spec_path.exists():
            write_atomic(self.spec_path, spec_json + "\n")

    def replace_spec(self, spec_json: str) -> None:
        """Record a resumed run's changed settings (e.g. a larger --max_steps)."""
        write_atomic(self.spec_path, spec_json + "\n")

    def read_status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}

    def write_status(self, state: str, own: bool = True, **fields) -> dict:
        """Merge fields into status.json and replace it atomically; returns the new status.

        `own=False` is for another process recording an outcome (e.g. `tpudeck stop --kill`):
        the run's pid, user and host stay as they were.
        """
        assert state in STATES, state
        now = time.time()
        status = self.read_status()
        status.setdefault("created", now)
        if status.get("state") != state:
            for note in STATE_NOTES:
                status.pop(note, None)
        if own:
            pid = os.getpid()
            status.update(
                pid=pid,
                pid_start=start_ticks(pid),
                user=current_user(),
                host=socket.gethostname(),
            )
        status.update(
            run_id=self.run_id,
            state=state,
            updated=now,
            **{k: _finite(v) for k, v in fields.items()},
        )
        if state in FINAL_STATES:
            status["ended"] = now
        write_atomic(self.status_path, json.dumps(status, indent=2, sort_keys=True) + "\n")
        return status

    def emit(self, kind: str, **fields) -> dict:
        """Append one event line (and return it); a single write() so concurrent readers
        see whole lines.

        On a full disk the event is lost with a warning: the run's outcome, not its
        telemetry, is what the trainer must still record.
        """
        event = {
            "t": round(time.time(), 3),
            "kind": kind,
            **{k: _finite(v) for k, v in fields.items()},
        }
        line = (json.dumps(event) + "\n").encode()
        try:
            fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                written = os.write(fd, line)
                if written < len(line):  # cut a torn line, or the next event joins it
                    os.ftruncate(fd, os.fstat(fd).st_size - written)
                    raise OSError(errno.ENOSPC, "short write")
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            log.warning("disk full: a %s event was not recorded", kind)
        return event

    def read_events(self, kind: str | None = None) -> list[dict]:
        """All whole events (a torn last line is skipped), optionally of one kind."""
        return [
            e for e in EventTail(self.events_path).read() if kind is None or e.get("kind") == kind
        ]


def run_store_dir() -> Path:
    """$TPUDECK_HOME/runs, created if missing; an unusable home is a one-line error."""
    return store_folder("runs")
