"""`--hosts local:N`: N trainer processes on this host, its devices split between them. The
launcher the tests drive, and a way to try a pod's program on one machine."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess

from ..errors import TpudeckError


class LocalProcesses:
    def __init__(self, workers: int):
        self.workers = workers
        self._children: list[subprocess.Popen] = []

    @classmethod
    def parse(cls, rest: str) -> LocalProcesses:
        if not rest.isdigit() or int(rest) < 2:
            raise TpudeckError(f"--hosts local:{rest}: say how many processes, 2 or more")
        return cls(int(rest))

    def coordinator(self) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return f"127.0.0.1:{sock.getsockname()[1]}"

    def run(self, index: int, command: str) -> tuple[int, str]:
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
        return done.returncode, done.stdout

    def start(self, index: int, command: str, output=None) -> subprocess.Popen:
        env = dict(os.environ)
        found = re.search(r"--xla_force_host_platform_device_count=(\d+)", env.get("XLA_FLAGS", ""))
        if found:  # the host's fake CPU devices, shared out
            env["XLA_FLAGS"] = (
                f"--xla_force_host_platform_device_count={int(found[1]) // self.workers}"
            )
        if index:  # this host's accelerator lock is process 0's, for every worker here
            env["TPUDECK_HOST_OF_0"] = "1"
        child = subprocess.Popen(["bash", "-c", command], env=env, stdout=output, stderr=output)
        self._children.append(child)
        return child

    def signal(self, signal_name: str, output_dir: str) -> None:
        for child in self._children:
            if child.poll() is None:
                child.send_signal(getattr(signal, f"SIG{signal_name}"))
