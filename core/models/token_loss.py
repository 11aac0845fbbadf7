"""Cross-entropy over a vocabulary (label-smoothed where asked), through the LM head's
projection, a chunk of tokens at a time: the logits of all tokens at once are never made.

The logits are a run's largest tensor: [tokens, vocabulary] floats, and autodiff keeps
several copies of them (the logits, their softmax, its gradient) for the backward pass:
more than the whole model at GPT-2's vocabulary and a few thousand tokens per device. Here
the forward pass projects one chunk of tokens, takes its loss and, at once, its gradients
with respect to the chunk's states and the kernel: what the backward pass keeps is the
states' gradient [tokens, width] and the kernel's [width, vocabulary], the sizes of what
they are gradients of, scaled there by the loss's cotangent (the loss is one weighted sum,
so a scalar scales every token alike). The FLOPs are the unfused head's: three matmuls.

The kernel is taken as the head keeps it, [V, D] for an embedding the head is tied to,
[D, V] for a head of its own: a transposed copy would cost a kernel's size twice more (the
copy, and its gradient's copy back).

Shapes are suffixed on names: N tokens, C a chunk of them, D width, V vocabulary.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

# Tokens per chunk: about the width, so that a chunk's logits [C, V] are the size of the
# kernel's gradient [D, V], which the loss keeps anyway; and never fewer than MIN_CHUNK,
# below which the matmuls ran well short of full speed. Measured on a 2-core CPU
# (bench/token_loss.py, 1,024 tokens, time against the unfused head's, two runs): chunks of
# 32 tokens 1.9x at width 128, vocabulary 50257; chunks of 256 to 1,024 tokens 1.02-1.08x
# there, 0.79-0.98x at width 256, vocabulary 8192, and 0.96-1.08x at width 768, vocabulary
# 50257, where fewer chunks did better (each adds its kernel gradient into the sum, [D, V]
# read and written once a chunk).
MIN_CHUNK = 256


class Projection(NamedTuple):
    """What an LM head's logits are made of, as a head called with project=False hands it
    over: logits = states @ kernel (or its transpose) + bias."""

    states: Any  # [..., D], the final states
    kernel: Any  # [V, D] when vocab_first (a tied embedding), else [D, V]
    vocab_first: bool
    bias: Any = None  # [V], a masked LM head's; None: none

    @property
    def width(self) -> int:
        return self.states.shape[-1]


def chunk_tokens(width: int) -> int:
    """Tokens per chunk for a model width: a power of two, so that batches of power-of-two
    sizes need no padding."""
    return max(MIN_CHUNK, 1 << (width.bit_length() - 1))


def token_losses(head: Projection, targets, smoothing: float = 0.0):
    """Each token's cross-entropy (float32, shaped as `targets`; with label `smoothing`,
    as _losses says), chunk by chunk; not differentiable (evaluation)."""
    return _per_token(head, targets, functools.partial(_losses, smoothing=smoothing))


def token_losses_and_hits(head: Projection, targets):
    """Each token's cross-entropy and whether its most likely token is its target (both
    shaped as `targets`), from the same chunks; not differentiable (evaluation)."""

    def both(logits_CxV, targets_C):
        return _losses(logits_CxV, targets_C), jnp.argmax(logits_CxV, -1) == targets_C

    return _per_token(head, targets, both)


def _per_token(head: Projection, targets, score):
    """score(logits [C, V], targets [C]) of each chunk, as per-token arrays shaped as
    `targets` (a tuple of them where score returns one)."""
    states_NxD, targets_N = head.states.reshape(-1, head.width), targets.reshape(-1)

    def one(chunk_in):
        states_CxD, targets_C = chunk_in
        return score(_logits(head.vocab_first, states_CxD, head.kernel, head.bias), targets_C)

    chunks = _chunked(chunk_tokens(head.width), states_NxD, targets_N)
    return jax.tree.map(
        lambda per_chunk: per_chunk.reshape(-1)[: len(targets_N)].reshape(targets.shape),
        jax.lax.map(one, chunks),
    )


def mean_loss(head: Projection, targets, weights, chunk: int | None = None,
              smoothing: float = 0.0):  # fmt: skip
    """The weighted mean of the tokens' cross-entropies, differentiable in the states, the
    kernel and the bias; `weights` (shaped as `targets`) are 0 where a token has no target.
    `chunk` tokens at a time (default: chunk_tokens); label `smoothing` as _losses says."""
    return weighted_loss(head, targets, weights / jnp.sum(weights), chunk, smoothing)


def weighted_loss(head: Projection, targets, weights, chunk: int | None = None,
                  smoothing: float = 0.0):  # fmt: skip
    """The tokens' cross-entropies times their `weights`, summed (a loss whose weights
    already say how it averages: per example, say)."""
    states_NxD = head.states.reshape(-1, head.width)
    kernel = _varying_like(head.kernel, states_NxD)
    bias = None if head.bias is None else _varying_like(head.bias, states_NxD)
    return _weighted_loss(chunk or chunk_tokens(head.width), head.vocab_first, smoothing,
                          states_NxD, kernel, bias, targets.reshape(-1), weights.reshape(-1))  # fmt: skip


def _varying_like(kernel, states_NxD):
    """Under shard_map the kernel is the same on every device and the states are not: the
    kernel is marked as varying as the states do, as a matmul of the two would mark it, so
    that its gradient (which varies) has the type of what it is a gradient of, and the
    mark's transpose sums it where autodiff of the unfused loss would."""
    varying = jax.typeof(states_NxD).manual_axis_type.varying
    missing = varying - jax.typeof(kernel).manual_axis_type.varying
    return jax.lax.pcast(kernel, tuple(missing), to="varying") if missing else kernel


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _weighted_loss(chunk, vocab_first, smoothing, states_NxD, kernel, bias, targets_N, weights_N):
    head = Projection(states_NxD, kernel, vocab_first, bias)
    return jnp.sum(token_losses(head, targets_N, smoothing) * weights_N)


def _weighted_loss_forward(chunk, vocab_first, smoothing, states_NxD, kernel, bias, targets_N,
                           weights_N):  # fmt: skip
    def chunk_loss(states_CxD, head_params, targets_C, weights_C):
        logits_CxV = _logits(vocab_first, states_CxD, *head_params)
        losses_C = _losses(logits_CxV, targets_C, smoothing)
        return jnp.sum(losses_C * weights_C)

    def one(grad_head, chunk_in):
        states_CxD, targets_C, weights_C = chunk_in
        loss, (grad_states_CxD, grad_chunk) = jax.value_and_grad(chunk_loss, (0, 1))(
            states_CxD, (kernel, bias), targets_C, weights_C
        )
        return jax.tree.map(jnp.add, grad_head, grad_chunk), (loss, grad_states_CxD)

    zeros = jax.tree.map(jnp.zeros_like, (kernel, bias))
    grad_head, (losses, grad_states) = jax.lax.scan(
        one, zeros, _chunked(chunk, states_NxD, targets_N, weights_N)
    )
    grad_states_NxD = grad_states.reshape(-1, states_NxD.shape[1])[: len(targets_N)]
    return jnp.sum(losses), (grad_states_NxD, grad_head)


def _weighted_loss_backward(_chunk, _vocab_first, _smoothing, residuals, grad_loss):
    grad_states_NxD, (grad_kernel, grad_bias) = residuals
    grad_loss = grad_loss.astype(jnp.float32)

    def scaled(grad):
        return None if grad is None else (grad * grad_loss).astype(grad.dtype)

    # targets and weights are data: no gradients
    return scaled(grad_states_NxD), scaled(grad_kernel), scaled(grad_bias), None, None


_weighted_loss.defvjp(_weighted_loss_forward, _weighted_loss_backward)


def _logits(vocab_first: bool, states_CxD, kernel, bias=None):
    """The chunk's logits [C, V] in float32, the matmul in the states' dtype (--dtype)."""
    layout = "cd,vd->cv" if vocab_first else "cd,dv->cv"
    kernel = kernel.astype(states_CxD.dtype)
    logits = jnp.einsum(layout, states_CxD, kernel, preferred_element_type=jnp.float32)
    return logits if bias is None else logits + bias.astype(jnp.float32)


def _losses(logits_CxV, targets_C, smoothing: float = 0.0):
    """Each token's cross-entropy; with label `smoothing`, against its target smoothed over
    the vocabulary, less the least that loss can be (as run_summarization_flax.py computes
    it: 0 for a prediction of the smoothed target itself)."""
    logsumexp_C = jax.nn.logsumexp(logits_CxV, axis=-1)
    nll_C = logsumexp_C - _picked(logits_CxV, targets_C)
    if not smoothing:
        return nll_C
    vocab = logits_CxV.shape[-1]
    confidence, low = 1.0 - smoothing, smoothing / (vocab - 1)
    floor = -(confidence * math.log(confidence) + (vocab - 1) * low * math.log(low + 1e-20))
    # -sum_v soft_v log p_v, soft_v `low` everywhere but `confidence` at the target
    minus_log_probs_C = vocab * logsumexp_C - jnp.sum(logits_CxV, axis=-1)  # summed over v
    return (confidence - low) * nll_C + low * minus_log_probs_C - floor


def _picked(logits_CxV, targets_C):
    return jnp.take_along_axis(logits_CxV, targets_C[:, None], axis=-1)[:, 0]


def _chunked(chunk: int, *arrays):
    """`arrays` (tokens first) padded with zeros to whole chunks and split into them:
    [chunks, chunk, ...]. Padding has weight 0."""
    tokens = len(arrays[0])
    chunk = min(chunk, tokens)
    padded = -tokens % chunk
    return tuple(
        jnp.pad(a, [(0, padded)] + [(0, 0)] * (a.ndim - 1)).reshape(-1, chunk, *a.shape[1:])
        for a in arrays
    )
