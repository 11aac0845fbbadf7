"""The embedded image demo: a folder of small generated images in three colour classes.

Each image is noise with one bright channel, so a demo ViT learns the classes in a minute on
a CPU; written offline, once, like the demo corpus.
"""

from __future__ import annotations

import os
from pathlib import Path

CLASSES = {"red": 0, "green": 1, "blue": 2}  # class -> the channel its images are bright in


def write_demo_images(folder: str | Path, per_class: int = 60, side: int = 32) -> Path:
    """Write the class subfolders under `folder` (atomically: a temp folder renamed)."""
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    rng = np.random.default_rng(0)
    for name, channel in CLASSES.items():
        (tmp / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 110, (side, side, 3))
            pixels[..., channel] += 140
            Image.fromarray(pixels.astype(np.uint8)).save(tmp / name / f"{i:03d}.png")
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, folder)
    return folder
