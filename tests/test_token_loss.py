"""The LM head's loss a chunk of tokens at a time (core/models/token_loss.py): the whole
logits' values and gradients (label-smoothed too), without the whole logits; and every
causal, masked and seq2seq LM head hands the loss what its logits are made of."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tpudeck.core.models import token_loss
from tpudeck.core.models.family import get_family
from tpudeck.core.registry import families_for


def head_inputs(tokens: int, width: int, vocab: int, vocab_first: bool):
    keys = jax.random.split(jax.random.key(0), 3)
    states_NxD = jax.random.normal(keys[0], (tokens, width))
    kernel = jax.random.normal(keys[1], (vocab, width) if vocab_first else (width, vocab)) * 0.1
    targets_N = jax.random.randint(keys[2], (tokens,), 0, vocab)
    return states_NxD, kernel, targets_N


def whole_logits(states_NxD, kernel, vocab_first: bool, bias=None):
    logits_NxV = states_NxD @ (kernel.T if vocab_first else kernel)
    return logits_NxV if bias is None else logits_NxV + bias


def whole_logits_loss(states_NxD, kernel, targets_N, weights_N, vocab_first: bool, bias=None):
    logits_NxV = whole_logits(states_NxD, kernel, vocab_first, bias)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits_NxV, targets_N)
    return jnp.sum(losses * weights_N) / jnp.sum(weights_N)


@pytest.mark.parametrize("vocab_first", [True, False], ids=["tied", "own-head"])
@pytest.mark.parametrize("chunk", [64, 100])  # 100: the last chunk padded
@pytest.mark.parametrize("biased", [False, True], ids=["", "bias"])  # a masked LM head's
def test_the_chunked_loss_and_its_gradients_are_the_whole_logits(chunk, vocab_first, biased):
    states, kernel, targets = head_inputs(1000, 32, 3000, vocab_first)
    bias = jax.random.normal(jax.random.key(5), (3000,)) if biased else None
    weights = (jnp.arange(1000) % 7 != 0).astype(jnp.float32)  # tokens without a target

    def chunked(s, k, b):  # a cotangent other than 1 reaches the saved gradients
        head = token_loss.Projection(s, k, vocab_first, b)
        return 3.0 * token_loss.mean_loss(head, targets, weights, chunk)

    def whole(s, k, b):
        return 3.0 * whole_logits_loss(s, k, targets, weights, vocab_first, b)

    value, grads = jax.jit(jax.value_and_grad(chunked, (0, 1, 2)))(states, kernel, bias)
    expected, expected_grads = jax.value_and_grad(whole, (0, 1, 2))(states, kernel, bias)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):  # states, kernel, bias
        assert (grad is None) == (expected_grad is None)
        if grad is not None:
            np.testing.assert_allclose(grad, expected_grad, atol=1e-7)
    head = token_loss.Projection(states, kernel, vocab_first, bias)
    logits = whole_logits(states, kernel, vocab_first, bias)
    losses, hits = token_loss.token_losses_and_hits(head, targets)
    np.testing.assert_allclose(
        losses, optax.softmax_cross_entropy_with_integer_labels(logits, targets), rtol=1e-5
    )
    np.testing.assert_array_equal(hits, jnp.argmax(logits, -1) == targets)
    np.testing.assert_array_equal(token_loss.token_losses(head, targets), losses)


def script_smoothed_losses(logits_NxV, targets_N, smoothing: float):
    """run_summarization_flax.py's label-smoothed loss, over the whole logits."""
    vocab = logits_NxV.shape[-1]
    confidence, low = 1.0 - smoothing, smoothing / (vocab - 1)
    floor = -(confidence * jnp.log(confidence) + (vocab - 1) * low * jnp.log(low + 1e-20))
    soft = jax.nn.one_hot(targets_N, vocab) * (confidence - low) + low
    return optax.softmax_cross_entropy(logits_NxV, soft) - floor


def test_label_smoothing_is_the_scripts_and_nothing_for_the_smoothed_target():
    states, kernel, targets = head_inputs(300, 32, 500, vocab_first=False)
    weights = (jnp.arange(300) % 5 != 0).astype(jnp.float32)

    def chunked(s, k):  # chunks of 128: the last one padded
        head = token_loss.Projection(s, k, False)
        return token_loss.mean_loss(head, targets, weights, 128, smoothing=0.1)

    def whole(s, k):
        return jnp.sum(script_smoothed_losses(s @ k, targets, 0.1) * weights) / jnp.sum(weights)

    value, grads = jax.jit(jax.value_and_grad(chunked, (0, 1)))(states, kernel)
    expected, expected_grads = jax.value_and_grad(whole, (0, 1))(states, kernel)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(grad, expected_grad, atol=1e-7)
    head = token_loss.Projection(states, kernel, False)
    np.testing.assert_allclose(token_loss.token_losses(head, targets, 0.1),
                               script_smoothed_losses(states @ kernel, targets, 0.1), rtol=1e-5)  # fmt: skip
    # Logits that are the smoothed target's log-probabilities (states through an identity)
    labels = targets[:4] % 7
    soft = jax.nn.one_hot(labels, 7) * (0.9 - 0.1 / 6) + 0.1 / 6
    perfect = token_loss.Projection(jnp.log(soft), jnp.eye(7), False)
    np.testing.assert_allclose(token_loss.token_losses(perfect, labels, 0.1), 0, atol=1e-5)


def test_bfloat16_states_get_bfloat16_gradients_and_the_kernel_its_own():
    states, kernel, targets = head_inputs(1024, 32, 500, vocab_first=False)  # 4 chunks

    def loss(s, k):
        return token_loss.mean_loss(token_loss.Projection(s, k, False), targets, jnp.ones(1024))

    value, (grad_states, grad_kernel) = jax.value_and_grad(loss, (0, 1))(
        states.astype(jnp.bfloat16), kernel
    )
    assert (value.dtype, grad_states.dtype, grad_kernel.dtype) == (
        jnp.float32, jnp.bfloat16, jnp.float32,
    )  # fmt: skip
    expected = whole_logits_loss(states, kernel, targets, jnp.ones(1024), False)
    np.testing.assert_allclose(value, expected, rtol=1e-2)


def test_a_step_never_holds_the_whole_logits():
    """XLA's own account of the compiled gradient's temporaries: the whole logits' program
    keeps copies of [tokens, vocabulary]; the chunked one a chunk's and the gradients'."""
    tokens, width, vocab = 2048, 64, 8192
    states, kernel, targets = head_inputs(tokens, width, vocab, vocab_first=True)
    weights = jnp.ones(tokens)

    def temporaries(loss) -> int:
        step = jax.jit(jax.grad(loss, (0, 1)))
        return step.lower(states, kernel).compile().memory_analysis().temp_size_in_bytes

    def chunked(s, k):
        return token_loss.mean_loss(token_loss.Projection(s, k, True), targets, weights)

    logits_bytes = tokens * vocab * 4
    assert temporaries(lambda s, k: whole_logits_loss(s, k, targets, weights, True)) >= (
        logits_bytes
    )
    assert temporaries(chunked) < logits_bytes / 3


@pytest.mark.parametrize("name", families_for("mlm"))
def test_every_masked_lm_head_hands_over_what_its_logits_are_made_of(name):
    family = get_family(name)
    config = family.config({"vocab_size": 96, **family.descriptor.sizes["demo"]})
    module = family.module(config, "masked_lm")
    params = family.init_params(config, jax.random.key(0), 8, "masked_lm")
    params["prediction_bias"] = jax.random.normal(jax.random.key(2), (96,))  # not zeros
    ids_BxL = jax.random.randint(jax.random.key(1), (2, 8), 0, 96)
    logits_BxLxV = module.apply({"params": params}, ids_BxL)
    head = module.apply({"params": params}, ids_BxL, project=False)
    np.testing.assert_allclose(
        whole_logits(head.states, head.kernel, head.vocab_first, head.bias), logits_BxLxV,
        atol=1e-5,
    )  # fmt: skip
    assert head.bias is params["prediction_bias"]


def head_variants(name: str) -> list[dict]:
    """Config values for each kind of LM head the family has: tied to the embedding or not."""
    family = get_family(name)
    demo = family.config({"vocab_size": 96, **family.descriptor.sizes["demo"]})
    if not hasattr(demo, "tie_word_embeddings"):
        return [{}]
    return [{"tie_word_embeddings": True}, {"tie_word_embeddings": False}]


# The heads whose loss is chunked: (family, head, config values)
LM_HEADS = [
    (name, head, values)
    for recipe, head in (("clm", "causal_lm"), ("summarization", "seq2seq_lm"))
    for name in families_for(recipe)
    for values in head_variants(name)
]


@pytest.mark.parametrize(
    ("name", "head_name", "values"), LM_HEADS, ids=[f"{n}-{h}-{v}" for n, h, v in LM_HEADS]
)
def test_every_lm_head_hands_over_what_its_logits_are_made_of(name, head_name, values):
    family = get_family(name)
    config = family.config({"vocab_size": 96, **family.descriptor.sizes["demo"], **values})
    module = family.module(config, head_name)
    params = family.init_params(config, jax.random.key(0), 8, head_name)
    count = 2 if head_name == "seq2seq_lm" else 1  # a seq2seq head's decoder takes ids too
    ids = tuple(jax.random.randint(jax.random.key(1), (count, 2, 8), 0, 96))
    logits_BxLxV = module.apply({"params": params}, *ids)
    head = module.apply({"params": params}, *ids, project=False)
    kernel = head.kernel.T if head.vocab_first else head.kernel
    np.testing.assert_allclose(head.states @ kernel, logits_BxLxV, atol=1e-5)
    # the kernel is the parameter itself, in its own layout: no copy, no transpose
    assert any(leaf is head.kernel for leaf in jax.tree.leaves(params))
