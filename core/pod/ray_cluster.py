"""`--hosts ray:N[:ADDRESS]`: N trainers as tasks of a Ray cluster (RAY_ADDRESS, or the
cluster at ADDRESS), one per node where it has N nodes: a placement group spreads them,
and on TPU nodes each bundle asks for the node's chips, so a slice's workers each get one.
This process is the job's driver: worker 0's output reaches it through Ray, the others'
last error line comes back with their exit status, and signals go to each worker's node
as Ray tasks of their own.
"""

from __future__ import annotations

import socket

from ..errors import TpudeckError
from .hosts import signal_workers_command

COORDINATOR_PORT = 8476  # jax's default for TPU slices


def _run(command: str, quiet: bool) -> tuple[int, str]:
    """On the worker's node: run its trainer; (exit status, last line when quiet)."""
    import subprocess

    done = subprocess.run(["bash", "-c", command], capture_output=quiet, text=True)
    tail = (done.stderr or "").strip().splitlines()[-1:] if quiet else []
    return done.returncode, "".join(tail)


def _output(command: str) -> tuple[int, str]:
    """On a worker's node: (exit status, standard output) of a short command."""
    import subprocess

    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    return done.returncode, done.stdout


class RayTask:
    """A worker's trainer running as a Ray task, seen as the supervisor sees a process:
    poll(), wait() and returncode; its last error line is written to `output`."""

    def __init__(self, ref, output):
        self.ref, self.output, self.returncode = ref, output, None

    def poll(self) -> int | None:
        import ray

        if self.returncode is None and ray.wait([self.ref], timeout=0)[0]:
            self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._finish()
        return self.returncode

    def _finish(self) -> None:
        import ray

        try:
            code, tail = ray.get(self.ref)
        except ray.exceptions.RayError as exc:  # the task's node or worker died
            code, tail = 1, f"error: {type(exc).__name__}"
        if self.output and tail:
            self.output.write(tail + "\n")
        self.returncode = code


class RayCluster:
    def __init__(self, workers: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise TpudeckError("--hosts ray: needs Ray (pip install 'tpudeck[ray]')") from None
        from ray.util.placement_group import placement_group, placement_group_table

        self.workers = workers
        ray.init(address=address or "auto", log_to_driver=True, logging_level="WARNING")
        nodes = [n for n in ray.nodes() if n["Alive"]]
        chips = min((n["Resources"].get("TPU", 0) for n in nodes), default=0)
        bundle = {"CPU": 1, **({"TPU": chips} if chips else {})}
        spread = "STRICT_SPREAD" if len(nodes) >= workers else "SPREAD"  # a laptop: one node
        self.group = placement_group([bundle] * workers, strategy=spread)
        ray.get(self.group.ready(), timeout=300)
        node_ids = placement_group_table(self.group)["bundles_to_node_id"]
        address_of = {n["NodeID"]: n["NodeManagerAddress"] for n in nodes}
        self.nodes = [node_ids[index] for index in range(workers)]
        self.first_address = address_of[self.nodes[0]]
        self._run, self._output = ray.remote(num_cpus=0)(_run), ray.remote(num_cpus=0)(_output)

    @classmethod
    def parse(cls, rest: str) -> RayCluster:
        count, _, address = rest.partition(":")
        if not count.isdigit() or int(count) < 2:
            raise TpudeckError(f"--hosts ray:{rest}: say ray:N[:ADDRESS], N workers, 2 or more")
        return cls(int(count), address or None)

    def coordinator(self) -> str:
        import ray

        if self.first_address != ray.util.get_node_ip_address():
            return f"{self.first_address}:{COORDINATOR_PORT}"
        with socket.socket() as sock:  # worker 0 runs here: any free port
            sock.bind(("", 0))
            return f"{self.first_address}:{sock.getsockname()[1]}"

    def start(self, index: int, command: str, output=None) -> RayTask:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        where = PlacementGroupSchedulingStrategy(self.group, placement_group_bundle_index=index)
        ref = self._run.options(scheduling_strategy=where, num_cpus=1).remote(command, index > 0)
        return RayTask(ref, output)

    def run(self, index: int, command: str) -> tuple[int, str]:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        where = NodeAffinitySchedulingStrategy(self.nodes[index], soft=False)
        return ray.get(self._output.options(scheduling_strategy=where).remote(command), timeout=300)

    def signal(self, signal_name: str, output_dir: str) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        command = signal_workers_command(signal_name, output_dir)
        ray.get([
            self._run.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
            .remote(command, True)
            for node in set(self.nodes)
        ], timeout=120)  # fmt: skip
