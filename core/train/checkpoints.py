"""Resumable checkpoints, written by Orbax while training goes on: checkpoints/step_N/
{state, meta}.

Orbax's CheckpointManager writes step N into `step_N.orbax-checkpoint-tmp` in a background
thread and renames it when whole, so a kill -9 at any moment leaves every earlier
checkpoint whole and no step_N; the next manager removes the leftover. A save is announced
(the `checkpoint` event) only once it is whole; a save that fails (a full disk) fails the
run at the next step, naming the step it was saving, with its leftover removed. Each
checkpoint holds its files' sizes and SHA-256 (checksums.json, written before the rename),
so a resume refuses a damaged one before it takes the accelerator.

Runs saved before Orbax (checkpoints/step-N/{state.msgpack, meta.json}, the meta with the
state's size and SHA-256) still verify and resume; their checkpoints count toward
`save_total_limit` beside the new ones. Orbax and flax load only to write or read one, so
listing checkpoints (the UI does, by directory name) stays cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import CheckpointError, DiskFull, is_disk_full
from ..runs.rundir import (  # the directory names are the run dir contract
    LEGACY_STATE,
    list_steps,
    step_dir,
)

_TEMP_SUFFIX = ".orbax-checkpoint-tmp"
CHECKSUMS = "checksums.json"  # in each checkpoint: its items' files' sizes and SHA-256
_ITEMS = ("state", "meta")


@functools.cache
def _configure_orbax() -> None:
    """Orbax's process-wide settings, made once, the first time a run opens checkpoints."""
    import numpy as np
    import orbax.checkpoint as ocp

    # Orbax logs through absl, a failed save with its traceback among the rest; each
    # failure reaches the run as tpudeck's own one-line error instead.
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    # Host arrays are written as they are, not deep-copied first: the trainer's (one pmap
    # replica fetched for the save) are read-only and nobody else holds them, and the copy
    # was a whole state's worth of memory at every save.
    ocp.type_handlers.register_type_handler(
        np.ndarray, ocp.type_handlers.NumpyHandler(deepcopy_host_arrays=False), override=True
    )


class Checkpoints:
    """The run's checkpoints as the trainer writes them; call `settle` every step."""

    def __init__(self, directory: Path, keep: int, saved: Callable[[int, Path], None]):
        import orbax.checkpoint as ocp

        _configure_orbax()
        self.directory, self.keep, self.saved = directory, keep, saved
        self.pending: int | None = None
        self.manager = ocp.CheckpointManager(
            directory.absolute(),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                step_prefix="step",
                cleanup_tmp_directories=True,
                async_options=ocp.AsyncOptions(post_finalization_callback=self._sign),
            ),
        )

    def save(self, step: int, state, meta: dict) -> None:
        """Start writing the TrainState of `step` (host arrays that nothing changes until it
        is written, or device arrays that Orbax copies to the host before this returns);
        returns before it is written."""
        import jax
        import orbax.checkpoint as ocp

        self.wait()  # Orbax writes one at a time: the previous one must be announced first
        # A write that runs out of room fails deep in Orbax's thread, noisily: refuse first.
        needed = sum(_bytes_written_here(leaf) for leaf in jax.tree.leaves(state))
        if shutil.disk_usage(self.directory).free < needed:
            raise DiskFull(step, "a checkpoint", self.directory.parent)
        self.pending = step
        self._failing_as_disk_full(
            lambda: self.manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state),
                    meta=ocp.args.JsonSave({"step": step, **meta}),
                ),
                force=True,
            )
        )

    def settle(self) -> None:
        """Announce the save in flight if it has finished; cheap while it has not."""
        if self.pending is not None and not self.manager.is_saving_in_progress():
            self.wait()

    def wait(self) -> None:
        """Block until the save in flight is whole, then announce it (or raise its failure)."""
        if self.pending is None:
            return
        self._failing_as_disk_full(self.manager.wait_until_finished)
        step, self.pending = self.pending, None
        for old in list_steps(self.directory)[: -self.keep]:
            if (path := step_dir(self.directory, old) / LEGACY_STATE).is_file():
                shutil.rmtree(path.parent, ignore_errors=True)
        self.saved(step, step_dir(self.directory, step))

    def close(self) -> None:
        """Finish the save in flight; a run ending on another error still gets it whole."""
        try:
            self.wait()
        finally:
            self.manager.close()

    def _sign(self) -> None:
        """In Orbax's writer thread, once the files are written and before the rename that
        makes them a checkpoint: record every file's size and SHA-256 inside it, so a resume
        refuses a flipped bit before it takes the accelerator. Of several processes, the
        first signs (Orbax renames the folder once all of them are done)."""
        import jax

        if jax.process_index() != 0:
            return
        (written,) = self._being_written(self.pending)
        # The items' files; Orbax's own step metadata is rewritten at the commit.
        files = sorted(p for item in _ITEMS for p in (written / item).rglob("*") if p.is_file())
        sums = {str(p.relative_to(written)): [p.stat().st_size, _sha256(p)] for p in files}
        (written / CHECKSUMS).write_text(json.dumps(sums, indent=1) + "\n")

    def _being_written(self, step: int) -> list[Path]:
        """Orbax's folder for the write of `step` while it is not yet a checkpoint."""
        return list(self.directory.glob(f"step_{step}{_TEMP_SUFFIX}*"))

    def _failing_as_disk_full(self, call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as exc:
            step, self.pending = self.pending, None
            for leftover in self._being_written(step):
                shutil.rmtree(leftover, ignore_errors=True)
            if is_disk_full(exc):
                raise DiskFull(step, "a checkpoint", self.directory.parent) from None
            raise

    def restore(self, step: int, template, shardings=None):
        """(state, meta) of a checkpoint, shaped like `template`, its arrays read straight
        onto `shardings` where given (each process reads only the shards it holds);
        corrupt files are a clear error."""
        path = step_dir(self.directory, step)
        if (path / LEGACY_STATE).is_file():
            return _restore_legacy(path, template)
        import jax
        import orbax.checkpoint as ocp

        if shardings is not None:
            template = jax.tree.map(
                lambda x, where: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=where),
                template, shardings,
            )  # fmt: skip
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()
                ),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _corrupt(path, exc, "to resume from the one before") from None
        return restored.state, restored.meta


def read_state(directory: Path, step: int) -> dict:
    """A checkpoint's state as nested dicts of numpy arrays, without a template (to export
    any checkpoint's parameters, in a process that need not have the devices it was saved
    from)."""
    path = step_dir(directory, step)
    if (path / LEGACY_STATE).is_file():
        from flax import serialization

        return serialization.msgpack_restore((path / LEGACY_STATE).read_bytes())
    import jax
    import numpy as np
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as checkpointer:
        saved = checkpointer.metadata(path.absolute() / "state").item_metadata.tree
        # numpy leaves ask for host arrays; else Orbax would rebuild the saved device mesh
        as_numpy = jax.tree.map(lambda array: np.empty(array.shape, array.dtype), saved)
        return checkpointer.restore(path.absolute() / "state", as_numpy)


def verify(directory: Path, step: int, previous: int | None = None) -> None:
    """Raise CheckpointError unless step N's files are whole; cheap next to a restore."""
    path = step_dir(directory, step)
    try:
        if (path / LEGACY_STATE).is_file():
            _verify_legacy(path, step)
        else:
            meta = json.loads((path / "meta" / "metadata").read_text())
            if meta.get("step") != step:
                raise ValueError(f"meta says step {meta.get('step')}")
            for name, (size, sha256) in json.loads((path / CHECKSUMS).read_text()).items():
                _check_file(path / name, size, sha256)
    except (OSError, ValueError, TypeError) as exc:
        fallback = f"to resume from step {previous}" if previous else "to train from step 0"
        raise _corrupt(path, exc, fallback) from None


def _bytes_written_here(leaf) -> int:
    """What this process writes of an array: all of a host array, one copy of the shards
    of a device array that it holds (replica 0 of each; the others are written elsewhere)."""
    shards = getattr(leaf, "addressable_shards", None)
    if shards is None:
        return leaf.nbytes
    return sum(shard.data.nbytes for shard in shards if shard.replica_id == 0)


def _corrupt(path: Path, exc: Exception, fallback: str) -> CheckpointError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return CheckpointError(
        f"checkpoint {path} is corrupt ({type(exc).__name__}: {first_line}); "
        f"delete it (rm -r {path}) {fallback}"
    )


# -- checkpoints written before Orbax -----------------------------------------------------


def _verify_legacy(path: Path, step: int) -> None:
    import msgpack

    meta = json.loads((path / "meta.json").read_text())
    if meta.get("step") != step:
        raise ValueError(f"meta.json says step {meta.get('step')}")
    state = path / LEGACY_STATE
    if "state_sha256" in meta:
        _check_file(state, meta["state_bytes"], meta["state_sha256"])
    else:  # saved before checksums: at least the whole structure must parse
        try:
            msgpack.unpackb(state.read_bytes(), strict_map_key=False)
        except msgpack.UnpackException as exc:
            raise ValueError(str(exc)) from None


def _check_file(path: Path, size: int, sha256: str) -> None:
    if path.stat().st_size != size:
        raise ValueError(f"{path.name} has {path.stat().st_size} bytes, {size} saved")
    if _sha256(path) != sha256:
        raise ValueError(f"{path.name} does not match its checksum")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def _restore_legacy(path: Path, template):
    from flax import serialization

    try:
        meta = json.loads((path / "meta.json").read_text())
        state = serialization.from_bytes(template, (path / LEGACY_STATE).read_bytes())
    except Exception as exc:  # any state that does not fit the template is not this run's
        raise _corrupt(path, exc, "to resume from the one before") from None
    return state, meta
