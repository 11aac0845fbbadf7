"""Keys and values kept between decoding calls, in the "cache" collection, so each new
token attends to the ones before it without recomputing them.

A model built with `decode_length` N > 0 decodes: each call appends its tokens' keys and
values to caches of N positions, created (zeros) by the first call, which starts at
position 0. Callers apply it with `mutable=["cache"]` and pass the returned cache back.
Shapes: B batch, L this call's tokens, S cache positions, G key/value heads, K head width.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def start_position(module: nn.Module, length: int):
    """The position of this call's first token (those before are cached), advancing the
    model's counter by `length`."""
    counter = module.variable("cache", "position", lambda: jnp.zeros((), jnp.int32))
    start = counter.value
    counter.value = start + length
    return start


def moved_to(cache, position):
    """The cache with every position counter at `position`: the calls after continue from
    there, overwriting (before any query may look at them) what was written beyond it."""

    def moved(path, array):
        named = getattr(path[-1], "key", None) == "position"
        return jnp.asarray(position, array.dtype) if named else array

    return jax.tree_util.tree_map_with_path(moved, cache)


def extend(module: nn.Module, capacity: int, k_BxLxGxK, v_BxLxGxK, start):
    """Write this call's keys and values at `start` into the layer's caches of `capacity`
    positions; (all keys [B, S, G, K], all values, mask [L, S]: True where a query may
    look, i.e. at itself and the positions before it)."""
    shape = (k_BxLxGxK.shape[0], capacity, *k_BxLxGxK.shape[2:])
    keys = module.variable("cache", "keys", jnp.zeros, shape, k_BxLxGxK.dtype)
    values = module.variable("cache", "values", jnp.zeros, shape, v_BxLxGxK.dtype)
    at = (0, start, 0, 0)
    keys.value = jax.lax.dynamic_update_slice(keys.value, k_BxLxGxK.astype(keys.value.dtype), at)
    values.value = jax.lax.dynamic_update_slice(
        values.value, v_BxLxGxK.astype(values.value.dtype), at
    )
    queries_L = start + jnp.arange(k_BxLxGxK.shape[1])
    mask_LxS = jnp.arange(capacity)[None, :] <= queries_L[:, None]
    return keys.value, values.value, mask_LxS


def kept(module: nn.Module, name: str, compute, decoding: bool):
    """`compute()`, which when decoding the first call computes and the later ones reuse
    (the encoder's keys and values, which cross-attention reads at every step)."""
    if not decoding:
        return compute()
    if module.has_variable("cache", name):
        return module.get_variable("cache", name)
    value = compute()
    module.put_variable("cache", name, value)
    return value


def reorder(cache, rows_B):
    """The cache with its batch rows taken in `rows_B`'s order (beam search keeps the
    caches of the beams it continues, each row another beam of the same example). The
    position counter is shared, and what `kept` holds is the same for every beam of an
    example, so neither is copied."""

    def taken(path, array):
        if array.ndim == 0 or any(getattr(key, "key", None) == "memory" for key in path):
            return array
        return jnp.take(array, rows_B, axis=0)

    return jax.tree_util.tree_map_with_path(taken, cache)
