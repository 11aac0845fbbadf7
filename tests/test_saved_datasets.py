"""Saved 🤗 datasets (save_to_disk folders) as training data: engine, CLI and Launch screen."""

import json
import os

import pytest

from tpudeck.core.data import saved_datasets
from tpudeck.core.data.text_files import load_text_splits
from tpudeck.core.errors import DataError, SpecError
from tpudeck.core.spec import RunSpec

from .builders import tpudeck


def stories_of(corpus) -> list[str]:
    return [line for line in corpus.read_text().split("\n") if line.strip()]


def save_stories(folder, corpus, with_validation: bool = True, column: str = "text"):
    """The demo corpus as a DatasetDict (train and maybe validation) written by datasets."""
    import datasets

    stories = stories_of(corpus)
    splits = {
        "train": datasets.Dataset.from_dict(
            {column: stories[20:], "id": list(range(len(stories) - 20))}
        )
    }
    if with_validation:
        splits["validation"] = datasets.Dataset.from_dict(
            {column: stories[:20], "id": list(range(20))}
        )
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    return folder


def test_a_saved_dataset_dict_gives_its_train_and_validation_splits(tmp_path, demo_corpus):
    folder = save_stories(tmp_path / "stories", demo_corpus)
    assert saved_datasets.kind(folder) == "dict"
    assert saved_datasets.splits(folder) == ["train", "validation"]
    train, held_out = load_text_splits(RunSpec(train_file=str(folder)))
    assert len(held_out) == 20 and len(train) > 100
    assert held_out[0]["text"] == stories_of(demo_corpus)[0]


def test_a_saved_dataset_without_validation_holds_out_a_share(tmp_path, demo_corpus):
    folder = save_stories(tmp_path / "stories", demo_corpus, with_validation=False)
    train, held_out = load_text_splits(
        RunSpec(train_file=str(folder), validation_split_percentage=10)
    )
    assert len(held_out) == (len(train) + len(held_out)) // 10


def test_preview_reads_columns_and_rows_without_datasets(tmp_path, demo_corpus):
    from tpudeck.tui.data_preview import preview

    folder = save_stories(tmp_path / "stories", demo_corpus)
    heading, rows = preview(str(folder))
    assert heading == "columns: text, id"
    assert rows[0] == "splits: train, validation"
    assert rows[1].startswith('{"text": "') and len(rows) == 5  # rows shortened for the screen


def test_bad_saved_data_fails_in_one_line_naming_the_fix(tmp_path, demo_corpus):
    (tmp_path / "plain").mkdir()
    with pytest.raises(SpecError, match="is a folder but not a saved 🤗 dataset"):
        RunSpec(train_file=str(tmp_path / "plain")).validate()
    folder = save_stories(tmp_path / "stories", demo_corpus, column="story")
    with pytest.raises(
        DataError, match=r"has no column 'text' \(columns: story, id\); pass --text_column"
    ):
        load_text_splits(RunSpec(train_file=str(folder)))
    import datasets

    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"text": ["a"]})}).save_to_disk(
        str(tmp_path / "only-test")
    )
    with pytest.raises(DataError, match=r"has no 'train' split \(splits: test\)"):
        load_text_splits(RunSpec(train_file=str(tmp_path / "only-test")))


@pytest.mark.slow
def test_train_on_a_saved_dataset_from_the_command_line(tmp_path, demo_corpus):
    folder = save_stories(tmp_path / "stories", demo_corpus)
    run = tmp_path / "run"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    result = tpudeck("train", "--train_file", str(folder), "--model_size", "demo", "--vocab_size", "512",
                     "--block_size", "32", "--max_steps", "6", "--logging_steps", "2", "--platform", "cpu",
                     "--output_dir", str(run), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["kind"] == "step"] == [2, 4, 6]
    assert any(e["kind"] == "eval" for e in events)


async def test_the_launch_screen_picks_a_saved_dataset_and_a_file(
    tmp_path, demo_corpus, monkeypatch
):
    from tpudeck.tui.app import TpudeckApp
    from tpudeck.tui.screens.picker import PathPicker

    from .builders import text_of, wait_for

    work = tmp_path / "work"
    save_stories(work / "stories", demo_corpus)
    (work / "notes.md").write_text("not data")
    (work / "more.jsonl").write_text('{"text": "a story"}\n')
    monkeypatch.chdir(work)
    app = TpudeckApp(launch_values={"model_size": "demo"})
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPicker), 10)
        tree = app.screen.query_one("#path-tree")
        await wait_for(pilot, lambda: len(tree.root.children) == 2, 10)  # notes.md is not data
        await pilot.press("down", "ctrl+o")  # stories/, a saved dataset: picked, not opened
        await wait_for(pilot, lambda: not isinstance(app.screen, PathPicker), 10)
        assert app.screen.query_one("#train_file").value == str(work / "stories")
        await wait_for(pilot, lambda: "splits: train, validation" in text_of(app, "#preview"), 10)
        assert "columns: text, id" in text_of(app, "#preview")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPicker), 10)
        tree = app.screen.query_one("#path-tree")
        await wait_for(pilot, lambda: len(tree.root.children) == 2, 10)
        await pilot.press("down", "down", "enter")  # more.jsonl
        await wait_for(pilot, lambda: not isinstance(app.screen, PathPicker), 10)
        assert app.screen.query_one("#train_file").value == str(work / "more.jsonl")
