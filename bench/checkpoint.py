"""Checkpointing's cost to training: steps/s of the real train step saving every 50 steps,
tpudeck's Orbax checkpoints (written in the background) beside a synchronous save (tpudeck's
msgpack save before Orbax, kept here as the baseline) and beside no saving at all, in the
same run, on the same state.

    python bench/checkpoint.py [--quick] [--platform gpu]

"lost" is the share of the no-save pace a way of saving costs. Each way's last save is
waited for inside the timed span, so a background writer cannot hide its tail.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from train_throughput import task_data

# GPT-2 of 15M parameters: the state (weights and AdamW's two moments) is 169 MB.
CONFIG = {"vocab_size": 16384, "n_positions": 128, "n_embd": 512, "n_layer": 2, "n_head": 8}


def msgpack_save(directory: Path, step: int, host_state) -> None:
    """tpudeck's save before Orbax: the whole state serialised, hashed and written, and the
    step's folder renamed into place, while training waits."""
    from flax import serialization

    tmp = directory / f".tmp-step-{step}-{os.getpid()}"
    tmp.mkdir(parents=True)
    blob = serialization.to_bytes(host_state)
    (tmp / "state.msgpack").write_bytes(blob)
    meta = {
        "step": step,
        "state_bytes": len(blob),
        "state_sha256": hashlib.sha256(blob).hexdigest(),
    }
    (tmp / "meta.json").write_text(json.dumps(meta))
    os.replace(tmp, directory / f"step-{step}")


def timed(way: str, steps: int, every: int, dp, initial, batch, constants, where: Path) -> float:
    """Seconds for `steps` train steps from `initial` saving every `every` in `way`, as the
    trainer does."""
    from tpudeck.core.train.checkpoints import Checkpoints

    state = dp.put_state(initial)  # each way its own: a step donates the state it is given

    book = Checkpoints(where / "orbax", 2, lambda step, path: None) if way == "orbax" else None
    began = time.perf_counter()
    for step in range(1, steps + 1):
        state, metrics = dp.train_step(state, batch, constants)
        if book:
            book.settle()
        if step % every == 0:
            dp.host_metrics(metrics)  # as at a logging step; the state is what step N made
            if way == "orbax":
                book.save(step, dp.checkpoint_state(state), {})  # as the trainer hands it
            elif way == "msgpack":
                msgpack_save(where / "msgpack", step, dp.host_state(state))
    dp.host_metrics(metrics)
    if book:
        book.close()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 steps (one save) a way")
    parser.add_argument("--platform", choices=("cpu", "gpu"), default="cpu")
    args = parser.parse_args()
    os.environ["JAX_PLATFORMS"] = "cuda" if args.platform == "gpu" else "cpu"
    import jax
    import numpy as np

    from tpudeck.core.registry import get_recipe
    from tpudeck.core.spec import RunSpec
    from tpudeck.core.train.optimizer import make_optimizer, make_schedule
    from tpudeck.core.train.parallel import make_parallel
    from tpudeck.core.train.step import StepConstants, TrainState

    steps = 50 if args.quick else 150
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as corpus:  # the spec names a file
        corpus.write("unused\n")
        corpus.flush()
        spec = RunSpec.from_dict({"recipe": "clm", "train_file": corpus.name,
                                  "model_type": "gpt2", "model_size": "demo",
                                  "max_grad_norm": 0.0})  # fmt: skip
    data = task_data("clm", CONFIG, (1, 1, 8), 128)
    model = get_recipe("clm").build(spec, data)
    schedule = make_schedule(spec, 10_000)
    dp = make_parallel("pmap", jax.devices()[:1], spec, model)
    initial = jax.device_get(
        TrainState.create(model.init_params(jax.random.key(0)), make_optimizer(spec, schedule))
    )
    constants, batch = StepConstants.of_seed(1, schedule), data.train
    dp.compile(dp.put_state(initial), batch, constants)
    timed("none", 10, 50, dp, initial, batch, constants, Path())  # warm-up
    state_mb = sum(np.asarray(x).nbytes for x in jax.tree.leaves(initial)) / 2**20
    print(f"state {state_mb:,.0f} MB ({model.param_count / 1e6:.0f}M parameters), {steps} steps, "
          f"a save every 50; device {jax.devices()[0].device_kind}")  # fmt: skip
    print(f"{'way':<28} {'steps/s':>8} {'lost':>6}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as where:
        pace = {}
        for way, label in (("none", "no saves"), ("msgpack", "synchronous msgpack (before)"),
                           ("orbax", "Orbax in the background")):  # fmt: skip
            seconds = timed(way, steps, 50, dp, initial, batch, constants, Path(where))
            pace[way] = steps / seconds
            lost = 1 - pace[way] / pace["none"]
            print(f"{label:<28} {pace[way]:>8.2f} {lost:>6.1%}", flush=True)
            shutil.rmtree(Path(where) / way, ignore_errors=True)


if __name__ == "__main__":
    main()
