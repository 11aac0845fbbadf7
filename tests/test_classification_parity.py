"""Every family's sequence-classification head against transformers' PyTorch one: the same
logits from the same weights, checkpoints loading both ways, on padded sentence pairs.
A family is one row of the table below; a masked-LM or causal-LM checkpoint starts a
classifier whose head (only) is new."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from tpudeck.core.errors import CheckpointError
from tpudeck.core.models.family import get_family

HEAD = "sequence_classification"
PAD = 1
# family -> (its transformers name, a small config in HF names)
ROWS = {
    "bert": ("Bert", {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "intermediate_size": 37, "max_position_embeddings": 40}),
    "roberta": ("Roberta", {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                            "intermediate_size": 37, "max_position_embeddings": 42}),
    "gpt2": ("GPT2", {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 40}),
    "llama": ("Llama", {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_key_value_heads": 2,
                        "max_position_embeddings": 40}),
    "qwen2": ("Qwen2", {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_key_value_heads": 2,
                        "max_position_embeddings": 40}),
}  # fmt: skip
LABELS = {"vocab_size": 101, "pad_token_id": PAD, "id2label": {0: "no", 1: "maybe", 2: "yes"}}
IDS = np.random.default_rng(0).integers(2, 101, (3, 24))
MASK = np.ones_like(IDS)
MASK[1, 17:] = 0  # right padding, as the recipe pads
MASK[2, 9:] = 0
IDS[MASK == 0] = PAD
TYPES = np.zeros_like(IDS)
TYPES[:, 6:] = 1  # a sentence pair: the second sentence from position 6
TYPES[MASK == 0] = 0


@pytest.fixture(params=list(ROWS))
def family(request):
    return request.param


def hf_config(family: str, **changes):
    prefix, size = ROWS[family]
    return getattr(transformers, f"{prefix}Config")(**size, **LABELS, **changes)


def their_class(family: str, head: str = "ForSequenceClassification"):
    return getattr(transformers, ROWS[family][0] + head)


def torch_logits(model) -> np.ndarray:
    inputs = {"input_ids": torch.tensor(IDS), "attention_mask": torch.tensor(MASK)}
    if getattr(model.config, "type_vocab_size", 1) > 1:  # BERT's segments; not RoBERTa's
        inputs["token_type_ids"] = torch.tensor(TYPES)
    with torch.no_grad():
        return model(**inputs).logits.numpy()


def flax_logits(family: str, config, params) -> np.ndarray:
    module = get_family(family).module(config, HEAD)
    types = jnp.asarray(TYPES) if getattr(config, "type_vocab_size", 1) > 1 else None
    args = (jnp.asarray(IDS), True, jnp.asarray(MASK), types)
    return np.asarray(module.apply({"params": params}, *args))


def test_transformers_classifier_loads_in_flax_with_equal_logits(family, tmp_path):
    torch.manual_seed(0)
    theirs = their_class(family)(hf_config(family)).eval()
    theirs.save_pretrained(tmp_path)
    config, params = get_family(family).load(tmp_path, HEAD)
    assert config.num_labels == 3 and config.id2label == ("no", "maybe", "yes")
    np.testing.assert_allclose(flax_logits(family, config, params), torch_logits(theirs), atol=1e-4)


def test_flax_classifier_saved_loads_in_transformers_with_equal_logits(family, tmp_path):
    ours = get_family(family)
    config = ours.config(hf_config(family).to_dict())
    params = ours.init_params(config, jax.random.key(3), 8, HEAD)
    ours.save(tmp_path, config, params, HEAD)
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(theirs) is their_class(family)
    assert theirs.config.id2label == {0: "no", 1: "maybe", 2: "yes"}
    np.testing.assert_allclose(flax_logits(family, config, params), torch_logits(theirs), atol=1e-4)


def test_a_language_model_checkpoint_starts_a_classifier_with_a_new_head(family, tmp_path):
    """The seed's flow: pre-train (mlm or clm), then fine-tune, as transformers does it."""
    ours = get_family(family)
    lm_class = {"masked_lm": "ForMaskedLM", "causal_lm": "ForCausalLM"}[ours.default_head]
    lm_class = "LMHeadModel" if family == "gpt2" else lm_class
    torch.manual_seed(0)
    their_class(family, lm_class)(hf_config(family)).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="no weights for"):
        ours.load(tmp_path, HEAD)  # a whole classifier is not there
    _, language_model = ours.load(tmp_path)
    config = ours.config(hf_config(family).to_dict())
    body, fresh = ours.read_weights(tmp_path, config, HEAD)
    assert fresh == ours.binding.head_modules[HEAD]
    assert set(body) == set(language_model) - set(ours.binding.head_modules[ours.default_head])
    for name, tree in body.items():
        for want, got in zip(jax.tree.leaves(language_model[name]), jax.tree.leaves(tree),
                             strict=True):  # fmt: skip
            np.testing.assert_array_equal(want, got)
