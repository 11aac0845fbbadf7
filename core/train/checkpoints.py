"""Resumable checkpoints: checkpoints/step-N/{state.msgpack, meta.json}.

A checkpoint is written to a hidden temp dir and renamed into place, so a kill -9 at any
moment leaves either the whole checkpoint or none; the temp dirs of dead writers are
removed by the next save or resume. meta.json records the state's size and SHA-256, so a
resume verifies the checkpoint before it takes the accelerator. The UI lists them by
directory name. flax loads only to write or read one, so listing them stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from ..errors import CheckpointError, DiskFull, is_disk_full
from ..runs.rundir import (  # the directory names are the run dir contract
    list_steps,
    remove_stale_temps,
    step_dir,
)

_TEMP = re.compile(r"^\.tmp-step-\d+-(\d+)$")


def remove_dead_saves(directory: Path) -> None:
    """Delete the temp dirs of saves whose process died (a kill -9 mid-save)."""
    remove_stale_temps(directory, _TEMP)


def save(directory: Path, step: int, state, meta: dict, keep: int) -> Path:
    """Write the host-side TrainState of `step`; keep only the newest `keep` checkpoints.

    A full disk removes the half-written save and raises DiskFull; older checkpoints stay.
    """
    from flax import serialization

    directory.mkdir(parents=True, exist_ok=True)
    remove_dead_saves(directory)
    tmp = directory / f".tmp-step-{step}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        blob = serialization.to_bytes(state)
        (tmp / "state.msgpack").write_bytes(blob)
        checks = {"state_bytes": len(blob), "state_sha256": hashlib.sha256(blob).hexdigest()}
        (tmp / "meta.json").write_text(
            json.dumps({"step": step, **meta, **checks}, indent=2) + "\n"
        )
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(exc):
            raise DiskFull(step, "a checkpoint", directory.parent) from None
        raise
    final = step_dir(directory, step)
    if final.exists():  # the same step saved again (e.g. stop right after a periodic save)
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_steps(directory)[:-keep]:
        shutil.rmtree(step_dir(directory, old), ignore_errors=True)
    return final


def verify(directory: Path, step: int, previous: int | None = None) -> None:
    """Raise CheckpointError unless step-N's files are whole; cheap next to a restore."""
    import msgpack

    path = step_dir(directory, step)
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("step") != step:
            raise ValueError(f"meta.json says step {meta.get('step')}")
        state = path / "state.msgpack"
        if "state_sha256" in meta:
            size = state.stat().st_size
            if size != meta["state_bytes"]:
                raise ValueError(f"state.msgpack has {size} bytes, {meta['state_bytes']} saved")
            if _sha256(state) != meta["state_sha256"]:
                raise ValueError("state.msgpack does not match its checksum")
        else:  # saved before checksums: at least the whole structure must parse
            msgpack.unpackb(state.read_bytes(), strict_map_key=False)
    except (OSError, ValueError, TypeError, msgpack.UnpackException) as exc:
        fallback = f"to resume from step {previous}" if previous else "to train from step 0"
        raise CheckpointError(
            f"checkpoint {path} is corrupt ({type(exc).__name__}: {exc}); "
            f"delete it (rm -r {path}) {fallback}"
        ) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


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
