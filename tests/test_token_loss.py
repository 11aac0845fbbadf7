"""The LM head's loss a chunk of tokens at a time (core/models/token_loss.py): the whole
logits' values and gradients, without the whole logits; and every causal LM head hands the
loss what its logits are made of."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tpudeck.core.models import token_loss
from tpudeck.core.models.family import get_family
from tpudeck.core.registry import families_for


def head_inputs(tokens: int, width: int, vocab: int):
    keys = jax.random.split(jax.random.key(0), 3)
    states_NxD = jax.random.normal(keys[0], (tokens, width))
    kernel_DxV = jax.random.normal(keys[1], (width, vocab)) * 0.1
    targets_N = jax.random.randint(keys[2], (tokens,), 0, vocab)
    return states_NxD, kernel_DxV, targets_N


def whole_logits_loss(states_NxD, kernel_DxV, targets_N, weights_N):
    losses = optax.softmax_cross_entropy_with_integer_labels(states_NxD @ kernel_DxV, targets_N)
    return jnp.sum(losses * weights_N) / jnp.sum(weights_N)


@pytest.mark.parametrize("chunk", [64, 100])  # 100: the last chunk padded
def test_the_chunked_loss_and_its_gradients_are_the_whole_logits(chunk):
    states, kernel, targets = head_inputs(1000, 32, 3000)
    weights = (jnp.arange(1000) % 7 != 0).astype(jnp.float32)  # tokens without a target

    def scaled(loss):  # a cotangent other than 1 reaches the saved gradients
        return lambda s, k: 3.0 * loss(s, k, targets, weights)

    chunked = jax.jit(
        jax.value_and_grad(scaled(lambda *a: token_loss.mean_loss(*a, chunk=chunk)), (0, 1))
    )
    value, (grad_states, grad_kernel) = chunked(states, kernel)
    expected, (expected_states, expected_kernel) = jax.value_and_grad(
        scaled(whole_logits_loss), (0, 1)
    )(states, kernel)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(grad_states, expected_states, atol=1e-7)
    np.testing.assert_allclose(grad_kernel, expected_kernel, atol=1e-7)
    each = token_loss.token_losses(states, kernel, targets)
    np.testing.assert_allclose(
        each, optax.softmax_cross_entropy_with_integer_labels(states @ kernel, targets), rtol=1e-5
    )


def test_bfloat16_states_get_bfloat16_gradients_and_the_kernel_its_own():
    states, kernel, targets = head_inputs(256, 32, 500)
    loss = jax.value_and_grad(token_loss.mean_loss, (0, 1))
    value, (grad_states, grad_kernel) = loss(
        states.astype(jnp.bfloat16), kernel, targets, jnp.ones(256)
    )
    assert (value.dtype, grad_states.dtype, grad_kernel.dtype) == (
        jnp.float32, jnp.bfloat16, jnp.float32,
    )  # fmt: skip
    np.testing.assert_allclose(
        value, whole_logits_loss(states, kernel, targets, jnp.ones(256)), rtol=1e-2
    )


def test_a_step_never_holds_the_whole_logits():
    """XLA's own account of the compiled gradient's temporaries: the whole logits' program
    keeps copies of [tokens, vocabulary]; the chunked one a chunk's and the gradients'."""
    tokens, width, vocab = 2048, 64, 8192
    states, kernel, targets = head_inputs(tokens, width, vocab)
    weights = jnp.ones(tokens)

    def temporaries(loss) -> int:
        step = jax.jit(jax.grad(loss, (0, 1)))
        analysis = step.lower(states, kernel, targets, weights).compile().memory_analysis()
        return analysis.temp_size_in_bytes

    logits_bytes = tokens * vocab * 4
    assert temporaries(whole_logits_loss) >= logits_bytes
    assert temporaries(token_loss.mean_loss) < logits_bytes / 3


def head_variants(name: str) -> list[dict]:
    """Config values for each kind of LM head the family has: tied to the embedding or not."""
    family = get_family(name)
    demo = family.config({"vocab_size": 96, **family.descriptor.sizes["demo"]})
    if not hasattr(demo, "tie_word_embeddings"):
        return [{}]
    return [{"tie_word_embeddings": True}, {"tie_word_embeddings": False}]


CAUSAL_HEADS = [(name, values) for name in families_for("clm") for values in head_variants(name)]


@pytest.mark.parametrize(
    ("name", "values"), CAUSAL_HEADS, ids=[f"{n}-{v}" for n, v in CAUSAL_HEADS]
)
def test_every_causal_lm_head_hands_over_what_its_logits_are_made_of(name, values):
    family = get_family(name)
    config = family.config({"vocab_size": 96, **family.descriptor.sizes["demo"], **values})
    module = family.module(config, "causal_lm")
    params = family.init_params(config, jax.random.key(0), 8)
    ids_BxL = jax.random.randint(jax.random.key(1), (2, 8), 0, 96)
    logits_BxLxV = module.apply({"params": params}, ids_BxL)
    states_BxLxD, kernel_DxV = module.apply({"params": params}, ids_BxL, project=False)
    np.testing.assert_allclose(states_BxLxD @ kernel_DxV, logits_BxLxV, atol=1e-5)
