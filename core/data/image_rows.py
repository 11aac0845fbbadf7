"""Image datasets as 🤗 datasets gives them (the imagefolder builder, a Hub image dataset,
parquet with an Image column): pixels and class labels for image_classification, decoded
as batches read them, made RGB and resized as image_folder does for a folder of class
subfolders."""

from __future__ import annotations

from ..errors import DataError


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
    """(pixels [N, size, size, 3] uint8, decoded as batches read them (pixels.py); labels
    [N] int32) of every row."""
    import numpy as np

    from .pixels import Pixels

    column = image_column(ds, source)
    named = bool(getattr(ds.features[label], "names", None))
    ids = {name: i for i, name in enumerate(classes)}
    labels = []
    for value in ds[label]:  # the labels only: no image is decoded here
        value = classes[value] if named else str(value)
        if value not in ids:
            raise DataError(f"--{source[1]} {source[0]}: label {value!r} is not one of the "
                            f"training classes; fix that row")  # fmt: skip
        labels.append(ids[value])
    images = ds.select_columns([column])

    def unreadable(row: int) -> str:
        return f"--{source[1]} {source[0]}: cannot read the image of row {row}"

    pixels = Pixels(lambda row: images[row][column], unreadable, size, np.arange(len(labels)))
    return pixels, np.asarray(labels, np.int32)
