"""`--hosts gcloud:TPU_NAME[:ZONE]`: every worker of a Cloud TPU VM slice, reached as Google
documents it, through `gcloud compute tpus tpu-vm ssh NAME --zone ZONE --worker=N
--command ...`. `describe` lists the workers' internal addresses; worker 0's is the
coordinator's. Each worker needs tpudeck installed at the path this one has it, and the
data where the flags say.
"""

from __future__ import annotations

import json
import subprocess

from ..errors import TpudeckError
from .hosts import signal_workers_command

COORDINATOR_PORT = 8476  # jax's default for TPU slices


class GcloudTpu:
    def __init__(self, name: str, zone: str | None):
        self.name, self.zone = name, zone
        self.addresses = self._describe()
        self.workers = len(self.addresses)

    @classmethod
    def parse(cls, rest: str) -> GcloudTpu:
        name, _, zone = rest.partition(":")
        if not name:
            raise TpudeckError("--hosts gcloud:TPU_NAME[:ZONE]: name the TPU VM")
        return cls(name, zone or None)

    def _gcloud(self, verb: str, *flags: str) -> list[str]:
        zone = ["--zone", self.zone] if self.zone else []  # else gcloud's configured zone
        return ["gcloud", "compute", "tpus", "tpu-vm", verb, self.name, *zone, *flags]

    def _describe(self) -> list[str]:
        try:
            done = subprocess.run(self._gcloud("describe", "--format=json"), capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
        except FileNotFoundError:
            raise TpudeckError(
                "--hosts gcloud: needs the gcloud CLI on PATH (cloud.google.com/sdk)"
            ) from None
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise TpudeckError(f"gcloud cannot describe TPU {self.name}: {last}")
        endpoints = json.loads(done.stdout).get("networkEndpoints") or []
        if not endpoints:
            raise TpudeckError(f"TPU {self.name} lists no workers (is it READY?)")
        return [endpoint["ipAddress"] for endpoint in endpoints]

    def coordinator(self) -> str:
        return f"{self.addresses[0]}:{COORDINATOR_PORT}"

    def start(self, index: int, command: str, output=None) -> subprocess.Popen:
        return subprocess.Popen(
            self._gcloud("ssh", f"--worker={index}", f"--command={command}"),
            stdout=output, stderr=output, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def run(self, index: int, command: str) -> tuple[int, str]:
        done = subprocess.run(self._gcloud("ssh", f"--worker={index}", f"--command={command}"),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        return done.returncode, done.stdout

    def signal(self, signal_name: str, output_dir: str) -> None:
        command = signal_workers_command(signal_name, output_dir)
        subprocess.run(self._gcloud("ssh", "--worker=all", f"--command={command}"),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)  # fmt: skip
