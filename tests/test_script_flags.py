"""Every flag of the six HF Flax scripts is accepted by `tpudeck train` (issue #14): the
same spec field, another name for one, accepted with a line saying what tpudeck does
instead; none is "unrecognized" or refused, and the
README's table says which for each."""

import dataclasses
import re
from pathlib import Path

import jax
import pytest

from tpudeck.core.cli import build_parser
from tpudeck.core.script_flags import FLAGS, SCRIPTS, readme_table, take_script_flags
from tpudeck.core.spec import RunSpec, field_type
from tpudeck.core.train.checkpoints import read_state

from .builders import one_line_error, tpudeck

LAUNCH_FLAGS = {"overwrite_output_dir", "hub_token"}  # `tpudeck train` flags, not spec fields
SPEC_FIELDS = {f.name for f in dataclasses.fields(RunSpec)} | LAUNCH_FLAGS
EXAMPLE = {bool: "true", int: "3", float: "0.5", str: "x"}
ALL_FLAGS = sorted({name for flags in SCRIPTS.values() for name in flags.split()})


def example(name: str) -> list[str]:
    """A value the flag takes: its first choice, else one of its type."""
    if name == "overwrite_output_dir":
        return []
    if name in FLAGS or name == "hub_token":
        return [EXAMPLE[FLAGS[name].kind if name in FLAGS else str]]
    choices = next(f for f in dataclasses.fields(RunSpec) if f.name == name).metadata["choices"]
    return [choices[0] if choices else EXAMPLE[field_type(name)]]


@pytest.mark.parametrize("name", ALL_FLAGS)
def test_every_flag_of_the_six_scripts_parses(name):
    assert name in SPEC_FIELDS or name in FLAGS, name
    args = build_parser().parse_args(["train", f"--{name}", *example(name)])
    assert hasattr(args, name)
    flag = FLAGS.get(name)
    assert flag is None or [flag.field, flag.instead, flag.sets].count(None) == 2


def test_the_readme_table_is_the_codes():
    readme = Path(__file__).parents[1].joinpath("README.md").read_text()
    table = re.search(r"<!-- script-flags -->\n(.*?)\n<!-- /script-flags -->", readme, re.S)
    assert table and table[1] == readme_table(SPEC_FIELDS), "regenerate the README's table"


def test_other_names_set_their_field_and_notes_say_what_happens_instead(tmp_path, demo_corpus):
    run = tmp_path / "glue-style"
    done = tpudeck("train", "--train_file", str(demo_corpus), "--model_size", "demo",
                   "--max_train_steps", "2", "--num_warmup_steps", "1", "--do_train", "--do_eval",
                   "--max_train_samples", "64", "--max_eval_samples", "8",
                   "--preprocessing_num_workers", "4", "--adafactor", "--gradient_checkpointing",
                   "--platform", "cpu", "--output_dir", str(run))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "tpudeck: --do_train: tpudeck always trains" in done.stderr
    assert "--preprocessing_num_workers: tpudeck tokenises in batches" in done.stderr
    assert "kept 64 and 8 of them" in done.stderr  # --max_train_samples, --max_eval_samples
    spec = RunSpec.load(run / "spec.json")
    assert (spec.max_steps, spec.warmup_steps, spec.max_train_samples) == (2, 1, 64)
    assert spec.adafactor and spec.gradient_checkpointing
    state = str(jax.tree.structure(read_state(run / "checkpoints", 2)["opt_state"]))
    assert "'v_row'" in state and "'mu'" not in state  # Adafactor's moments, not AdamW's
    glue, _, _ = take_script_flags({"task_name": "mnli"})  # mnli's validation_matched: below
    assert glue == {"dataset_name": "nyu-mll/glue", "dataset_config_name": "mnli"}
    assert "another name for --max_steps: pass one" in one_line_error(
        tpudeck("train", "--demo", "--max_train_steps", "3", "--max_steps", "3")
    )
