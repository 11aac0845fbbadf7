"""Training throughput: steady-state tokens/s and compile seconds of our pmap trainer.

Configs: the demo size and a GPT-2-small shape, on 1 and 8 (fake CPU) devices, and a
Llama shape (grouped-query attention, SwiGLU, RoPE; ours only). With
--vs-hf (default on) the GPT-2 configs also run through Hugging Face's run_clm_flax.py
train step (FlaxGPT2LMHeadModel, transformers 4.57 in a venv this script makes once
under bench/.hf-venv) in the same run, and the ratio ours/theirs is printed.
Equal config: float32, dropout 0.1, AdamW without clipping, same batch and sequence.
Caveat on CPU: the baseline needs jax 0.4.13 (the last Flax-capable transformers pins it),
so the ratio also compares two XLA:CPU compilers; on a TPU VM it compares the programs.

    python bench/train_throughput.py [--quick] [--no-vs-hf]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HF_VENV = HERE / ".hf-venv"
HF_PINS = [
    "transformers==4.57.*",
    "jax==0.4.13",
    "jaxlib==0.4.13",
    "flax==0.7.0",
    "optax==0.1.7",
    "numpy<2",
    "scipy<1.12",  # jax 0.4.13 calls scipy.linalg.tril, removed in 1.12
]

# name -> (family, config, per-device batch, sequence, timed steps, device counts). GPT-2 small runs
# on one device only: replicated on 8 fake devices it needs 8 copies of weights and AdamW
# state (~16 GB) in this one host's memory.
CONFIGS = {
    "demo": (
        "gpt2",
        {"vocab_size": 512, "n_positions": 128, "n_embd": 64, "n_layer": 2, "n_head": 4},
        8,
        64,
        100,
        (1, 8),
    ),
    "gpt2-small": (
        "gpt2",
        {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12},
        1,
        64,
        3,
        (1,),
    ),
    "llama-small": (
        "llama",
        {
            "vocab_size": 32000,
            "hidden_size": 768,
            "intermediate_size": 2048,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "num_key_value_heads": 4,
            "max_position_embeddings": 1024,
        },
        1,
        64,
        3,
        (1,),
    ),  # fmt: skip
}


def ours(family: str, cfg: dict, per_device: int, seq: int, steps: int) -> dict:
    import jax
    import numpy as np

    from tpudeck.core.recipes.base import TaskData
    from tpudeck.core.recipes.clm import RECIPE
    from tpudeck.core.spec import RunSpec
    from tpudeck.core.train.optimizer import make_optimizer, make_schedule
    from tpudeck.core.train.parallel import make_parallel
    from tpudeck.core.train.step import TrainState, make_eval_step, make_train_step

    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("unused\n")
        f.flush()
        spec = RunSpec.from_dict(
            {
                "train_file": f.name,
                "dropout": 0.1,
                "max_grad_norm": 0.0,
                "block_size": seq,
                "model_type": family,
                "model_size": "small",
            }
        )
    n = jax.device_count()
    ids = np.random.default_rng(0).integers(
        0, cfg["vocab_size"], (n, 1, per_device, seq), dtype=np.int32
    )
    data = TaskData({"input_ids": ids}, {"input_ids": ids}, seq, cfg, None, "")
    model = RECIPE.build(spec, data)
    tx = make_optimizer(spec, make_schedule(spec, 1000))
    dp = make_parallel(
        "pmap", jax.devices(), make_train_step(model.loss, tx), make_eval_step(model.eval_sums)
    )
    state = dp.put_state(TrainState.create(model.init_params(jax.random.key(0)), tx))
    key = jax.random.key(1)
    batch = {"input_ids": ids}
    began = time.perf_counter()
    dp.compile(state, batch, key)
    compile_s = time.perf_counter() - began
    for _ in range(2):
        state, metrics = dp.train_step(state, batch, key)
    dp.host_metrics(metrics)
    began = time.perf_counter()
    previous = None
    for _ in range(steps):  # as the trainer does: at most two steps in flight
        state, metrics = dp.train_step(state, batch, key)
        jax.block_until_ready(previous)
        previous = metrics
    dp.host_metrics(metrics)
    seconds = time.perf_counter() - began
    return {
        "tokens_per_s": steps * n * per_device * seq / seconds,
        "compile_s": compile_s,
        "step_s": seconds / steps,
    }


def ensure_hf_venv() -> Path | None:
    python = HF_VENV / "bin" / "python"
    if not python.exists():
        print(
            "making the baseline venv (transformers 4.57 with Flax) in bench/.hf-venv ...",
            flush=True,
        )
        subprocess.run([sys.executable, "-m", "venv", str(HF_VENV)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *HF_PINS], capture_output=True, text=True
        )
        if done.returncode:
            print(f"baseline unavailable: pip failed: {done.stderr.strip().splitlines()[-1:]}")
            return None
    return python


def in_child(python: str, argv: list[str], devices: int) -> dict:
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run([python, *argv], capture_output=True, text=True, env=env)
    if done.returncode:
        return {
            "error": f"exit {done.returncode}: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo size only")
    parser.add_argument(
        "--no-vs-hf", dest="vs_hf", action="store_false", help="skip the HF baseline"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(ours(job["family"], job["config"], job["per_device"], job["seq"],
                              job["steps"])))  # fmt: skip
        return
    hf_python = ensure_hf_venv() if args.vs_hf else None
    names = ["demo"] if args.quick else list(CONFIGS)
    print(
        f"{'config':<11} {'dev':>3} {'ours tok/s':>11} {'compile s':>9} {'hf tok/s':>10} {'hf 1st step s':>13} {'ours/hf':>7}"
    )
    for name in names:
        family, cfg, per_device, seq, steps, device_counts = CONFIGS[name]
        job = json.dumps({"family": family, "config": cfg, "per_device": per_device, "seq": seq,
                          "steps": steps})  # fmt: skip
        for devices in device_counts:
            mine = in_child(sys.executable, [__file__, "--worker", job], devices)
            theirs = (
                in_child(str(hf_python), [str(HERE / "hf_flax_clm_step.py"), job], devices)
                if hf_python and family == "gpt2"  # the baseline script trains GPT-2
                else {}
            )
            if "error" in mine:
                print(f"{name:<11} {devices:>3} ours failed: {mine['error']}")
                continue
            hf_rate = theirs.get("tokens_per_s")
            ratio = f"{mine['tokens_per_s'] / hf_rate:.2f}x" if hf_rate else "n/a"
            hf_text = (
                f"{hf_rate:>10,.0f} {theirs['first_step_s']:>13.1f}"
                if hf_rate
                else f"{'n/a':>10} {'n/a':>13}"
            )
            print(
                f"{name:<11} {devices:>3} {mine['tokens_per_s']:>11,.0f} {mine['compile_s']:>9.1f} {hf_text} {ratio:>7}",
                flush=True,
            )
            if theirs.get("error"):
                print(f"    hf baseline failed: {theirs['error']}")


if __name__ == "__main__":
    main()
