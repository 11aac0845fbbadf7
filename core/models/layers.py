"""A family's stack of identical layers, run one of two ways, each optionally
rematerialised:

- unrolled (the default, as the HF Flax models): one copy of the layer per depth in the
  compiled program, parameters named NAME_0 ... NAME_{n-1} as the checkpoints number them;
- scanned (--scan_layers): one compiled layer body run n times by `jax.lax.scan` (flax's
  `nn.scan`), so the program, and its compile time, stay the same size as models get
  deeper. Its parameters are one stack, NAME_scan, each leaf with the layers on a leading
  axis; `stacked` and `unstacked` convert between the two layouts, so checkpoints, HF
  exports and initial weights are the unrolled ones whichever way a run computes.

--gradient_checkpointing recomputes each layer's activations in the backward pass instead
of keeping them from the forward one, as the HF Flax models' `gradient_checkpointing` does
with `flax.linen.remat`: activation memory of about one layer's, for about a third more
compute, the same result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

SCANNED = "_scan"  # the suffix of a scanned stack's name


def layer_stack(model: nn.Module, layer: type[nn.Module], args: tuple, count: int, name: str,
                static_argnums: tuple[int, ...]) -> Callable:  # fmt: skip
    """(x, *call_args) -> x through `count` layers `layer(*args)`, scanned when `model` (a
    family's top module) has `scan` set, rematerialised when it has `remat` set.
    `static_argnums`: the positions of the layer call's Python arguments (`deterministic`,
    a start position of 0), counting self as 0, as flax counts them. Every call argument
    but x is the same for every layer."""
    scan = getattr(model, "scan", False)
    body = rematerialised(model, _carried(layer) if scan else layer, static_argnums)
    if not scan:

        def unrolled(x, *call_args):
            for i in range(count):
                x = body(*args, name=f"{name}_{i}")(x, *call_args)
            return x

        return unrolled

    def scanned(x, *call_args):
        stack = nn.scan(
            body,
            variable_axes={"params": 0},
            split_rngs={"params": True, "dropout": True},  # each layer its own dropout
            in_axes=(nn.broadcast,) * len(call_args),
            length=count,
        )
        return stack(*args, name=name + SCANNED)(x, *call_args)[0]

    return scanned


def rematerialised(model: nn.Module, layer: type[nn.Module], static_argnums: tuple[int, ...]):
    """`layer`, rematerialised when `model` has `remat` set (static_argnums as above)."""
    if not getattr(model, "remat", False):
        return layer
    return nn.remat(layer, static_argnums=static_argnums)


@functools.cache
def _carried(layer: type[nn.Module]) -> type[nn.Module]:
    """`layer` as nn.scan's body, which returns (carry, output); its parameters keep the
    layer's names."""

    class Carried(layer):
        def __call__(self, x, *args):
            return super().__call__(x, *args), None

    Carried.__name__ = Carried.__qualname__ = layer.__name__
    return Carried


def stacked(params: dict, template: dict) -> dict:
    """Unrolled `params` (NAME_0 ... NAME_{n-1}) in the layout of `template`, the scanned
    model's parameter shapes (NAME_scan)."""
    out = {}
    for key, shape in template.items():
        if key.endswith(SCANNED):
            name, count = key.removesuffix(SCANNED), jax.tree.leaves(shape)[0].shape[0]
            layers = [params[f"{name}_{i}"] for i in range(count)]
            out[key] = jax.tree.map(lambda *leaves: jnp.stack(leaves), *layers)
        elif isinstance(shape, dict):
            out[key] = stacked(params[key], shape)
        else:
            out[key] = params[key]
    return out


def unstacked(params: dict) -> dict:
    """`params` with every scanned stack NAME_scan split into NAME_0 ... NAME_{n-1}; the
    unrolled layout unchanged."""
    out = {}
    for key, value in params.items():
        if key.endswith(SCANNED):
            name, count = key.removesuffix(SCANNED), jax.tree.leaves(value)[0].shape[0]
            for i in range(count):
                out[f"{name}_{i}"] = jax.tree.map(lambda leaf, i=i: leaf[i], value)
        else:
            out[key] = unstacked(value) if isinstance(value, dict) else value
    return out
