"""One trainer among several (the hosts of a TPU pod slice, or processes a launcher started):
which one this is, and jax's distributed runtime that joins them.

A launcher starts the same `tpudeck train` on every host with TPUDECK_NUM_PROCESSES,
TPUDECK_PROCESS_ID and JAX_COORDINATOR_ADDRESS (process 0's host:port, jax's own variable)
set (and TPUDECK_HOST_OF_0=1 where a worker shares process 0's host, whose accelerator
lock process 0 holds for them all: `--hosts local:N`). Every process trains on the global mesh and feeds only its own devices' rows of each
batch; process 0, the leader, is the run: it writes spec, status, events, TensorBoard,
exports and pushes. The others log to stdout.<id>.log in the run directory and write
nothing else there but their part of each checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import TpudeckError
from ..runs.rundir import RunDir


@dataclasses.dataclass(frozen=True)
class Processes:
    index: int = 0
    count: int = 1
    coordinator: str | None = None
    host_of_0: bool = False  # on process 0's host: its accelerator lock is the run's here

    @classmethod
    def from_env(cls, environ=os.environ) -> Processes:
        try:
            count = int(environ.get("TPUDECK_NUM_PROCESSES", "1"))
            index = int(environ.get("TPUDECK_PROCESS_ID", "0"))
        except ValueError:
            raise TpudeckError(
                "TPUDECK_NUM_PROCESSES and TPUDECK_PROCESS_ID must be whole numbers"
            ) from None
        coordinator = environ.get("JAX_COORDINATOR_ADDRESS") or None
        if count > 1 and not coordinator:
            raise TpudeckError(
                f"{count} processes need JAX_COORDINATOR_ADDRESS=HOST:PORT (process 0's host)"
            )
        if not 0 <= index < count:
            raise TpudeckError(
                f"TPUDECK_PROCESS_ID={index} is not one of the {count} processes (0-{count - 1})"
            )
        return cls(index, count, coordinator, index > 0 and environ.get("TPUDECK_HOST_OF_0") == "1")

    @property
    def leader(self) -> bool:
        return self.index == 0

    def join(self) -> None:
        """Start jax's distributed runtime (jax imported, no backend started yet)."""
        if self.count > 1:
            import jax

            jax.distributed.initialize(self.coordinator, self.count, self.index)


class FollowerRunDir(RunDir):
    """The leader's run directory as a follower sees it: its log is its own, and the run's
    status and events are the leader's to write."""

    def __init__(self, path: str | os.PathLike, index: int):
        super().__init__(path)
        self.index = index

    log_path = property(lambda self: self.path / f"stdout.{self.index}.log")

    def write_status(self, state: str, own: bool = True, **fields) -> dict:
        return {}

    def emit(self, kind: str, **fields) -> dict:
        return {"kind": kind, **fields}


def follower_dir(output_dir: str | None, processes: Processes) -> FollowerRunDir:
    if not output_dir:
        raise TpudeckError(
            f"process {processes.index} of {processes.count} needs --output_dir: "
            "the run directory process 0 trains into"
        )
    return FollowerRunDir(Path(output_dir).resolve(), processes.index)
