"""Image classification (run_image_classification.py): a ViT on an image folder, or on an
image dataset (--dataset_name: a Hub id or a local dataset folder with an Image column).

Classes are the folder's subfolders (or the dataset's label names); without a validation
folder or split a seeded share of the images is held out. Evaluation reports loss and accuracy. The export opens in
transformers as ViTForImageClassification with its preprocessor_config.json. A checkpoint
with other classes fine-tunes with a new classifier head.
"""

from __future__ import annotations

import json

from ..data import image_folder
from ..errors import DataError, SpecError
from ..models.labels import HF_KEYS, ClassLabels
from .base import TaskData, TaskModel, weighted_sums


class ImageClassification:
    name = "image_classification"
    head = "image_classification"
    inputs = "images"
    script = "run_image_classification.py"
    data_fields = ("train_dir", "validation_dir", "dataset_name", "dataset_config_name",
                   "label_column", "image_size")  # fmt: skip
    length_field = None
    default_length = None
    examples_in_files = False

    def config_overrides(self, spec) -> dict:
        """run_image_classification.py's --image_size sets the config's, as here; a
        checkpoint's position embeddings are for its own size (see check)."""
        return {"image_size": spec.image_size} if spec.image_size else {}

    def check(self, spec, model) -> None:
        if spec.image_size and spec.image_size != model.image_size:
            raise SpecError(
                f"--image_size {spec.image_size}: the checkpoint's position embeddings are for "
                f"{model.image_size}x{model.image_size} images; omit --image_size"
            )

    def demo_data(self, folder) -> dict:
        from ..data.demo_images import write_demo_images

        images = folder / "images"
        if not images.exists():
            write_demo_images(images)
        return {"train_dir": str(images)}

    def prepare(self, spec, run_dir) -> TaskData:
        import numpy as np

        config = spec.model_config()
        size = config["image_size"]
        if spec.dataset_name:
            classes, (pixels, labels), held_out = _dataset_images(spec, size)
            source = f"--dataset_name {spec.dataset_name}"
        else:
            classes = image_folder.class_names(spec.train_dir)
            pixels, labels = image_folder.load_images(spec.train_dir, classes, size, "train_dir")
            held_out = None
            if spec.validation_dir:
                held_out = image_folder.load_images(
                    spec.validation_dir, classes, size, "validation_dir"
                )
            source = f"--train_dir {spec.train_dir}"
        if held_out is not None:
            train = (pixels, labels)
        else:
            order = np.random.default_rng(spec.seed).permutation(len(labels))
            cut = max(1, len(labels) * spec.validation_split_percentage // 100)
            if cut >= len(labels):
                raise DataError(
                    f"{source} has {len(labels)} images, too few to hold out a validation "
                    "split; add images or give it a validation split"
                )
            held_out = (pixels.take(order[:cut]), labels[order[:cut]])
            train = (pixels.take(order[cut:]), labels[order[cut:]])
        return TaskData(
            train={"pixel_values": train[0], "labels": train[1]},
            eval={"pixel_values": held_out[0], "labels": held_out[1]},
            tokens_per_example=(size // config["patch_size"]) ** 2 + 1,  # patches + CLS
            model_config={**config, **ClassLabels(tuple(classes)).to_hf()},
            tokenizer_dir=None,
            summary=f"{len(train[1])} training and {len(held_out[1])} validation images of "
            f"{len(classes)} classes ({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}) "
            f"at {size}x{size}",
        )

    def build(self, spec, data: TaskData) -> TaskModel:
        import jax
        import jax.numpy as jnp
        import optax

        from ..models.family import get_family

        family = get_family(spec.model_type)
        labels = {k: data.model_config[k] for k in HF_KEYS}
        # The classes are this data's, whatever the checkpoint was trained on: a 1000-class
        # ImageNet ViT fine-tuned on 3 pets gets a new classifier head.
        start = family.start(spec, data.model_config, self.head, keep=labels)
        config = start.config
        module = start.module(spec)

        def example_losses(params, batch, rng):
            deterministic = rng is None
            rngs = None if deterministic else {"dropout": rng}
            images = image_folder.normalise(batch["pixel_values"])
            logits_BxF = module.apply({"params": params}, images, deterministic, rngs=rngs)
            losses_B = optax.softmax_cross_entropy_with_integer_labels(logits_BxF, batch["labels"])
            return losses_B, jnp.argmax(logits_BxF, -1) == batch["labels"]

        def loss(params, batch, rng):
            return example_losses(params, batch, rng)[0].mean(), {}

        def eval_sums(params, batch):
            losses_B, correct_B = example_losses(params, batch, None)
            return weighted_sums(batch["weights"], loss=losses_B, accuracy=correct_B)

        def export(params, directory):
            family.save(directory, config, jax.device_get(params), self.head)
            processor = image_folder.processor_config(config.image_size)
            (directory / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))

        return TaskModel(
            init_params=lambda rng: start.params(rng, 0),
            loss=loss,
            eval_sums=eval_sums,
            eval_report=dict,
            flops_per_example=config.flops_per_example(config.positions, self.head),
            param_count=config.param_count(self.head),
            export=export,
        )


def _dataset_images(spec, size: int):
    """(classes, training pixels and labels, validation ones or None) of --dataset_name."""
    from ..data import image_rows
    from ..data.text_files import load_tables

    tables = load_tables(spec)
    classes = image_rows.class_names(tables.train, spec.label_column, tables.train_source)
    train = image_rows.load_rows(tables.train, classes, size, spec.label_column,
                                 tables.train_source)  # fmt: skip
    if tables.eval is None:
        return classes, train, None
    held_out = image_rows.load_rows(
        tables.eval, classes, size, spec.label_column, tables.eval_source
    )
    return classes, train, held_out


RECIPE = ImageClassification()
