"""Datasets named as the HF scripts name them (issue #14): `--dataset_name` (a Hub id,
with `--dataset_config_name`, or a local dataset folder of parquet files) through 🤗
datasets, from the tests' Hub on 127.0.0.1; the community week's worked example runs as
written; a missing dataset, a config left out, and no Hub with nothing cached are one line."""

import json
import os

import pytest
from tokenizers.implementations import ByteLevelBPETokenizer

from tpudeck.core.data.text_files import load_text_splits
from tpudeck.core.errors import SpecError
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.spec import RunSpec

from .builders import one_line_error, parquet_bytes, tpudeck
from .hub_server import FakeHub

TOKEN = "hf_tpudeckDatasetToken0123456789"
README = """---
configs:
- config_name: unshuffled_deduplicated_als
  data_files:
  - split: train
    path: als/train-*.parquet
- config_name: unshuffled_deduplicated_en
  data_files:
  - split: train
    path: en/train-*.parquet
---
# An OSCAR-shaped corpus: one config per language, a train split each
"""


def oscar_repo(texts: list[str]) -> dict[str, bytes]:
    return {
        "README.md": README.encode(),
        "als/train-00000-of-00001.parquet": parquet_bytes({"id": list(range(len(texts))),
                                                           "text": texts}),
        "en/train-00000-of-00001.parquet": parquet_bytes({"id": [0], "text": ["english"]}),
    }  # fmt: skip


def test_a_local_dataset_folder_of_parquet_splits(tmp_path, demo_corpus):
    texts = demo_corpus.read_text().splitlines()
    folder = tmp_path / "stories"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train-00000.parquet").write_bytes(parquet_bytes({"text": texts[:90]}))
    (folder / "data" / "validation-00000.parquet").write_bytes(
        parquet_bytes({"text": texts[90:99]})
    )
    spec = RunSpec.from_dict({"dataset_name": str(folder)})
    train, held = load_text_splits(spec)
    assert (train["text"], held["text"]) == (texts[:90], texts[90:99])  # its own validation
    import datasets

    mnli = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": texts[:90]}),
                                 "validation_matched": datasets.Dataset.from_dict(
                                     {"text": texts[90:99]})})  # fmt: skip
    mnli.save_to_disk(tmp_path / "mnli")  # GLUE's mnli names its validation split so
    matched = load_text_splits(spec.replace(dataset_name=str(tmp_path / "mnli")))[1]
    assert matched["text"] == texts[90:99]
    mnli["train"].save_to_disk(tmp_path / "one")  # a single saved Dataset: it trains
    held_out = load_text_splits(spec.replace(dataset_name=str(tmp_path / "one")))[1]
    assert held_out["text"] == texts[:4]  # 5% of 90 rows held out, as without a validation
    with pytest.raises(SpecError, match="pass --dataset_name or --train_file/--validation_file"):
        spec.replace(train_file=str(demo_corpus))
    with pytest.raises(SpecError, match="--dataset_name ./nowhere: no such folder"):
        spec.replace(dataset_name="./nowhere")


@pytest.mark.slow
def test_the_community_weeks_roberta_command_runs_as_written(tmp_path, demo_corpus):
    """The worked example every team starts from, with `--max_steps` added and OSCAR under
    the id the Hub gives it now: a config and a tokenizer saved in ./ (as the HF tutorial
    has them), OSCAR's Alemannic config from the Hub, pushed to the Hub at the end."""
    texts = demo_corpus.read_text().splitlines()
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(texts, vocab_size=400,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])  # fmt: skip
    here = tmp_path / "norwegian-roberta"
    here.mkdir()
    tokenizer.save(str(here / "tokenizer.json"))
    (here / "config.json").write_text(json.dumps({
        "model_type": "roberta", "architectures": ["RobertaForMaskedLM"],
        "vocab_size": tokenizer.get_vocab_size(), "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 130,
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "type_vocab_size": 1}))  # fmt: skip
    with FakeHub(TOKEN) as hub:
        hub.add_repo("oscar-corpus/oscar", oscar_repo(texts), kind="dataset")
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0",
               "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": TOKEN}  # fmt: skip
        command = """train --recipe mlm --output_dir="./out" --model_type="roberta"
            --config_name="./" --tokenizer_name="./" --dataset_name="oscar-corpus/oscar"
            --dataset_config_name="unshuffled_deduplicated_als" --max_seq_length="128"
            --per_device_train_batch_size="4" --per_device_eval_batch_size="4"
            --learning_rate="3e-4" --warmup_steps="1000" --overwrite_output_dir
            --num_train_epochs="8" --push_to_hub --max_steps=3 --platform=cpu"""
        argv = [arg.replace('"', "") for arg in command.split()]
        result = tpudeck(*argv, cwd=here, env=env)
        assert result.returncode == 0, result.stderr
        run = RunDir(here / "out")
        assert run.read_status()["state"] == "finished"
        assert [e["step"] for e in run.read_events("step")][-1] == 3
        assert "model.safetensors" in hub.repos["tester/out"]  # HF's default repo name: out
        streamed = tpudeck(*argv, "--streaming", "--push_to_hub", "0", "--output_dir", "streamed",
                           cwd=here, env=env)  # fmt: skip
        assert streamed.returncode == 0, streamed.stderr  # the Hub's parquet files, streamed
        assert "data: streamed training and" in streamed.stderr

        def refused(*flags: str) -> str:
            return one_line_error(tpudeck(*argv, *flags, cwd=here, env=env))

        # the last --dataset_name/--dataset_config_name given wins, as in argparse
        assert "no Hub dataset of that name" in refused("--dataset_name", "org/absent")
        assert "pass the full id" in refused("--dataset_name", "oscar")  # as 2021's line had it
        assert (
            "has several configs (unshuffled_deduplicated_als, unshuffled_deduplicated_en);"
            " pass one with --dataset_config_name"
        ) in refused("--dataset_config_name", "")
        hub.stop()
        offline = {**env, "HF_HUB_OFFLINE": "1"}  # the second run needs no Hub: the cache has it
        again = tpudeck(*argv, "--push_to_hub", "0", "--output_dir", "again", cwd=here, env=offline)
        assert again.returncode == 0, again.stderr
        down = refused("--dataset_config_name", "unshuffled_deduplicated_en", "--push_to_hub", "0")
        assert "is not in the cache and the Hub at" in down and "cannot be reached" in down
