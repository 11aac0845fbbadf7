"""Image datasets as 🤗 datasets gives them (the imagefolder builder, a Hub image dataset,
parquet with an Image column): pixels and class labels for image_classification, decoded,
made RGB and resized as image_folder does for a folder of class subfolders."""

from __future__ import annotations

from ..errors import DataError
from .image_folder import to_pixels


def image_column(ds, source: tuple[str, str]) -> str:
    """The first column of images (an Image feature)."""
    import datasets

    found = [name for name, kind in ds.features.items() if isinstance(kind, datasets.Image)]
    if not found:
        columns = ", ".join(ds.column_names)
        raise DataError(f"--{source[1]} {source[0]} has no image column (columns: {columns}); "
                        "pass an image dataset")  # fmt: skip
    return found[0]


def class_names(ds, label: str, source: tuple[str, str]) -> list[str]:
    """The label feature's class names, else its values sorted (as strings)."""
    if label not in ds.column_names:
        raise DataError(
            f"--{source[1]} {source[0]} has no column {label!r} (columns: "
            f"{', '.join(ds.column_names)}); pass --label_column NAME"
        )
    names = getattr(ds.features[label], "names", None)
    return list(names) if names else sorted({str(v) for v in ds.unique(label)})


def load_rows(ds, classes: list[str], size: int, label: str, source: tuple[str, str]):
    """(pixels [N, size, size, 3] uint8, labels [N] int32) of every row."""
    import numpy as np

    column = image_column(ds, source)
    named = bool(getattr(ds.features[label], "names", None))
    ids = {name: i for i, name in enumerate(classes)}
    pixels, labels = [], []
    for row in ds.select_columns([column, label]):
        value = classes[row[label]] if named else str(row[label])
        if value not in ids:
            raise DataError(f"--{source[1]} {source[0]}: label {value!r} is not one of the "
                            f"training classes; fix that row")  # fmt: skip
        pixels.append(to_pixels(row[column], size))
        labels.append(ids[value])
    return np.stack(pixels), np.asarray(labels, np.int32)
