"""A glance at training data for the Launch screen: columns and first rows, without 🤗 datasets."""

from __future__ import annotations

import csv
import json
from itertools import islice
from pathlib import Path

from tpudeck.core.data import image_folder, saved_datasets


def preview(path: str, rows: int = 4) -> tuple[str, list[str]]:
    """("columns: ...", first rows as short strings) of a .txt, .json/.jsonl or .csv file
    or of the train split of a saved dataset; ("classes: ...", counts) of an image folder."""
    classes = image_folder.class_names(path)
    if classes:
        counts = [
            f"{name}: {len(image_folder.images_in(Path(path, name)))} images" for name in classes
        ]
        return "classes: " + ", ".join(classes), counts[:rows] + (
            [f"... {len(classes) - rows} more classes"] if len(classes) > rows else []
        )
    if saved_datasets.kind(path):
        folder = saved_datasets.split_folder(path, "train")
        names = saved_datasets.splits(path)
        first = [
            _short(json.dumps(r, default=str)) for r in saved_datasets.first_rows(folder, rows)
        ]
        return "columns: " + ", ".join(saved_datasets.columns(folder)), (
            [f"splits: {', '.join(names)}"] if names else []
        ) + first
    file = Path(path)
    suffix = file.suffix.lower()
    with open(file, encoding="utf-8", errors="replace") as f:
        if suffix == ".csv":
            reader = csv.DictReader(f)
            first = list(islice(reader, rows))
            columns = list(reader.fieldnames or [])
            return "columns: " + ", ".join(columns), [_short(json.dumps(r)) for r in first]
        if suffix in (".json", ".jsonl"):
            first = [json.loads(line) for line in islice((ln for ln in f if ln.strip()), rows)]
            columns = sorted({k for r in first if isinstance(r, dict) for k in r})
            return "columns: " + ", ".join(columns), [_short(json.dumps(r)) for r in first]
        return "columns: text", [_short(line.rstrip("\n")) for line in islice(f, rows)]


def _short(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
