"""Every recipe has an offline demo, from the CLI (`--demo --recipe NAME`) and from the
Launch screen (ctrl+d), whose loss visibly falls in a minute on a CPU."""

import pytest

from tpudeck.core.registry import RECIPES, families_for

from .builders import judged, text_of


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_recipe_has_a_demo_whose_loss_falls(recipe, trained_demo):
    run = trained_demo(recipe)  # `tpudeck train --demo --recipe RECIPE`, 50 to 100 steps
    losses = [event["loss"] for event in run.read_events("step")]
    assert losses[-1] < 0.8 * losses[0], losses
    assert run.read_status()["state"] == "finished"


@pytest.mark.parametrize("recipe", list(RECIPES))
async def test_ctrl_d_fills_the_form_with_the_picked_recipes_demo(recipe):
    """The form shows the picked recipe's data fields only (from its descriptor), and
    ctrl+d fills them with its demo, ready to launch."""
    from tpudeck.tui.app import TpudeckApp
    from tpudeck.tui.launch_form import DATA_DEPENDENT

    app = TpudeckApp(launch_values={})
    async with app.run_test(size=(140, 45)) as pilot:
        app.screen.query_one("#recipe").value = recipe
        await pilot.pause()
        form = app.screen
        shown = {name for name in DATA_DEPENDENT if form.query_one(f"#{name}").display}
        assert shown == set(RECIPES[recipe].data_fields)
        await pilot.press("ctrl+d")
        await judged(pilot)
        assert "ready to launch" in text_of(app, "#error")
        assert form.query_one("#model_type").value == families_for(recipe)[0]
        assert form.query_one("#model_size").value == "demo"
        data = RECIPES[recipe].demo_data(app.store.home / "demo")
        for name, value in data.items():
            assert form.query_one(f"#{name}").value == str(value)
        assert f"{recipe} {families_for(recipe)[0]}-demo" in text_of(app, "#summary")
        assert text_of(app, "#preview").strip()
