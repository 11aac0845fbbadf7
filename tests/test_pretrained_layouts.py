"""Checkpoints and tokenizers as transformers and the Hub lay them out (issue #13's first
slice): base-model checkpoints (`BertModel`, `ViTModel`, ... saved without the "bert."
prefix) start every head of their family, and a tokenizer.json that pads and truncates
for inference does not leak into packing, pair encoding or the mlm recipe's masking."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from tokenizers import BertWordPieceTokenizer

from tpudeck.core.data import sentence_pairs
from tpudeck.core.data.token_blocks import packed_blocks
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


TOKENIZER_KINDS = {  # special tokens by role, as each kind spells them
    "wordpiece": {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
    "unigram": {"pad": "<pad>", "unk": "<unk>", "cls": "<s>", "sep": "</s>", "mask": "<mask>"},
}


@pytest.fixture(params=list(TOKENIZER_KINDS))
def padding_tokenizer(request, tmp_path, demo_corpus):
    """A BERT WordPiece or a SentencePiece unigram tokenizer whose tokenizer.json pads and
    truncates every text to 128 tokens, as inference checkpoints on the Hub often ship;
    (folder, texts, its special tokens by role)."""
    from tokenizers import SentencePieceUnigramTokenizer

    texts = demo_corpus.read_text().splitlines()[:500]
    tokens = TOKENIZER_KINDS[request.param]
    if request.param == "wordpiece":
        tokenizer = BertWordPieceTokenizer()
        tokenizer.train_from_iterator(texts, vocab_size=300, special_tokens=list(tokens.values()))
    else:
        tokenizer = SentencePieceUnigramTokenizer()
        tokenizer.train_from_iterator(texts, vocab_size=300, special_tokens=list(tokens.values()),
                                      unk_token="<unk>")  # fmt: skip
    tokenizer.enable_padding(length=128, pad_id=tokenizer.token_to_id(tokens["pad"]),
                             pad_token=tokens["pad"])  # fmt: skip
    tokenizer.enable_truncation(128)
    folder = tmp_path / request.param
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    roles = {f"{role}_token": token for role, token in tokens.items()}
    (folder / "tokenizer_config.json").write_text(json.dumps(roles))
    return folder, texts, tokens


def test_packing_ignores_the_tokenizers_own_padding_and_truncation(padding_tokenizer, tmp_path):
    import datasets

    folder, texts, tokens = padding_tokenizer
    tokenizer = load_tokenizer(folder)
    sep = tokenizer.token_to_id(tokens["sep"])
    rows = datasets.Dataset.from_dict({"text": texts[:50]})
    blocks = packed_blocks(rows, "text", tokenizer, sep, 64, tmp_path / "cache")
    pad = tokenizer.token_to_id(tokens["pad"])
    assert (blocks != pad).all()  # not one padding token packed
    words = sum(len(tokenizer.encode(t, add_special_tokens=False).ids) + 1 for t in texts[:50])
    assert len(blocks) == words // 64  # ~45 tokens a story, not 128


def test_pairs_are_fitted_to_the_longest_example_not_the_tokenizers_padding(padding_tokenizer):
    folder, texts, tokens = padding_tokenizer
    framed = sentence_pairs.with_framing(load_tokenizer(folder))  # as the recipe frames
    firsts = [text.split(".")[0] for text in texts[:8]]  # a sentence each, far below 128
    (train,) = sentence_pairs.encode(framed, [(firsts, None)], 256)
    assert train.input_ids.shape[1] < 128 and train.attention_mask[:, -1].sum() < 8
    assert (train.input_ids[:, 0] == framed.token_to_id(tokens["cls"])).all()


def test_mlm_masks_with_the_tokenizers_own_mask_token(padding_tokenizer, tmp_path):
    folder, texts, tokens = padding_tokenizer
    corpus = tmp_path / "stories.txt"
    corpus.write_text("\n".join(texts))
    spec = RunSpec.from_dict({"recipe": "mlm", "model_type": "bert", "model_size": "demo",
                              "train_file": str(corpus), "tokenizer_name": str(folder),
                              "max_seq_length": 64})  # fmt: skip
    data = MLM.prepare(spec, RunDir(tmp_path / "run"))
    tokenizer = load_tokenizer(folder)
    assert data.model_config["mask_token_id"] == tokenizer.token_to_id(tokens["mask"])
    assert data.model_config["pad_token_id"] == tokenizer.token_to_id(tokens["pad"])
    cls, sep = (tokenizer.token_to_id(tokens[role]) for role in ("cls", "sep"))
    assert data.model_config["unmasked_ids"] == (sep, cls)  # never masked: the framing
    assert (data.train["input_ids"] != tokenizer.token_to_id(tokens["pad"])).all()
    first = data.train["input_ids"][0].tolist()  # each text framed, as run_mlm_flax.py's are
    assert first[0] == cls and first.count(cls) == first.count(sep) + (first[-1] != sep)


@pytest.mark.slow
@pytest.mark.parametrize("padding_tokenizer", ["wordpiece"], indirect=True)
def test_a_bert_base_model_with_its_wordpiece_tokenizer_pretrains_further_with_mlm(
    padding_tokenizer, tmp_path
):
    """The story in #13: a BertModel checkpoint saved with its WordPiece tokenizer (which
    pads to 128). Its own tokenizer is used, blocks hold no padding, [MASK] masks, the
    missing MLM head starts anew (one log line), and the export reopens in transformers."""
    from .builders import tpudeck

    folder, texts, _ = padding_tokenizer
    vocab = load_tokenizer(folder).get_vocab_size()
    config = transformers.BertConfig(vocab_size=vocab, **BASES["bert"][2] | {
        "max_position_embeddings": 128})  # fmt: skip
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    corpus = tmp_path / "stories.txt"
    corpus.write_text("\n".join(texts))
    run = RunDir(tmp_path / "run")
    result = tpudeck("train", "--recipe", "mlm", "--model_type", "bert", "--model_name_or_path",
                     str(folder), "--train_file", str(corpus), "--max_seq_length", "64",
                     "--max_steps", "30", "--learning_rate", "1e-3", "--platform", "cpu",
                     "--output_dir", str(run.path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "has no masked lm head of this shape (transform_dense, transform_LayerNorm, " \
           "prediction_bias): it starts from random weights" in result.stderr  # fmt: skip
    assert f"vocabulary {vocab}" in result.stderr  # its own tokenizer, not a new one
    losses = [e["loss"] for e in run.read_events("step")]
    assert losses[-1] < losses[0], losses
    theirs = transformers.BertForMaskedLM.from_pretrained(run.model_dir).eval()
    ids = np.asarray([load_tokenizer(folder).encode(texts[0]).ids[:24]])
    with torch.no_grad():
        expected = theirs(torch.tensor(ids)).logits.numpy()
    ours = get_family("bert")
    config, params = ours.load(run.model_dir)
    logits = ours.module(config).apply({"params": params}, jnp.asarray(ids))
    np.testing.assert_allclose(np.asarray(logits), expected, atol=1e-4)


def test_a_checkpoint_with_only_a_slow_tokenizer_trains_on_its_converted_ids(tmp_path, demo_corpus):
    """vocab.txt and no tokenizer.json: converted as AutoTokenizer converts it, never
    replaced by a new tokenizer (that would feed the pre-trained model other ids)."""
    from tpudeck.core.errors import DataError

    texts = demo_corpus.read_text().splitlines()[:200]
    wordpiece = BertWordPieceTokenizer()
    wordpiece.train_from_iterator(texts, vocab_size=300)
    folder = tmp_path / "bert"
    config = transformers.BertConfig(vocab_size=wordpiece.get_vocab_size(), **BASES["bert"][2])
    transformers.BertModel(config).save_pretrained(folder)
    wordpiece.save_model(str(folder))  # vocab.txt only, as old BERT checkpoints ship
    corpus = tmp_path / "stories.txt"
    corpus.write_text("\n".join(texts))
    spec = RunSpec.from_dict({"recipe": "mlm", "model_type": "bert", "max_seq_length": 32,
                              "model_name_or_path": str(folder), "train_file": str(corpus)})  # fmt: skip
    run = RunDir(tmp_path / "run")
    data = MLM.prepare(spec, run)
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    ours = load_tokenizer(run.tokenizer_dir)
    assert ours.encode(texts[0]).ids == theirs(texts[0])["input_ids"]
    assert data.model_config["mask_token_id"] == theirs.mask_token_id
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "NoSuchTokenizer"}')
    with pytest.raises(DataError, match=r"its tokenizer \(vocab.txt\) did not convert"):
        MLM.prepare(spec, RunDir(tmp_path / "run2"))


def test_a_t5_checkpoint_with_only_a_sentencepiece_model_trains_on_its_converted_ids(
    tmp_path, demo_corpus
):
    """spiece.model and no tokenizer.json, as mT5 and older T5 checkpoints ship: converted as
    AutoTokenizer converts it, its </s>, <pad> and <extra_id_N> sentinels kept."""
    import sentencepiece

    from tpudeck.core.recipes.t5_mlm import RECIPE as T5_MLM

    texts = demo_corpus.read_text().splitlines()[:300]
    folder = tmp_path / "t5"
    transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=256, d_model=32, d_ff=37, d_kv=8, num_layers=1, num_heads=4)
    ).save_pretrained(folder)  # fmt: skip
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(folder / "spiece"), vocab_size=150,
        hard_vocab_limit=False, pad_id=0, eos_id=1, unk_id=2, bos_id=-1)  # fmt: skip
    (folder / "spiece.vocab").unlink()  # the model file alone, as the Hub's repos hold it
    corpus = tmp_path / "stories.txt"
    corpus.write_text("\n".join(texts))
    spec = RunSpec.from_dict({"recipe": "t5_mlm", "model_type": "t5", "max_seq_length": 32,
                              "model_name_or_path": str(folder), "train_file": str(corpus)})  # fmt: skip
    data = T5_MLM.prepare(spec, RunDir(tmp_path / "run"))
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    ours = load_tokenizer(tmp_path / "run" / "tokenizer")
    assert ours.encode(texts[0]).ids == theirs(texts[0])["input_ids"]
    assert (data.model_config["pad_token_id"], data.model_config["eos_token_id"]) == (0, 1)
    assert data.model_config["sentinel_ids"][:2] == theirs.convert_tokens_to_ids(
        ["<extra_id_0>", "<extra_id_1>"])  # fmt: skip
