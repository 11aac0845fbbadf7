"""AdamW (or Adafactor, --adafactor) with warmup + linear/cosine decay and global-norm
clipping, as in the HF scripts."""

from __future__ import annotations

import optax
from flax.traverse_util import flatten_dict, unflatten_dict


def make_schedule(spec, total_steps: int) -> optax.Schedule:
    warmup = min(spec.warmup_steps, total_steps)
    decay_steps = max(total_steps - warmup, 1)
    if spec.lr_schedule == "cosine":
        decay = optax.cosine_decay_schedule(spec.learning_rate, decay_steps)
    elif spec.lr_schedule == "linear":
        decay = optax.linear_schedule(spec.learning_rate, 0.0, decay_steps)
    else:
        decay = optax.constant_schedule(spec.learning_rate)
    if warmup == 0:
        return decay
    warm = optax.linear_schedule(0.0, spec.learning_rate, warmup)
    return optax.join_schedules([warm, decay], [warmup])


def make_optimizer(spec, schedule: optax.Schedule) -> optax.GradientTransformation:
    update = _adafactor(spec, schedule) if spec.adafactor else _adamw(spec, schedule)
    if spec.max_grad_norm > 0:
        return optax.chain(optax.clip_by_global_norm(spec.max_grad_norm), update)
    return update


def _adamw(spec, schedule):
    return optax.adamw(
        schedule,
        b1=spec.adam_beta1,
        b2=spec.adam_beta2,
        eps=spec.adam_epsilon,
        weight_decay=spec.weight_decay,
        # No decay on biases and LayerNorm scales, as the HF Flax scripts do.
        mask=_decay_mask,
    )


def _adafactor(spec, schedule):
    """optax's defaults, as the HF scripts' --adafactor has them: second moments factored
    into row and column means for matrices of 128 or more on both sides, so the optimizer
    state is far smaller than AdamW's two full copies (T5's usual optimizer)."""
    return optax.adafactor(
        schedule,
        weight_decay_rate=spec.weight_decay or None,
        weight_decay_mask=_decay_mask,
    )


def _decay_mask(params):
    flat = flatten_dict(params)
    return unflatten_dict({path: path[-1] not in ("bias", "scale") for path in flat})
