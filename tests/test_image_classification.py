"""The image_classification recipe: image folders in, a ViT that opens in transformers out."""

import dataclasses
import json
import os

import numpy as np
import pytest
from PIL import Image

from tpudeck.core.data import pixels as pixels_module
from tpudeck.core.data.image_folder import class_names, load_images, normalise, to_pixels
from tpudeck.core.errors import DataError, SpecError
from tpudeck.core.spec import RunSpec

from .builders import make_image_folder, tpudeck


def test_an_image_folder_decodes_only_the_images_a_batch_reads(tmp_path, monkeypatch):
    folder = make_image_folder(tmp_path / "images", per_class=3)
    assert class_names(folder) == ["blue", "green", "red"]
    decoded = []
    monkeypatch.setattr(pixels_module, "to_pixels",
                        lambda image, size: decoded.append(image) or to_pixels(image, size))  # fmt: skip
    pixels, labels = load_images(folder, class_names(folder), 32, "train_dir")
    assert pixels.shape == (9, 32, 32, 3) and pixels.dtype == np.uint8  # a quarter of floats
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and decoded == []  # none read yet
    batch = pixels[np.array([0, 8])]
    assert batch.shape == (2, 32, 32, 3) and len(decoded) == 2
    assert batch[0, ..., 2].mean() > batch[0, ..., 0].mean() + 100  # a "blue" image is blue
    assert batch[1, ..., 0].mean() > batch[1, ..., 2].mean() + 100  # and a "red" one red
    held_out = pixels.take(np.array([3, 4]))  # a split: still nothing decoded
    assert len(held_out) == 2 and len(decoded) == 2
    assert held_out[0:2].shape == (2, 32, 32, 3) and len(decoded) == 4
    normalised = normalise(batch)
    assert normalised.dtype == np.float32
    assert normalised.min() >= -1.0 and normalised.max() <= 1.0
    truncated = sorted((folder / "green").iterdir())[0]
    truncated.write_bytes(truncated.read_bytes()[:60])  # its header reads, its pixels do not
    pixels, _ = load_images(folder, class_names(folder), 32, "train_dir")
    with pytest.raises(DataError, match=f"cannot read {truncated} .*; fix or remove it"):
        pixels[np.arange(9)]


def spec(**values) -> RunSpec:
    return RunSpec(recipe="image_classification", model_type="vit", model_size="demo", **values)


def test_bad_image_folders_fail_in_one_line_naming_the_fix(tmp_path):
    with pytest.raises(SpecError, match="--train_dir is required for image_classification"):
        spec().validate()
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(SpecError, match="has 0 class subfolders with images; put each class"):
        spec(train_dir=str(tmp_path / "flat")).validate()
    train = make_image_folder(tmp_path / "train", per_class=2)
    other = make_image_folder(tmp_path / "other", per_class=2)
    (other / "red").rename(other / "crimson")
    with pytest.raises(
        SpecError, match=r"--validation_dir classes \(blue, crimson, green\) differ"
    ):
        spec(train_dir=str(train), validation_dir=str(other)).validate()
    with pytest.raises(SpecError, match="recipe 'image_classification' trains vit, not 'gpt2'"):
        RunSpec(recipe="image_classification", train_dir=str(train)).validate()
    (train / "red" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read .*broken\.png .*; fix or remove it"):
        load_images(train, class_names(train), 32, "train_dir")


@pytest.mark.slow
def test_train_a_vit_on_an_image_folder_and_open_it_in_transformers(tmp_path):
    import torch
    from transformers import AutoImageProcessor, ViTForImageClassification

    folder = make_image_folder(tmp_path / "images")
    run = tmp_path / "run"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = tpudeck("train", "--recipe", "image_classification", "--model_type", "vit",
                     "--model_size", "demo", "--train_dir", str(folder), "--validation_split_percentage", "25",
                     "--per_device_train_batch_size", "8", "--max_steps", "60", "--logging_steps", "10",
                     "--eval_steps", "30", "--learning_rate", "1e-3", "--dropout", "0", "--platform", "cpu",
                     "--output_dir", str(run), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["kind"] == "step"]
    evals = [e for e in events if e["kind"] == "eval"]
    assert steps[-1]["loss"] < steps[0]["loss"] / 2
    assert evals[-1]["accuracy"] == 1.0 and evals[-1]["step"] == 60
    model = ViTForImageClassification.from_pretrained(run / "model").eval()
    assert model.config.id2label == {0: "blue", 1: "green", 2: "red"}
    processor = AutoImageProcessor.from_pretrained(run / "model")
    image = Image.open(folder / "green" / "3.png")
    with torch.no_grad():
        logits = model(**processor(image, return_tensors="pt")).logits
    assert model.config.id2label[int(logits.argmax())] == "green"


async def test_the_launch_screen_picks_an_image_folder_and_sizes_the_run(tmp_path, monkeypatch):
    from tpudeck.tui.app import TpudeckApp
    from tpudeck.tui.screens.picker import PathPicker

    from .builders import judged, text_of, wait_for

    make_image_folder(tmp_path / "work" / "pets", per_class=2)
    monkeypatch.chdir(tmp_path / "work")
    values = {"recipe": "image_classification", "model_type": "vit", "model_size": "demo"}
    app = TpudeckApp(launch_values=values)
    async with app.run_test(size=(140, 45)) as pilot:
        await judged(pilot)
        assert "--train_dir is required" in text_of(app, "#error")
        app.screen.query_one("#train_dir").focus()
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPicker), 10)
        tree = app.screen.query_one("#path-tree")
        await wait_for(pilot, lambda: len(tree.root.children) == 1, 10)
        await pilot.press("down", "ctrl+o")
        await wait_for(pilot, lambda: not isinstance(app.screen, PathPicker), 10)
        assert app.screen.query_one("#train_dir").value == str(tmp_path / "work" / "pets")
        await wait_for(pilot, lambda: "ready to launch" in text_of(app, "#error"), 10)
        summary, preview = text_of(app, "#summary"), text_of(app, "#preview")
        assert "image_classification vit-demo" in summary and "of 32x32 images" in summary
        assert "classes: blue, green, red" in preview and "blue: 2 images" in preview


async def test_picking_the_recipe_picks_a_family_and_size_it_trains():
    from tpudeck.tui.app import TpudeckApp

    from .builders import wait_for

    app = TpudeckApp(launch_values={"model_size": "small"})
    async with app.run_test(size=(140, 45)) as pilot:
        app.screen.query_one("#recipe").value = "image_classification"
        await wait_for(pilot, lambda: app.screen.query_one("#model_type").value == "vit", 5)
        assert app.screen.query_one("#model_size").value == "small"  # ViT has a small too
        shown = {name: app.screen.query_one(f"#{name}").display
                 for name in ("train_dir", "validation_dir", "train_file", "text_column")}  # fmt: skip
        assert shown == {"train_dir": True, "validation_dir": True, "train_file": False,
                         "text_column": False}  # the image recipe's data fields only  # fmt: skip
        app.screen.query_one("#model_size").value = "base"
        app.screen.query_one("#recipe").value = "clm"
        await wait_for(pilot, lambda: app.screen.query_one("#model_type").value == "gpt2", 5)
        await wait_for(pilot, lambda: app.screen.query_one("#model_size").value == "demo", 5)
        assert app.screen.query_one("#train_file").display
        assert not app.screen.query_one("#train_dir").display


def test_a_checkpoint_with_other_classes_fine_tunes_with_a_new_head(tmp_path):
    import jax

    from tpudeck.core.models.family import get_family
    from tpudeck.core.models.vit_config import SIZES as VIT_SIZES
    from tpudeck.core.recipes.image_classification import RECIPE
    from tpudeck.core.runs.rundir import RunDir

    vit = get_family("vit")
    five_classes = vit.config({**VIT_SIZES["demo"], "num_labels": 5})
    pretrained = vit.init_params(five_classes, jax.random.key(3), 0)
    vit.save(tmp_path / "ckpt", five_classes, pretrained)
    folder = make_image_folder(tmp_path / "images", per_class=4)
    run_spec = spec(train_dir=str(folder), model_name_or_path=str(tmp_path / "ckpt"))
    data = RECIPE.prepare(run_spec, RunDir(tmp_path / "run"))
    params = RECIPE.build(run_spec, data).init_params(jax.random.key(0))
    assert params["classifier"]["kernel"].shape == (64, 3)  # our three colours
    np.testing.assert_array_equal(
        params["patch_projection"]["kernel"], pretrained["patch_projection"]["kernel"]
    )
    size = five_classes.image_size
    with pytest.raises(SpecError, match=f"position embeddings are for {size}x{size} images"):
        dataclasses.replace(run_spec, image_size=2 * size).validate()


@pytest.mark.slow
def test_train_a_vit_on_an_image_dataset_with_an_image_column(tmp_path):
    """What the imagefolder builder and Hub image datasets give: an Image column and a
    ClassLabel, here as parquet splits in a local dataset folder."""
    import datasets

    images = make_image_folder(tmp_path / "images", per_class=12)
    features = datasets.Features({"image": datasets.Image(),
                                  "label": datasets.ClassLabel(names=["red", "green", "blue"])})  # fmt: skip
    folder = tmp_path / "colours" / "data"
    folder.mkdir(parents=True)
    for split, rows in (("train", slice(0, 9)), ("validation", slice(9, 12))):
        paths = {n: sorted((images / n).glob("*.png"))[rows] for n in ("red", "green", "blue")}
        table = datasets.Dataset.from_dict(
            {"image": [str(p) for n in paths for p in paths[n]],
             "label": [i for i, n in enumerate(paths) for _ in paths[n]]}, features=features)  # fmt: skip
        table.to_parquet(folder / f"{split}-00000.parquet")
    run = tmp_path / "run"
    result = tpudeck("train", "--recipe", "image_classification", "--model_type", "vit",
                     "--model_size", "demo", "--dataset_name", str(tmp_path / "colours"),
                     "--image_size", "16", "--per_device_train_batch_size", "2", "--max_steps", "3",
                     "--platform", "cpu", "--output_dir", str(run))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "27 training and 9 validation images of 3 classes (red, green, blue) at 16x16" in (
        result.stderr
    )  # --image_size, as run_image_classification.py takes it
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "red", "1": "green", "2": "blue"}
    assert config["image_size"] == 16
    text_only = tmp_path / "texts"
    text_only.mkdir()
    (text_only / "train.csv").write_text("text,label\na,0\nb,1\n")
    refused = tpudeck("train", "--recipe", "image_classification", "--model_type", "vit",
                      "--dataset_name", str(text_only), "--platform", "cpu")  # fmt: skip
    assert (
        refused.returncode == 2 and "has no image column (columns: text, label)" in refused.stderr
    )
