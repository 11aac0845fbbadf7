"""Data pipeline: demo corpus, tokenizer training, packing and the deterministic batch order."""

from pathlib import Path

import numpy as np

from tpudeck.core.data.batching import StepBatches, eval_batches
from tpudeck.core.data.block_cache import LIMIT_ENV
from tpudeck.core.data.demo_corpus import write_demo_corpus
from tpudeck.core.data.sentence_pairs import with_framing
from tpudeck.core.data.token_blocks import line_blocks, packed_blocks
from tpudeck.core.data.tokenizer import (
    EOS,
    MASKED_LM_KIND,
    eos_id,
    load_tokenizer,
    train_byte_level_bpe,
)


def test_demo_corpus_is_the_same_for_the_same_seed(tmp_path):
    a = write_demo_corpus(tmp_path / "a.txt", stories=50).read_text()
    assert a == write_demo_corpus(tmp_path / "b.txt", stories=50).read_text()
    assert a != write_demo_corpus(tmp_path / "c.txt", stories=50, seed=1).read_text()
    assert len(a.splitlines()) == 50


def test_trained_tokenizer_round_trips_from_its_directory(tmp_path, demo_corpus):
    texts = demo_corpus.read_text().splitlines()[:500]
    trained = train_byte_level_bpe(texts, 400, tmp_path / "tok", max_len=128)
    loaded = load_tokenizer(tmp_path / "tok")
    assert loaded.get_vocab_size() == trained.get_vocab_size() <= 400
    assert loaded.encode(texts[0]).ids == trained.encode(texts[0]).ids
    assert loaded.decode(loaded.encode(texts[0]).ids) == texts[0]
    assert eos_id(loaded) == loaded.token_to_id(EOS)


def test_packing_joins_documents_with_eos_drops_the_tail_and_is_cached(tmp_path, demo_corpus):
    import datasets

    texts = demo_corpus.read_text().splitlines()[:100]
    tok = train_byte_level_bpe(texts, 300, tmp_path / "tok", max_len=64)
    eos = eos_id(tok)
    rows = datasets.Dataset.from_dict({"text": [texts[0], "  ", texts[1], texts[2]]})
    cache = tmp_path / "cache"
    blocks = packed_blocks(rows, "text", tok, eos, 8, cache)
    flat = sum((tok.encode(t).ids + [eos] for t in texts[:3]), [])  # the blank row skipped
    assert blocks.shape == (len(flat) // 8, 8) and blocks.dtype == np.int32
    assert isinstance(blocks, np.memmap)  # read from disk, not held in memory
    assert blocks.ravel().tolist() == flat[: blocks.size]
    (written,) = cache.iterdir()
    written.write_bytes(written.read_bytes()[:32])  # only a cached file can answer now
    assert packed_blocks(rows, "text", tok, eos, 8, cache).shape == (1, 8)
    other = packed_blocks(rows.select(range(2)), "text", tok, eos, 8, cache)  # other rows
    assert other.ravel().tolist() == flat[: other.size] and len(list(cache.iterdir())) == 2


def test_the_first_blocks_alone_are_the_whole_files_first_blocks(tmp_path, demo_corpus):
    """--max_train_samples: tokenising stops soon after the blocks the run keeps (a file of
    their own); once the whole file is cached, it answers instead."""
    import datasets

    texts = demo_corpus.read_text().splitlines()[:3000]
    tok = train_byte_level_bpe(texts[:100], 300, tmp_path / "tok", max_len=64)
    cache, eos = tmp_path / "cache", eos_id(tok)
    rows = datasets.Dataset.from_dict({"text": texts})
    first = packed_blocks(rows, "text", tok, eos, 8, cache, first=20)
    (prefix,) = cache.glob("*.int32")
    whole = packed_blocks(rows, "text", tok, eos, 8, cache)
    assert 20 <= len(first) < len(whole) / 2  # a batch of texts past the 20th block, no more
    np.testing.assert_array_equal(first, whole[: len(first)])
    assert Path(packed_blocks(rows, "text", tok, eos, 8, cache, first=20).filename) != prefix
    lines = line_blocks(rows, "text", tok, eos, 12, cache, first=5)  # eos pads here
    assert 5 <= len(lines) < 3000
    whole_lines = line_blocks(rows, "text", tok, eos, 12, cache)
    np.testing.assert_array_equal(lines, whole_lines[: len(lines)])


def test_the_block_cache_drops_the_least_recently_used_files_past_its_limit(
    tmp_path, demo_corpus, monkeypatch
):
    import os
    import time

    import datasets

    texts = demo_corpus.read_text().splitlines()[:300]
    tok = train_byte_level_bpe(texts[:100], 300, tmp_path / "tok", max_len=64)
    cache, eos = tmp_path / "cache", eos_id(tok)
    rows = datasets.Dataset.from_dict({"text": texts})

    def blocks(n: int) -> Path:
        before = set(cache.glob("*.int32"))
        packed_blocks(rows.select(range(n)), "text", tok, eos, 8, cache)
        return (set(cache.glob("*.int32")) - before or {None}).pop()

    read_again, forgotten = blocks(300), blocks(200)
    for path, hours in ((read_again, 3), (forgotten, 2)):
        os.utime(path, (time.time() - hours * 3600,) * 2)
    monkeypatch.setenv(LIMIT_ENV, str(read_again.stat().st_size * 1.5 / 2**30))
    assert blocks(300) is None  # found: marked used now, not written
    newest = blocks(100)  # written: the cache is over its limit
    assert set(cache.glob("*.int32")) == {read_again, newest}  # the least recently used went
    assert blocks(200) == forgotten  # and is only a tokenisation to redo


def test_line_by_line_frames_truncates_and_pads_each_text_and_is_cached(tmp_path, demo_corpus):
    import datasets

    texts = demo_corpus.read_text().splitlines()[:100]
    tok = with_framing(train_byte_level_bpe(texts, 300, tmp_path / "tok", 64, MASKED_LM_KIND))
    bos, eos, pad = (tok.token_to_id(t) for t in ("<s>", "</s>", "<pad>"))
    short, long = "a cat", texts[0] + " " + texts[1]
    rows = datasets.Dataset.from_dict({"text": [short, "  ", long]})
    blocks = line_blocks(rows, "text", tok, pad, 12, tmp_path / "cache")
    assert blocks.shape == (2, 12) and isinstance(blocks, np.memmap)  # the blank row skipped
    words = tok.encode(short, add_special_tokens=False).ids
    assert blocks[0].tolist() == [bos, *words, eos] + [pad] * (10 - len(words))
    head = tok.encode(long, add_special_tokens=False).ids[:10]
    assert blocks[1].tolist() == [bos, *head, eos]  # truncated, still closed
    assert tok.to_str() == with_framing(tok).to_str()  # the run's tokenizer is left unbounded
    (written,) = (tmp_path / "cache").iterdir()
    written.write_bytes(written.read_bytes()[:48])  # only a cached file can answer now
    assert line_blocks(rows, "text", tok, pad, 12, tmp_path / "cache").shape == (1, 12)


def test_step_batches_are_a_pure_function_of_seed_and_step():
    examples = {"input_ids": np.arange(40).reshape(20, 2)}
    a, b = StepBatches(examples, 4, seed=3), StepBatches(examples, 4, seed=3)
    assert a.steps_per_epoch == 5
    epoch0 = np.concatenate([a.indices(s) for s in range(5)])
    assert sorted(epoch0) == list(range(20))  # every example once per epoch
    assert not np.array_equal(a.indices(5), a.indices(0))  # reshuffled next epoch
    assert np.array_equal(b.indices(7), a.indices(7))  # no hidden state: any step, any order
    assert a.batch(7, (2, 1, 2))["input_ids"].shape == (2, 1, 2, 2)
    assert a.position(7) == (1, 2)


def test_eval_batches_cover_every_example_once_with_zero_weight_padding():
    examples = {"input_ids": np.arange(1, 11).reshape(10, 1)}
    batches = list(eval_batches(examples, (2, 2)))
    assert len(batches) == 3
    ids = np.concatenate([b["input_ids"].ravel() for b in batches])
    weights = np.concatenate([b["weights"].ravel() for b in batches])
    assert sorted(ids[weights == 1]) == list(range(1, 11))
    assert (ids[weights == 0] == 0).all()


def test_blocks_that_the_disk_has_no_room_for_are_refused_before_any_is_written(
    tmp_path, demo_corpus, monkeypatch
):
    import datasets
    import pytest

    from tpudeck.core.data import block_cache
    from tpudeck.core.errors import DataError

    texts = demo_corpus.read_text().splitlines()[:200]
    tok = train_byte_level_bpe(texts, 300, tmp_path / "tok", max_len=64)
    rows = datasets.Dataset.from_dict({"text": texts})
    full_disk = type("Usage", (), {"free": 1000})  # 1 kB left: the blocks need ~20 kB
    monkeypatch.setattr(block_cache.shutil, "disk_usage", lambda _folder: full_disk)
    with pytest.raises(DataError, match=r"of blocks to write, 0\.0 GB free; free space there"):
        packed_blocks(rows, "text", tok, eos_id(tok), 8, tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())
