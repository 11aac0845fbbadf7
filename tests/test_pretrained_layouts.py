"""Checkpoints and tokenizers as transformers and the Hub lay them out (issue #13's first
slice): base-model checkpoints (`BertModel`, `ViTModel`, ... saved without the "bert."
prefix) start every head of their family, and a tokenizer.json that pads and truncates
for inference does not leak into packing, pair encoding or the mlm recipe's masking."""

import jax
import numpy as np
import pytest
import torch
import transformers
from tokenizers import BertWordPieceTokenizer

from tpudeck.core.data import sentence_pairs
from tpudeck.core.data.packing import pack_blocks
from tpudeck.core.data.tokenizer import load_tokenizer
from tpudeck.core.models.family import get_family
from tpudeck.core.recipes.mlm import RECIPE as MLM
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.spec import RunSpec

# family -> (transformers prefix, its base-model class, a small config in HF names)
BASES = {
    "bert": ("Bert", "BertModel", {"hidden_size": 32, "num_hidden_layers": 2,
             "num_attention_heads": 4, "intermediate_size": 37, "max_position_embeddings": 40}),
    "roberta": ("Roberta", "RobertaModel", {"hidden_size": 32, "num_hidden_layers": 2,
                "num_attention_heads": 4, "intermediate_size": 37,
                "max_position_embeddings": 42}),
    "gpt2": ("GPT2", "GPT2Model", {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 40}),
    "llama": ("Llama", "LlamaModel", {"hidden_size": 32, "intermediate_size": 48,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}),
    "vit": ("ViT", "ViTModel", {"hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 37, "image_size": 32,
            "patch_size": 8}),
}  # fmt: skip
HEAD_CLASSES = {"masked_lm": "ForMaskedLM", "causal_lm": "ForCausalLM",
                "sequence_classification": "ForSequenceClassification",
                "image_classification": "ForImageClassification"}  # fmt: skip


def head_class(family: str, head: str):
    prefix = BASES[family][0]
    if family == "gpt2" and head == "causal_lm":
        return transformers.GPT2LMHeadModel
    return getattr(transformers, prefix + HEAD_CLASSES[head])


@pytest.mark.parametrize("family", BASES)
def test_a_base_model_checkpoint_starts_every_head_of_its_family(family, tmp_path):
    prefix, base_name, size = BASES[family]
    config = getattr(transformers, f"{prefix}Config")(vocab_size=101, pad_token_id=1, **size)
    torch.manual_seed(0)
    base = getattr(transformers, base_name)(config).eval()
    base.save_pretrained(tmp_path / "base")
    ours = get_family(family)
    for head in ours.descriptor.heads:
        # The same body inside transformers' head class, saved with its prefixed names.
        whole = head_class(family, head)(config).eval()
        whole.base_model.load_state_dict(base.state_dict(), strict=False)  # poolers differ
        whole.save_pretrained(tmp_path / head)
        our_config, expected = ours.load(tmp_path / head, head)
        body, fresh = ours.read_weights(tmp_path / "base", our_config, head)
        assert set(fresh) <= set(ours.binding.head_modules[head]), (head, fresh)
        assert set(body) | set(fresh) == set(expected), head
        for name in body:
            pairs = zip(jax.tree.leaves(expected[name]), jax.tree.leaves(body[name]), strict=True)
            for want, got in pairs:
                np.testing.assert_array_equal(want, got)
    if family == "bert":  # BertModel keeps its pooler: the classifier's, loaded not new
        _, fresh = ours.read_weights(tmp_path / "base", our_config, "sequence_classification")
        assert fresh == ("classifier",)


@pytest.fixture
def padding_wordpiece(tmp_path, demo_corpus):
    """A BERT WordPiece tokenizer whose tokenizer.json pads and truncates every text to 128
    tokens, as inference checkpoints on the Hub often ship."""
    texts = demo_corpus.read_text().splitlines()[:500]
    wordpiece = BertWordPieceTokenizer()
    wordpiece.train_from_iterator(texts, vocab_size=300,
                                  special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])  # fmt: skip
    wordpiece.enable_padding(length=128)
    wordpiece.enable_truncation(128)
    folder = tmp_path / "wordpiece"
    folder.mkdir()
    wordpiece.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "BertTokenizer", "mask_token": "[MASK]", "pad_token": "[PAD]"}'
    )
    return folder, texts


def test_packing_ignores_the_tokenizers_own_padding_and_truncation(padding_wordpiece):
    folder, texts = padding_wordpiece
    tokenizer = load_tokenizer(folder)
    sep = tokenizer.token_to_id("[SEP]")
    blocks = pack_blocks(texts[:50], tokenizer, sep, 64)
    pad = tokenizer.token_to_id("[PAD]")
    assert (blocks != pad).all()  # not one padding token packed
    words = sum(len(tokenizer.encode(t, add_special_tokens=False).ids) + 1 for t in texts[:50])
    assert len(blocks) == words // 64  # ~45 tokens a story, not 128


def test_pairs_are_fitted_to_the_longest_example_not_the_tokenizers_padding(padding_wordpiece):
    folder, texts = padding_wordpiece
    framed = sentence_pairs.with_framing(load_tokenizer(folder))  # as the recipe frames
    (train,) = sentence_pairs.encode(framed, [(texts[:8], None)], 256)
    assert train.input_ids.shape[1] < 128 and train.attention_mask[:, -1].sum() < 8
    assert (train.input_ids[:, 0] == framed.token_to_id("[CLS]")).all()


def test_mlm_masks_with_a_wordpiece_tokenizers_own_mask_token(padding_wordpiece, tmp_path):
    folder, _ = padding_wordpiece
    corpus = tmp_path / "stories.txt"
    corpus.write_text("\n".join(padding_wordpiece[1]))
    spec = RunSpec.from_dict({"recipe": "mlm", "model_type": "bert", "model_size": "demo",
                              "train_file": str(corpus), "tokenizer_name": str(folder),
                              "block_size": 64})  # fmt: skip
    data = MLM.prepare(spec, RunDir(tmp_path / "run"))
    tokenizer = load_tokenizer(folder)
    assert data.model_config["mask_token_id"] == tokenizer.token_to_id("[MASK]")
    assert data.model_config["pad_token_id"] == tokenizer.token_to_id("[PAD]")
    assert data.model_config["separator_id"] == tokenizer.token_to_id("[SEP]")
    assert (data.train["input_ids"] != tokenizer.token_to_id("[PAD]")).all()
