"""Baseline: the train step of Hugging Face's run_clm_flax.py with FlaxGPT2LMHeadModel.

Runs in its own venv (transformers 4.57, the last release with Flax models; made by
train_throughput.py). Prints one JSON line: tokens/s and first-step seconds.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import jax_utils, traverse_util
from flax.training import train_state
from flax.training.common_utils import onehot, shard
from transformers import FlaxGPT2LMHeadModel, GPT2Config


class TrainState(train_state.TrainState):
    dropout_rng: jnp.ndarray


def main(cfg: dict, per_device: int, seq: int, steps: int) -> dict:
    model = FlaxGPT2LMHeadModel(GPT2Config(**cfg), seed=0, dtype=jnp.float32)
    schedule = optax.linear_schedule(3e-4, 0.0, 1000)

    def decay_mask_fn(params):
        flat = traverse_util.flatten_dict(params)
        mask = {
            p: (
                p[-1] != "bias"
                and p[-2:] not in (("ln_1", "scale"), ("ln_2", "scale"), ("ln_f", "scale"))
            )
            for p in flat
        }
        return traverse_util.unflatten_dict(mask)

    tx = optax.adamw(schedule, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, mask=decay_mask_fn)
    rng, dropout_rng = jax.random.split(jax.random.PRNGKey(0))
    state = TrainState.create(
        apply_fn=model.__call__, params=model.params, tx=tx, dropout_rng=dropout_rng
    )

    def loss_fn(logits, labels):
        shift_logits, shift_labels = logits[..., :-1, :], labels[..., 1:]
        return optax.softmax_cross_entropy(
            shift_logits, onehot(shift_labels, shift_logits.shape[-1])
        ).mean()

    def train_step(state, batch):
        dropout_rng, new_dropout_rng = jax.random.split(state.dropout_rng)

        def compute_loss(params):
            labels = batch.pop("labels")
            logits = state.apply_fn(**batch, params=params, dropout_rng=dropout_rng, train=True)[0]
            return loss_fn(logits, labels)

        loss, grad = jax.value_and_grad(compute_loss)(state.params)
        grad = jax.lax.pmean(grad, "batch")
        new_state = state.apply_gradients(grads=grad, dropout_rng=new_dropout_rng)
        metrics = jax.lax.pmean(
            {"loss": loss, "learning_rate": schedule(state.step)}, axis_name="batch"
        )
        return new_state, metrics

    p_train_step = jax.pmap(train_step, "batch", donate_argnums=(0,))
    state = jax_utils.replicate(state)
    n = jax.device_count()
    ids = (
        np.random.default_rng(0).integers(0, cfg["vocab_size"], (n * per_device, seq)).astype("i4")
    )
    batch = lambda: shard({"input_ids": ids, "attention_mask": np.ones_like(ids), "labels": ids})  # noqa: E731

    began = time.perf_counter()
    state, metrics = p_train_step(state, batch())
    jax.block_until_ready(metrics)
    first = time.perf_counter() - began
    state, metrics = p_train_step(state, batch())
    jax.block_until_ready(metrics)
    began = time.perf_counter()
    previous = None
    for _ in range(steps):  # two steps in flight, as our trainer runs (XLA:CPU deadlocks on more)
        state, metrics = p_train_step(state, batch())
        jax.block_until_ready(previous)
        previous = metrics
    jax.device_get(metrics)
    seconds = time.perf_counter() - began
    return {
        "tokens_per_s": steps * n * per_device * seq / seconds,
        "first_step_s": first,
        "step_s": seconds / steps,
    }


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    print(json.dumps(main(args["config"], args["per_device"], args["seq"], args["steps"])))
