"""`--hosts`: the hosts a run spans, and the launcher that reaches them.

    local:N              N processes on this host (their devices split, as in the tests)
    gcloud:TPU[:ZONE]    every worker of a Cloud TPU VM slice, through `gcloud ... ssh`
    ray:N[:ADDRESS]      N tasks of a Ray cluster, one per node

Every launcher starts one shell command per worker and can signal every worker's trainer.
"""

from __future__ import annotations

import shlex
from typing import Protocol

from ..errors import TpudeckError

# The trainer a launcher started, and nothing else of the run (not a supervisor whose own
# command line names the same run): only the workers' environment has TPUDECK_PROCESS_ID.
_SIGNAL_WORKERS = (
    "for pid in $(pgrep -f {pattern}); do "
    "grep -qz ^TPUDECK_PROCESS_ID= /proc/$pid/environ 2>/dev/null && kill -{signal} $pid; "
    "done; true"
)


class Launcher(Protocol):
    workers: int

    def coordinator(self) -> str:
        """HOST:PORT of worker 0 as the others reach it."""

    def start(self, index: int, command: str, output=None):
        """A local process (subprocess.Popen) that runs `command` on worker `index`, its
        output into `output` (a file; None: this terminal); its exit status is the
        command's."""

    def run(self, index: int, command: str) -> tuple[int, str]:
        """Run `command` on worker `index` to its end: (exit status, its standard output)."""

    def signal(self, signal: str, output_dir: str) -> None:
        """Send SIGNAL (TERM, KILL) to the trainer of the run in output_dir on every worker."""


def signal_workers_command(signal: str, output_dir: str) -> str:
    pattern = shlex.quote(f"tpudeck train .*--output_dir {output_dir}")
    return _SIGNAL_WORKERS.format(pattern=pattern, signal=signal)


def parse_hosts(text: str) -> Launcher:
    from .gcloud import GcloudTpu
    from .local import LocalProcesses
    from .ray_cluster import RayCluster

    kind, _, rest = text.partition(":")
    launchers = {"local": LocalProcesses.parse, "gcloud": GcloudTpu.parse, "ray": RayCluster.parse}
    if kind not in launchers:
        raise TpudeckError(
            f"--hosts {text}: say local:N, gcloud:TPU_NAME[:ZONE] or ray:N[:ADDRESS]"
        )
    return launchers[kind](rest)
