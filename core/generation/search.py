"""Greedy search, sampling (temperature, top-k, top-p) and beam search over a Decoder, as
transformers' `generate` does them, each one jitted loop with fixed shapes (compiled once
per batch shape and settings), callable inside a jitted or pmapped evaluation.

Greedy and sampling stream each step's tokens to a listener as they are produced. Beam
search follows transformers 5's vectorised beam search (the 2 x beams best continuations,
finished hypotheses scored by sum of log-probabilities / length ** length_penalty, its
early-stop heuristic), so its output equals transformers' token for token.

Shapes: B batch, R rows (B x beams), P input tokens, N new tokens, V vocabulary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from ..models import kv_cache
from .decoder import Decoder

_NEVER = -1.0e9  # a score that no continuation keeps (transformers' own)


@dataclasses.dataclass(frozen=True)
class Settings:
    """transformers' GenerationConfig names."""

    max_new_tokens: int = 32
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0: no cut
    top_p: float = 1.0
    length_penalty: float = 1.0
    early_stopping: bool = False
    eos_token_id: int | None = None
    pad_token_id: int = 0


class Generator:
    """`generator(params, ids, mask, rng)` -> new tokens [B, N] (padding after eos),
    compiled on its first call for that shape. Made with a `stream`, greedy search and
    sampling call it with each step's tokens ([B], numpy) as they are produced; callers
    may point `stream` at another function between calls."""

    def __init__(self, decoder: Decoder, settings: Settings, stream: Callable | None = None):
        if settings.num_beams < 1:
            raise ValueError("num_beams must be at least 1")
        self.decoder, self.settings, self.stream = decoder, settings, stream
        search = _beam_search if settings.num_beams > 1 else _token_by_token
        self._search = jax.jit(lambda *args: search(self, *args))

    def __call__(self, params, ids_BxP, mask_BxP=None, rng=None):
        ids_BxP = jnp.asarray(ids_BxP, jnp.int32)
        mask_BxP = jnp.ones_like(ids_BxP) if mask_BxP is None else jnp.asarray(mask_BxP)
        rng = jax.random.key(0) if rng is None else rng
        return self._search(params, ids_BxP, mask_BxP, rng)

    def _streamed(self, tokens_B) -> None:
        self.stream(np.asarray(tokens_B))


def _chosen(settings: Settings, logits_BxV, rng):
    """The next token of each row: the most likely, or one sampled after temperature,
    top-k and top-p (in transformers' order)."""
    if not settings.do_sample:
        return jnp.argmax(logits_BxV, axis=-1)
    scores = logits_BxV / settings.temperature
    if settings.top_k:
        kth_B = jax.lax.top_k(scores, min(settings.top_k, scores.shape[-1]))[0][:, -1:]
        scores = jnp.where(scores < kth_B, -jnp.inf, scores)
    if settings.top_p < 1.0:
        order = jnp.argsort(scores, axis=-1)  # ascending, as transformers' TopPLogitsWarper
        ascending = jnp.take_along_axis(scores, order, axis=-1)
        drop = jnp.cumsum(jax.nn.softmax(ascending, axis=-1), axis=-1) <= 1 - settings.top_p
        drop = drop.at[:, -1].set(False)  # the likeliest token always stays
        rows = jnp.arange(scores.shape[0])[:, None]
        scores = jnp.where(jnp.zeros_like(drop).at[rows, order].set(drop), -jnp.inf, scores)
    return jax.random.categorical(rng, scores, axis=-1)


def _token_by_token(generator: Generator, params, ids_BxP, mask_BxP, rng):
    decoder, settings = generator.decoder, generator.settings
    batch, new = ids_BxP.shape[0], settings.max_new_tokens
    capacity = decoder.cache_length(ids_BxP.shape[1], new)
    logits, cache, encoded = decoder.first(params, ids_BxP, mask_BxP, capacity)
    eos = -1 if settings.eos_token_id is None else settings.eos_token_id

    def step(state):
        t, out_BxN, finished_B, logits_BxV, cache = state
        token_B = _chosen(settings, logits_BxV, jax.random.fold_in(rng, t))
        token_B = jnp.where(finished_B, settings.pad_token_id, token_B).astype(jnp.int32)
        if generator.stream is not None:
            io_callback(generator._streamed, None, token_B, ordered=True)
        logits_BxV, cache = decoder.next(params, cache, token_B, encoded, capacity)
        return (t + 1, out_BxN.at[:, t].set(token_B), finished_B | (token_B == eos),
                logits_BxV, cache)  # fmt: skip

    def going(state):
        t, _, finished_B, _, _ = state
        return (t < new) & ~jnp.all(finished_B)

    out = jnp.full((batch, new), settings.pad_token_id, jnp.int32)
    state = (0, out, jnp.zeros(batch, bool), logits, cache)
    return jax.lax.while_loop(going, step, state)[1]


def _beam_search(generator: Generator, params, ids_BxP, mask_BxP, _rng):
    decoder, settings = generator.decoder, generator.settings
    batch, beams, new = ids_BxP.shape[0], settings.num_beams, settings.max_new_tokens
    keep = 2 * beams  # as transformers: enough that `beams` go on when some end at eos
    capacity = decoder.cache_length(ids_BxP.shape[1], new)
    rows_R = jnp.repeat(jnp.arange(batch), beams)
    logits_RxV, cache, encoded = decoder.first(params, ids_BxP[rows_R], mask_BxP[rows_R],
                                               capacity)  # fmt: skip
    eos = -1 if settings.eos_token_id is None else settings.eos_token_id
    first_beams = jnp.arange(keep) < beams

    def gather(values, indices):  # [B, n, ...] by [B, k] -> [B, k, ...]
        return jax.vmap(lambda v, i: v[i])(values, indices)

    def step(state):
        t, running, running_scores, done, done_scores, finished, hopeful, logits_RxV, cache = state
        log_probs = jax.nn.log_softmax(logits_RxV.astype(jnp.float32), axis=-1)
        vocab = log_probs.shape[-1]
        log_probs = log_probs.reshape(batch, beams, vocab) + running_scores[:, :, None]
        top_scores, top = jax.lax.top_k(log_probs.reshape(batch, beams * vocab), keep)
        origin, token = top // vocab, (top % vocab).astype(jnp.int32)
        candidates = gather(running, origin).at[:, :, t].set(token)
        ends = (token == eos) | (t + 1 >= new)
        # the beams that go on: the best that did not end
        going_scores = top_scores + ends * _NEVER
        best = jax.lax.top_k(going_scores, beams)[1]
        running, running_scores = gather(candidates, best), gather(going_scores, best)
        # the hypotheses that ended: kept if better than the worst kept so far
        ended = ends & first_beams[None]
        scores = top_scores / ((t + 1) ** settings.length_penalty)
        full = jnp.all(finished, axis=-1, keepdims=True) & settings.early_stopping
        scores = scores + (full | ~hopeful | ~ended) * _NEVER
        merged = jax.lax.top_k(jnp.concatenate([done_scores, scores], axis=1), beams)[1]
        done = gather(jnp.concatenate([done, candidates], axis=1), merged)
        done_scores = gather(jnp.concatenate([done_scores, scores], axis=1), merged)
        finished = gather(jnp.concatenate([finished, ended], axis=1), merged)
        # the caches follow the beams that go on
        parents_R = (gather(origin, best) + jnp.arange(batch)[:, None] * beams).reshape(-1)
        cache = kv_cache.reorder(cache, parents_R)
        logits_RxV, cache = decoder.next(params, cache, running[:, :, t].reshape(-1), encoded,
                                         capacity)  # fmt: skip
        # could a beam that goes on still beat the worst kept hypothesis?
        best_possible = running_scores[:, :1] / ((t + 1) ** settings.length_penalty)
        worst = jnp.where(finished, jnp.min(done_scores, axis=1, keepdims=True), _NEVER)
        hopeful = hopeful & jnp.any(best_possible > worst, axis=-1, keepdims=True)
        going = (jnp.any(hopeful) & ~(jnp.all(finished) & settings.early_stopping)
                 & ~jnp.all(ends))  # fmt: skip
        return (t + 1, running, running_scores, done, done_scores, finished,
                jnp.where(going, hopeful, False), logits_RxV, cache)  # fmt: skip

    def going(state):
        return (state[0] < new) & jnp.any(state[6])

    sequences = jnp.full((batch, beams, new), settings.pad_token_id, jnp.int32)
    running_scores = jnp.where(jnp.arange(beams) == 0, 0.0, _NEVER)[None].repeat(batch, 0)
    state = (0, sequences, running_scores, sequences, jnp.full((batch, beams), _NEVER),
             jnp.zeros((batch, beams), bool), jnp.ones((batch, 1), bool), logits_RxV, cache)  # fmt: skip
    return jax.lax.while_loop(going, step, state)[3][:, 0]
