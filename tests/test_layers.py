"""A family's stack of layers, run unrolled, scanned (--scan_layers) or rematerialised
(--gradient_checkpointing): each way gives the outputs and gradients of the others, and
each compiles to the program it promises."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tpudeck.core.models.family import get_family
from tpudeck.core.models.layers import stacked, unstacked
from tpudeck.core.registry import FAMILIES

VOCAB = 64
# One family per Flax file (roberta is bert's, qwen2 llama's): the layers are the file's.
SCANNABLE = list({f.flax: name for name, f in FAMILIES.items() if not f.layers_differ}.values())


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


def gradients(name: str, remat=False, scan=False, dropout=True, sizes=None):
    """(the jitted gradients of a loss of the family's demo-sized model, its weights: the
    same whichever way the layers run, stacked when scanned)."""
    family = get_family(name)
    values = {"vocab_size": VOCAB, **family.descriptor.sizes["demo"], **(sizes or {})}
    config = family.config(values, 0.1)
    length = min(16, config.positions)
    params = family.init_params(config, jax.random.key(0), length)
    if scan:
        params = family.scanned(params, config)
    module = family.module(config, remat=remat, scan=scan)
    inputs = random_inputs(family, config, length)

    def loss(params):
        outputs = module.apply({"params": params}, *inputs, not dropout,
                               rngs={"dropout": jax.random.key(1)})  # fmt: skip
        return jnp.mean(outputs**2)

    return jax.jit(jax.grad(loss)), params


def assert_same_gradients(expected, actual) -> None:
    noise = 1e-5 * max(np.abs(g).max() for g in jax.tree.leaves(expected))  # some are ~0
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(actual), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=noise)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_rematerialised_layers_give_the_same_gradients(name):
    """Dropout included: remat replays the forward pass's keys."""
    (plain, params), (remat, _) = gradients(name), gradients(name, remat=True)
    assert_same_gradients(plain(params), remat(params))


@pytest.mark.parametrize("name", SCANNABLE)
def test_scanned_layers_give_the_unrolled_gradients(name):
    """The unrolled weights, stacked, give the unrolled model's gradients, stacked.
    (Without dropout: each scanned layer draws its own key, so dropout masks differ.)"""
    (plain, params), (scanned, stack) = (
        gradients(name, dropout=False),
        gradients(name, scan=True, dropout=False),
    )
    assert jax.tree.map(np.shape, unstacked(stack)) == jax.tree.map(np.shape, params)
    assert_same_gradients(plain(params), unstacked(scanned(stack)))


def test_scanned_layers_rematerialise_and_keep_dropout():
    """Both options at once: the scanned model recomputes its layers for the gradients,
    with the keys of its forward pass."""
    (scanned, params), (both, _) = (
        gradients("gpt2", scan=True),
        gradients("gpt2", scan=True, remat=True),
    )
    assert_same_gradients(scanned(params), both(params))


def test_the_backward_pass_recomputes_each_layer():
    """What remat is: the layers' matrix products run again for the gradients. (XLA on a
    CPU schedules the recomputation early, so the activation memory it saves on a TPU or
    GPU does not show in a CPU's memory analysis; the program is the same.)"""
    (plain, params), (remat, _) = gradients("gpt2"), gradients("gpt2", remat=True)
    products = [step.lower(params).as_text().count("dot_general") for step in (plain, remat)]
    assert products[1] > products[0], products


def test_a_scanned_program_does_not_grow_with_depth():
    """What scan is: one layer body whatever the depth, where unrolled layers add a copy
    each, which is what makes deep models slow to compile."""

    def products(scan: bool, layers: int) -> int:
        step, params = gradients("gpt2", scan=scan, sizes={"n_layer": layers})
        return step.lower(params).as_text().count("dot_general")

    assert products(True, 2) == products(True, 6)
    assert products(False, 6) > products(False, 2)


def test_stacking_round_trips_and_leaves_other_modules():
    family = get_family("llama")
    config = family.config({"vocab_size": VOCAB, **family.descriptor.sizes["demo"]})
    params = family.init_params(config, jax.random.key(0), 8)
    stack = family.scanned(params, config)
    assert "layers_scan" in stack and not any(k.startswith("layers_") and k[7:].isdigit()
                                              for k in stack)  # fmt: skip
    assert stack["embed_tokens"]["embedding"] is params["embed_tokens"]["embedding"]
    assert jax.tree.all(jax.tree.map(np.array_equal, unstacked(stack), params))
    assert unstacked(params) == params  # the unrolled layout is left as it is
    assert stacked(params, jax.eval_shape(lambda: params)) == params
