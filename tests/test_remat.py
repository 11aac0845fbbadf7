"""--gradient_checkpointing: every family's layers, rematerialised, give the gradients the
stored activations give (dropout included), and the backward pass recomputes them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tpudeck.core.models.family import get_family
from tpudeck.core.registry import FAMILIES

VOCAB = 64


def random_inputs(family, config, length: int):
    """The family's example arguments at batch 2, random (identical tokens would leave
    attention's gradients at rounding noise)."""
    inputs = []
    for i, example in enumerate(family.binding.dummy_input(config, length)):
        shape, key = (2, *example.shape[1:]), jax.random.key(i)
        integer = jnp.issubdtype(example.dtype, jnp.integer)
        inputs.append(
            jax.random.randint(key, shape, 0, VOCAB) if integer else jax.random.normal(key, shape)
        )
    return inputs


def gradients(name: str, remat: bool):
    family = get_family(name)
    config = family.config({"vocab_size": VOCAB, **family.descriptor.sizes["demo"]}, 0.1)
    length = min(16, config.positions)
    params = family.init_params(config, jax.random.key(0), length)
    module, inputs = family.module(config, remat=remat), random_inputs(family, config, length)

    def loss(params):
        outputs = module.apply({"params": params}, *inputs, False,
                               rngs={"dropout": jax.random.key(1)})  # fmt: skip
        return jnp.mean(outputs**2)

    return jax.jit(jax.grad(loss)), params


@pytest.mark.parametrize("name", list(FAMILIES))
def test_rematerialised_layers_give_the_same_gradients(name):
    (plain, params), (remat, _) = gradients(name, False), gradients(name, True)
    kept, recomputed = jax.tree.leaves(plain(params)), jax.tree.leaves(remat(params))
    noise = 1e-5 * max(np.abs(g).max() for g in kept)  # some are zero but for rounding
    for a, b in zip(kept, recomputed, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=noise)


def test_the_backward_pass_recomputes_each_layer():
    """What remat is: the layers' matrix products run again for the gradients. (XLA on a
    CPU schedules the recomputation early, so the activation memory it saves on a TPU or
    GPU does not show in a CPU's memory analysis; the program is the same.)"""
    (plain, params), (remat, _) = gradients("gpt2", False), gradients("gpt2", True)
    products = [step.lower(params).as_text().count("dot_general") for step in (plain, remat)]
    assert products[1] > products[0], products
