"""The run directory: the only contract between trainer, UI and CLI (docs/architecture.md).

Writers here are the trainer's; readers must tolerate a torn last line in events.jsonl.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import time
from pathlib import Path

from ..errors import TpudeckError
from .events import EventTail
from .procs import current_user, start_ticks

# Final states; the UI names each. "diverged" is a NaN/Inf loss, "died" a vanished process.
FINAL_STATES = ("finished", "failed", "stopped", "diverged", "died")
STATES = ("queued", "waiting-for-accelerator", "preparing", "compiling", "training", *FINAL_STATES)


def tpudeck_home() -> Path:
    return Path(os.environ.get("TPUDECK_HOME") or Path.home() / ".tpudeck")


def new_run_id(name: str) -> str:
    """Sorts by creation time, reads as what ran: 20261125-201322-gpt2-demo-3f9a."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{secrets.token_hex(2)}"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
    tensorboard_dir = property(lambda self: self.path / "tensorboard")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    model_dir = property(lambda self: self.path / "model")
    tokenizer_dir = property(lambda self: self.path / "tokenizer")

    def create(self, spec_json: str) -> None:
        """Make the directory and write spec.json once (a resumed run keeps its spec)."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.spec_path.exists():
            _write_atomic(self.spec_path, spec_json + "\n")

    def replace_spec(self, spec_json: str) -> None:
        """Record a resumed run's changed settings (e.g. a larger --max_steps)."""
        _write_atomic(self.spec_path, spec_json + "\n")

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
        _write_atomic(self.status_path, json.dumps(status, indent=2, sort_keys=True) + "\n")
        return status

    def emit(self, kind: str, **fields) -> None:
        """Append one event line; a single write() so concurrent readers see whole lines."""
        event = {
            "t": round(time.time(), 3),
            "kind": kind,
            **{k: _finite(v) for k, v in fields.items()},
        }
        with open(self.events_path, "a") as f:
            f.write(json.dumps(event) + "\n")

    def read_events(self, kind: str | None = None) -> list[dict]:
        """All whole events (a torn last line is skipped), optionally of one kind."""
        return [
            e for e in EventTail(self.events_path).read() if kind is None or e.get("kind") == kind
        ]


def run_store_dir() -> Path:
    """$TPUDECK_HOME/runs, created if missing; an unusable home is a one-line error."""
    store = tpudeck_home() / "runs"
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TpudeckError(
            f"cannot use {store} as the run store ({exc.strerror}); set TPUDECK_HOME to a writable folder"
        ) from None
    return store


def run_dir_for(spec) -> RunDir:
    """The directory a new run writes to: --output_dir, else a fresh one in the run store.

    A run in its own --output_dir is also linked from the store so every listing finds it.
    """
    store = run_store_dir()
    name = spec.run_name or f"{spec.model_type}-{spec.model_size}-{Path(spec.training_data).stem}"
    run_id = new_run_id(name)
    if spec.output_dir is None:
        return RunDir(store / run_id)
    target = Path(spec.output_dir).resolve()
    if not any(p.is_symlink() and p.resolve() == target for p in store.iterdir()):
        (store / run_id).symlink_to(target, target_is_directory=True)
    return RunDir(target)
