"""Trying a model: milliseconds from Enter to the first generated token with the Try
screen's warm worker (goal: under 300 ms for the demo model on a CPU), beside what a cold
`tpudeck try` pays for the same (a fresh process: imports, load, compile), in the same run.

The model is the embedded demo's GPT-2, trained for one step here. The worker is the Try
screen's own (core/trying/worker.py); each request generates 40 new tokens greedily, and
the prompts differ in length (as typed prompts do).

    python bench/try.py [--requests 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = ("On Monday Ada and the", "The small cat went to the market with",
           "Goro and the goose", "On a rainy Thursday the old fox and the small")  # fmt: skip


def trained_demo(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "tpudeck", "train", "--demo", "--max_steps", "1",
                    "--platform", "cpu", "--output_dir", str(where / "run")],
                   check=True, capture_output=True)  # fmt: skip
    return where / "run"


def warm_worker(model: Path, requests: int) -> tuple[float, list[float], list[float]]:
    """(seconds until the worker is ready, ms to the first piece, ms to the whole answer)."""
    from tpudeck.core.trying.worker import TryWorker

    began = time.perf_counter()
    worker = TryWorker(model)
    assert "ready" in worker.read()
    ready = time.perf_counter() - began
    first, whole = [], []
    try:
        for n in range(requests):
            began = time.perf_counter()
            worker.send({"try": {"text": PROMPTS[n % len(PROMPTS)]}})
            said = worker.read()
            first.append((time.perf_counter() - began) * 1000)
            while "piece" in said:
                said = worker.read()
            assert "result" in said, said
            whole.append((time.perf_counter() - began) * 1000)
    finally:
        worker.close()
    return ready, first, whole


def cold_cli(run: Path) -> float:
    """ms from starting `tpudeck try` to the first bytes of generated text it prints."""
    began = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "tpudeck", "try", str(run), "--text",
                              PROMPTS[0]], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    child.stdout.read(1)
    first = (time.perf_counter() - began) * 1000
    child.wait()
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8)
    args = parser.parse_args()
    os.environ.update(JAX_PLATFORMS="cpu", TPUDECK_HOME=tempfile.mkdtemp())
    run = trained_demo(Path(os.environ["TPUDECK_HOME"]))
    ready, first, whole = warm_worker(run / "model", args.requests)
    cold = cold_cli(run)
    later = first[len(PROMPTS) :] or first  # each prompt length seen once already
    print(f"worker ready in {ready:.1f} s; {args.requests} requests, 40 new tokens each")
    print(f"{'':34} {'first token ms':>15} {'whole answer ms':>16}")
    print(f"{'warm worker, first of each length':34} {statistics.median(first[:4]):15.0f} "
          f"{statistics.median(whole[:4]):16.0f}")  # fmt: skip
    print(f"{'warm worker, lengths seen before':34} {statistics.median(later):15.0f} "
          f"{statistics.median(whole[len(PROMPTS) :] or whole):16.0f}")  # fmt: skip
    print(f"{'cold `tpudeck try` (baseline)':34} {cold:15.0f}")
    print(f"goal: under 300 ms warm; warm/cold = {statistics.median(later) / cold:.3f}")


if __name__ == "__main__":
    main()
