"""A generating model as the searches see it: `first(params, inputs)` gives the logits of
the first new token and the key/value cache, `next(params, cache, tokens)` those of the
token after `tokens`. Decoder-only heads (causal_lm) read a prompt; encoder-decoder heads
(seq2seq_lm) encode the input once and start the decoder from its start token.

Shapes: B rows (batch, times beams for beam search), P prompt or input tokens, V vocabulary.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from ..models import kv_cache
from ..models.family import Family

# The heads that generate, and whether the model reads its input with an encoder.
GENERATING_HEADS = {"causal_lm": False, "seq2seq_lm": True}


@dataclasses.dataclass(frozen=True)
class Decoder:
    family: Family
    config: Any
    head: str
    dtype: str = "float32"

    @property
    def encoder_decoder(self) -> bool:
        return GENERATING_HEADS[self.head]

    def cache_length(self, input_length: int, new_tokens: int) -> int:
        """Positions the decoder's cache needs: the prompt and the new tokens (decoder-only),
        or the start token and the new tokens."""
        return (1 if self.encoder_decoder else input_length) + new_tokens

    def first(self, params, ids_BxP, mask_BxP, capacity: int):
        """(logits [B, V] of the first new token, cache, what `next` needs of the input)."""
        module = self.family.module(self.config, self.head, self.dtype, capacity)
        if not self.encoder_decoder:
            # A prompt may be right-padded (to a length other prompts share, so they share
            # the compiled search): every row's next token follows its last real one, and
            # the cache goes on from there. Rows are as long as each other.
            logits, variables = module.apply({"params": params}, ids_BxP, mutable=["cache"])
            length = jnp.sum(mask_BxP[0]).astype(jnp.int32)
            cache = kv_cache.moved_to(variables["cache"], length)
            return logits[:, length - 1], cache, (None, None)
        memory = module.apply({"params": params}, ids_BxP, mask_BxP, method="encode")
        start = jnp.full((ids_BxP.shape[0], 1), self.config.decoder_start_token_id, jnp.int32)
        logits, cache = self._decode(module, params, None, start, (memory, mask_BxP))
        return logits, cache, (memory, mask_BxP)

    def next(self, params, cache, tokens_B, encoded, capacity: int):
        """(logits [B, V] of the token after `tokens`, the cache with them added)."""
        module = self.family.module(self.config, self.head, self.dtype, capacity)
        return self._decode(module, params, cache, tokens_B[:, None], encoded)

    def _decode(self, module, params, cache, ids_Bx1, encoded):
        variables = {"params": params, **({"cache": cache} if cache is not None else {})}
        if self.encoder_decoder:
            memory, mask = encoded
            logits, new = module.apply(variables, ids_Bx1, memory, mask, method="decode",
                                       mutable=["cache"])  # fmt: skip
        else:
            logits, new = module.apply(variables, ids_Bx1, mutable=["cache"])
        return logits[:, -1], new["cache"]
