"""Trying a model: milliseconds from Enter to the first generated token with the Try
screen's warm worker (goal: under 300 ms for the demo model on a CPU), beside what a cold
`tpudeck try` pays for the same (a fresh process: imports, load, compile), in the same run.

The model is the embedded demo's GPT-2, trained for one step here. The worker is the Try
screen's own (core/trying/worker.py); each request generates 40 new tokens greedily, and
the prompts differ in length (as typed prompts do; they are padded to lengths of 16, 32,
... tokens, so one compiled search serves a bucket of lengths; the worker compiles the
default search for short prompts before it says it is ready).

Then generated tokens/s for GPT-2 small on the CPU (batch 1, greedy, 64 new tokens), ours
beside transformers' PyTorch generate on the same weights (bench/generation.py's row;
that script has the other batch sizes, beam search and t5-small).

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
    parser.add_argument("--requests", type=int, default=8, help="at least 5")
    args = parser.parse_args()
    os.environ.update(JAX_PLATFORMS="cpu", TPUDECK_HOME=tempfile.mkdtemp())
    run = trained_demo(Path(os.environ["TPUDECK_HOME"]))
    ready, first, whole = warm_worker(run / "model", args.requests)
    cold = cold_cli(run)
    new_lengths, seen = slice(1, len(PROMPTS)), slice(len(PROMPTS), None)
    print(f"worker ready in {ready:.1f} s; {args.requests} requests, 40 new tokens each")
    print(f"{'':40} {'first token ms':>15} {'whole answer ms':>16}")
    for label, which in (("warm worker, its first request", slice(0, 1)),
                         ("warm worker, prompts of new lengths", new_lengths),
                         ("warm worker, prompt lengths seen before", seen)):  # fmt: skip
        print(f"{label:40} {statistics.median(first[which]):15.0f} "
              f"{statistics.median(whole[which]):16.0f}")  # fmt: skip
    print(f"{'cold `tpudeck try` (baseline)':40} {cold:15.0f}")
    print("goal: under 300 ms warm, whatever the prompt's length")
    gpt2_small_speed()


def gpt2_small_speed(new: int = 64) -> None:
    from generation import our_speed, same_weights, their_speed

    theirs, decoder, params = same_weights("gpt2")
    ours, compiled = our_speed(decoder, params, 1, 1, new)
    hf = their_speed(theirs, 1, 1, new)
    print(f"GPT-2 small on the CPU, batch 1, greedy, {new} new tokens: ours {ours:.1f} tok/s, "
          f"transformers' PyTorch generate {hf:.1f} tok/s, ratio {ours / hf:.2f}x "
          f"(our compile {compiled:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
