"""Local text, json/jsonl and csv files loaded with 🤗 datasets, split and checked."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..registry import DATA_FILE_TYPES


def _load(path: str, column: str, flag: str):
    import datasets  # heavy (~1 s): only the trainer process pays for it

    datasets.disable_progress_bars()
    builder = DATA_FILE_TYPES[Path(path).suffix.lower()]
    try:
        ds = datasets.load_dataset(builder, data_files={"data": path}, split="data")
    except Exception as exc:  # datasets wraps parser errors in many types
        raise DataError(
            f"--{flag} {path} cannot be parsed as {builder} ({exc}); fix the file"
        ) from None
    if column not in ds.column_names:
        columns = ", ".join(ds.column_names) or "none"
        raise DataError(
            f"--{flag} {path} has no column {column!r} (columns: {columns}); "
            "pass --text_column NAME"
        )
    texts = [t for t in ds[column] if isinstance(t, str) and t.strip()]
    if not texts:
        raise DataError(f"--{flag} {path} has no text in column {column!r}; add data to it")
    return texts


def load_text_splits(spec) -> tuple[list[str], list[str]]:
    """(train texts, validation texts); without a validation file the first N% is held out."""
    train = _load(spec.train_file, spec.text_column, "train_file")
    if spec.validation_file:
        return train, _load(spec.validation_file, spec.text_column, "validation_file")
    held_out = max(1, len(train) * spec.validation_split_percentage // 100)
    if held_out >= len(train):
        raise DataError(
            f"--train_file {spec.train_file} has {len(train)} texts, too few to hold out "
            "a validation split; add data or pass --validation_file"
        )
    return train[held_out:], train[:held_out]
