"""Our Flax BERT and RoBERTa and transformers' PyTorch BertForMaskedLM and
RobertaForMaskedLM compute the same logits from the same weights, loading each other's
checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from tpudeck.core.models.family import get_family

THEIRS = {"bert": "BertForMaskedLM", "roberta": "RobertaForMaskedLM"}
SIZE = {"vocab_size": 101, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 37, "max_position_embeddings": 40}  # fmt: skip
IDS = np.random.default_rng(0).integers(0, SIZE["vocab_size"], (2, 24))
MASK = np.ones((2, 24), np.int64)
MASK[1, 17:] = 0  # the second sequence is padded
IDS[1, 17:] = 1  # with RoBERTa's pad id (its positions count real tokens only)


@pytest.fixture(params=["bert", "roberta"])
def family(request):
    return request.param


def torch_logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(IDS), attention_mask=torch.tensor(MASK)).logits.numpy()


def their_model(family: str):
    return getattr(transformers, THEIRS[family])


def flax_logits(family, config, params) -> np.ndarray:
    module = get_family(family).module(config)
    return np.asarray(module.apply({"params": params}, jnp.asarray(IDS), True, jnp.asarray(MASK)))


def test_flax_weights_saved_load_in_transformers_with_equal_logits(tmp_path, family):
    ours = get_family(family)
    config = ours.config(SIZE)
    params = ours.init_params(config, jax.random.key(1), 8)
    params["prediction_bias"] = jnp.linspace(-1, 1, SIZE["vocab_size"])  # not all zeros
    ours.save(tmp_path, config, params)
    theirs = their_model(family).from_pretrained(tmp_path).eval()
    assert theirs.config.model_type == family
    logits = flax_logits(family, config, params)
    np.testing.assert_allclose(logits[:, :17], torch_logits(theirs)[:, :17], atol=1e-4)


def test_transformers_checkpoint_loads_in_flax_with_equal_logits(tmp_path, family):
    torch.manual_seed(0)
    config_cls = getattr(transformers, THEIRS[family].replace("ForMaskedLM", "Config"))
    theirs = their_model(family)(config_cls(**SIZE)).eval()
    with torch.no_grad():
        next(
            p for n, p in theirs.named_parameters() if n.endswith("bias") and p.numel() == 101
        ).normal_()
    theirs.save_pretrained(tmp_path)
    config, params = get_family(family).load(tmp_path)
    assert config.num_hidden_layers == 2 and config.vocab_size == 101
    logits = flax_logits(family, config, params)
    np.testing.assert_allclose(logits[:, :17], torch_logits(theirs)[:, :17], atol=1e-4)


def test_param_count_matches_the_parameters(family):
    config = get_family(family).config(SIZE)
    params = get_family(family).init_params(config, jax.random.key(1), 8)
    assert config.param_count() == sum(x.size for x in jax.tree.leaves(params))
