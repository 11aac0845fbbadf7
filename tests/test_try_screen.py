"""The Try screen beyond one prompt (#16): a checkpoint answers beside the export on the
same input, the generation settings above the input are the ones used, and an image to
classify is picked from the run's data with the keyboard. Each model runs in its own
worker process, as the app never imports an ML library."""

import shutil

from textual.widgets import Input

from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.trying.checkpoints import checkpoint_model
from tpudeck.core.trying.model import Generation, TriedModel
from tpudeck.tui.app import TpudeckApp
from tpudeck.tui.screens.dialogs import PickOne
from tpudeck.tui.screens.picker import PathPicker
from tpudeck.tui.screens.try_model import TryScreen

from .builders import open_try, text_of, wait_for

PROMPT = "On Monday Ada and the"


async def test_a_checkpoint_answers_beside_the_export_with_the_settings_given(
    finished_run_template, tpudeck_home
):
    run = RunDir(shutil.copytree(finished_run_template, tpudeck_home / "runs" / "r-0001"))
    settings = Generation(max_new_tokens=6, num_beams=2)
    app = TpudeckApp()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_try(pilot, app, "text-generation")
        assert screen.query_one("#try-settings").display  # a task that generates
        screen.query_one("#max_new_tokens", Input).value = "6"
        screen.query_one("#num_beams", Input).value = "0"  # a number the model refuses
        screen.query_one("#try-input", Input).focus()
        await pilot.press(*PROMPT, "enter")
        await wait_for(pilot, lambda: "must be at least 1" in text_of(app, "#try-answer"), 10)
        screen.query_one("#num_beams", Input).value = "2"
        screen.query_one("#try-input", Input).value = ""
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, PickOne), 10)
        assert app.screen.options == ["step 4", "step 2"]  # the newest first
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: "step 2 · text-generation" in text_of(app, "#beside-status"),
                       120)  # fmt: skip
        screen.query_one("#try-input", Input).focus()
        await pilot.press(*PROMPT, "enter")
        export = TriedModel(run.model_dir).generate(PROMPT, settings)["text"]
        step_2 = TriedModel(checkpoint_model(run, 2)).generate(PROMPT, settings)["text"]
        await wait_for(pilot, lambda: text_of(app, "#try-answer").strip() == export.strip(), 60)
        await wait_for(pilot, lambda: text_of(app, "#beside-answer").strip() == step_2.strip(), 60)
        screen.query_one("#num_beams", Input).value = ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: "num_beams needs a number" in text_of(app, "#try-error"), 5)
        await pilot.press("escape")  # leave, and come back: the last settings sent are offered
        screen = await open_try(pilot, app, "text-generation")
        assert screen.query_one("#max_new_tokens", Input).value == "6"
        assert screen.query_one("#num_beams", Input).value == "2"


async def test_an_image_is_picked_from_the_runs_data_and_classified(trained_demo, tpudeck_home):
    demo = trained_demo("image_classification")
    shutil.copytree(demo.path, tpudeck_home / "runs" / "r-0001")
    app = TpudeckApp()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_try(pilot, app, "image-classification")
        assert not screen.query_one("#try-settings").display  # nothing to generate
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPicker), 10)
        tree = app.screen.query_one("#path-tree")
        await wait_for(pilot, lambda: len(tree.root.children) >= 2)  # the class folders
        first_class = tree.root.children[0]
        await pilot.press("down", "enter")  # opens the first class's folder
        await wait_for(pilot, lambda: len(first_class.children) > 0)
        image = first_class.children[0].data.path
        await pilot.press("down", "enter")  # picks its first image
        await wait_for(pilot, lambda: isinstance(app.screen, TryScreen), 10)
        assert screen.query_one("#try-input", Input).value == str(image)
        best = TriedModel(demo.model_dir).classify_image(image)[0]
        await wait_for(pilot, lambda: text_of(app, "#try-answer").startswith(
            f"{best['score']:.3f}  {best['label']}"), 60)  # fmt: skip


REVIEW = "Ada said the visit to the river with the small cat was wonderful."  # positive


async def test_the_classifier_a_run_trained_gives_the_trained_label_on_the_screen(
    trained_demo, tpudeck_home
):
    """The demo's reviews are judged by one word ("wonderful": positive); the demo run
    learns them (accuracy 1.0 at step 50), and the screen shows every label with its
    score, the trained one first, as TriedModel gives them."""
    demo = trained_demo("text_classification")
    shutil.copytree(demo.path, tpudeck_home / "runs" / "r-0001")
    expected = TriedModel(demo.model_dir).classify(REVIEW)
    assert expected[0]["label"] == "positive"
    app = TpudeckApp()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_try(pilot, app, "text-classification")
        assert not screen.query_one("#try-settings").display
        await pilot.press(*REVIEW, "enter")
        shown = "\n".join(f"{row['score']:.3f}  {row['label']}" for row in expected)
        await wait_for(pilot, lambda: text_of(app, "#try-answer").strip() == shown, 60)


async def test_fill_mask_on_the_screen_names_the_learned_colour(colours_run, tpudeck_home):
    shutil.copytree(colours_run, tpudeck_home / "runs" / "r-0001")
    expected = TriedModel(colours_run / "model").fill_mask("rose <mask>")
    app = TpudeckApp()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_try(pilot, app, "fill-mask")
        assert not screen.query_one("#try-settings").display
        await pilot.press(*"rose <mask>", "enter")
        await wait_for(pilot, lambda: text_of(app, "#try-answer").strip() != "...", 60)
        lines = text_of(app, "#try-answer").strip().splitlines()
        assert lines[0].split() == [f"{expected[0]['score']:.3f}", "red", "rose", "red"]
        assert len(lines) == len(expected) == 5


async def test_a_summary_streams_onto_the_screen_as_the_model_writes_it(trained_demo, tpudeck_home):
    demo = trained_demo("summarization")
    shutil.copytree(demo.path, tpudeck_home / "runs" / "r-0001")
    text = "On Monday Ada and the small cat went to the river and found a red boat."
    expected = TriedModel(demo.model_dir).generate(text, Generation(max_new_tokens=12))["text"]
    app = TpudeckApp()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_try(pilot, app, "summarization")
        screen.query_one("#max_new_tokens", Input).value = "12"
        screen.query_one("#try-input", Input).focus()
        await pilot.press(*text, "enter")
        await wait_for(pilot, lambda: text_of(app, "#try-answer").strip() == expected.strip(), 60)
        pane = screen.query_one("#pane-try")
        assert pane.pieces >= 2  # it came piece by piece, not as one answer
