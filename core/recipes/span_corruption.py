"""T5's span corruption (run_t5_mlm_flax.py, after the T5 paper's preprocessors), on the
device: random spans of a block's tokens are each replaced by one sentinel in the inputs,
and the targets are those spans, each after its sentinel.

Every shape is fixed by the block length, so it runs inside the jitted step from the step's
own random key (a pure function of seed and step: resume stays exact). Shapes: B batch,
N tokens in a block, M corrupted input length, T target length, P noise spans.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SpanLengths:
    """The lengths that make corrupted inputs exactly `inputs` tokens long."""

    block: int  # N: the raw tokens one example is cut from
    inputs: int  # M: kept tokens, one sentinel per noise span, and eos
    targets: int  # T: noise tokens, one sentinel per noise span, and eos
    noise: int  # noise tokens in a block
    spans: int  # P: noise spans (as many non-noise spans) in a block

    @classmethod
    def for_inputs(cls, inputs: int, density: float, mean_span: float) -> SpanLengths:
        """The longest block whose corrupted form fits `inputs` tokens (the T5 paper's
        random_spans_helper, as run_t5_mlm_flax.py computes it)."""
        block = inputs
        while cls.of_block(block + 1, density, mean_span).inputs <= inputs:
            block += 1
        lengths = cls.of_block(block, density, mean_span)
        if density == 0.5 and lengths.targets > lengths.inputs:  # as the script: round lengths
            lengths = cls.of_block(block - 1, density, mean_span)
        return lengths

    @classmethod
    def of_block(cls, block: int, density: float, mean_span: float) -> SpanLengths:
        noise = min(max(round(block * density), 1), block - 1)
        spans = max(round(noise / mean_span), 1)
        return cls(block, block - noise + spans + 1, noise + spans + 1, noise, spans)


def _segment_lengths(rng, items: int, segments: int):
    """[segments] positive lengths summing to `items`, every split equally likely."""
    import jax
    import jax.numpy as jnp

    starts = jax.random.permutation(rng, jnp.arange(items - 1) < segments - 1)
    segment_of_item = jnp.cumsum(jnp.concatenate([jnp.zeros(1, bool), starts]))
    return jax.ops.segment_sum(jnp.ones(items, jnp.int32), segment_of_item, segments)


def noise_mask(rng, lengths: SpanLengths):
    """[N] bool: `lengths.spans` noise spans of `lengths.noise` tokens in all, alternating
    with as many non-noise spans, the first token never noise."""
    import jax
    import jax.numpy as jnp

    noise_rng, kept_rng = jax.random.split(rng)
    noise_P = _segment_lengths(noise_rng, lengths.noise, lengths.spans)
    kept_P = _segment_lengths(kept_rng, lengths.block - lengths.noise, lengths.spans)
    span_starts = jnp.cumsum(jnp.stack([kept_P, noise_P], axis=1).reshape(-1))[:-1]
    starts_N = jnp.zeros(lengths.block, jnp.int32).at[span_starts].set(1)
    return jnp.cumsum(starts_N) % 2 == 1


def _replace_spans(ids_N, spans_N, sentinels_P, eos: int, length: int):
    """[length]: `ids` with each run of `spans` tokens replaced by the next sentinel, then
    eos (the script's create_sentinel_ids and filter_input_ids)."""
    import jax.numpy as jnp

    first_N = spans_N & ~jnp.concatenate([jnp.zeros(1, bool), spans_N[:-1]])
    span_number_N = jnp.cumsum(first_N) - 1
    values_N = jnp.where(first_N, sentinels_P[jnp.maximum(span_number_N, 0)], ids_N)
    kept_N = ~spans_N | first_N
    slots_N = jnp.where(kept_N, jnp.cumsum(kept_N) - 1, length)  # dropped ones fall off
    out = jnp.full(length, eos, ids_N.dtype)
    return out.at[slots_N].set(values_N, mode="drop")


def corrupt(ids_BxN, rng, lengths: SpanLengths, sentinels_P, eos: int):
    """(inputs [B, M], targets [B, T]) of a batch of blocks, each with its own spans."""
    import jax

    def one(ids_N, example_rng):
        spans_N = noise_mask(example_rng, lengths)
        inputs = _replace_spans(ids_N, spans_N, sentinels_P, eos, lengths.inputs)
        return inputs, _replace_spans(ids_N, ~spans_N, sentinels_P, eos, lengths.targets)

    return jax.vmap(one)(ids_BxN, jax.random.split(rng, ids_BxN.shape[0]))


def shift_right(targets_BxT, start_id: int):
    """The decoder's inputs: the targets one position later, after the start token."""
    import jax.numpy as jnp

    start = jnp.full((targets_BxT.shape[0], 1), start_id, targets_BxT.dtype)
    return jnp.concatenate([start, targets_BxT[:, :-1]], axis=1)
