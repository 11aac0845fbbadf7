"""Paste an HF script's command line (issue #14): `tpudeck train -- python run_clm_flax.py
...` runs what the script would, its recipe picked from the script's name and the tpudeck
command shown; the Launch screen fills its form from a pasted line."""

from tpudeck.core.pasted import train_arguments
from tpudeck.core.registry import RECIPES
from tpudeck.core.spec import RunSpec
from tpudeck.tui.app import TpudeckApp

from .builders import judged, one_line_error, text_of, tpudeck, wait_for

WORKED_EXAMPLE = """python run_mlm_flax.py \\
    --output_dir="./norwegian-roberta-base" \\
    --model_type="roberta" --config_name="./norwegian-roberta-base" \\
    --tokenizer_name="./norwegian-roberta-base" \\
    --dataset_name="oscar-corpus/oscar" --dataset_config_name="unshuffled_deduplicated_no" \\
    --max_seq_length="128" --weight_decay="0.01" \\
    --per_device_train_batch_size="128" --per_device_eval_batch_size="128" \\
    --learning_rate="3e-4" --warmup_steps="1000" --overwrite_output_dir \\
    --pad_to_max_length --num_train_epochs="18" --adam_beta1="0.9" --adam_beta2="0.98" \\
    --logging_steps="500" --save_steps="2500" --eval_steps="2500" --push_to_hub"""


def test_a_pasted_command_line_runs_as_the_script_would(tmp_path, demo_corpus):
    run = tmp_path / "pasted"
    done = tpudeck("train", "--output_dir", str(run), "--", "python",
                   "examples/flax/language-modeling/run_clm_flax.py", "--model_type", "gpt2",
                   "--model_size", "demo", f"--train_file={demo_corpus}", "--block_size", "32",
                   "--max_train_steps", "2", "--do_train", "--platform", "cpu")  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = f"tpudeck: as `tpudeck train --output_dir {run} --recipe clm --model_type gpt2"
    assert shown in done.stderr
    spec = RunSpec.load(run / "spec.json")
    assert (spec.recipe, spec.max_steps, spec.block_size) == ("clm", 2, 32)
    for recipe in RECIPES.values():  # each of the six scripts has its recipe
        line = ["python", f"examples/{recipe.script}", "--num_train_epochs", "3"]
        assert train_arguments(line) == ["--recipe", recipe.name, "--num_train_epochs", "3"]
    other = one_line_error(tpudeck("train", "--", "python", "train.py"))
    assert "train.py is not one of the HF Flax scripts" in other


async def test_the_launch_screen_fills_its_form_from_a_pasted_line():
    app = TpudeckApp(launch_values={"recipe": "clm"})
    async with app.run_test(size=(140, 45)) as pilot:
        app.screen.query_one("#pasted").value = WORKED_EXAMPLE
        app.screen.query_one("#pasted").focus()
        await pilot.press("enter")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#recipe").value == "mlm", 10)
        assert screen.query_one("#model_type").value == "roberta"
        assert screen.query_one("#dataset_name").value == "oscar-corpus/oscar"
        assert screen.query_one("#max_seq_length").value == "128"
        assert screen.query_one("#push_to_hub").value is True
        assert screen.hidden["adam_beta2"] == 0.98  # no field of its own: it rides along
        notes = " ".join(str(n.message) for n in app._notifications)
        assert "--pad_to_max_length: tpudeck pads every batch" in notes
        await judged(pilot)  # the config dir does not exist here: named in one line
        assert "./norwegian-roberta-base: no tokenizer.json (nor" in text_of(app, "#error")
        screen.query_one("#pasted").value = "python run_mlm_flax.py --learning_rate fast"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "--learning_rate: invalid" in " ".join(
            str(n.message) for n in app._notifications), 10)  # fmt: skip
