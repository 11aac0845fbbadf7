"""Generation from our GPT-2, Llama and T5 equals transformers' PyTorch `generate` token for
token on the same random weights: greedy search (ending at eos, padded after it) and beam
search (with length penalties); sampling keeps to its top-k and top-p; greedy tokens
stream to a listener as they are produced."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from tpudeck.core.generation.decoder import Decoder
from tpudeck.core.generation.search import Generator, Settings, _chosen
from tpudeck.core.models.family import get_family

VOCAB = 97
MODELS = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", "causal_lm",
             {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64, "bos_token_id": 1,
              "eos_token_id": 2}),
    "llama": ("LlamaConfig", "LlamaForCausalLM", "causal_lm",
              {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
               "num_attention_heads": 4, "num_key_value_heads": 2,
               "max_position_embeddings": 64}),
    "t5": ("T5Config", "T5ForConditionalGeneration", "seq2seq_lm",
           {"d_model": 32, "d_kv": 8, "d_ff": 48, "num_layers": 2, "num_heads": 4,
            "relative_attention_num_buckets": 8, "feed_forward_proj": "gated-gelu",
            "decoder_start_token_id": 0}),
}  # fmt: skip
NEW = 12
RNG = np.random.default_rng(0)
IDS = RNG.integers(3, VOCAB, (2, 7))
MASK = np.ones_like(IDS)


@pytest.fixture(scope="module", params=list(MODELS))
def pair(request, tmp_path_factory):
    """(transformers' model, our Decoder and params) of the same random weights."""
    config_class, model_class, head, values = MODELS[request.param]
    torch.manual_seed(0)
    config = getattr(transformers, config_class)(vocab_size=VOCAB, **values)
    theirs = getattr(transformers, model_class)(config).eval()
    with torch.no_grad():  # larger weights than the initialisation, for decided argmaxes
        for parameter in theirs.parameters():
            parameter.mul_(3.0 if parameter.dim() > 1 else 1.0)
    folder = tmp_path_factory.mktemp(request.param)
    theirs.save_pretrained(folder)
    family = get_family(request.param)
    ours, params = family.load(folder)
    return request.param, theirs, Decoder(family, ours, head), params


def their_tokens(name, theirs, ids, mask, **settings) -> list[list[int]]:
    with torch.no_grad():
        out = theirs.generate(torch.tensor(ids), attention_mask=torch.tensor(mask),
                              max_new_tokens=NEW, min_new_tokens=0, **settings).numpy()  # fmt: skip
    new = out[:, 1:] if name == "t5" else out[:, ids.shape[1] :]  # after the start token or prompt
    return [until_eos(row, settings["eos_token_id"]) for row in new]


def our_tokens(decoder, params, ids, mask, stream=None, **settings) -> list[list[int]]:
    generator = Generator(decoder, Settings(max_new_tokens=NEW, **settings), stream)
    out = np.asarray(generator(params, jnp.asarray(ids), jnp.asarray(mask)))
    assert out.shape == (len(ids), NEW)
    return [until_eos(row, settings["eos_token_id"]) for row in out]


def until_eos(row, eos: int) -> list[int]:
    row = list(row)
    return row[: row.index(eos) + 1] if eos in row else row


def an_eos_it_reaches(decoder, params, ids, mask) -> tuple[int, int]:
    """A token greedy search first writes at its third step or later for row 0, as the
    end token (both must then stop that row there and pad it), and that step."""
    row = our_tokens(decoder, params, ids, mask, eos_token_id=-1, pad_token_id=0)[0]
    step = next(i for i, token in enumerate(row) if i >= 2 and token not in row[:i])
    return row[step], step


def inputs(name):
    """T5 reads a padded batch; decoder-only prompts are of one length."""
    if name != "t5":
        return IDS, MASK
    mask = MASK.copy()
    mask[1, 5:] = 0
    return np.where(mask, IDS, 0), mask


def test_greedy_search_equals_transformers(pair):
    name, theirs, decoder, params = pair
    ids, mask = inputs(name)
    eos, step = an_eos_it_reaches(decoder, params, ids, mask)
    settings = {"eos_token_id": eos, "pad_token_id": 0}
    ours = our_tokens(decoder, params, ids, mask, **settings)
    assert ours == their_tokens(name, theirs, ids, mask, do_sample=False, num_beams=1, **settings)
    assert ours[0][-1] == eos and len(ours[0]) == step + 1  # stopped at eos


@pytest.mark.parametrize("length_penalty", [0.6, 2.0])
def test_beam_search_equals_transformers(pair, length_penalty):
    name, theirs, decoder, params = pair
    ids, mask = inputs(name)
    eos, _ = an_eos_it_reaches(decoder, params, ids, mask)
    settings = {"eos_token_id": eos, "pad_token_id": 0, "num_beams": 3,
                "length_penalty": length_penalty, "early_stopping": False}  # fmt: skip
    ours = our_tokens(decoder, params, ids, mask, **settings)
    assert ours == their_tokens(name, theirs, ids, mask, do_sample=False, **settings)


def test_greedy_tokens_stream_as_they_are_produced(pair):
    name, _, decoder, params = pair
    ids, mask = inputs(name)
    seen = []
    ours = our_tokens(decoder, params, ids, mask, seen.append, eos_token_id=-1, pad_token_id=0)
    assert [list(step) for step in np.stack(seen, axis=1)] == ours


def test_sampling_keeps_to_top_k_and_top_p_and_follows_the_temperature():
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]] * 4000))
    keys = jax.random.split(jax.random.key(0), 1)[0]

    def drawn(**settings):
        tokens = _chosen(Settings(do_sample=True, **settings), logits, keys)
        return np.bincount(np.asarray(tokens), minlength=4) / len(tokens)

    np.testing.assert_allclose(drawn(), [0.5, 0.3, 0.15, 0.05], atol=0.03)
    assert drawn(top_k=2)[2:].sum() == 0
    assert drawn(top_p=0.7)[2:].sum() == 0  # 0.5 + 0.3 reach 0.7: the rest is cut
    assert drawn(top_p=0.9)[3] == 0
    cold = drawn(temperature=0.25)  # probabilities ** 4, renormalised
    np.testing.assert_allclose(cold[0], 0.5**4 / sum(p**4 for p in (0.5, 0.3, 0.15, 0.05)),
                               atol=0.03)  # fmt: skip
    assert drawn(top_k=1)[0] == 1.0  # top-k 1 is greedy
