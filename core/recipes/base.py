"""The seam between the generic pmap trainer and a task.

A recipe prepares data without touching jax (so every data error surfaces before the
accelerator is taken), then builds a TaskModel whose pure functions the trainer pmaps.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..registry import RECIPES


@dataclasses.dataclass
class TaskData:
    """Numpy examples for training and evaluation, and what the model needs to know of them."""

    train: dict[str, np.ndarray]
    eval: dict[str, np.ndarray]
    tokens_per_example: int
    model_config: dict  # HF-style config values, vocabulary included
    tokenizer_dir: Path | None
    summary: str  # one line for the log: what was loaded


@dataclasses.dataclass
class TaskModel:
    """Pure functions over params; `loss` and `eval_sums` run per device inside pmap."""

    init_params: Callable[[Any], dict]  # rng -> params
    # (params, batch, dropout rng) -> (scalar loss, dict of scalar metrics)
    loss: Callable[[dict, dict, Any], tuple[Any, dict]]
    # (params, batch with "weights") -> dict of sums, including "weight"
    eval_sums: Callable[[dict, dict], dict]
    # means of eval sums -> metrics to report (e.g. perplexity)
    eval_report: Callable[[dict], dict]
    flops_per_example: float
    param_count: int
    export: Callable[[dict, Path], None]  # params, directory -> HF checkpoint + tokenizer


class Recipe(Protocol):
    name: str

    def prepare(self, spec, run_dir) -> TaskData: ...

    def build(self, spec, data: TaskData) -> TaskModel: ...


def get_recipe(name: str) -> Recipe:
    module_name, _ = RECIPES[name]
    return importlib.import_module(f"{__package__}.{module_name}").RECIPE
