"""The LM head's loss and gradients: unfused (the whole logits, as the HF scripts compute
them) against core/models/token_loss.py's chunks, in the same run.

    python bench/token_loss.py [--tokens 1024] [--chunks 64 128 256 512 1024]

For each (width, vocabulary) shape, a head tied to the embedding as GPT-2's: ms per
value-and-gradient of the mean cross-entropy over `tokens` tokens (median of 5 after a
warm-up), and the compiled program's temporary bytes (XLA's memory analysis), unfused
first, then each chunk size and the one token_loss.chunk_tokens picks.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from tpudeck.core.models import token_loss

SHAPES = ((128, 50257), (256, 8192), (768, 50257))  # the vs_script.py shapes' heads


def measure(loss, *args) -> tuple[float, float]:
    """(ms a call, temporary MB) of value-and-gradient of `loss` in the states and kernel."""
    step = jax.jit(jax.value_and_grad(loss, (0, 1)))
    temp = step.lower(*args).compile().memory_analysis().temp_size_in_bytes / 2**20
    jax.block_until_ready(step(*args))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        jax.block_until_ready(step(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, temp


def unfused(states_NxD, embedding_VxD, targets_N, weights_N):
    """The HF scripts' loss: the whole logits, then the cross-entropy."""
    logits_NxV = states_NxD @ embedding_VxD.T
    losses_N = optax.softmax_cross_entropy_with_integer_labels(logits_NxV, targets_N)
    return jnp.sum(losses_N * weights_N) / jnp.sum(weights_N)


def fused(states_NxD, embedding_VxD, targets_N, weights_N, chunk: int):
    head = token_loss.Projection(states_NxD, embedding_VxD, vocab_first=True)
    return token_loss.mean_loss(head, targets_N, weights_N, chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--chunks", type=int, nargs="*", default=[64, 128, 256, 512, 1024])
    args = parser.parse_args()
    print(f"{'width':>5} {'vocab':>6}  {'head':<12} {'ms':>7} {'temp MB':>8}  vs unfused")
    for width, vocab in SHAPES:
        keys = jax.random.split(jax.random.key(0), 3)
        states = jax.random.normal(keys[0], (args.tokens, width))
        kernel = jax.random.normal(keys[1], (vocab, width)) * 0.02  # tied: wte
        targets = jax.random.randint(keys[2], (args.tokens,), 0, vocab)
        data = (states, kernel, targets, jnp.ones(args.tokens))
        base_ms, base_temp = measure(unfused, *data)
        print(f"{width:>5} {vocab:>6}  {'unfused':<12} {base_ms:>7.1f} {base_temp:>8.1f}")
        picked = token_loss.chunk_tokens(width)
        for chunk in sorted({*args.chunks, picked}):
            ms, temp = measure(functools.partial(fused, chunk=chunk), *data)
            label = f"chunk {chunk}" + (" *" if chunk == picked else "")
            print(
                f"{width:>5} {vocab:>6}  {label:<12} {ms:>7.1f} {temp:>8.1f}"
                f"  {ms / base_ms:.2f}x time, {temp / base_temp:.2f}x temp"
            )
    print("* the chunk token_loss.chunk_tokens picks")


if __name__ == "__main__":
    main()
