"""The image input pipeline beside the step it feeds: images/s and peak host memory of
tpudeck's per-batch decoding (a pool of threads decoding the rows a batch reads) and of
decoding every image at the start (what tpudeck did before, one thread), in the same run,
and the images/s a ViT-base train step consumes on this machine.

The images are JPEGs of 500x375 (a photo's usual size), resized to 224 as ViT-base takes
them. Each way runs in a fresh process; peak RSS is its ru_maxrss.

    python bench/image_pipeline.py [--images 2000] [--batch 64]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from fresh_process import measure

SIZE = 224

UP_FRONT = """
import resource, sys, time, json
import numpy as np
from PIL import Image
from tpudeck.core.data.image_folder import class_names, images_in, to_pixels
folder, size = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
pixels = []
for name in class_names(folder):
    for path in images_in(__import__("pathlib").Path(folder) / name):
        with Image.open(path) as image:
            pixels.append(to_pixels(image, size))
pixels = np.stack(pixels)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"images_per_s": len(pixels) / seconds, "peak_gib": peak}))
"""

PER_BATCH = """
import resource, sys, time, json
from tpudeck.core.data.batching import StepBatches
from tpudeck.core.data.image_folder import class_names, load_images
folder, size, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
pixels, labels = load_images(folder, class_names(folder), size, "train_dir")
batches = StepBatches({"pixel_values": pixels, "labels": labels}, batch, seed=0)
for step in range(batches.steps_per_epoch):
    batches.batch(step, (batch,))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
images = batches.steps_per_epoch * batch
print(json.dumps({"images_per_s": images / seconds, "peak_gib": peak}))
"""

STEP = """
import json, sys, tempfile, time
import jax, numpy as np
from tpudeck.core.models.vit_config import SIZES
from tpudeck.core.models.labels import ClassLabels
from tpudeck.core.recipes.base import TaskData
from tpudeck.core.recipes.image_classification import RECIPE
from tpudeck.core.spec import RunSpec
from tpudeck.core.train.optimizer import make_optimizer, make_schedule
from tpudeck.core.train.parallel import make_parallel
from tpudeck.core.train.step import StepConstants, TrainState
size, batch, steps = int(sys.argv[1]), int(sys.argv[2]), 3
pixels = np.random.default_rng(0).integers(0, 255, (1, 1, batch, size, size, 3), np.uint8)
labels = np.zeros((1, 1, batch), np.int32)
config = {**SIZES["base"], **ClassLabels(tuple("abcd")).to_hf()}
data = TaskData({"pixel_values": pixels, "labels": labels}, {}, 197, config, None, "")
spec = RunSpec(recipe="image_classification", model_type="vit", model_size="base")
model = RECIPE.build(spec, data)
schedule = make_schedule(spec, 100)
dp = make_parallel("pmap", jax.devices()[:1], spec, model)
state = dp.put_state(TrainState.create(model.init_params(jax.random.key(0)),
                                       make_optimizer(spec, schedule)))
constants = StepConstants.of_seed(1, schedule)
state, metrics = dp.train_step(state, data.train, constants)
dp.host_metrics(metrics)
start = time.perf_counter()
for _ in range(steps):
    state, metrics = dp.train_step(state, data.train, constants)
dp.host_metrics(metrics)
print(json.dumps({"images_per_s": steps * batch / (time.perf_counter() - start),
                  "device": jax.devices()[0].device_kind}))
"""


def write_images(folder: Path, count: int) -> None:
    """`count` JPEGs of 500x375 in four class folders: gradients with noise, so they
    compress like photos rather than flat colour."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 500)[None, :, None] * np.ones((375, 1, 3))
    for i in range(count):
        tint = rng.integers(0, 255, 3)
        pixels = (ramp * 0.5 + tint * 0.5 + rng.normal(0, 20, (375, 500, 3))).clip(0, 255)
        target = folder / f"class{i % 4}"
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.astype(np.uint8)).save(target / f"{i}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--step_batch", type=int, default=8, help="ViT-base step's batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        write_images(folder, args.images)
        up_front = measure(UP_FRONT, str(folder), str(SIZE))
        per_batch = measure(PER_BATCH, str(folder), str(SIZE), str(args.batch))
    step = measure(STEP, str(SIZE), str(args.step_batch))
    print(f"{args.images} JPEGs of 500x375 -> {SIZE}x{SIZE}, batches of {args.batch}")
    print(f"{'way':<36} {'images/s':>9} {'peak GiB':>9}")
    for name, row in (("all at the start, one thread (before)", up_front),
                      ("per batch, a pool of threads (now)", per_batch)):  # fmt: skip
        print(f"{name:<36} {row['images_per_s']:>9.0f} {row['peak_gib']:>9.2f}")
    print(f"{'ViT-base train step (' + step['device'] + ')':<36} {step['images_per_s']:>9.1f}")
    print(f"the pipeline decodes {per_batch['images_per_s'] / step['images_per_s']:.0f}x what "
          "the step consumes here")  # fmt: skip


if __name__ == "__main__":
    main()
