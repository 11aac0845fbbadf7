"""Starting a detached run: the one engine function the CLI and the app both call.

It returns once the child is past preparing (queued, waiting for the accelerator or
training) with a Launched describing where the run stands, or raises the one-line
TpudeckError that refused it; a refused run leaves its directory as it found it.
"""

from __future__ import annotations

import dataclasses

from ..errors import TpudeckError
from .attempt import LaunchAttempt
from .launcher import launch_detached, wait_past_preparing
from .queue import Place
from .rundir import RunDir
from .script import create_script_run
from .targets import Target, new_run_target, plan_resume

WAITING = ("queued", "waiting-for-accelerator")


@dataclasses.dataclass(frozen=True)
class Launched:
    run_dir: RunDir
    state: str
    waiting_for: str | None  # who or what it waits behind, while queued or waiting

    @property
    def run_id(self) -> str:
        return self.run_dir.run_id

    def describe(self) -> str:
        """ "run ID: queued (2 run(s) ahead in the queue)", as the CLI prints it."""
        where = f" ({self.waiting_for})" if self.state in WAITING and self.waiting_for else ""
        return f"run {self.run_id}: {self.state}{where}"


def start_training(
    spec, target: Target | None = None, resume: bool = False, wait: bool = True,
    place: Place | None = None,
) -> Launched:  # fmt: skip
    """Launch `spec` detached into `target` (default: a new run for it), queued at `place`."""
    target = target or new_run_target(spec)
    attempt = target.begin(spec)
    flags = ["--resume"] * resume + ["--no-wait"] * (not wait) + (place or Place()).flags()
    return _start(target.run_dir, ["_run", str(target.run_dir.path), *flags], attempt)


def resume_training(output_dir: str, given: dict | None = None, wait: bool = True) -> Launched:
    """Continue the run in `output_dir` detached, with the flags `given` changed."""
    spec, target = plan_resume(output_dir, {**(given or {}), "output_dir": output_dir})
    return start_training(spec, target, resume=True, wait=wait)


def start_script(
    command: list[str], name: str | None = None, wait: bool = True, place: Place | None = None
) -> Launched:
    """Launch a user's script detached under the accelerator guard, queued at `place`."""
    run_dir = create_script_run(command, name)
    flags = ["--no-wait"] * (not wait) + (place or Place()).flags()
    return _start(run_dir, ["_script", str(run_dir.path), *flags])


def _start(run_dir: RunDir, child_args: list[str], attempt: LaunchAttempt | None = None):
    try:
        child, report = launch_detached(run_dir, child_args)
    except OSError as exc:
        if attempt is not None:
            attempt.refuse()
        raise TpudeckError(f"cannot start the run ({exc.strerror})") from None
    status = wait_past_preparing(run_dir, child, report)
    if "error" in status:
        raise TpudeckError(status["error"])
    state = status.get("state", "failed")
    ended_badly = child.poll() not in (None, 0) and state not in ("stopped", "finished")
    if state == "failed" or ended_badly:
        raise TpudeckError(status.get("message") or f"the run exited early: see {run_dir.log_path}")
    return Launched(run_dir, state, status.get("waiting_for"))
