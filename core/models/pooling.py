"""How a decoder-only classifier reads a sequence, as transformers does: the scores at the
last token that is not padding (the padding id taken from the config)."""

from __future__ import annotations

import jax.numpy as jnp


def last_token(scores_BxLxC, ids_BxL, pad_token_id: int | None):
    """[B, C]: each row's scores at its last non-padding token (the last token when the
    config names no padding id; a row of padding only reads its first)."""
    if pad_token_id is None:
        return scores_BxLxC[:, -1]
    positions_L = jnp.arange(ids_BxL.shape[1])
    last_B = jnp.argmax(positions_L * (ids_BxL != pad_token_id), axis=-1)
    return jnp.take_along_axis(scores_BxLxC, last_B[:, None, None], axis=1)[:, 0]
