"""--gradient_checkpointing: a family's layers recomputed in the backward pass instead of
kept from the forward one, as the HF Flax models' `gradient_checkpointing` does with
`flax.linen.remat`. Activation memory drops from every layer's to about one layer's, for
about a third more compute; the result is the same."""

from __future__ import annotations

import flax.linen as nn


def layer_class(model: nn.Module, layer: type[nn.Module], static_argnums: tuple[int, ...]):
    """`layer`, rematerialised when `model` (a family's top module) has `remat` set.
    `static_argnums`: the positions of the layer call's Python arguments (`deterministic`,
    a start position of 0), counting self as 0, as flax counts them."""
    if not getattr(model, "remat", False):
        return layer
    return nn.remat(layer, static_argnums=static_argnums)
