"""Training throughput: steady-state tokens/s, compile seconds and MFU of our pmap trainer.

Rows: the demo size and a GPT-2-small shape (on 1 and 8 fake CPU devices), a Llama shape
(grouped-query attention, SwiGLU, RoPE) with attention computed three ways (eager einsum,
jax.nn.dot_product_attention "sdpa", its cuDNN flash kernel where a GPU runs it), and a
RoBERTa-base sequence-classification step (text_classification, GLUE-sized: 128 tokens),
and a t5-v1_1-small span-corruption step (t5_mlm: tokens/s counts the corrupted inputs).
The -fsdp rows run the sharded mode (--parallelism fsdp) on 8 devices; MB/dev is what one
device needs for the compiled step (XLA's memory analysis: arguments, outputs, temporaries).
With --vs-hf (default on, CPU only) the GPT-2 rows also run through Hugging Face's
run_clm_flax.py train step (FlaxGPT2LMHeadModel, transformers 4.57 in a venv this script
makes once under bench/.hf-venv) in the same run, and the ratio ours/theirs is printed.
Equal config: float32, dropout 0.1, AdamW without clipping, same batch and sequence.
Caveat on CPU: the baseline needs jax 0.4.13 (the last Flax-capable transformers pins it),
so the ratio also compares two XLA:CPU compilers; on a TPU VM it compares the programs.

    python bench/train_throughput.py [--quick] [--no-vs-hf] [--platform gpu]

On a GPU, rows run on one device in bfloat16 with shapes that fill it (GPU_SHAPES); the
attention rows run without dropout, which only the eager kernel has.
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

GPT2_SMALL = {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12}
LLAMA_SMALL = {"vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048,
               "num_hidden_layers": 12, "num_attention_heads": 12, "num_key_value_heads": 4,
               "max_position_embeddings": 1024}  # fmt: skip
ROBERTA_BASE = {"vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
                "num_attention_heads": 12, "intermediate_size": 3072,
                "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1}  # fmt: skip
T5_SMALL = {"vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 1024, "num_layers": 8,
            "num_heads": 6, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False,
            "sentinel_ids": list(range(32127, 32027, -1))}  # t5-v1_1-small; <extra_id_N>  # fmt: skip

# name -> the row's job: recipe, family, config, per-device batch, sequence, timed steps,
# CPU device counts, dropout. GPT-2 small runs on one CPU device only: replicated on 8 fake
# devices it needs 8 copies of weights and AdamW state (~16 GB) in this one host's memory.
CONFIGS = {
    "demo": dict(recipe="clm", family="gpt2", per_device=8, seq=64, steps=100, devices=(1, 8),
                 config={"vocab_size": 512, "n_positions": 128, "n_embd": 64, "n_layer": 2,
                         "n_head": 4}),
    "gpt2-small": dict(recipe="clm", family="gpt2", config=GPT2_SMALL, per_device=1, seq=64,
                       steps=3, devices=(1,)),
    # --parallelism fsdp: each device keeps 1/8 of the state, so GPT-2 small fits 8 too
    "demo-fsdp": dict(recipe="clm", family="gpt2", per_device=8, seq=64, steps=100,
                      devices=(8,), mode="fsdp", config={"vocab_size": 512, "n_positions": 128,
                      "n_embd": 64, "n_layer": 2, "n_head": 4}),
    "gpt2-s-fsdp": dict(recipe="clm", family="gpt2", config=GPT2_SMALL, per_device=1, seq=64,
                        steps=3, devices=(8,), mode="fsdp"),
    **{f"llama-{kind}": dict(recipe="clm", family="llama", per_device=1, seq=64, steps=3,
                             devices=(1,), dropout=0.0,
                             config={**LLAMA_SMALL, "attn_implementation": kind})
       for kind in ("eager", "sdpa", "cudnn")},  # "auto" is cudnn on a GPU, else eager
    "roberta-cls": dict(recipe="text_classification", family="roberta", config=ROBERTA_BASE,
                        per_device=4, seq=128, steps=3, devices=(1,)),
    # span corruption: seq is the corrupted input length (--max_seq_length)
    "t5-small-mlm": dict(recipe="t5_mlm", family="t5", config=T5_SMALL, per_device=2, seq=128,
                         steps=3, devices=(1,)),
}  # fmt: skip
GPU_ONLY = {"llama-cudnn"}  # cuDNN runs on GPUs only
GPU_SHAPES = {  # name -> (per-device batch, sequence, timed steps) on one GPU
    "demo": (64, 128, 100),
    "gpt2-small": (16, 1024, 20),
    "demo-fsdp": (64, 128, 100),
    "gpt2-s-fsdp": (16, 1024, 20),
    "llama-eager": (16, 1024, 20),
    "llama-sdpa": (16, 1024, 20),
    "llama-cudnn": (16, 1024, 20),
    "roberta-cls": (64, 128, 20),
    "t5-small-mlm": (64, 512, 20),
}


def task_data(recipe: str, cfg: dict, shape: tuple, seq: int):
    """Random examples of the recipe's kind, shaped [devices, accum, per-device, ...]."""
    import numpy as np

    from tpudeck.core.models.labels import ClassLabels
    from tpudeck.core.recipes.base import TaskData
    from tpudeck.core.recipes.span_corruption import SpanLengths

    rng = np.random.default_rng(0)
    if recipe == "t5_mlm":  # blocks long enough to corrupt into `seq` input tokens
        block = SpanLengths.for_inputs(seq, 0.15, 3.0).block
        ids = rng.integers(2, cfg["vocab_size"] - 100, (*shape, block), dtype=np.int32)
        return TaskData({"input_ids": ids}, {"input_ids": ids}, seq, cfg, None, "")
    ids = rng.integers(2, cfg["vocab_size"], (*shape, seq), dtype=np.int32)
    if recipe == "clm":
        return TaskData({"input_ids": ids}, {"input_ids": ids}, seq, cfg, None, "")
    batch = {"input_ids": ids, "attention_mask": np.ones_like(ids),
             "token_type_ids": np.zeros_like(ids),
             "labels": rng.integers(0, 2, shape, dtype=np.int32)}  # fmt: skip
    labels = ClassLabels(("negative", "positive")).to_hf()
    return TaskData(batch, batch, seq, {**cfg, **labels}, None, "")


def ours(job: dict) -> dict:
    import jax

    from tpudeck.core.registry import get_recipe
    from tpudeck.core.spec import RunSpec
    from tpudeck.core.train.mfu import mfu
    from tpudeck.core.train.optimizer import make_optimizer, make_schedule
    from tpudeck.core.train.parallel import make_parallel
    from tpudeck.core.train.step import StepConstants, TrainState

    recipe = get_recipe(job["recipe"])
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
        f.write('{"text": "unused", "label": 0}\n')
        f.flush()
        spec = RunSpec.from_dict(
            {"recipe": job["recipe"], "train_file": f.name, "dropout": job.get("dropout", 0.1),
             "max_grad_norm": 0.0, "model_type": job["family"], "model_size": "demo",
             "dtype": job["dtype"], "scan_layers": job.get("scan", False),
             **({"max_seq_length": job["seq"]} if job["recipe"] == "t5_mlm" else {})}
        )  # fmt: skip
    n, per_device, seq = jax.device_count(), job["per_device"], job["seq"]
    data = task_data(job["recipe"], job["config"], (n, 1, per_device), seq)
    model = recipe.build(spec, data)
    schedule = make_schedule(spec, 1000)
    dp = make_parallel(job.get("mode", "pmap"), jax.devices(), spec, model)
    state = dp.put_state(
        TrainState.create(model.init_params(jax.random.key(0)), make_optimizer(spec, schedule))
    )
    constants, batch = StepConstants.of_seed(1, schedule), data.train
    began = time.perf_counter()
    dp.compile(state, batch, constants)
    compile_s = time.perf_counter() - began
    memory = dp.compiled_memory()
    for _ in range(2):
        state, metrics = dp.train_step(state, batch, constants)
    dp.host_metrics(metrics)
    began = time.perf_counter()
    previous = None
    for _ in range(job["steps"]):  # as the trainer does: at most two steps in flight
        state, metrics = dp.train_step(state, batch, constants)
        jax.block_until_ready(previous)
        previous = metrics
    dp.host_metrics(metrics)
    seconds = time.perf_counter() - began
    examples_per_s = job["steps"] * n * per_device / seconds
    utilisation = mfu(examples_per_s * model.flops_per_example, jax.devices()[0].device_kind, n)
    return {
        "tokens_per_s": examples_per_s * seq,
        "compile_s": compile_s,
        "step_s": seconds / job["steps"],
        "mfu": utilisation,
        "peak_mb": memory and memory / 2**20,
        "device": jax.devices()[0].device_kind,
    }


def ensure_hf_venv(extra: tuple[str, ...] = ()) -> Path | None:
    """The baseline's Python, its venv made once; `extra` packages installed beside the pins
    (pip's check of what is already there takes a few seconds)."""
    python = HF_VENV / "bin" / "python"
    if not python.exists():
        print(
            "making the baseline venv (transformers 4.57 with Flax) in bench/.hf-venv ...",
            flush=True,
        )
        subprocess.run([sys.executable, "-m", "venv", str(HF_VENV)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *HF_PINS, *extra],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(f"baseline unavailable: pip failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return python


def in_child(python: str, argv: list[str], devices: int, platform: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if platform == "cpu":
        env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
                   JAX_PLATFORMS="cpu")  # fmt: skip
    else:
        env.update(
            JAX_PLATFORMS="cuda", CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", "0")
        )
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
    parser.add_argument("--platform", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--only", nargs="*", help="run these rows only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(ours(json.loads(args.worker))))
        return
    gpu = args.platform == "gpu"
    hf_python = ensure_hf_venv() if args.vs_hf and not gpu else None
    names = args.only or (["demo"] if args.quick else list(CONFIGS))
    print(f"{'row':<12} {'dev':>3} {'batch x seq':>11} {'ours tok/s':>11} {'compile s':>9} "
          f"{'mfu':>6} {'MB/dev':>7} {'hf tok/s':>10} {'hf 1st step s':>13} "
          f"{'ours/hf':>7}")  # fmt: skip
    for name in names:
        job = {**CONFIGS[name], "dtype": "bfloat16" if gpu else "float32"}
        if gpu:
            job.update(zip(("per_device", "seq", "steps"), GPU_SHAPES[name], strict=True))
        elif name in GPU_ONLY:
            continue
        for devices in (1,) if gpu else job["devices"]:
            mine = in_child(sys.executable, [__file__, "--worker", json.dumps(job)], devices,
                            args.platform)  # fmt: skip
            theirs = (
                in_child(
                    str(hf_python),
                    [str(HERE / "hf_flax_clm_step.py"), json.dumps(job)],
                    devices,
                    "cpu",
                )  # fmt: skip
                if hf_python and job["family"] == "gpt2"  # the baseline script trains GPT-2
                else {}
            )
            shape = f"{job['per_device']}x{job['seq']}"
            if "error" in mine:
                print(f"{name:<12} {devices:>3} {shape:>11} ours failed: {mine['error']}")
                continue
            hf_rate = theirs.get("tokens_per_s")
            ratio = f"{mine['tokens_per_s'] / hf_rate:.2f}x" if hf_rate else "n/a"
            hf_text = (
                f"{hf_rate:>10,.0f} {theirs['first_step_s']:>13.1f}"
                if hf_rate
                else f"{'n/a':>10} {'n/a':>13}"
            )
            util = f"{mine['mfu']:.1%}" if mine.get("mfu") is not None else "n/a"
            peak = f"{mine['peak_mb']:,.0f}" if mine.get("peak_mb") else "n/a"
            print(
                f"{name:<12} {devices:>3} {shape:>11} {mine['tokens_per_s']:>11,.0f} "
                f"{mine['compile_s']:>9.1f} {util:>6} {peak:>7} {hf_text} {ratio:>7}",
                flush=True,
            )
            if theirs.get("error"):
                print(f"    hf baseline failed: {theirs['error']}")
    print(f"device: {mine.get('device', '?')}; dtype {job['dtype']}")


if __name__ == "__main__":
    main()
