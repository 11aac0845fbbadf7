"""The per-device train and eval steps, written once and run by pmap or shard_map.

Inside a step the batch is this device's share, [accum, per_device_batch, ...]; gradients
and metrics are averaged over the "batch" axis with lax.pmean, as in the HF Flax scripts.
Dropout keys are a pure function of (seed, step, device), so resume replays them exactly.
What no step changes (the dropout key, the learning-rate schedule's numbers) comes in as an
argument, so the compiled program depends on the model and shapes only.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from .optimizer import Schedule

AXIS = "batch"

# A step's random bits (dropout, the noise that picks masked tokens or spans) come from
# XLA's RngBitGenerator, its keys still split and folded in by threefry. Against threefry's
# own bits, a GPT-2 of 2 x 256 (8 x 128 tokens, one CPU device) compiled its step in 2.4 s
# instead of 2.8 and ran ~5% more tokens/s. The bits are the backend's generator's (a TPU's
# are not a CPU's): a run replays them exactly where it runs.
STEP_PRNG = "rbg"


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any

    @classmethod
    def create(cls, params, tx: optax.GradientTransformation) -> TrainState:
        # The optimizer's state made by one program: op by op, each moment's zeros were a
        # dispatch (and a compile) of their own, a quarter of a small model's init.
        opt_state = jax.jit(tx.init)(params)
        return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state)


@flax.struct.dataclass
class StepConstants:
    """The step's arguments that stay the same from its first call to its last."""

    dropout_key: jax.Array
    schedule: Schedule

    @classmethod
    def of_seed(cls, seed: int, schedule: Schedule) -> StepConstants:
        return cls(jax.random.key(seed, impl=STEP_PRNG), schedule)


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """(state, batch, StepConstants) -> (state, metrics), run under a mapped "batch" axis;
    in two halves that the sharded mode runs apart: this device's gradients (averaged over
    the axis with lax.pmean here, reduce-scattered there) and the update (elementwise but
    for global norms, so it may run on shards of the state). `optimizer` makes the update's
    optax transformation from the schedule the step is given."""

    loss_fn: Callable
    optimizer: Callable[[Schedule], optax.GradientTransformation]
    # The state comes stacked [devices, ...] (pmap's), each device's rows [1, ...], and the
    # optimizer is elementwise (optimizer.is_elementwise), so it may update them as they
    # are: see update.
    update_on_device_axis: bool = False

    def __call__(self, state: TrainState, batch, constants: StepConstants):
        grads, loss, aux = jax.lax.pmean(
            self.device_gradients(state.params, state.step, batch, constants.dropout_key), AXIS
        )
        return self.update(state, grads, loss, aux, constants.schedule)

    def device_gradients(self, params, step, batch, base_key):
        """(gradients, loss, aux) of this device's share of the batch."""
        step_key = jax.random.fold_in(jax.random.fold_in(base_key, step), jax.lax.axis_index(AXIS))
        accum = jax.tree.leaves(batch)[0].shape[0]
        grad_fn = jax.value_and_grad(self.loss_fn, has_aux=True)
        keys = jax.random.split(step_key, accum)

        def micro_step(micro_batch, key):
            (loss, aux), grads = grad_fn(params, micro_batch, key)
            return grads, loss, aux

        def accumulate(carry, xs):
            return jax.tree.map(jnp.add, carry, micro_step(*xs)), None

        # The first micro-step seeds the sums, so they carry the device-varying type that
        # shard_map's scan requires; the rest (none without accumulation) are scanned.
        sums = micro_step(jax.tree.map(lambda x: x[0], batch), keys[0])
        if accum > 1:  # shapes are static: without accumulation there is nothing to add
            rest = (jax.tree.map(lambda x: x[1:], batch), keys[1:])
            sums, _ = jax.lax.scan(accumulate, sums, rest)
            sums = jax.tree.map(lambda x: x / accum, sums)
        return sums

    def update(self, state: TrainState, grads, loss, aux, schedule: Schedule):
        optimize = functools.partial(_optimize, self.optimizer(schedule))
        if self.update_on_device_axis:
            # Updated on leaves of the shape the state lives in, [1, ...]: where the new
            # moments were reshaped to it, XLA:CPU recomputed them inside the weights' update
            # from the old ones, which it then copied so as to write the new ones in place
            # (GPT-2 small on one CPU device: the step's memory 3,541 -> 3,156 MB).
            optimize = _on_device_axis(optimize)
        params, opt_state = optimize(grads, state.opt_state, state.params)
        state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return state, {"loss": loss, "grad_norm": optax.tree.norm(grads), **aux}


def _optimize(tx: optax.GradientTransformation, grads, opt_state, params):
    """The new (params, opt_state)."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def _on_device_axis(function):
    """`function` of pytrees run on their leaves with a leading axis of 1, its results'
    leaves without it."""

    def on_axis(*trees):
        results = function(*jax.tree.map(lambda x: x[None], trees))
        return jax.tree.map(lambda x: x[0], results)

    return on_axis


def make_train_step(
    loss_fn,
    optimizer: Callable[[Schedule], optax.GradientTransformation],
    update_on_device_axis: bool = False,
):
    return TrainStep(loss_fn, optimizer, update_on_device_axis)


def make_eval_step(eval_sums_fn, eval_outputs_fn=None):
    """(params, batch) -> (sums over every device's examples, this device's per-example
    outputs with their "weights"; {} without eval_outputs_fn). The mapping stacks the
    devices' outputs in example order."""

    def eval_step(params, batch):
        sums = jax.lax.psum(eval_sums_fn(params, batch), AXIS)
        if eval_outputs_fn is None:
            return sums, {}
        return sums, {**eval_outputs_fn(params, batch), "weights": batch["weights"]}

    return eval_step
