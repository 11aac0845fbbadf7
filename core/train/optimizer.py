"""AdamW (or Adafactor, --adafactor) with warmup + linear/cosine decay and global-norm
clipping, as in the HF scripts."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.traverse_util import flatten_dict, unflatten_dict


@flax.struct.dataclass
class Schedule:
    """Linear warmup to `peak`, then linear or cosine decay to 0 over `decay_steps` (or
    none: "constant"), as optax's join of those schedules computes it. Its numbers are
    arrays that the train step takes as an argument rather than constants compiled into it,
    so a relaunch with another --learning_rate, --warmup_steps or --max_steps finds its
    program in the compile cache. Called on the host too, for the logged rate."""

    peak: jax.Array
    warmup: jax.Array
    decay_steps: jax.Array
    kind: str = flax.struct.field(pytree_node=False)

    def __call__(self, count):
        return self._rate(jnp, jnp.asarray(count, jnp.float32))

    def on_host(self, step: int) -> float:
        """The rate at `step`, by numpy: jax op by op compiled a program for each operation
        the first time, ~0.45 s before the first logged step of a run."""
        return float(self._rate(np, np.float32(step)))

    def _rate(self, xp, count):
        """The formula, in the array module `xp` (jnp in the step, numpy on the host)."""
        peak, warmup, decay_steps = (
            xp.asarray(value, xp.float32) for value in (self.peak, self.warmup, self.decay_steps)
        )
        warm = peak * count / xp.maximum(warmup, 1.0)
        done = xp.clip((count - warmup) / decay_steps, 0.0, 1.0)
        if self.kind == "linear":
            decay = peak * (1.0 - done)
        elif self.kind == "cosine":
            decay = peak * 0.5 * (1.0 + xp.cos(xp.pi * done))
        else:  # constant
            decay = peak
        return xp.where(count < warmup, warm, decay)


def make_schedule(spec, total_steps: int) -> Schedule:
    warmup = min(spec.warmup_steps, total_steps)
    return Schedule(
        peak=jnp.float32(spec.learning_rate),
        warmup=jnp.float32(warmup),
        decay_steps=jnp.float32(max(total_steps - warmup, 1)),
        kind=spec.lr_schedule,
    )


def make_optimizer(spec, schedule: Schedule) -> optax.GradientTransformation:
    update = _adafactor(spec, schedule) if spec.adafactor else _adamw(spec, schedule)
    if spec.max_grad_norm > 0:
        return optax.chain(optax.clip_by_global_norm(spec.max_grad_norm), update)
    return update


def is_elementwise(spec) -> bool:
    """Whether the update treats each weight's entries alike whatever its shape (AdamW, and
    clipping by the global norm), so it may run on weights given an extra axis; Adafactor
    factors a weight's second moments by its shape."""
    return not spec.adafactor


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
