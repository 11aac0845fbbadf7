"""transformers' activations by their config names (descriptor.ACTIVATIONS)."""

from __future__ import annotations

import functools

import jax

_FUNCTIONS = {
    "gelu": functools.partial(jax.nn.gelu, approximate=False),  # the exact erf form
    "gelu_new": functools.partial(jax.nn.gelu, approximate=True),  # tanh, as GPT-2
    "gelu_pytorch_tanh": functools.partial(jax.nn.gelu, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
}


def activation(name: str):
    return _FUNCTIONS[name]
