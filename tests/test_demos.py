"""Every recipe has an offline demo, from the CLI (`--demo --recipe NAME`) and from the
Launch screen (ctrl+d), whose loss visibly falls in a minute on a CPU."""

import pytest

from tpudeck.core.registry import RECIPES, families_for
from tpudeck.core.runs.rundir import RunDir

from .builders import text_of, tpudeck, wait_for


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_recipe_has_a_demo_whose_loss_falls(recipe, tmp_path):
    run = RunDir(tmp_path / recipe)
    result = tpudeck("train", "--demo", "--recipe", recipe, "--max_steps", "80", "--eval_steps",
                     "80", "--platform", "cpu", "--output_dir", str(run.path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    losses = [event["loss"] for event in run.read_events("step")]
    assert losses[-1] < 0.8 * losses[0], losses
    assert RunDir(run.path).read_status()["state"] == "finished"


async def test_ctrl_d_fills_the_form_with_the_picked_recipes_demo():
    from tpudeck.tui.app import TpudeckApp

    app = TpudeckApp(launch_values={})
    async with app.run_test(size=(140, 45)) as pilot:
        app.screen.query_one("#recipe").value = "image_classification"
        await pilot.pause()
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: "ready to launch" in text_of(app, "#error"), 10)
        form = app.screen
        assert form.query_one("#model_type").value == families_for("image_classification")[0]
        assert form.query_one("#model_size").value == "demo"
        assert form.query_one("#train_dir").value.endswith("demo/images")
        assert "3 classes" in text_of(app, "#preview") or "red" in text_of(app, "#preview")
