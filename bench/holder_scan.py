"""Holder scan speed: our /proc scan vs `lsof DEVICE` on the same device, same machine, same run.

Starts N extra sleeping processes (N = 100, 1000), one more that holds a fake device
file open, then times HolderScan().scan() and `lsof` on that path (best of 5 each).

    python bench/holder_scan.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tpudeck.core.runs.holders import HolderScan


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    lsof = shutil.which("lsof")
    with tempfile.TemporaryDirectory() as tmp:
        device = Path(tmp, "accel0")
        device.write_text("")
        holder = subprocess.Popen(
            [sys.executable, "-c", f"f = open({str(device)!r}); import time; time.sleep(600)"]
        )
        sleepers: list[subprocess.Popen] = []
        scan = HolderScan(device_globs=(str(device),), libtpu_lockfile=Path(tmp, "none"))
        print(f"{'extra procs':>11} {'ours ms':>8} {'lsof ms':>8} {'lsof/ours':>9}")
        try:
            time.sleep(0.5)
            for n in (100, 1000):
                sleepers += [subprocess.Popen(["sleep", "600"]) for _ in range(n - len(sleepers))]
                found = scan.scan()
                assert any(h.process.pid == holder.pid for h in found.holders), (
                    "scan missed the holder"
                )
                ours = best_of(scan.scan)
                if lsof:
                    theirs = best_of(
                        lambda: subprocess.run([lsof, "-n", "-w", str(device)], capture_output=True)
                    )
                    print(f"{n:>11} {ours * 1e3:>8.1f} {theirs * 1e3:>8.1f} {theirs / ours:>8.1f}x")
                else:
                    print(
                        f"{n:>11} {ours * 1e3:>8.1f} {'n/a':>8} (lsof not installed: apt-get install lsof)"
                    )
        finally:
            for p in [holder, *sleepers]:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
