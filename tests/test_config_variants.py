"""Config options are implemented with parity or refused, never silently ignored (#13):
every activation a family accepts, against transformers with random weights, both ways
(the export keeps the option); an option a family does not implement is one SpecError."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from tpudeck.core.errors import SpecError
from tpudeck.core.models.family import get_family

TEXT = {"vocab_size": 101}
BERT = {**TEXT, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 37, "max_position_embeddings": 40}  # fmt: skip
GPT2 = {**TEXT, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 40}
VIT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
       "intermediate_size": 37, "image_size": 16, "patch_size": 8}  # fmt: skip
# family, transformers class, its config, the option, its values
ROWS = [
    ("bert", "BertForMaskedLM", BERT, "hidden_act", ("relu", "gelu_new", "silu")),
    ("roberta", "RobertaForMaskedLM", {**BERT, "max_position_embeddings": 42}, "hidden_act",
     ("gelu_pytorch_tanh",)),
    ("gpt2", "GPT2LMHeadModel", GPT2, "activation_function", ("relu", "gelu", "silu")),
    ("vit", "ViTForImageClassification", VIT, "hidden_act", ("relu", "gelu_new")),
]  # fmt: skip
CASES = [(f, cls, size, option, v) for f, cls, size, option, values in ROWS for v in values]
IDS = np.random.default_rng(0).integers(0, 101, (2, 16))
IMAGES_NCHW = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)


def torch_logits(model, family: str) -> np.ndarray:
    inputs = torch.tensor(IMAGES_NCHW) if family == "vit" else torch.tensor(IDS)
    with torch.no_grad():
        return model(inputs).logits.numpy()


def flax_logits(family: str, config, params) -> np.ndarray:
    inputs = IMAGES_NCHW.transpose(0, 2, 3, 1) if family == "vit" else IDS
    module = get_family(family).module(config)
    return np.asarray(module.apply({"params": params}, jnp.asarray(inputs)))


@pytest.mark.parametrize(("family", "cls", "size", "option", "value"), CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in CASES])  # fmt: skip
def test_each_accepted_option_matches_transformers_both_ways(family, cls, size, option, value,
                                                              tmp_path):  # fmt: skip
    their_class = getattr(transformers, cls)
    torch.manual_seed(0)
    theirs = their_class(their_class.config_class(**size, **{option: value})).eval()
    theirs.save_pretrained(tmp_path / "theirs")
    ours = get_family(family)
    config, params = ours.load(tmp_path / "theirs")
    assert getattr(config, option) == value
    logits = flax_logits(family, config, params)
    np.testing.assert_allclose(logits, torch_logits(theirs, family), atol=1e-4)
    ours.save(tmp_path / "ours", config, params)  # the export keeps the option
    again = their_class.from_pretrained(tmp_path / "ours").eval()
    assert getattr(again.config, option) == value
    np.testing.assert_allclose(logits, torch_logits(again, family), atol=1e-4)


REFUSED = [
    ("gpt2", {**GPT2, "scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
    ("gpt2", {**GPT2, "scale_attn_weights": False}, "scale_attn_weights False"),
    ("gpt2", {**GPT2, "activation_function": "quick_gelu"}, "'quick_gelu' is not supported"),
    ("bert", {**BERT, "is_decoder": True}, "is_decoder True is not supported for bert"),
    ("bert", {**BERT, "position_embedding_type": "relative_key"}, "'relative_key'"),
    ("roberta", {**BERT, "add_cross_attention": True}, "add_cross_attention True"),
    ("vit", {**VIT, "hidden_act": "tanh"}, "hidden_act 'tanh' is not supported for vit"),
]  # fmt: skip


@pytest.mark.parametrize(("family", "values", "message"), REFUSED,
                         ids=[f"{r[0]}-{r[2].split()[0]}" for r in REFUSED])  # fmt: skip
def test_an_option_the_family_does_not_implement_is_refused(family, values, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        get_family(family).config(values).check()


def test_the_classifier_drops_at_classifier_dropout_when_the_config_sets_it(tmp_path):
    """As transformers: the head's dropout is classifier_dropout, else hidden_dropout_prob."""
    import jax

    bert = get_family("bert")
    quiet = {**BERT, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}

    def dropped(values) -> bool:
        config = bert.config(values)
        module = bert.module(config, "sequence_classification")
        params = bert.init_params(config, jax.random.key(0), 8, "sequence_classification")
        train = module.apply({"params": params}, jnp.asarray(IDS), False,
                             rngs={"dropout": jax.random.key(1)})  # fmt: skip
        return not np.allclose(train, module.apply({"params": params}, jnp.asarray(IDS)))

    assert not dropped(quiet)
    assert dropped({**quiet, "classifier_dropout": 0.5})
    assert bert.config({**quiet, "hidden_dropout_prob": 0.3}).classifier_rate == 0.3
    config = bert.config({**quiet, "classifier_dropout": 0.5})
    assert config.to_hf()["classifier_dropout"] == 0.5  # kept through the export
