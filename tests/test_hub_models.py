"""Models, configs and tokenizers named by Hub id (issue #14's first slice): every weights
layout the Hub holds loads as the safetensors one does, and `tpudeck train` downloads a
repo from a Hub-compatible server on 127.0.0.1 into huggingface_hub's cache while the run
prepares, runs from that cache offline, and refuses a missing repo, a gated one or a dead
Hub with nothing cached in one line, before the accelerator."""

import numpy as np
import pytest
import torch
import transformers
from flax.traverse_util import flatten_dict
from tokenizers.implementations import ByteLevelBPETokenizer

from tpudeck.core.errors import SpecError
from tpudeck.core.models.family import get_family
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.spec import RunSpec

from .builders import hub_repo_files, one_line_error, tpudeck
from .hub_server import FakeHub

MODELS = {  # family -> (transformers class, its head, a small config)
    "gpt2": (transformers.GPT2LMHeadModel, "causal_lm",
             dict(n_embd=32, n_layer=2, n_head=4, n_positions=64)),
    "bert": (transformers.BertForMaskedLM, "masked_lm",
             dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37)),
    "vit": (transformers.ViTForImageClassification, "image_classification",
            dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=37, image_size=32, patch_size=8)),
}  # fmt: skip


def small_model(family: str, vocab: int = 300):
    cls, _, size = MODELS[family]
    config = cls.config_class(**size, **({} if family == "vit" else {"vocab_size": vocab}))
    torch.manual_seed(0)
    return cls(config).eval()


@pytest.mark.parametrize("layout", ["sharded", "flax", "torch"])
@pytest.mark.parametrize("family", MODELS)
def test_every_weights_layout_loads_as_the_safetensors_one_does(family, layout, tmp_path):
    model, head = small_model(family), MODELS[family][1]
    model.save_pretrained(tmp_path / "safetensors")
    folder = tmp_path / layout
    folder.mkdir()
    for name, data in hub_repo_files(model, layout, folder).items():
        (folder / name).write_bytes(data)
    assert not (folder / "model.safetensors").exists()
    ours = get_family(family)
    expected = flatten_dict(ours.load(tmp_path / "safetensors", head)[1])
    loaded = flatten_dict(ours.load(folder, head)[1])
    assert loaded.keys() == expected.keys()
    for key, want in expected.items():
        np.testing.assert_array_equal(loaded[key], want, err_msg="/".join(key))


def test_a_hub_id_validates_offline_and_is_sized_once_downloaded(demo_corpus):
    spec = RunSpec.from_dict({"model_name_or_path": "org/not-here-yet",
                              "train_file": str(demo_corpus)})  # fmt: skip
    assert spec.config_pending == "org/not-here-yet"  # nothing cached: checked when it prepares
    assert RunSpec.from_dict({"model_name_or_path": "gpt2", "train_file": str(demo_corpus)})
    with pytest.raises(SpecError, match="no config.json there"):  # a path, not a Hub id
        RunSpec.from_dict({"model_name_or_path": "./org/not-here-yet",
                           "train_file": str(demo_corpus)})  # fmt: skip


def downloaded(run: RunDir) -> list[dict]:
    return [e for e in run.read_events("prepare") if e["stage"] == "downloading"]


@pytest.mark.slow
def test_train_from_a_hub_model_then_offline_from_the_cache(tmp_path, demo_corpus, monkeypatch):
    """The community week's own layout (flax_model.msgpack and a tokenizer.json) served by
    the local Hub: the run downloads it while preparing (progress as `prepare` events),
    starts from those weights with that tokenizer, and a second run needs no Hub."""
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(demo_corpus.read_text().splitlines(), vocab_size=300,
                                  special_tokens=["<|endoftext|>"])  # fmt: skip
    repo = tmp_path / "repo"
    repo.mkdir()
    tokenizer.save(str(repo / "tokenizer.json"))
    model = small_model("gpt2", tokenizer.get_vocab_size())
    args = ["train", "--recipe", "clm", "--model_type", "gpt2", "--train_file", str(demo_corpus),
            "--block_size", "32", "--max_steps", "2", "--learning_rate", "1e-9",
            "--platform", "cpu"]  # fmt: skip

    def train(repo_id: str, name: str):
        return tpudeck(*args, "--model_name_or_path", repo_id, "--output_dir", str(tmp_path / name))

    with FakeHub("hf_token") as hub:
        hub.add_repo("org/tiny-gpt2", hub_repo_files(model, "flax", repo))
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # conftest's default is offline
        first = train("org/tiny-gpt2", "first")
        assert first.returncode == 0, first.stderr
        downloads = downloaded(RunDir(tmp_path / "first"))
        assert downloads[-1]["what"] == "org/tiny-gpt2"
        assert downloads[-1]["done"] == downloads[-1]["total"] > 0
        assert f"vocabulary {tokenizer.get_vocab_size()}" in first.stderr  # the repo's own
        theirs = transformers.GPT2LMHeadModel.from_pretrained(RunDir(tmp_path / "first").model_dir)
        for name, tensor in model.state_dict().items():  # lr 1e-9: the Hub's weights, kept
            np.testing.assert_allclose(theirs.state_dict()[name].numpy(), tensor.numpy(),
                                       atol=1e-6, err_msg=name)  # fmt: skip

        hub.stop()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        second = train("org/tiny-gpt2", "second")
        assert second.returncode == 0, second.stderr
        assert not downloaded(RunDir(tmp_path / "second"))  # all from the cache
        assert "HF_HUB_OFFLINE is set" in one_line_error(train("org/other", "offline"))
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        dead = one_line_error(train("org/other", "dead"))
        assert (
            f"not in the cache ({tmp_path / 'hf' / 'hub'})" in dead and "cannot be reached" in dead
        )

        hub.start()
        assert "no Hub repo of that name" in one_line_error(train("org/missing", "missing"))
        hub.gated.add("org/tiny-gpt2")
        assert "is gated" in one_line_error(train("org/tiny-gpt2", "gated"))
        assert not any((tmp_path / name).exists() for name in ("offline", "dead", "missing"))
