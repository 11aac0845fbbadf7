"""RunSpec: one frozen, validated, serialisable description of a run.

Field names follow the Hugging Face Flax example scripts (run_clm_flax.py and friends)
so their users can reuse their flags. Validation here touches only the file system and
small JSON files: it runs before jax, datasets or the accelerator are involved.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .data import image_folder, saved_datasets
from .errors import SpecError
from .registry import DATA_FILE_TYPES, MODEL_SIZES, RECIPES


def _opt(default, help: str, choices: tuple | None = None):
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run; written to spec.json before launch."""

    recipe: str = _opt("clm", "task recipe (the HF script it replaces)", tuple(RECIPES))
    model_type: str = _opt("gpt2", "model family", tuple(MODEL_SIZES))
    model_size: str = _opt("tiny", "named size of the family (ignored with --config_name)")
    config_name: str | None = _opt(None, "local directory or config.json to take the config from")
    model_name_or_path: str | None = _opt(None, "local HF checkpoint dir to start from")
    tokenizer_name: str | None = _opt(None, "local tokenizer dir; default: train one on the data")
    vocab_size: int = _opt(8000, "vocabulary size when training a tokenizer")
    train_file: str | None = _opt(
        None, "training data: .txt, .json/.jsonl, .csv, or a datasets save_to_disk() folder"
    )
    validation_file: str | None = _opt(None, "validation data; default: split off the train file")
    validation_split_percentage: int = _opt(
        5, "percent of train_file held out when no validation_file"
    )
    text_column: str = _opt("text", "column holding the text in json/csv files")
    train_dir: str | None = _opt(
        None, "image_classification: a folder with one subfolder of images per class"
    )
    validation_dir: str | None = _opt(
        None, "image_classification: validation images, same classes; default: split off"
    )
    block_size: int | None = _opt(None, "tokens per training example; default: model positions")
    per_device_train_batch_size: int | None = _opt(
        None, "examples per device per micro-step (default 8)"
    )
    total_train_batch_size: int | None = _opt(
        None, "global examples per optimizer step; split over devices and accumulation"
    )
    per_device_eval_batch_size: int = _opt(8, "examples per device per eval step")
    gradient_accumulation_steps: int = _opt(1, "micro-steps summed into one optimizer step")
    learning_rate: float = _opt(3e-4, "peak learning rate")
    lr_schedule: str = _opt("linear", "decay after warmup", ("linear", "cosine", "constant"))
    warmup_steps: int = _opt(0, "linear warmup steps")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    adam_beta1: float = _opt(0.9, "AdamW beta1")
    adam_beta2: float = _opt(0.999, "AdamW beta2")
    adam_epsilon: float = _opt(1e-8, "AdamW epsilon")
    max_grad_norm: float = _opt(1.0, "clip gradients to this global norm (0 disables)")
    num_train_epochs: float = _opt(3.0, "epochs to train when max_steps is not set")
    max_steps: int | None = _opt(None, "optimizer steps to train; overrides num_train_epochs")
    logging_steps: int = _opt(10, "emit a step event every N steps")
    eval_steps: int | None = _opt(None, "evaluate every N steps; default: at the end only")
    save_steps: int = _opt(500, "checkpoint every N steps")
    save_total_limit: int = _opt(2, "checkpoints kept on disk")
    dtype: str = _opt("float32", "compute dtype; weights stay float32", ("float32", "bfloat16"))
    dropout: float = _opt(0.1, "dropout probability for residual, embedding and attention")
    seed: int = _opt(42, "seed for init, data order and dropout")
    platform: str = _opt("auto", "backend the run must use", ("auto", "cpu", "tpu", "gpu"))
    parallelism: str = _opt("pmap", "how the step is mapped over devices", ("pmap", "shard_map"))
    output_dir: str | None = _opt(None, "run directory; default: a new one under $TPUDECK_HOME")
    run_name: str | None = _opt(None, "human name of the run; default: from model and data")
    push_to_hub: bool = _opt(False, "push the model, TensorBoard traces and a card to the Hub")
    hub_model_id: str | None = _opt(None, "namespace/name of the Hub repo; default: from run_name")
    hub_private: bool = _opt(False, "create the Hub repo private")
    hub_strategy: str = _opt(
        "every_save",
        "when to push: at the end, at every save, or at every save with the checkpoint",
        ("end", "every_save", "checkpoint"),
    )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

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
        for check in (
            _check_choices,
            _check_numbers,
            _check_files,
            _check_model,
            _check_output,
            _check_hub,
        ):
            check(self)

    def model_config(self) -> dict:
        """The HF-style config dict the model will be built from (vocab_size may be absent)."""
        if self.model_name_or_path:
            return _read_config(self.model_name_or_path, "--model_name_or_path")
        if self.config_name:
            return _read_config(self.config_name, "--config_name")
        return dict(MODEL_SIZES[self.model_type][self.model_size])

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
    def training_data(self) -> str | None:
        """The training data's path: --train_dir for images, else --train_file."""
        return self.train_dir if self.recipe == "image_classification" else self.train_file

    def resolved_block_size(self) -> int:
        return self.block_size or _positions(self.model_config(), self.model_type)


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


def _check_choices(spec: RunSpec) -> None:
    for f in dataclasses.fields(spec):
        choices = f.metadata["choices"]
        value = getattr(spec, f.name)
        if choices and value not in choices:
            raise SpecError(f"--{f.name} {value!r} is not one of: {', '.join(choices)}")
    models = RECIPES[spec.recipe][1]
    if spec.model_type not in models:
        raise SpecError(
            f"recipe {spec.recipe!r} trains {', '.join(models)}, not {spec.model_type!r}: "
            "change --model_type or --recipe"
        )
    sizes = MODEL_SIZES[spec.model_type]
    if spec.model_size not in sizes:
        raise SpecError(f"--model_size {spec.model_size!r} is not one of: {', '.join(sizes)}")


_POSITIVE = (
    "vocab_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "logging_steps",
    "save_steps",
    "save_total_limit",
)


def _check_numbers(spec: RunSpec) -> None:
    for name in _POSITIVE:
        if getattr(spec, name) < 1:
            raise SpecError(f"--{name} must be at least 1, got {getattr(spec, name)}")
    for name in (
        "block_size",
        "max_steps",
        "eval_steps",
        "per_device_train_batch_size",
        "total_train_batch_size",
    ):
        value = getattr(spec, name)
        if value is not None and value < 1:
            raise SpecError(f"--{name} must be at least 1 (or left unset), got {value}")
    if spec.per_device_train_batch_size and spec.total_train_batch_size:
        raise SpecError("pass --per_device_train_batch_size or --total_train_batch_size, not both")
    if (
        spec.total_train_batch_size
        and spec.total_train_batch_size % spec.gradient_accumulation_steps
    ):
        raise SpecError(
            f"--total_train_batch_size {spec.total_train_batch_size} is not divisible by "
            f"--gradient_accumulation_steps {spec.gradient_accumulation_steps}"
        )
    if not spec.learning_rate > 0:
        raise SpecError(f"--learning_rate must be positive, got {spec.learning_rate}")
    if spec.warmup_steps < 0 or spec.weight_decay < 0 or spec.max_grad_norm < 0:
        raise SpecError("--warmup_steps, --weight_decay and --max_grad_norm cannot be negative")
    if not 0 <= spec.dropout < 1:
        raise SpecError(f"--dropout must be in [0, 1), got {spec.dropout}")
    if not 0 < spec.validation_split_percentage < 100:
        raise SpecError("--validation_split_percentage must be between 1 and 99")
    if spec.max_steps is None and not spec.num_train_epochs > 0:
        raise SpecError("--num_train_epochs must be positive (or set --max_steps)")


def _check_files(spec: RunSpec) -> None:
    if spec.recipe == "image_classification":
        _check_image_folders(spec)
    else:
        _check_text_files(spec)
    if spec.tokenizer_name and not Path(spec.tokenizer_name, "tokenizer.json").is_file():
        raise SpecError(
            f"--tokenizer_name {spec.tokenizer_name}: no tokenizer.json there; "
            "pass a local HF tokenizer dir or omit it to train one"
        )


def _check_text_files(spec: RunSpec) -> None:
    if not spec.train_file:
        raise SpecError("--train_file is required: pass a .txt, .jsonl or .csv file (or --demo)")
    for flag in ("train_file", "validation_file"):
        path = getattr(spec, flag)
        if path is None:
            continue
        if Path(path).is_dir():
            if not saved_datasets.kind(path):
                raise SpecError(
                    f"--{flag} {path} is a folder but not a saved 🤗 dataset (no "
                    "dataset_dict.json or state.json); pass a data file or a save_to_disk() folder"
                )
            continue
        if not Path(path).is_file():
            raise SpecError(f"--{flag} {path}: no such file; check the path")
        if Path(path).stat().st_size == 0:
            raise SpecError(f"--{flag} {path} is empty; add data to it")
        if Path(path).suffix.lower() not in DATA_FILE_TYPES:
            kinds = ", ".join(DATA_FILE_TYPES)
            raise SpecError(f"--{flag} {path}: unsupported file type; use one of {kinds}")


def _check_image_folders(spec: RunSpec) -> None:
    if not spec.train_dir:
        raise SpecError(
            "--train_dir is required for image_classification: a folder with one subfolder "
            "of images per class"
        )
    classes = {}
    for flag in ("train_dir", "validation_dir"):
        path = getattr(spec, flag)
        if path is None:
            continue
        if not Path(path).is_dir():
            raise SpecError(f"--{flag} {path}: no such folder; check the path")
        classes[flag] = image_folder.class_names(path)
        if len(classes[flag]) < 2:
            raise SpecError(
                f"--{flag} {path} has {len(classes[flag])} class subfolders with images; "
                "put each class's images in a subfolder of its own (at least two classes)"
            )
    if "validation_dir" in classes and classes["validation_dir"] != classes["train_dir"]:
        raise SpecError(
            f"--validation_dir classes ({', '.join(classes['validation_dir'])}) differ from "
            f"--train_dir's ({', '.join(classes['train_dir'])}); use the same subfolders"
        )


def _check_model(spec: RunSpec) -> None:
    config = spec.model_config()
    if spec.model_name_or_path and not Path(spec.model_name_or_path, "model.safetensors").is_file():
        raise SpecError(
            f"--model_name_or_path {spec.model_name_or_path}: no model.safetensors there; "
            "pass a local HF checkpoint dir"
        )
    kind = config.get("model_type", spec.model_type)
    if kind != spec.model_type:
        raise SpecError(
            f"the model config is a {kind} model, not {spec.model_type}: pass --model_type {kind}"
        )
    if spec.model_type == "vit":
        if config["image_size"] % config["patch_size"]:
            raise SpecError("the model config's image_size must be a multiple of patch_size")
        if config["hidden_size"] % config["num_attention_heads"]:
            raise SpecError(
                "the model config's hidden_size must be divisible by num_attention_heads"
            )
        return
    positions = _positions(config, spec.model_type)
    if positions is None:
        raise SpecError(
            f"the model config has no position count: is it a {spec.model_type} config?"
        )
    if spec.block_size and spec.block_size > positions:
        raise SpecError(
            f"--block_size {spec.block_size} is larger than the model's {positions} positions: "
            "lower --block_size or pick a larger model"
        )
    width, heads = (config.get(k) for k in _WIDTH_AND_HEADS[spec.model_type])
    if width % heads:
        raise SpecError(f"the model config's width {width} must be divisible by its {heads} heads")


_WIDTH_AND_HEADS = {
    "gpt2": ("n_embd", "n_head"),
    "bert": ("hidden_size", "num_attention_heads"),
    "roberta": ("hidden_size", "num_attention_heads"),
}


def _positions(config: dict, model_type: str) -> int | None:
    """How many tokens the model can see: GPT-2's n_positions, BERT's
    max_position_embeddings, RoBERTa's less the ones before its first (pad id + 1)."""
    if "n_positions" in config:
        return config["n_positions"]
    positions = config.get("max_position_embeddings")
    if positions and model_type == "roberta":
        return positions - config.get("pad_token_id", 1) - 1
    return positions


def _check_output(spec: RunSpec) -> None:
    if spec.output_dir is None:
        return
    path = Path(spec.output_dir)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise SpecError(
            f"--output_dir {spec.output_dir} is not writable (at {existing}): "
            "choose a directory you can write to"
        )


# The Hub's rule for repo names: letters, digits, - _ . ; at most 96 characters.
_HUB_NAME = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]{0,95}$")


def _check_hub(spec: RunSpec) -> None:
    if spec.hub_model_id and not _HUB_NAME.match(spec.hub_model_id):
        raise SpecError(
            f"--hub_model_id {spec.hub_model_id!r} is not a Hub repo name: use namespace/name "
            "with letters, digits, '-', '_' or '.'"
        )
    if spec.hub_model_id and ("--" in spec.hub_model_id or ".." in spec.hub_model_id):
        raise SpecError(f"--hub_model_id {spec.hub_model_id!r}: the Hub forbids '--' and '..'")


def _read_config(location: str, flag: str) -> dict:
    path = Path(location)
    if path.is_dir():
        path = path / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(
            f"{flag} {location}: no config.json there; pass a local HF model dir"
        ) from None
    except (OSError, ValueError) as exc:
        raise SpecError(
            f"{flag} {location}: unreadable config.json ({exc}); fix or replace it"
        ) from None
