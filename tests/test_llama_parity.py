"""Our Flax Llama and transformers' PyTorch LlamaForCausalLM compute the same logits from
the same weights, both ways, for every variant the family accepts (Qwen2's biases too);
the rest is refused."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM

from tpudeck.core.errors import SpecError
from tpudeck.core.models.descriptor import ATTENTION_IMPLEMENTATIONS
from tpudeck.core.models.family import get_family

LLAMA = get_family("llama")
BASE = {"vocab_size": 101, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": 64}  # fmt: skip
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}  # fmt: skip
VARIANTS = {
    "plain": {},
    "grouped-query": {"num_key_value_heads": 2},
    "multi-query, tied": {"num_key_value_heads": 1, "tie_word_embeddings": True},
    "llama3 rope": {"num_key_value_heads": 2, "rope_theta": 500000.0, "rope_scaling": LLAMA3_ROPE},
    "linear rope": {"rope_scaling": {"rope_type": "linear", "factor": 4.0}},
    "attention and mlp bias": {"attention_bias": True, "mlp_bias": True},
    "wider heads": {"head_dim": 32, "num_key_value_heads": 2},
}
IDS = np.random.default_rng(0).integers(0, BASE["vocab_size"], (2, 40))


def torch_logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(IDS)).logits.numpy()


def flax_logits(config, params) -> np.ndarray:
    return np.asarray(LLAMA.module(config).apply({"params": params}, jnp.asarray(IDS)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_transformers_checkpoint_loads_in_flax_with_equal_logits(variant, tmp_path):
    torch.manual_seed(0)
    theirs = LlamaForCausalLM(HFLlamaConfig(**BASE, **VARIANTS[variant])).eval()
    theirs.save_pretrained(tmp_path)
    config, params = LLAMA.load(tmp_path)
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_flax_weights_saved_load_in_transformers_with_equal_logits(variant, tmp_path):
    config = LLAMA.config({**BASE, **VARIANTS[variant]})
    params = LLAMA.init_params(config, jax.random.key(1), 8)
    LLAMA.save(tmp_path, config, params)
    theirs = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    np.testing.assert_allclose(flax_logits(config, params), torch_logits(theirs), atol=1e-4)
    assert sum(p.numel() for p in theirs.parameters()) == config.param_count()


QWEN2 = get_family("qwen2")
QWEN2_VARIANTS = {"grouped-query": {"num_key_value_heads": 2},
                  "tied, long rope": {"num_key_value_heads": 4, "tie_word_embeddings": True,
                                      "rope_theta": 1e6}}  # fmt: skip


@pytest.mark.parametrize("variant", QWEN2_VARIANTS)
def test_qwen2_query_key_value_biases_load_both_ways(variant, tmp_path):
    """Qwen2 is Llama with q/k/v biases (no o_proj or MLP bias): it runs on our Llama."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    theirs = Qwen2ForCausalLM(Qwen2Config(**BASE, **QWEN2_VARIANTS[variant])).eval()
    with torch.no_grad():  # random, not zero, biases
        for layer in theirs.model.layers:
            layer.self_attn.q_proj.bias.normal_()
    theirs.save_pretrained(tmp_path / "theirs")
    config, params = QWEN2.load(tmp_path / "theirs")
    assert "bias" in params["layers_0"]["self_attn"]["k_proj"]
    assert "bias" not in params["layers_0"]["self_attn"]["o_proj"]
    logits = np.asarray(QWEN2.module(config).apply({"params": params}, jnp.asarray(IDS)))
    np.testing.assert_allclose(logits, torch_logits(theirs), atol=1e-4)
    QWEN2.save(tmp_path / "ours", config, params)
    again = Qwen2ForCausalLM.from_pretrained(tmp_path / "ours").eval()
    np.testing.assert_allclose(logits, torch_logits(again), atol=1e-4)
    assert sum(p.numel() for p in again.parameters()) == config.param_count()


def test_attention_implementations_agree_and_dropout_falls_back_to_eager():
    config = LLAMA.config({**BASE, "num_key_value_heads": 2})
    params = LLAMA.init_params(config, jax.random.key(1), 8)
    logits = {
        kind: flax_logits(dataclasses.replace(config, attn_implementation=kind), params)
        for kind in ATTENTION_IMPLEMENTATIONS  # on a CPU cudnn is XLA's sdpa, auto eager
    }
    for kind, values in logits.items():
        np.testing.assert_allclose(values, logits["eager"], atol=1e-5, err_msg=kind)
    dropped = dataclasses.replace(config, attention_dropout=0.5)  # sdpa has no dropout
    training = LLAMA.module(dropped).apply({"params": params}, jnp.asarray(IDS), False,
                                           rngs={"dropout": jax.random.key(0)})  # fmt: skip
    assert not np.allclose(np.asarray(training), logits["eager"], atol=1e-3)
    with pytest.raises(SpecError, match="attn_implementation 'flash' is not one of"):
        LLAMA.config({**BASE, "attn_implementation": "flash"}).check()
    assert "attn_implementation" not in config.to_hf()  # not a property of the weights


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"hidden_act": "gelu"}, "hidden_act 'gelu' is not supported for llama (silu only)"),
        ({"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, "rope type 'dynamic'"),
        ({"num_key_value_heads": 3}, "4 attention heads must be a multiple of its 3 key/value"),
    ],
)
def test_settings_the_family_does_not_implement_are_refused(setting, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LLAMA.config({**BASE, **setting}).check()


@pytest.mark.slow
def test_a_tiny_llama_trains_on_the_demo_and_opens_in_transformers(tmp_path):
    """The clm recipe trains any family with a causal-LM head: Llama came with its files
    and one registry line."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tpudeck.core.runs.rundir import RunDir

    from .builders import tpudeck

    run = RunDir(tmp_path / "llama")
    result = tpudeck("train", "--demo", "--model_type", "llama", "--max_steps", "120",
                     "--platform", "cpu", "--output_dir", str(run.path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    losses = [e["loss"] for e in run.read_events("step")]
    assert losses[-1] < losses[0] / 3, losses
    text = "On Monday Ada and the small cat went to the forest."
    ids = AutoTokenizer.from_pretrained(run.model_dir)(text)["input_ids"]
    theirs = AutoModelForCausalLM.from_pretrained(run.model_dir).eval()
    assert type(theirs).__name__ == "LlamaForCausalLM"
    with torch.no_grad():
        expected = theirs(torch.tensor([ids])).logits.numpy()
    config, params = LLAMA.load(run.model_dir)
    ours = LLAMA.module(config).apply({"params": params}, jnp.asarray([ids]))
    np.testing.assert_allclose(np.asarray(ours), expected, atol=1e-4)
