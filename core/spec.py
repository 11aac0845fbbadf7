"""RunSpec: one frozen, validated, serialisable description of a run.

Field names follow the Hugging Face Flax example scripts (run_clm_flax.py and friends)
so their users can reuse their flags. Validation (spec_checks.py) touches only the file system and
small JSON files: it runs before jax, datasets or the accelerator are involved.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SpecError
from .hub.repo_ids import cached_file, hub_id
from .registry import FAMILIES, RECIPES
from .spec_checks import CHECKS, read_config


def _opt(default, help: str, choices: tuple | None = None, form: bool = False):
    """A field: its default, its help (the CLI's and the Launch form's), the values it may
    take, and whether the Launch form shows it (the rest ride along from a relaunch)."""
    return field(default=default, metadata={"help": help, "choices": choices, "form": form})


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run; written to spec.json before launch."""

    recipe: str = _opt("clm", "task recipe (the HF script it replaces)", tuple(RECIPES), form=True)
    model_type: str = _opt("gpt2", "model family", tuple(FAMILIES), form=True)
    model_size: str = _opt(
        "tiny", "named size of the family (ignored with --config_name)", form=True
    )
    config_name: str | None = _opt(
        None, "config to build the model from: a directory, a config.json or a Hub id", form=True
    )
    model_name_or_path: str | None = _opt(
        None, "checkpoint to start from: an HF model directory or a Hub id", form=True
    )
    tokenizer_name: str | None = _opt(
        None,
        "tokenizer: a directory or a Hub id; default: the checkpoint's own, else train one "
        "on the data",
        form=True,
    )
    model_revision: str = _opt("main", "branch, tag or commit of the Hub ids above")
    cache_dir: str | None = _opt(None, "where Hub downloads are kept; default: HF_HOME's cache")
    vocab_size: int = _opt(8000, "vocabulary size when training a tokenizer", form=True)
    train_file: str | None = _opt(
        None,
        "training data: .txt, .json/.jsonl, .csv, or a datasets save_to_disk() folder",
        form=True,
    )
    validation_file: str | None = _opt(
        None, "validation data; default: split off the train file", form=True
    )
    dataset_name: str | None = _opt(
        None,
        "instead of --train_file: a 🤗 dataset by Hub id, or a local dataset folder; its "
        "'train' split trains, its 'validation' split (else a held-out share) evaluates",
        form=True,
    )
    dataset_config_name: str | None = _opt(
        None, "the --dataset_name config (e.g. a language of a multilingual corpus)", form=True
    )
    max_train_samples: int | None = _opt(
        None, "keep the first N training examples (blocks, sentences or images), to debug"
    )
    max_eval_samples: int | None = _opt(None, "keep the first N validation examples")
    validation_split_percentage: int = _opt(
        5, "percent of train_file held out when no validation_file"
    )
    text_column: str = _opt("text", "column holding the text in json/csv files", form=True)
    sentence1_column: str | None = _opt(
        None,
        "text_classification: the text column; default: sentence1, else the first text column",
        form=True,
    )
    sentence2_column: str | None = _opt(
        None,
        "text_classification: the pair's second text; default: sentence2, else a second text "
        "column when sentence1_column is not given",
        form=True,
    )
    label_column: str = _opt(
        "label",
        "text_classification: the labels; strings or integers are classes, floats a regression",
        form=True,
    )
    summary_column: str | None = _opt(
        None, "summarization: the summaries; default: summary, else the second column", form=True
    )
    source_prefix: str | None = _opt(
        None, "summarization: text put before every input (T5's 'summarize: ')", form=True
    )
    train_dir: str | None = _opt(
        None, "image_classification: a folder with one subfolder of images per class", form=True
    )
    validation_dir: str | None = _opt(
        None, "image_classification: validation images, same classes; default: split off", form=True
    )
    image_size: int | None = _opt(
        None,
        "image_classification: the images' side in pixels, resized to it; default: the model "
        "config's image_size (a checkpoint keeps its own)",
        form=True,
    )
    block_size: int | None = _opt(
        None, "clm: tokens per training example; default: model positions", form=True
    )
    max_seq_length: int | None = _opt(
        None,
        "mlm: tokens per training example (default: model positions); t5_mlm: input tokens "
        "after span corruption (default 512); text_classification: longer examples are "
        "truncated (default: 128 or the model's positions if fewer)",
        form=True,
    )
    max_source_length: int | None = _opt(
        None,
        "summarization: input tokens, longer inputs truncated (default: 1024 or the model's "
        "positions if fewer)",
        form=True,
    )
    max_target_length: int = _opt(
        128, "summarization: summary tokens trained on, longer ones truncated", form=True
    )
    val_max_target_length: int | None = _opt(
        None, "summarization: tokens generated at evaluation (default: max_target_length)"
    )
    num_beams: int | None = _opt(
        None,
        "summarization: beams of the evaluation's beam search (default 1: greedy)",
        form=True,
    )
    label_smoothing_factor: float = _opt(0.0, "summarization: label smoothing of the loss")
    mlm_probability: float = _opt(
        0.15, "mlm: the share of tokens masked; t5_mlm: the share in noise spans", form=True
    )
    streaming: bool = _opt(
        False,
        "clm, mlm, t5_mlm: read the training rows as a stream, tokenised and packed as steps "
        "ask for them (no block cache); needs --max_steps",
        form=True,
    )
    line_by_line: bool = _opt(
        False,
        "mlm: each non-empty line (row) an example of its own, framed, truncated to "
        "--max_seq_length and padded, instead of packed blocks",
        form=True,
    )
    mean_noise_span_length: float = _opt(
        3.0, "t5_mlm: the mean length of a noise span, in tokens", form=True
    )
    per_device_train_batch_size: int | None = _opt(
        None, "examples per device per micro-step (default 8)", form=True
    )
    total_train_batch_size: int | None = _opt(
        None, "global examples per optimizer step; split over devices and accumulation"
    )
    per_device_eval_batch_size: int = _opt(8, "examples per device per eval step")
    gradient_accumulation_steps: int = _opt(
        1, "micro-steps summed into one optimizer step", form=True
    )
    learning_rate: float = _opt(3e-4, "peak learning rate", form=True)
    lr_schedule: str = _opt(
        "linear", "decay after warmup", ("linear", "cosine", "constant"), form=True
    )
    warmup_steps: int = _opt(0, "linear warmup steps", form=True)
    adafactor: bool = _opt(
        False, "Adafactor instead of AdamW (optax's defaults, as the HF scripts' --adafactor)"
    )
    weight_decay: float = _opt(0.0, "weight decay (AdamW's, or Adafactor's)")
    adam_beta1: float = _opt(0.9, "AdamW beta1")
    adam_beta2: float = _opt(0.999, "AdamW beta2")
    adam_epsilon: float = _opt(1e-8, "AdamW epsilon")
    gradient_checkpointing: bool = _opt(
        False,
        "recompute each layer's activations for the gradients instead of keeping them: "
        "activation memory of about one layer, for about a third more compute",
    )
    scan_layers: bool = _opt(
        False,
        "run the model's layers as one compiled loop (jax.lax.scan): compile time stays flat "
        "as models get deeper; the same weights and results as unrolled layers",
    )
    max_grad_norm: float = _opt(1.0, "clip gradients to this global norm (0 disables)")
    num_train_epochs: float = _opt(3.0, "epochs to train when max_steps is not set", form=True)
    max_steps: int | None = _opt(
        None, "optimizer steps to train; overrides num_train_epochs", form=True
    )
    logging_steps: int = _opt(10, "emit a step event every N steps", form=True)
    eval_steps: int | None = _opt(
        None, "evaluate every N steps; default: at the end only", form=True
    )
    save_steps: int = _opt(500, "checkpoint every N steps", form=True)
    save_total_limit: int = _opt(2, "checkpoints kept on disk")
    dtype: str = _opt(
        "float32", "compute dtype; weights stay float32", ("float32", "bfloat16"), form=True
    )
    dropout: float = _opt(
        0.1, "dropout probability for residual, embedding and attention", form=True
    )
    seed: int = _opt(42, "seed for init, data order and dropout", form=True)
    platform: str = _opt("auto", "backend the run must use", ("auto", "cpu", "tpu", "gpu"))
    parallelism: str = _opt(
        "pmap",
        "how the step is mapped over devices; fsdp shards the parameters and optimizer state",
        ("pmap", "shard_map", "fsdp"),
        form=True,  # the Launch form says whether the state fits, and fsdp is the fix
    )
    output_dir: str | None = _opt(
        None, "run directory; default: a new one under $TPUDECK_HOME", form=True
    )
    run_name: str | None = _opt(
        None, "human name of the run; default: from model and data", form=True
    )
    push_to_hub: bool = _opt(
        False, "push the model, TensorBoard traces and a card to the Hub", form=True
    )
    hub_model_id: str | None = _opt(
        None, "namespace/name of the Hub repo; default: from run_name", form=True
    )
    hub_private: bool = _opt(False, "create the Hub repo private", form=True)
    hub_strategy: str = _opt(
        "every_save",
        "when to push: at the end, at every save, or at every save with the checkpoint",
        ("end", "every_save", "checkpoint"),
        form=True,
    )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def flags(self) -> list[str]:
        """`tpudeck train` flags that give this spec: its settings other than the defaults
        (what the app hands every worker of a run on several hosts)."""
        flags = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != f.default and value is not None:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                flags += [f"--{f.name}", text]
        return flags

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        """Build and validate a spec; unknown keys are errors (typos must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(f"unknown spec field {unknown[0]!r}: see `tpudeck train --help`")
        spec = cls(**values)
        spec.validate()
        return spec

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunSpec:
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SpecError(f"cannot read spec {path}: {exc}; pass a valid spec.json") from exc
        return cls.from_dict(values)

    def replace(self, **changes) -> RunSpec:
        return RunSpec.from_dict({**self.to_dict(), **changes})

    def validate(self) -> None:
        """Raise SpecError naming the first bad field and its fix."""
        for check in CHECKS:
            check(self)

    def model_config(self) -> dict:
        """The HF-style config dict the model will be built from (vocab_size may be absent).
        A Hub id's comes from the cache: check `config_pending` first."""
        if self.model_name_or_path:  # a checkpoint's shapes are its own
            return self._config_from("model_name_or_path")
        if self.config_name:
            config = self._config_from("config_name")
        else:
            config = dict(FAMILIES[self.model_type].sizes[self.model_size])
        overrides = getattr(RECIPES.get(self.recipe), "config_overrides", None)
        return {**config, **(overrides(self) if overrides else {})}

    def _config_from(self, flag: str) -> dict:
        location = getattr(self, flag)
        repo = hub_id(location)
        found = repo and cached_file(self, repo, "config.json")
        return read_config(str(found or location), f"--{flag}")

    @property
    def config_pending(self) -> str | None:
        """The Hub id whose config the cache lacks (it is downloaded when the run prepares,
        and checked then), else None."""
        location = self.model_name_or_path or self.config_name
        repo = hub_id(location)
        return repo if repo and not cached_file(self, repo, "config.json") else None

    def per_device_batch(self, n_devices: int) -> int:
        """Examples per device per micro-step; a total batch must split evenly over devices."""
        if not self.total_train_batch_size:
            return self.per_device_train_batch_size or 8
        per_step = self.total_train_batch_size // self.gradient_accumulation_steps
        if per_step % n_devices:
            raise SpecError(
                f"--total_train_batch_size {self.total_train_batch_size} does not split over "
                f"{n_devices} devices x {self.gradient_accumulation_steps} accumulation steps; "
                f"use a multiple of {n_devices * self.gradient_accumulation_steps}"
            )
        return per_step // n_devices

    @property
    def pushes_saves(self) -> bool:
        """Does every save push the model (so export it) rather than only the end?"""
        return self.push_to_hub and self.hub_strategy != "end"

    @property
    def training_data(self) -> str | None:
        """Where the training data is: --train_dir for images, else --dataset_name or
        --train_file."""
        if RECIPES[self.recipe].inputs == "images":
            return self.dataset_name or self.train_dir
        return self.dataset_name or self.train_file

    def family_config(self):
        """The model's config as its family reads it (the vocabulary from --vocab_size when
        the config does not say: the tokenizer decides it later)."""
        values = {"vocab_size": self.vocab_size, **self.model_config()}
        return FAMILIES[self.model_type].config(values, self.dropout)

    def example_length(self) -> int:
        """Tokens (or patches) in one example: the recipe's length flag, else its default
        capped at the model's positions."""
        recipe, positions = RECIPES[self.recipe], self.family_config().positions
        if recipe.length_field is None:
            return positions
        return getattr(self, recipe.length_field) or min(
            recipe.default_length or positions, positions
        )


_BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def parse_bool(text: str) -> bool:
    """HF scripts take `--push_to_hub` alone or with true/false; so do we."""
    try:
        return _BOOLEAN_WORDS[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


def field_type(name: str) -> type:
    """The Python type a field's text (a flag, a form input) converts to."""
    annotation = str(next(f for f in dataclasses.fields(RunSpec) if f.name == name).type)
    for kind in (bool, int, float):
        if kind.__name__ in annotation:
            return kind
    return str


def parse_field(name: str, text: str):
    """A field's value from text, or SpecError naming the field and what it wants."""
    kind = field_type(name)
    try:
        return parse_bool(text) if kind is bool else kind(text)
    except ValueError:
        wants = {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, "text")
        raise SpecError(f"--{name} wants {wants}, got {text!r}") from None
