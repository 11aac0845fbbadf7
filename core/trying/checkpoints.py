"""Any checkpoint of a run as a model to try: its parameters exported on first use, as an
HF checkpoint folder beside the run's other outputs (`tried/step-N`), with the config and
tokenizer of the run's export. Written to a temp folder and renamed, so a reader never
sees half of one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import SpecError
from ..models.hf_io import read_config
from ..runs.rundir import RunDir, list_steps
from .tasks import family_and_head

# What a model folder holds beside its weights and config, copied from the run's export.
_BESIDE = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
           "preprocessor_config.json")  # fmt: skip


def checkpoint_model(run_dir: RunDir, step: int) -> Path:
    folder = run_dir.tried_dir / f"step-{step}"
    if (folder / "config.json").is_file():
        return folder
    steps = list_steps(run_dir.checkpoints_dir)
    if step not in steps:
        have = ", ".join(map(str, steps)) or "none yet"
        raise SpecError(
            f"run {run_dir.run_id} has no checkpoint at step {step} (it has: {have}); "
            "pass one of those"
        )
    if not (run_dir.model_dir / "config.json").is_file():
        raise SpecError(f"run {run_dir.run_id} has no exported model to take the config from")
    from ..models.family import get_family
    from ..train.checkpoints import read_state

    state = read_state(run_dir.checkpoints_dir, step)
    values = read_config(run_dir.model_dir)
    name, head = family_and_head(values, str(run_dir.model_dir))
    family = get_family(name)
    temp = run_dir.tried_dir / f".tmp-step-{step}-{os.getpid()}"
    family.save(temp, family.config(values), state["params"], head)
    for file in _BESIDE:
        if (run_dir.model_dir / file).is_file():
            shutil.copy2(run_dir.model_dir / file, temp / file)
    try:
        os.replace(temp, folder)
    except OSError:  # another process exported it first
        shutil.rmtree(temp, ignore_errors=True)
    return folder
