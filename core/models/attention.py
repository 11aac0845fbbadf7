"""Scaled dot-product attention shared by the families (softmax in float32 for stability).

Shapes: B batch, L queries, S keys, H heads, K head width.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


def attend(q_BxLxHxK, k_BxSxHxK, v_BxSxHxK, mask_BxHxLxS, dropout: Callable):
    """softmax(q k^T / sqrt(K)) v; `mask` is True where a query may look (None: anywhere);
    `dropout` applies the family's attention dropout to the weights."""
    scores = jnp.einsum("bqhk,bshk->bhqs", q_BxLxHxK, k_BxSxHxK) / math.sqrt(q_BxLxHxK.shape[-1])
    if mask_BxHxLxS is not None:
        scores = jnp.where(mask_BxHxLxS, scores, jnp.finfo(scores.dtype).min)
    weights = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(q_BxLxHxK.dtype)
    return jnp.einsum("bhqs,bshk->bqhk", dropout(weights), v_BxSxHxK)


def causal_attention(q_BxLxHxK, k_BxLxGxK, v_BxLxGxK, dropout: nn.Dropout, implementation: str):
    """Causal self-attention where each of G key/value heads serves H/G query heads, by
    one of descriptor.ATTENTION_IMPLEMENTATIONS."""
    kernel = _kernel(implementation, q_BxLxHxK.dtype)
    if kernel != "eager" and (dropout.deterministic or dropout.rate == 0):
        return jax.nn.dot_product_attention(
            q_BxLxHxK, k_BxLxGxK, v_BxLxGxK, is_causal=True,
            implementation="cudnn" if kernel == "cudnn" else None,
        )  # fmt: skip
    # Eager, and whenever attention dropout applies: the library kernels have none.
    repeat = q_BxLxHxK.shape[2] // k_BxLxGxK.shape[2]
    k_BxLxHxK, v_BxLxHxK = (jnp.repeat(t, repeat, axis=2) for t in (k_BxLxGxK, v_BxLxGxK))
    length = q_BxLxHxK.shape[1]
    causal_LxL = jnp.tril(jnp.ones((length, length), dtype=bool))
    return attend(q_BxLxHxK, k_BxLxHxK, v_BxLxHxK, causal_LxL, dropout)


def cached_attention(q_BxLxHxK, k_BxSxGxK, v_BxSxGxK, mask_LxS):
    """Decoding: this call's queries over the cached keys and values (kv_cache.extend),
    each of G key/value heads serving H/G query heads; no dropout."""
    repeat = q_BxLxHxK.shape[2] // k_BxSxGxK.shape[2]
    k_BxSxHxK, v_BxSxHxK = (jnp.repeat(t, repeat, axis=2) for t in (k_BxSxGxK, v_BxSxGxK))
    return attend(q_BxLxHxK, k_BxSxHxK, v_BxSxHxK, mask_LxS, lambda weights: weights)


def _kernel(implementation: str, dtype) -> str:
    """cuDNN takes half precision on a GPU only: elsewhere (parameter init in float32, a
    CPU or TPU run) "cudnn" is XLA's sdpa and "auto" eager, the faster of the two there
    (bench/train_throughput.py)."""
    on_gpu = jax.default_backend() == "gpu" and dtype in (jnp.bfloat16, jnp.float16)
    if implementation == "auto":
        return "cudnn" if on_gpu else "eager"
    if implementation == "cudnn" and not on_gpu:
        return "sdpa"
    return implementation


class SelfAttention(nn.Module):
    """query, key and value projections, then attend: the encoder families' block (its
    parameters are named as HF's BERT and ViT name theirs)."""

    heads: int
    dropout_rate: float
    kernel_init: Callable
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x_BxLxD, mask_BxHxLxS, deterministic: bool):
        batch, length, width = x_BxLxD.shape
        q, k, v = (
            nn.Dense(width, use_bias=self.use_bias, dtype=self.dtype,
                     kernel_init=self.kernel_init, name=name)(x_BxLxD)
            .reshape(batch, length, self.heads, width // self.heads)
            for name in ("query", "key", "value")
        )  # fmt: skip
        dropout = nn.Dropout(self.dropout_rate, deterministic=deterministic)
        return attend(q, k, v, mask_BxHxLxS, dropout).reshape(batch, length, width)
