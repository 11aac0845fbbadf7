"""--streaming: training rows read as a stream, packed as steps ask; its position is saved
and restored exactly (the kill -9 resume of a streamed run: tests/test_training_e2e.py)."""

import json

import datasets
import numpy as np
import pytest

from tpudeck.core.data.text_files import stream_text_splits
from tpudeck.core.data.token_stream import ShuffledStream, TokenStream
from tpudeck.core.data.tokenizer import eos_id, train_byte_level_bpe
from tpudeck.core.errors import DataError, SpecError
from tpudeck.core.spec import RunSpec


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    texts = [f"story {i}: " + "the cat sat " * (i % 5) for i in range(120)]
    (folder / "train.txt").write_text("\n".join(texts))
    return folder / "train.txt", train_byte_level_bpe(texts, 300, folder / "tok", 64)


def stream(corpus, column: str = "text") -> TokenStream:
    path, tokenizer = corpus

    def open_rows(_epoch):
        return datasets.load_dataset("text", data_files={"train": str(path)}, split="train",
                                     streaming=True)  # fmt: skip

    return TokenStream(open_rows, column, tokenizer, eos_id(tokenizer), 16)


def test_a_restored_stream_goes_on_with_the_blocks_the_whole_one_gives(corpus):
    whole = stream(corpus)
    blocks = np.concatenate([whole.take(8) for _ in range(40)])  # several epochs
    assert whole.epoch >= 2 and blocks.shape == (320, 16)
    path, tokenizer = corpus
    first = [tokenizer.encode(t).ids + [eos_id(tokenizer)] for t in path.read_text().splitlines()]
    assert blocks.ravel()[:64].tolist() == sum(first, [])[:64]  # packed in the stream's order

    interrupted = stream(corpus)
    before = np.concatenate([interrupted.take(8) for _ in range(13)])
    saved = json.loads(json.dumps(interrupted.state()))  # as a checkpoint's metadata keeps it
    resumed = stream(corpus)
    resumed.restore(saved)
    after = np.concatenate([resumed.take(8) for _ in range(27)])
    np.testing.assert_array_equal(np.concatenate([before, after]), blocks)


def test_a_shuffled_stream_restores_into_the_middle_of_its_window(corpus):
    whole = ShuffledStream(stream(corpus), window=24, seed=3)
    blocks = np.concatenate([whole.take(5) for _ in range(30)])  # windows cut mid-batch
    in_order = stream(corpus).take(150)
    assert not np.array_equal(blocks, in_order)  # shuffled ...
    assert sorted(map(tuple, blocks[:24])) == sorted(map(tuple, in_order[:24]))  # ... in windows
    assert np.array_equal(ShuffledStream(stream(corpus), 24, 3).take(24), blocks[:24])  # seeded
    interrupted = ShuffledStream(stream(corpus), window=24, seed=3)
    before = np.concatenate([interrupted.take(5) for _ in range(11)])
    saved = json.loads(json.dumps(interrupted.state()))
    resumed = ShuffledStream(stream(corpus), window=24, seed=3)
    resumed.restore(saved)
    after = np.concatenate([resumed.take(5) for _ in range(19)])
    np.testing.assert_array_equal(np.concatenate([before, after]), blocks)


def test_a_stream_without_text_fails_instead_of_looping(corpus):
    with pytest.raises(DataError, match="the training stream has no text in column 'story'"):
        stream(corpus, column="story").take(1)


def test_streaming_flags_that_cannot_work_fail_in_one_line(demo_corpus, tmp_path):
    def spec(**values):
        return RunSpec(train_file=str(demo_corpus), streaming=True, **values)

    with pytest.raises(SpecError, match="--streaming needs --max_steps"):
        spec().validate()
    with pytest.raises(SpecError, match="text_classification reads its rows into memory"):
        spec(recipe="text_classification", max_steps=5).validate()
    with pytest.raises(SpecError, match="--line_by_line reads lines: omit one"):
        spec(recipe="mlm", model_type="bert", line_by_line=True, max_steps=5).validate()
    datasets.Dataset.from_dict({"text": ["a"]}).save_to_disk(tmp_path / "saved")
    with pytest.raises(SpecError, match="is a saved dataset, read from disk as it is needed"):
        RunSpec(train_file=str(tmp_path / "saved"), streaming=True, max_steps=5).validate()


def test_a_streamed_dataset_that_cannot_be_had_is_one_line():
    spec = RunSpec(dataset_name="org/absent", streaming=True, max_steps=3)  # offline in tests
    with pytest.raises(DataError, match="org/absent is not in the cache and HF_HUB_OFFLINE"):
        stream_text_splits(spec, 10)
