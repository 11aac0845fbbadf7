"""The seam between the generic pmap trainer and a task.

A recipe describes itself (its name, the model head it trains, what its examples are made
of, the Hugging Face script it replaces) and imports nothing heavy until used: registry.py
lists it for spec checks and the Launch form. It prepares data without touching jax (so
every data error surfaces before the accelerator is taken), then builds a TaskModel whose
pure functions the trainer pmaps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol


@dataclasses.dataclass
class TaskData:
    """Numpy examples for training and evaluation, and what the model needs to know of them."""

    train: dict[str, Any]  # name -> numpy array, examples first
    eval: dict[str, Any]
    tokens_per_example: int
    model_config: dict  # HF-style config values, vocabulary included
    tokenizer_dir: Path | None
    summary: str  # one line for the log: what was loaded

    def limited(self, train: int | None, held_out: int | None) -> TaskData:
        """The first `train` training and `held_out` validation examples (None: all), as
        --max_train_samples and --max_eval_samples ask."""
        if train is None and held_out is None:
            return self
        kept = dataclasses.replace(self, train=_first(self.train, train),
                                   eval=_first(self.eval, held_out))  # fmt: skip
        sizes = (len(next(iter(d.values()))) for d in (kept.train, kept.eval))
        return dataclasses.replace(
            kept, summary=self.summary + "; kept {:,} and {:,} of them".format(*sizes)
        )


def _first(arrays: dict[str, Any], n: int | None) -> dict[str, Any]:
    return {name: array[:n] for name, array in arrays.items()}


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
    # For metrics that are not sums (F1, correlations): per-example outputs of (params,
    # batch), and the metrics of every validation example's outputs, in example order.
    eval_outputs: Callable[[dict, dict], dict] | None = None
    eval_scores: Callable[[dict], dict] | None = None


# The spec fields naming text data and its tokenizer, which every text recipe shows.
TEXT_DATA_FIELDS = ("tokenizer_name", "vocab_size", "train_file", "validation_file",
                    "dataset_name", "dataset_config_name")  # fmt: skip


class Recipe(Protocol):
    name: str
    head: str  # the model head it trains; the families that have one can run it
    inputs: Literal["text", "images"]  # what an example is made of: files or image folders
    script: str  # the Hugging Face example script it replaces
    data_fields: tuple[str, ...]  # the spec fields naming its data: the Launch form shows them
    length_field: str | None  # the flag setting an example's tokens (None: the model decides)
    default_length: int | None  # its value when unset (None: the model's positions)
    # Whether its prepared examples are files the trainer maps (the token-block cache):
    # then a child process prepares them, and the trainer never holds the data libraries,
    # the tokenizer or the corpus. Examples held in memory would come back as a copy.
    examples_in_files: bool

    def demo_data(self, folder: Path) -> dict:
        """Spec values naming its demo data, written under `folder` if missing."""

    def prepare(self, spec, run_dir) -> TaskData: ...

    def build(self, spec, data: TaskData) -> TaskModel: ...


def weighted_sums(weights_B, **per_example_B) -> dict:
    """A recipe's eval sums: each per-example value times its weight (0 on the last
    batch's padding), summed, and the total weight the trainer divides by."""
    import jax.numpy as jnp

    sums = {name: jnp.sum(values_B * weights_B) for name, values_B in per_example_B.items()}
    return {**sums, "weight": jnp.sum(weights_B)}


def demo_corpus(folder: Path) -> dict:
    """The text recipes' demo data: the story corpus."""
    from ..data.demo_corpus import write_demo_corpus

    corpus = folder / "stories.txt"
    if not corpus.exists():
        write_demo_corpus(corpus)
    return {"train_file": str(corpus)}
