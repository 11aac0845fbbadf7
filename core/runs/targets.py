"""Where a launch may write: the run directory rules of the README, checked before anything
is written.

A new run goes into a fresh folder of the run store, or into --output_dir when that is
empty. A folder that holds anything is refused (the rule of the Hugging Face scripts)
unless --resume continues the run in it or --overwrite_output_dir replaces it. A run that
is alive is never written by a second launch.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import TpudeckError
from .attempt import LaunchAttempt
from .procs import current_user
from .rundir import FINAL_STATES, RunDir, list_steps, new_run_id, run_store_dir
from .store import read_run


@dataclasses.dataclass
class Target:
    run_dir: RunDir
    overwrite: bool = False  # set the previous run aside, delete it once this one is accepted
    store_link: Path | None = None  # the store's link to an --output_dir, made for this run

    def begin(self, spec) -> LaunchAttempt:
        """Journal the launch of `spec` here (runs/attempt.py), then write its spec.json."""
        return LaunchAttempt.begin(self.run_dir, spec.to_json(), self.overwrite, self.store_link)


def new_run_target(spec, overwrite: bool = False) -> Target:
    """The directory of a new run, or a one-line error saying what to pass instead."""
    store = run_store_dir()
    name = spec.run_name or f"{spec.model_type}-{spec.model_size}-{Path(spec.training_data).stem}"
    run_id = new_run_id(name)
    if spec.output_dir is None:
        return Target(RunDir(store / run_id))
    target = Path(spec.output_dir).resolve()
    run_dir = RunDir(target)
    if target.is_dir():
        # A detached run on several hosts: its supervisor's log comes first (pod/detached.py).
        if any(p != run_dir.hosts_log_path for p in target.iterdir()):
            _refuse_live_or_foreign(run_dir)
            if not overwrite:
                raise TpudeckError(_occupied(run_dir, spec.output_dir))
    elif target.exists():
        raise TpudeckError(f"--output_dir {spec.output_dir} is a file: choose a directory")
    link = None
    if not any(p.is_symlink() and p.resolve() == target for p in store.iterdir()):
        link = store / run_id
        link.symlink_to(target, target_is_directory=True)
    return Target(run_dir, overwrite=overwrite, store_link=link)


def plan_resume(output_dir: str, given: dict):
    """(spec, target) to continue the run in `output_dir` with the flags `given` changed."""
    from ..spec import RunSpec

    run_dir = resume_target(output_dir)
    saved = RunSpec.load(run_dir.spec_path)
    check_resume_changes(run_dir, saved.to_dict(), given)
    return saved.replace(**given), Target(run_dir)


def resume_target(output_dir: str) -> RunDir:
    """The run that `--resume --output_dir DIR` continues, if it can be continued."""
    run_dir = RunDir(Path(output_dir).resolve())
    if not run_dir.spec_path.is_file():
        raise TpudeckError(
            f"--output_dir {output_dir} holds no run to resume (no spec.json): "
            "launch without --resume to start one there"
        )
    _refuse_live_or_foreign(run_dir)
    if not list_steps(run_dir.checkpoints_dir) and _has_trained(run_dir):
        raise TpudeckError(
            f"run {run_dir.run_id} has no checkpoint to resume from, and resuming would replace "
            f"its model/: pass --overwrite_output_dir instead of --resume to train it again"
        )
    return run_dir


# What a checkpoint's state and tokens were made with; flags such as --max_steps,
# --learning_rate or --eval_steps may change on --resume, these may not.
FIXED_ON_RESUME = (
    "recipe",
    "model_type",
    "model_size",
    "config_name",
    "model_name_or_path",
    "tokenizer_name",
    "vocab_size",
    "block_size",
    "max_seq_length",
    "max_train_samples",  # the examples, and so the data order
    "label_column",  # the classes, and so the classifier's shape
    "scan_layers",  # how the checkpoint's layers are laid out (stacked or not)
)


def check_resume_changes(run_dir: RunDir, saved: dict, given: dict) -> None:
    """Refuse a resume that changes what the checkpoint was trained with."""
    for name in FIXED_ON_RESUME:
        if name in given and given[name] != saved.get(name):
            raise TpudeckError(
                f"--resume cannot change --{name} (the run has {saved.get(name)!r}): start a "
                f"new run from its weights with --model_name_or_path {run_dir.model_dir}"
            )


def _has_trained(run_dir: RunDir) -> bool:
    return run_dir.model_dir.exists() or bool(run_dir.read_status().get("step"))


def _refuse_live_or_foreign(run_dir: RunDir) -> None:
    if not (run_dir.spec_path.exists() or run_dir.status_path.exists()):
        return  # a folder of the user's, not a run
    record = read_run(run_dir.path)  # a vanished process reads as "died", a final state
    if record.state not in (*FINAL_STATES, "unknown"):
        raise TpudeckError(
            f"run {record.run_id} in {run_dir.path} is {record.state} (pid {record.status['pid']}): "
            f"`tpudeck stop {record.run_id}` first, or choose another --output_dir"
        )
    if record.owner not in (current_user(), "?") and os.geteuid() != 0:
        raise TpudeckError(
            f"{run_dir.path} holds run {record.run_id} of {record.owner}: choose another --output_dir"
        )


def _occupied(run_dir: RunDir, given: str) -> str:
    if not run_dir.spec_path.exists():
        return (
            f"--output_dir {given} is not empty: pass --overwrite_output_dir to train into it "
            "anyway (files that are not tpudeck's stay), or choose an empty directory"
        )
    status = run_dir.read_status()
    state = status.get("state", "not started")
    where = f" at step {status['step']}" if status.get("step") is not None else ""
    return (
        f"--output_dir {given} holds run {run_dir.run_id} ({state}{where}): pass --resume to "
        "continue it, --overwrite_output_dir to replace it, or choose another directory"
    )
