"""Image folders as run_image_classification.py reads them: one subfolder per class.

Images are decoded with Pillow when a batch reads them (pixels.py), made RGB and resized
to the model's square input, channels last for Flax, as uint8: a quarter of the
host-to-device traffic of floats. `normalise` (on the device) then does what ViTImageProcessor does.
`class_names` needs neither Pillow nor numpy, so spec validation and the app can call it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError

IMAGE_FILE_TYPES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

MEAN, STD = 0.5, 0.5  # ViTImageProcessor's defaults, written into the exported model


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_FILE_TYPES)


def class_names(folder: str | Path) -> list[str]:
    """The subfolders that hold images, sorted: their index is the label."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and images_in(p))


def load_images(folder: str | Path, classes: list[str], size: int, flag: str):
    """(pixels [N, size, size, 3] uint8, decoded as batches read them (pixels.py); labels
    [N] int32) of every image under `folder`. Each file's header is read now, so one that
    is not an image fails before the accelerator is taken."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from .pixels import Pixels

    paths, labels = [], []
    for label, name in enumerate(classes):
        for path in images_in(Path(folder) / name):
            try:
                Image.open(path).close()  # the header only: cheap next to decoding
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(
                    f"--{flag} {folder}: cannot read {path} ({exc}); fix or remove it"
                ) from None
            paths.append(path)
            labels.append(label)

    def read(row: int):
        with Image.open(paths[row]) as image:
            image.load()
            return image

    def unreadable(row: int) -> str:
        return f"--{flag} {folder}: cannot read {paths[row]}"

    pixels = Pixels(read, unreadable, size, np.arange(len(paths)))
    return pixels, np.asarray(labels, np.int32)


def to_pixels(image, size: int):
    """A Pillow image as the model's square RGB input: [size, size, 3] uint8."""
    import numpy as np
    from PIL import Image

    return np.asarray(
        image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), np.uint8
    )


def normalise(pixels):
    """uint8 pixels -> the floats ViT was trained on (works on numpy and jax arrays)."""
    return (pixels.astype("float32") / 255.0 - MEAN) / STD


def processor_config(size: int) -> dict:
    """preprocessor_config.json for the exported model: how to feed it in transformers."""
    return {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": size, "width": size},
        "resample": 2,  # bilinear
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [MEAN] * 3,
        "image_std": [STD] * 3,
    }
