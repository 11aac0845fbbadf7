"""Device telemetry costs: one sampling round per probe, and the app's CPU while the
Devices screen samples at 1 Hz for 60 s (against the same app idle on the Runs screen).

    python bench/telemetry.py

The TPU sources are the test fakes of a v3-8: a sysfs PCI tree and libtpu's metrics
service (a real gRPC server on 127.0.0.1).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fakes

from app_child import cpu_percent  # noqa: E402

from tests.test_devices import V3_8, fake_pci  # noqa: E402
from tests.tpu_metrics_server import FakeTpuMetrics  # noqa: E402

ROUNDS = 200


def probe_costs(home: Path) -> dict[str, float]:
    """Median milliseconds of one sample() per probe."""
    from tpudeck.core.devices.sampler import default_probes

    probes = default_probes(home)
    costs = {}
    for probe in probes:
        probe.sample()  # first use opens channels and libraries
        times = []
        for _ in range(ROUNDS):
            began = time.perf_counter()
            probe.sample()
            times.append(time.perf_counter() - began)
        costs[probe.source] = 1e3 * statistics.median(times)
    return costs


def main() -> None:
    service = FakeTpuMetrics().start()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "runs").mkdir()
        os.environ["TPUDECK_SYSFS_PCI"] = str(fake_pci(home / "pci", V3_8))
        os.environ["TPUDECK_TPU_METRICS"] = service.address
        costs = probe_costs(home)
        for source, ms in costs.items():
            print(f"one sample of {source}: {ms:.2f} ms (median of {ROUNDS})")
        print(f"one sampling round, every probe: {sum(costs.values()):.2f} ms")
        idle = cpu_percent(str(home), keys=[], seconds=60)["cpu_percent"]
        sampling = cpu_percent(str(home), keys=["v"], seconds=60)["cpu_percent"]
        print(
            f"app CPU over 60 s: Devices screen sampling at 1 Hz {sampling:.1f}% of one core, "
            f"idle Runs screen {idle:.1f}% (difference {sampling - idle:.1f} points)"
        )
        print(f"metrics requests answered by the fake service: {service.requests}")
    service.stop()


if __name__ == "__main__":
    main()
