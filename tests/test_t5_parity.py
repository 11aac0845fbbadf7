"""Our Flax T5 and transformers' PyTorch T5ForConditionalGeneration compute the same logits
from the same weights, both ways, for the v1.0 style (ReLU, the LM head tied to the
embedding and rescaled) and the v1.1 / flan-t5 style (gated GELU, a head of its own)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers import T5Config as HFT5Config
from transformers import T5ForConditionalGeneration

from tpudeck.core.errors import SpecError
from tpudeck.core.models.family import get_family

T5 = get_family("t5")
BASE = {"vocab_size": 101, "d_model": 32, "d_kv": 8, "d_ff": 48, "num_layers": 2,
        "num_decoder_layers": 3, "num_heads": 4, "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 20, "dropout_rate": 0.0}  # fmt: skip
STYLES = {
    "v1.0": {"feed_forward_proj": "relu", "tie_word_embeddings": True},
    "v1.1": {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False},
    "gated silu": {"feed_forward_proj": "gated-silu", "tie_word_embeddings": False},
}
RNG = np.random.default_rng(0)
# Inputs long enough for distances past max_distance; the second row padded.
IDS = RNG.integers(2, BASE["vocab_size"], (2, 30))
MASK = np.ones_like(IDS)
MASK[1, 22:] = 0
DECODER_IDS = RNG.integers(2, BASE["vocab_size"], (2, 26))


def torch_logits(model) -> np.ndarray:
    with torch.no_grad():
        out = model(input_ids=torch.tensor(IDS), attention_mask=torch.tensor(MASK),
                    decoder_input_ids=torch.tensor(DECODER_IDS))  # fmt: skip
    return out.logits.numpy()


def flax_logits(config, params) -> np.ndarray:
    module = T5.module(config)
    args = (jnp.asarray(IDS), jnp.asarray(DECODER_IDS), True, jnp.asarray(MASK))
    return np.asarray(module.apply({"params": params}, *args))


def untied(model):
    """transformers 5 ties T5's head to the embedding whatever the config says; a v1.1
    checkpoint (t5-v1_1, flan-t5) has a head of its own."""
    with torch.no_grad():
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.shared.weight))
    return model


@pytest.mark.parametrize("style", STYLES)
def test_transformers_checkpoint_loads_in_flax_with_equal_logits(style, tmp_path):
    torch.manual_seed(0)
    theirs = T5ForConditionalGeneration(HFT5Config(**BASE, **STYLES[style])).eval()
    if not STYLES[style]["tie_word_embeddings"]:
        theirs = untied(theirs)
    theirs.save_pretrained(tmp_path)
    config, params = T5.load(tmp_path)
    assert config.tie_word_embeddings == STYLES[style]["tie_word_embeddings"]
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)


@pytest.mark.parametrize("style", STYLES)
def test_flax_weights_saved_load_in_transformers_with_equal_logits(style, tmp_path):
    config = T5.config({**BASE, **STYLES[style]})
    params = T5.init_params(config, jax.random.key(1), 8)
    T5.save(tmp_path, config, params)
    theirs = T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)
    parameters = {p.data_ptr(): p.numel() for p in theirs.parameters()}  # tied ones once
    assert sum(parameters.values()) == config.param_count()


def test_a_transformers_5_checkpoint_with_its_head_tied_but_unscaled_loads(tmp_path):
    """What transformers 5 writes for a v1.1 config trained there: no lm_head tensor (tied
    to the embedding), no rescale. It loads with the head taken from the embedding."""
    torch.manual_seed(0)
    theirs = T5ForConditionalGeneration(HFT5Config(**BASE, **STYLES["v1.1"])).eval()
    theirs.save_pretrained(tmp_path)
    config, params = T5.load(tmp_path)
    assert not config.tie_word_embeddings
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"feed_forward_proj": "gated-gelu-fast"}, "feed_forward_proj 'gated-gelu-fast'"),
        ({"feed_forward_proj": "gated-quick_gelu"}, "feed_forward_proj 'quick_gelu'"),
    ],
)
def test_settings_the_family_does_not_implement_are_refused(setting, message):
    with pytest.raises(SpecError, match=message):
        T5.config({**BASE, **setting}).check()
