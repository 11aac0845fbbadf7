"""Resumable checkpoints: checkpoints/step-N/{state.msgpack, meta.json}.

A checkpoint is written to a hidden temp dir and renamed into place, so a kill -9 at any
moment leaves either the whole checkpoint or none. The UI lists them by directory name.
flax loads only to write or read one, so listing them stays cheap for the CLI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ..errors import CheckpointError

_NAME = re.compile(r"^step-(\d+)$")


def list_steps(directory: Path) -> list[int]:
    """Steps of the complete checkpoints, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(int(m[1]) for p in directory.iterdir() if (m := _NAME.match(p.name)))


def step_dir(directory: Path, step: int) -> Path:
    return directory / f"step-{step}"


def save(directory: Path, step: int, state, meta: dict, keep: int) -> Path:
    """Write the host-side TrainState of `step`; keep only the newest `keep` checkpoints."""
    from flax import serialization

    directory.mkdir(parents=True, exist_ok=True)
    final = step_dir(directory, step)
    tmp = directory / f".tmp-step-{step}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / "state.msgpack").write_bytes(serialization.to_bytes(state))
    (tmp / "meta.json").write_text(json.dumps({"step": step, **meta}, indent=2) + "\n")
    if final.exists():  # the same step saved again (e.g. stop right after a periodic save)
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_steps(directory)[:-keep]:
        shutil.rmtree(step_dir(directory, old), ignore_errors=True)
    return final


def restore(directory: Path, step: int, template):
    """(state, meta) of a checkpoint, shaped like `template`; corrupt files are a clear error."""
    from flax import serialization

    path = step_dir(directory, step)
    try:
        meta = json.loads((path / "meta.json").read_text())
        state = serialization.from_bytes(template, (path / "state.msgpack").read_bytes())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is corrupt ({type(exc).__name__}: {exc}); "
            f"delete it to resume from the one before"
        ) from None
    return state, meta
