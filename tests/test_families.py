"""Every family and named size, read from the registry alone: a spec validates, the
estimate counts the parameters the initialised model of each head has (and its largest
weight), and the HF round trip holds. A new family is covered by its registry line."""

import jax
import numpy as np
import pytest

from tpudeck.core.models.family import get_family
from tpudeck.core.registry import FAMILIES, RECIPES, families_for
from tpudeck.core.spec import RunSpec

from .builders import make_image_folder

WALK = [(family, size) for family, d in FAMILIES.items() for size in d.sizes]
ROUND_TRIP_LIMIT = 30e6  # parameters: larger sizes are checked abstractly only


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("images"), per_class=2)


@pytest.mark.parametrize(("family", "size"), WALK, ids=[f"{f}-{s}" for f, s in WALK])
def test_every_family_and_size(family, size, demo_corpus, images, tmp_path):
    recipe = next(r for r in RECIPES if family in families_for(r))
    data = {"train_dir": str(images)} if RECIPES[recipe].inputs == "images" else {
        "train_file": str(demo_corpus)}  # fmt: skip
    spec = RunSpec.from_dict(
        {"recipe": recipe, "model_type": family, "model_size": size, "vocab_size": 300, **data}
    )
    config = spec.family_config()
    ours = get_family(family)
    length = min(config.positions, 8)
    for head in FAMILIES[family].heads:
        shapes = jax.eval_shape(
            lambda h=head: ours.init_params(config, jax.random.key(0), length, h)
        )
        sizes = [int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes)]
        assert config.param_count(head) == sum(sizes), head
        assert config.largest_weight(head) == max(sizes), head
        if sum(sizes) > ROUND_TRIP_LIMIT:
            continue
        params = ours.init_params(config, jax.random.key(0), length, head)
        ours.save(tmp_path / head, config, params, head)
        loaded_config, loaded = ours.load(tmp_path / head, head)
        assert loaded_config.to_hf() == config.to_hf()
        for want, got in zip(jax.tree.leaves(params), jax.tree.leaves(loaded), strict=True):
            np.testing.assert_array_equal(np.asarray(want), got)


def test_every_recipe_is_trained_by_some_family():
    for name, recipe in RECIPES.items():
        assert families_for(name), f"no family has a {recipe.head!r} head for {name}"
        assert recipe.inputs in ("text", "images") and recipe.script.endswith(".py")
