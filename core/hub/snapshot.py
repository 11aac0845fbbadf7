"""Snapshots of what a push sends: taken at a save in a blink, uploaded later by the pusher.

A snapshot is a folder laid out as the Hub repo will be: hard links to the exported model
files and, for `--hub_strategy checkpoint`, to the latest checkpoint (the trainer replaces
those by rename, never in place, so a link keeps the bytes of that save); copies of the
TensorBoard files (tensorboardX appends to them); and the model card.

At most one snapshot waits, `hub/pending/`: a newer save replaces it, which is how saves
that pile up behind a slow push coalesce. The pusher renames the one it sends to
`hub/sending/` and deletes it once the Hub has it, so a process that dies mid-push leaves
it behind and the next one (a resumed run, `tpudeck push`) sends it again.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..runs.rundir import RunDir, list_steps, step_dir
from .card import model_card

INFO = ".snapshot.json"  # the snapshot's own notes; dot-files are not uploaded


def hub_dir(run_dir: RunDir) -> Path:
    return run_dir.path / "hub"


def pending_dir(run_dir: RunDir) -> Path:
    return hub_dir(run_dir) / "pending"


def sending_dir(run_dir: RunDir) -> Path:
    return hub_dir(run_dir) / "sending"


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links: pay for a copy
        shutil.copy2(src, dst)


def take_snapshot(run_dir: RunDir, repo_id: str, step: int, with_checkpoint: bool) -> Path:
    """Lay out the run as the repo will look after this push; replaces any waiting one."""
    if not (run_dir.model_dir / "model.safetensors").is_file():
        raise FileNotFoundError(f"run {run_dir.run_id} has no exported model yet")
    building = hub_dir(run_dir) / f".building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        shutil.copytree(run_dir.model_dir, building, copy_function=_link_or_copy)
        if run_dir.tensorboard_dir.is_dir():  # the Hub's "Training metrics" tab reads runs/
            shutil.copytree(run_dir.tensorboard_dir, building / "runs")
        steps = list_steps(run_dir.checkpoints_dir)
        if with_checkpoint and steps:
            shutil.copytree(
                step_dir(run_dir.checkpoints_dir, steps[-1]),
                building / "last-checkpoint",
                copy_function=_link_or_copy,
            )
        (building / "README.md").write_text(model_card(run_dir, repo_id))
        (building / INFO).write_text(json.dumps({"step": step, "repo": repo_id}))
    except Exception:
        shutil.rmtree(building, ignore_errors=True)  # a full disk must not leave half a snapshot
        raise
    target = pending_dir(run_dir)
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    return target


def snapshot_step(snapshot: Path) -> int | None:
    try:
        return json.loads((snapshot / INFO).read_text())["step"]
    except (OSError, ValueError, KeyError):
        return None


def files_of(snapshot: Path) -> list[tuple[str, Path]]:
    """(path in repo, local file) for every file a snapshot uploads."""
    return [
        (p.relative_to(snapshot).as_posix(), p)
        for p in sorted(snapshot.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    ]
