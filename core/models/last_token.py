"""The decoder families' sequence classifier, as transformers' *ForSequenceClassification
reads a sequence: a bias-free `score` layer over the body's states, taken at each row's
last token that is not padding (the padding id from the config)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax.numpy as jnp


def last_token(scores_BxLxC, ids_BxL, pad_token_id: int | None):
    """[B, C]: each row's scores at its last non-padding token (the last token when the
    config names no padding id; a row of padding only reads its first)."""
    if pad_token_id is None:
        return scores_BxLxC[:, -1]
    positions_L = jnp.arange(ids_BxL.shape[1])
    last_B = jnp.argmax(positions_L * (ids_BxL != pad_token_id), axis=-1)
    return jnp.take_along_axis(scores_BxLxC, last_B[:, None, None], axis=1)[:, 0]


class LastTokenClassifier(nn.Module):
    """Token ids [B, L], right-padded with the config's pad_token_id -> class logits [B, C]
    (float32). Causal attention keeps the padding after the last real token unseen, so
    the mask is not needed; token types are BERT's. A family binds it to its body."""

    cfg: Any
    # (this module, ids, deterministic) -> (states [B, L, D], the token embedding), its
    # submodules named as the family's checkpoints name them
    body: Callable
    dtype: jnp.dtype = jnp.float32
    remat: bool = False  # --gradient_checkpointing (layers.py)
    scan: bool = False  # --scan_layers (layers.py)

    @nn.compact
    def __call__(self, ids_BxL, deterministic=True, attention_mask_BxL=None, types_BxL=None):
        x_BxLxD, _ = self.body(self, ids_BxL, deterministic)
        score = nn.Dense(self.cfg.num_labels, use_bias=False, dtype=self.dtype, name="score",
                         kernel_init=nn.initializers.normal(self.cfg.initializer_range))  # fmt: skip
        return last_token(score(x_BxLxD), ids_BxL, self.cfg.pad_token_id).astype(jnp.float32)
