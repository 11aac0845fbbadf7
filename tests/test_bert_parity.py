"""Our Flax BERT and transformers' PyTorch BertForMaskedLM compute the same logits from the
same weights, loading each other's checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import torch
from transformers import BertConfig as HFBertConfig
from transformers import BertForMaskedLM

from tpudeck.core.models.family import FAMILIES

BERT = FAMILIES["bert"]
SIZE = {"vocab_size": 101, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 37, "max_position_embeddings": 40}  # fmt: skip
IDS = np.random.default_rng(0).integers(0, SIZE["vocab_size"], (2, 24))
MASK = np.ones((2, 24), np.int64)
MASK[1, 17:] = 0  # the second sequence is padded


def torch_logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(IDS), attention_mask=torch.tensor(MASK)).logits.numpy()


def flax_logits(config, params) -> np.ndarray:
    module = BERT.module(config)
    return np.asarray(module.apply({"params": params}, jnp.asarray(IDS), True, jnp.asarray(MASK)))


def test_flax_weights_saved_load_in_transformers_with_equal_logits(tmp_path):
    config = BERT.config(SIZE)
    params = BERT.init_params(config, jax.random.key(1), 8)
    params["prediction_bias"] = jnp.linspace(-1, 1, SIZE["vocab_size"])  # not all zeros
    BERT.save(tmp_path, config, params)
    theirs = BertForMaskedLM.from_pretrained(tmp_path).eval()
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)


def test_transformers_checkpoint_loads_in_flax_with_equal_logits(tmp_path):
    torch.manual_seed(0)
    theirs = BertForMaskedLM(HFBertConfig(**SIZE)).eval()
    with torch.no_grad():
        theirs.cls.predictions.bias.normal_()
    theirs.save_pretrained(tmp_path)
    config, params = BERT.load(tmp_path)
    assert config.num_hidden_layers == 2 and config.vocab_size == 101
    ours = flax_logits(config, params)
    np.testing.assert_allclose(ours[0], torch_logits(theirs)[0], atol=1e-4)
    np.testing.assert_allclose(ours[1, :17], torch_logits(theirs)[1, :17], atol=1e-4)


def test_param_count_matches_the_parameters():
    config = BERT.config(SIZE)
    params = BERT.init_params(config, jax.random.key(1), 8)
    assert config.param_count() == sum(x.size for x in jax.tree.leaves(params))
