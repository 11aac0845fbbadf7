"""Local text, json/jsonl and csv files and saved 🤗 datasets, loaded, split and checked."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from ..errors import DataError
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


def _load(path: str, column: str, flag: str, split: str | None = None) -> list[str]:
    """The texts of one column of a file or of a saved dataset's split."""
    ds = load_table(path, flag, split)
    require_column(ds, column, path, flag, "text_column")
    texts = [t for t in ds[column] if isinstance(t, str) and t.strip()]
    if not texts:
        raise DataError(f"--{flag} {path} has no text in column {column!r}; add data to it")
    return texts


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


def load_text_splits(spec) -> tuple[list[str], list[str]]:
    """(train texts, validation texts). Validation comes from --validation_file, else the
    saved dataset's "validation" split, else the first N% of the training texts."""
    train = _load(spec.train_file, spec.text_column, "train_file", "train")
    if spec.validation_file:
        return train, _load(spec.validation_file, spec.text_column, "validation_file", "validation")
    if "validation" in saved_datasets.splits(spec.train_file):
        return train, _load(spec.train_file, spec.text_column, "train_file", "validation")
    held_out = max(1, len(train) * spec.validation_split_percentage // 100)
    if held_out >= len(train):
        raise DataError(
            f"--train_file {spec.train_file} has {len(train)} texts, too few to hold out "
            "a validation split; add data or pass --validation_file"
        )
    return train[held_out:], train[:held_out]
