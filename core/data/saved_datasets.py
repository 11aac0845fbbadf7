"""Folders written by 🤗 datasets' `save_to_disk()`, recognised and previewed without
importing datasets (the app and spec validation must stay light).

A Dataset folder holds state.json, dataset_info.json and data-*.arrow files (Arrow IPC
streams); a DatasetDict folder holds dataset_dict.json and one such folder per split.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path


def kind(path: str | Path) -> str | None:
    """ "dict" for a saved DatasetDict, "dataset" for a saved Dataset, else None."""
    folder = Path(path)
    if (folder / "dataset_dict.json").is_file():
        return "dict"
    if (folder / "state.json").is_file():
        return "dataset"
    return None


def splits(path: str | Path) -> list[str]:
    """The splits of a saved DatasetDict (none for a plain Dataset)."""
    if kind(path) != "dict":
        return []
    return list(json.loads((Path(path) / "dataset_dict.json").read_text())["splits"])


def split_folder(path: str | Path, split: str | None) -> Path:
    """The Dataset folder of `split` (a DatasetDict), or `path` itself (a Dataset)."""
    return Path(path) / split if split and kind(path) == "dict" else Path(path)


def columns(folder: Path) -> list[str]:
    info = json.loads((folder / "dataset_info.json").read_text())
    return list(info.get("features") or {})


def first_rows(folder: Path, rows: int) -> list[dict]:
    """The first rows of a saved Dataset, read straight from its Arrow stream."""
    import pyarrow as pa  # datasets' own storage; far lighter than datasets itself

    state = json.loads((folder / "state.json").read_text())
    first_file = folder / state["_data_files"][0]["filename"]
    with pa.memory_map(str(first_file)) as source:
        reader = pa.ipc.open_stream(source)
        return list(islice((r for batch in reader for r in batch.to_pylist()), rows))
