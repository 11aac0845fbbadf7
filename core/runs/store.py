"""The run store: every user's runs under $TPUDECK_HOME/runs, with their live state.

A run whose process vanished without writing a final state is `died`: liveness is
(pid, start time), so a reused pid is not mistaken for the run.
"""

from __future__ import annotations

import dataclasses
import json
import pwd
import time
from pathlib import Path

from ..errors import TpudeckError
from .events import last_events
from .home import tpudeck_home
from .procs import current_user, is_alive
from .rundir import FINAL_STATES, RunDir


@dataclasses.dataclass
class RunRecord:
    run_dir: RunDir
    status: dict
    state: str  # status state, or "died", or "unknown" when status.json is unreadable
    owner: str  # the user owning the run directory (not editable through JSON)
    problem: str | None = None

    @property
    def run_id(self) -> str:
        return self.run_dir.run_id

    def summary(self) -> dict:
        latest = last_events(self.run_dir.events_path, ("step", "push"))
        step = latest.get("step", {})
        done = step.get("step", self.status.get("step"))
        total = step.get("total_steps", self.status.get("total_steps"))
        return {
            "run_id": self.run_id,
            "state": self.state,
            "owner": self.owner,
            "step": done,
            "total_steps": total,
            "loss": step.get("loss"),
            "tokens_per_s": step.get("tokens_per_s"),
            "eta_s": eta_seconds(self.state, step),
            "created": self.status.get("created"),
            "message": self.problem or self.status.get("message"),
            "path": str(self.run_dir.path),
            # When it ended (a died run wrote no end: its last status write) and its newest
            # push: what a notice of its end, or of a push that stopped, is made of.
            "ended": self.status.get("ended") or self.status.get("updated"),
            "push": latest.get("push"),
        }


def eta_seconds(state: str, step_event: dict) -> float | None:
    """Seconds left for a training run: the trainer's estimate at its last logged step,
    counted down since, so it neither jumps with each window's pace nor stands still."""
    if state != "training" or step_event.get("eta_s") is None:
        return None
    return max(0.0, step_event["eta_s"] - (time.time() - step_event.get("t", time.time())))


def read_run(path: Path) -> RunRecord:
    run_dir = RunDir(path)
    try:
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
    except (KeyError, OSError):
        owner = "?"
    try:
        status = json.loads(run_dir.status_path.read_text())
        if not isinstance(status, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return RunRecord(run_dir, {}, "unknown", owner, "no status.json yet")
    except ValueError as exc:
        return RunRecord(run_dir, {}, "unknown", owner, f"status.json is corrupt ({exc})")
    state = status.get("state", "unknown")
    if state not in FINAL_STATES and not is_alive(status.get("pid"), status.get("pid_start")):
        state = "died"
    return RunRecord(run_dir, status, state, owner)


class RunStore:
    def __init__(self, home: Path | None = None):
        self.home = Path(home or tpudeck_home())
        self.runs_dir = self.home / "runs"

    def paths(self) -> list[Path]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(
            p for p in self.runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def list(self) -> list[RunRecord]:
        return [read_run(p) for p in self.paths()]

    def find(self, ref: str) -> RunRecord:
        """A run by anything tpudeck prints or shows of it: its id (in the store, or its
        --output_dir's name), its directory path, a unique id prefix, its name, or a unique
        part of its id."""
        paths = self.paths()
        exact = [p for p in paths if ref in (p.name, p.resolve().name)]
        if len(exact) == 1:
            return read_run(exact[0])
        on_disk = Path(ref).expanduser()
        if (on_disk / "spec.json").is_file():
            return read_run(on_disk.resolve())
        matches = (
            exact
            or [p for p in paths if p.name.startswith(ref)]
            or [p for p in paths if _run_name(p) == ref]
            or [p for p in paths if ref in p.name]
        )
        if len(matches) == 1:
            return read_run(matches[0])
        if not matches:
            raise TpudeckError(f"no run {ref!r} in {self.runs_dir}: see `tpudeck ls`")
        raise TpudeckError(
            f"{ref!r} matches {len(matches)} runs ({matches[0].name}, ...): give more of the id"
        )


def _run_name(path: Path) -> str | None:
    try:
        return json.loads((path / "spec.json").read_text()).get("run_name")
    except (OSError, ValueError, AttributeError):
        return None


def check_owner(record: RunRecord, action: str) -> None:
    """Only a run's owner, or root, may stop, delete or reorder it."""
    me = current_user()
    if me != "root" and record.owner != me:
        raise TpudeckError(
            f"run {record.run_id} belongs to {record.owner}: only they (or root) may {action} it"
        )
