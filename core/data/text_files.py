"""The rows a run trains and evaluates on: local text, json/jsonl and csv files, saved 🤗
datasets, or a dataset named as the HF scripts name one (--dataset_name: a Hub id or a local
dataset folder, with --dataset_config_name), loaded, split and checked."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..hub.repo_ids import hub_id, not_cached, unreachable
from . import file_checks, saved_datasets

# Local data files by suffix, and the 🤗 datasets builder that reads each.
DATA_FILE_TYPES = {
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
}


def load_table(path: str, flag: str, split: str | None = None):
    """One file, or one split of a save_to_disk() folder, as a 🤗 Dataset; a file that
    does not parse is one DataError naming the flag and the fix."""
    import datasets  # heavy (~1 s): only the trainer process pays for it

    datasets.disable_progress_bars()
    if saved_datasets.kind(path):
        ds = _load_saved(path, flag, split)
    else:
        builder = DATA_FILE_TYPES[Path(path).suffix.lower()]
        file_checks.check_line_lengths(path, flag)
        try:
            with _quiet("datasets"):  # its parser errors become one line of ours below
                ds = datasets.load_dataset(builder, data_files={"data": path}, split="data")
        except Exception as exc:  # datasets wraps parser errors in many types
            bad = file_checks.first_bad_json_row(path) if builder == "json" else None
            if bad:
                raise DataError(
                    f"--{flag} {path}: row {bad[0]} is not valid JSON ({bad[1]}); "
                    "fix or remove that line"
                ) from None
            raise DataError(
                f"--{flag} {path} cannot be parsed as {builder} ({exc}); fix the file"
            ) from None
    return ds


def require_column(ds, column: str, path: str, flag: str, column_flag: str) -> None:
    if column not in ds.column_names:
        columns = ", ".join(ds.column_names) or "none"
        raise DataError(
            f"--{flag} {path} has no column {column!r} (columns: {columns}); "
            f"pass --{column_flag} NAME"
        )


@contextlib.contextmanager
def _quiet(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _load_saved(path: str, flag: str, split: str | None):
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except Exception as exc:  # a folder datasets wrote, then someone edited
        raise DataError(
            f"--{flag} {path} is not a readable saved dataset ({exc}); save it again"
        ) from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(
                f"--{flag} {path} has no {split!r} split (splits: {', '.join(ds)}); "
                "save that split, or pass its folder"
            )
        ds = ds[split]
    return ds


@dataclasses.dataclass(frozen=True)
class Tables:
    """A run's training rows and its validation rows (None: hold a share of training out),
    each with (where it came from, the flag that named it) for messages."""

    train: Any  # a 🤗 Dataset
    eval: Any | None
    train_source: tuple[str, str]
    eval_source: tuple[str, str] | None


def load_tables(spec) -> Tables:
    """Validation rows come from --validation_file, else the dataset's (or saved dataset's)
    "validation" split (else its first validation_* split, as GLUE's mnli has), else none:
    the caller holds a share of the training rows out."""
    if spec.dataset_name:
        splits = _load_named(spec)
        source = (spec.dataset_name, "dataset_name")
        if "train" not in splits:
            raise DataError(
                f"--dataset_name {spec.dataset_name} has no 'train' split (splits: "
                f"{', '.join(splits)}); pick a dataset or config with one"
            )
        named = sorted(s for s in splits if s.startswith("validation"))  # mnli: _matched
        held = splits["validation" if "validation" in splits else named[0]] if named else None
        return Tables(splits["train"], held, source, None if held is None else source)
    source = (spec.train_file, "train_file")
    train = load_table(spec.train_file, "train_file", "train")
    if spec.validation_file:
        held = (spec.validation_file, "validation_file")
    elif "validation" in saved_datasets.splits(spec.train_file):
        held = source  # a saved dataset's own validation split
    else:
        return Tables(train, None, source, None)
    return Tables(train, load_table(*held, "validation"), source, held)


def _load_named(spec):
    """--dataset_name's splits through 🤗 datasets (a saved dataset folder through
    load_from_disk), or a DataError naming the fix."""
    import datasets

    datasets.disable_progress_bars()
    name = spec.dataset_name
    saved = saved_datasets.kind(name)
    if saved == "dataset":  # one saved Dataset: its rows train
        return {"train": _load_saved(name, "dataset_name", None)}
    if saved == "dict":
        return datasets.load_from_disk(name)
    with _named_dataset_errors(spec):
        return datasets.load_dataset(name, spec.dataset_config_name, cache_dir=spec.cache_dir)


@contextlib.contextmanager
def _named_dataset_errors(spec):
    """--dataset_name's load, quiet, offline at once when the Hub is down, its failures one
    DataError naming the fix."""
    import datasets
    from huggingface_hub import constants

    name, config = spec.dataset_name, spec.dataset_config_name
    down = bool(hub_id(name)) and not constants.HF_HUB_OFFLINE and _hub_unreachable(name)
    try:
        with _quiet("datasets"), _quiet("huggingface_hub"), _offline(down):
            yield
    except datasets.exceptions.DatasetNotFoundError:
        raise DataError(
            f"--dataset_name {name}: no such local folder, and no Hub dataset of that name at "
            f"{constants.ENDPOINT} (a private or gated one needs a token: HF_TOKEN or "
            "`hf auth login`); check the name"
        ) from None
    except ValueError as exc:
        if "Couldn't find cache" in str(exc):  # offline, and this config never downloaded
            raise DataError(not_cached(f"--dataset_name {name}")) from None
        if "Config name is missing" not in str(exc) and "BuilderConfig" not in str(exc):
            raise
        configs = ", ".join(datasets.get_dataset_config_names(name))
        given = f"has no config {config!r}" if config else "has several configs"
        raise DataError(
            f"--dataset_name {name} {given} ({configs}); pass one with --dataset_config_name"
        ) from None
    except Exception as exc:  # offline or unreachable, with nothing cached
        if not (hub_id(name) and (down or constants.HF_HUB_OFFLINE or unreachable(exc))):
            raise
        raise DataError(not_cached(f"--dataset_name {name}")) from None


def _hub_unreachable(name: str) -> bool:
    """One quick question to the Hub, where 🤗 datasets would retry for half a minute."""
    from huggingface_hub import HfApi

    try:
        HfApi().dataset_info(name)
    except Exception as exc:
        return unreachable(exc)
    return False


@contextlib.contextmanager
def _offline(offline: bool):
    """huggingface_hub's and datasets' offline mode for one load, so that with the Hub
    unreachable the cache answers at once."""
    import datasets
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
    if offline:
        constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


def load_text_splits(spec):
    """(train rows, validation rows) as 🤗 Datasets with --text_column, read lazily from
    Arrow; without validation rows the first --validation_split_percentage of the training
    rows, as the HF scripts split."""
    tables = load_tables(spec)
    require_column(tables.train, spec.text_column, *tables.train_source, "text_column")
    if tables.eval is not None:
        require_column(tables.eval, spec.text_column, *tables.eval_source, "text_column")
        return tables.train, tables.eval
    rows = len(tables.train)
    held_out = max(1, rows * spec.validation_split_percentage // 100)
    if held_out >= rows:
        location, flag = tables.train_source
        raise DataError(
            f"--{flag} {location} has {rows} rows, too few to hold out "
            "a validation split; add data or pass --validation_file"
        )
    return tables.train.select(range(held_out, rows)), tables.train.select(range(held_out))


def stream_text_splits(spec, held_out_rows: int):
    """(a function of the epoch opening the training rows as a stream, validation rows):
    --streaming's. The validation rows are --validation_file's, the dataset's validation
    split (its first `held_out_rows` rows, streamed), or else the stream's first
    `held_out_rows` rows, which training then skips."""
    import datasets

    datasets.disable_progress_bars()
    if spec.dataset_name:
        source = (spec.dataset_name, "dataset_name")

        def split(name: str):
            with _named_dataset_errors(spec):
                return datasets.load_dataset(spec.dataset_name, spec.dataset_config_name,
                                             split=name, streaming=True,
                                             cache_dir=spec.cache_dir)  # fmt: skip

        try:
            held = split("validation")
        except ValueError:  # no such split
            held = None
    else:
        source = (spec.train_file, "train_file")
        builder = DATA_FILE_TYPES[Path(spec.train_file).suffix.lower()]

        def split(_name: str):
            return datasets.load_dataset(builder, data_files={"train": spec.train_file},
                                         split="train", streaming=True)  # fmt: skip

        held = load_table(spec.validation_file, "validation_file") if spec.validation_file else None
    first = split("train")
    if first.column_names is not None:  # a stream may not know its columns before reading
        require_column(first, spec.text_column, *source, "text_column")
    if held is None:
        rows = list(first.take(held_out_rows))
        return (lambda _epoch: split("train").skip(held_out_rows)), datasets.Dataset.from_list(rows)
    if isinstance(held, datasets.IterableDataset):
        held = datasets.Dataset.from_list(list(held.take(held_out_rows)))
    require_column(held, spec.text_column, *source, "text_column")
    return (lambda _epoch: split("train")), held
