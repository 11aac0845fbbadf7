"""Our Flax GPT-2 and transformers' PyTorch GPT-2 compute the same logits from the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers import GPT2Config as HFGPT2Config
from transformers import GPT2LMHeadModel

from tpudeck.core.errors import CheckpointError
from tpudeck.core.models.family import get_family

GPT2 = get_family("gpt2")
SIZE = {"vocab_size": 97, "n_positions": 32, "n_embd": 48, "n_layer": 3, "n_head": 4}
IDS = np.random.default_rng(0).integers(0, SIZE["vocab_size"], (2, 24))


def torch_logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(IDS)).logits.numpy()


def flax_logits(config, params) -> np.ndarray:
    return np.asarray(GPT2.module(config).apply({"params": params}, jnp.asarray(IDS)))


def test_flax_weights_saved_load_in_transformers_with_equal_logits(tmp_path):
    config = GPT2.config(SIZE)
    params = GPT2.init_params(config, jax.random.key(1), 8)
    GPT2.save(tmp_path, config, params)
    theirs = GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)


def test_transformers_checkpoint_loads_in_flax_with_equal_logits(tmp_path):
    torch.manual_seed(0)
    theirs = GPT2LMHeadModel(HFGPT2Config(**SIZE)).eval()
    theirs.save_pretrained(tmp_path)
    config, params = GPT2.load(tmp_path)
    assert config.n_layer == 3 and config.vocab_size == 97
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)


def test_checkpoint_saved_as_bare_gpt2model_names_loads_too(tmp_path):
    """The original `gpt2` checkpoint has no "transformer." prefix and carries attn.bias buffers."""
    from safetensors.numpy import load_file, save_file

    config = GPT2.config(SIZE)
    GPT2.save(tmp_path, config, GPT2.init_params(config, jax.random.key(2), 8))
    tensors = {
        k.removeprefix("transformer."): v
        for k, v in load_file(tmp_path / "model.safetensors").items()
    }
    tensors["h.0.attn.bias"] = np.tril(np.ones((1, 1, 32, 32), np.float32))
    save_file(tensors, tmp_path / "model.safetensors")
    _, params = GPT2.load(tmp_path)
    assert params["h_0"]["attn"]["c_attn"]["kernel"].shape == (48, 144)


def test_corrupt_safetensors_is_a_checkpoint_error(tmp_path):
    config = GPT2.config(SIZE)
    GPT2.save(tmp_path, config, GPT2.init_params(config, jax.random.key(1), 8))
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        GPT2.load(tmp_path)


def test_weights_of_another_size_are_a_clear_error(tmp_path):
    config = GPT2.config(SIZE)
    GPT2.save(tmp_path, config, GPT2.init_params(config, jax.random.key(1), 8))
    (tmp_path / "config.json").write_text(
        '{"vocab_size": 97, "n_positions": 32, "n_embd": 64, "n_layer": 3, "n_head": 4}'
    )
    with pytest.raises(CheckpointError, match="does not match"):
        GPT2.load(tmp_path)
