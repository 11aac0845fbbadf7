"""Generation speed: new tokens/s of our jitted search (core/generation) beside transformers'
PyTorch `generate` on the same weights, in the same run, for GPT-2 small and t5-small,
batch 1 and 8, greedy and beam search with 4 beams. Every row generates exactly --new
tokens (no end token), from a 32-token prompt (GPT-2) or input (T5). The ratio
ours/theirs is the figure; our compile seconds are printed apart (once per shape).

    python bench/generation.py [--new 64] [--platform cpu|gpu] [--quick]

On --platform gpu, transformers runs on the GPU too where its torch has CUDA (else on the
CPU, and the header says so).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

# GPT-2 small and t5-small as their Hub configs have them (random weights: speed only).
MODELS = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", "causal_lm",
             {"vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12,
              "n_positions": 1024}),
    "t5": ("T5Config", "T5ForConditionalGeneration", "seq2seq_lm",
           {"vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6,
            "num_heads": 8, "decoder_start_token_id": 0}),
}  # fmt: skip
PROMPT = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=64, help="new tokens per row")
    parser.add_argument("--platform", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--quick", action="store_true", help="batch 1, greedy only")
    args = parser.parse_args()
    os.environ["JAX_PLATFORMS"] = {"cpu": "cpu", "gpu": "cuda"}[args.platform]

    import jax
    import torch

    where = "cuda" if args.platform == "gpu" and torch.cuda.is_available() else "cpu"
    print(f"jax on {jax.devices()[0].device_kind}; transformers on torch {torch.__version__} "
          f"{where}, {torch.get_num_threads()} CPU threads; {args.new} new tokens a row")  # fmt: skip
    print(f"{'model':6} {'batch':>5} {'search':>7} {'ours tok/s':>11} {'HF tok/s':>10} "
          f"{'ratio':>6} {'compile s':>9}")  # fmt: skip
    for name in MODELS:
        theirs, decoder, params = same_weights(name)
        theirs = theirs.to(where)
        for batch in (1,) if args.quick else (1, 8):
            for beams in (1,) if args.quick else (1, 4):
                ours, compiled = our_speed(decoder, params, batch, beams, args.new)
                hf = their_speed(theirs, batch, beams, args.new)
                print(f"{name:6} {batch:5} {'greedy' if beams == 1 else f'beam {beams}':>7} "
                      f"{ours:11,.0f} {hf:10,.0f} {ours / hf:5.2f}x {compiled:9.1f}")  # fmt: skip


def same_weights(name: str):
    import torch
    import transformers

    from tpudeck.core.generation.decoder import Decoder
    from tpudeck.core.models.family import get_family

    config_class, model_class, head, values = MODELS[name]
    torch.manual_seed(0)
    config = getattr(transformers, config_class)(**values)
    theirs = getattr(transformers, model_class)(config).eval()
    folder = tempfile.mkdtemp()
    theirs.save_pretrained(folder)
    family = get_family(name)
    ours, params = family.load(folder)
    return theirs, Decoder(family, ours, head), params


def prompt(batch: int):
    import numpy as np

    return np.random.default_rng(0).integers(3, 8192, (batch, PROMPT))  # in both vocabularies


def our_speed(decoder, params, batch: int, beams: int, new: int) -> tuple[float, float]:
    import jax
    import jax.numpy as jnp

    from tpudeck.core.generation.search import Generator, Settings

    generator = Generator(decoder, Settings(max_new_tokens=new, num_beams=beams))
    ids = jnp.asarray(prompt(batch))
    params = jax.device_put(params)
    start = time.perf_counter()
    generator(params, ids).block_until_ready()
    compiled = time.perf_counter() - start
    runs, start = 3, time.perf_counter()
    for _ in range(runs):
        generator(params, ids).block_until_ready()
    return runs * batch * new / (time.perf_counter() - start), compiled


def their_speed(theirs, batch: int, beams: int, new: int) -> float:
    import torch

    ids = torch.tensor(prompt(batch), device=theirs.device)
    settings = dict(max_new_tokens=new, min_new_tokens=new, num_beams=beams, do_sample=False,
                    pad_token_id=0, eos_token_id=None)  # fmt: skip
    with torch.no_grad():
        theirs.generate(ids, **settings)  # warm-up
        runs, start = 3, time.perf_counter()
        for _ in range(runs):
            theirs.generate(ids, **settings)
        if ids.is_cuda:
            torch.cuda.synchronize()
    return runs * batch * new / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
