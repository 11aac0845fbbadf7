"""Scanned layers (--scan_layers) vs unrolled ones as models get deeper: compile seconds
and step time of our trainer's step, each way, in the same run (train_throughput.py's
worker, one CPU device unless --platform gpu).

Rows: GPT-2 at the demo's width (64; compile time grows with the program's size, which
depth sets, not width) from 6 to 48 layers, then GPT-2 medium's shape (24 layers of 1024)
with --full.

    python bench/scan_layers.py [--full] [--platform gpu]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from train_throughput import CONFIGS, GPT2_SMALL, in_child

DEPTHS = (6, 12, 24, 48)
WORKER = str(Path(__file__).with_name("train_throughput.py"))
GPT2_MEDIUM = {**GPT2_SMALL, "n_embd": 1024, "n_layer": 24, "n_head": 16}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also GPT-2 medium's shape")
    parser.add_argument("--platform", choices=("cpu", "gpu"), default="cpu")
    args = parser.parse_args()
    demo = CONFIGS["demo"]
    rows = [(f"demo {d} layers", {**demo, "config": {**demo["config"], "n_layer": d}})
            for d in DEPTHS]  # fmt: skip
    if args.full:
        rows.append(("gpt2-medium", {**CONFIGS["gpt2-small"], "config": GPT2_MEDIUM}))
    dtype = "bfloat16" if args.platform == "gpu" else "float32"
    print(f"{'row':<16} {'compile s':>19} {'step ms':>19} {'compile':>8} {'step':>6}")
    print(f"{'':<16} {'unrolled':>9} {'scanned':>9} {'unrolled':>9} {'scanned':>9} "
          f"{'scan/un':>8} {'scan/un':>7}")  # fmt: skip
    for name, job in rows:
        unrolled, scanned = (
            in_child(
                sys.executable,
                [WORKER, "--worker", json.dumps({**job, "dtype": dtype, "scan": scan})],
                1,
                args.platform,
            )  # fmt: skip
            for scan in (False, True)
        )
        if "error" in unrolled or "error" in scanned:
            print(f"{name:<16} failed: {unrolled.get('error') or scanned.get('error')}")
            continue
        compile_s = (unrolled["compile_s"], scanned["compile_s"])
        step_ms = (unrolled["step_s"] * 1e3, scanned["step_s"] * 1e3)
        print(f"{name:<16} {compile_s[0]:>9.2f} {compile_s[1]:>9.2f} {step_ms[0]:>9.1f} "
              f"{step_ms[1]:>9.1f} {compile_s[1] / compile_s[0]:>7.2f}x "
              f"{step_ms[1] / step_ms[0]:>6.2f}x", flush=True)  # fmt: skip
    print(f"device: {unrolled.get('device', '?')}; dtype {dtype}")


if __name__ == "__main__":
    main()
