"""The embedded demos: for each recipe, the demo size of a family it trains on data built
offline (a story corpus, a folder of coloured images), trained in minutes on a CPU."""

from __future__ import annotations

from .registry import RECIPES, families_for
from .runs.home import tpudeck_home

DEMO_LENGTH = 64  # tokens in an example, for the recipes that take a length
# Values a user would otherwise pass as flags; flags given with --demo override them.
DEMO_SETTINGS = {
    "run_name": "demo-gpt2",
    "model_type": "gpt2",
    "model_size": "demo",
    "vocab_size": 512,
    "learning_rate": 3e-3,
    "warmup_steps": 30,
    "lr_schedule": "cosine",
    "max_steps": 600,
    "logging_steps": 10,
    "eval_steps": 100,
    "save_steps": 200,
    "dropout": 0.0,
}


def demo_settings(recipe: str = "clm") -> dict:
    """The spec values of `recipe`'s demo, its data written under $TPUDECK_HOME/demo if missing."""
    family, length = families_for(recipe)[0], RECIPES[recipe].length_field
    data = RECIPES[recipe].demo_data(tpudeck_home() / "demo")
    return {**DEMO_SETTINGS, "recipe": recipe, "model_type": family, "run_name": f"demo-{family}",
            **({length: DEMO_LENGTH} if length else {}), **data}  # fmt: skip


def new_run_spec(given: dict, demo: bool):
    """The spec of a new run: the flags given, over the demo's settings with --demo."""
    from .spec import RunSpec

    base = demo_settings(given.get("recipe", "clm")) if demo else {}
    return RunSpec.from_dict({**base, **given})
