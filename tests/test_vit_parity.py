"""Our Flax ViT and transformers' PyTorch ViTForImageClassification compute the same logits
from the same weights, loading each other's checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import torch
from transformers import ViTConfig as HFViTConfig
from transformers import ViTForImageClassification

from tpudeck.core.models.family import get_family

VIT = get_family("vit")
SIZE = {"image_size": 16, "patch_size": 4, "num_channels": 3, "hidden_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}  # fmt: skip
LABELS = {"0": "cat", "1": "dog", "2": "owl", "3": "eel", "4": "yak"}
IMAGES_NCHW = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)


def torch_logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(IMAGES_NCHW)).logits.numpy()


def flax_logits(config, params) -> np.ndarray:
    images_nhwc = jnp.asarray(IMAGES_NCHW.transpose(0, 2, 3, 1))  # Flax convs are channels-last
    return np.asarray(VIT.module(config).apply({"params": params}, images_nhwc))


def test_flax_weights_saved_load_in_transformers_with_equal_logits(tmp_path):
    config = VIT.config({**SIZE, "id2label": LABELS})
    params = VIT.init_params(config, jax.random.key(1), 0)
    VIT.save(tmp_path, config, params)
    theirs = ViTForImageClassification.from_pretrained(tmp_path).eval()
    assert theirs.config.id2label[2] == "owl" and theirs.config.num_labels == 5
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)


def test_transformers_checkpoint_loads_in_flax_with_equal_logits(tmp_path):
    torch.manual_seed(0)
    theirs = ViTForImageClassification(HFViTConfig(**SIZE, id2label=LABELS)).eval()
    theirs.save_pretrained(tmp_path)
    config, params = VIT.load(tmp_path)
    assert config.num_labels == 5 and config.id2label[4] == "yak" and config.patches == 16
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)


def test_param_count_matches_the_parameters(tmp_path):
    config = VIT.config({**SIZE, "id2label": LABELS})
    params = VIT.init_params(config, jax.random.key(1), 0)
    assert config.param_count() == sum(x.size for x in jax.tree.leaves(params))
