"""The rules a RunSpec must pass, each naming the first bad field and its fix.

They touch only the file system and small JSON files, so a spec validates in milliseconds,
before jax, datasets or the accelerator are involved.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from .data import image_folder, saved_datasets
from .data.text_files import DATA_FILE_TYPES
from .data.tokenizer_files import slow_files
from .errors import SpecError
from .hub.repo_ids import REPO_NAME, hub_id
from .models import weights_file
from .registry import FAMILIES, RECIPES, families_for


def _check_choices(spec) -> None:
    for f in dataclasses.fields(spec):
        choices = f.metadata["choices"]
        value = getattr(spec, f.name)
        if choices and value not in choices:
            raise SpecError(f"--{f.name} {value!r} is not one of: {', '.join(choices)}")
    models = families_for(spec.recipe)
    if spec.model_type not in models:
        raise SpecError(
            f"recipe {spec.recipe!r} trains {', '.join(models)}, not {spec.model_type!r}: "
            "change --model_type or --recipe"
        )
    family = FAMILIES[spec.model_type]
    if spec.model_size not in family.sizes:
        raise SpecError(
            f"--model_size {spec.model_size!r} is not one of: {', '.join(family.sizes)}"
        )
    if spec.scan_layers and family.layers_differ:
        raise SpecError(
            f"--scan_layers: {spec.model_type}'s layers cannot run as one loop "
            f"({family.layers_differ}): drop --scan_layers"
        )


_POSITIVE = (
    "vocab_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "logging_steps",
    "save_steps",
    "save_total_limit",
)


def _check_numbers(spec) -> None:
    for name in _POSITIVE:
        if getattr(spec, name) < 1:
            raise SpecError(f"--{name} must be at least 1, got {getattr(spec, name)}")
    for name in (
        "block_size",
        "max_seq_length",
        "image_size",
        "max_source_length",
        "max_target_length",
        "val_max_target_length",
        "num_beams",
        "max_train_samples",
        "max_eval_samples",
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
    if not 0 < spec.mlm_probability < 1:
        raise SpecError(f"--mlm_probability must be between 0 and 1, got {spec.mlm_probability}")
    if spec.mean_noise_span_length < 1:
        raise SpecError(
            f"--mean_noise_span_length must be at least 1 token, got {spec.mean_noise_span_length}"
        )
    if not 0 <= spec.label_smoothing_factor < 1:
        raise SpecError(
            f"--label_smoothing_factor must be in [0, 1), got {spec.label_smoothing_factor}"
        )
    if not 0 <= spec.dropout < 1:
        raise SpecError(f"--dropout must be in [0, 1), got {spec.dropout}")
    if not 0 < spec.validation_split_percentage < 100:
        raise SpecError("--validation_split_percentage must be between 1 and 99")
    if spec.max_steps is None and not spec.num_train_epochs > 0:
        raise SpecError("--num_train_epochs must be positive (or set --max_steps)")


def _check_files(spec) -> None:
    if RECIPES[spec.recipe].inputs == "images":
        _check_image_folders(spec)
    else:
        _check_text_files(spec)
    tokenizer = spec.tokenizer_name
    if (
        tokenizer
        and not hub_id(tokenizer)
        and not Path(tokenizer, "tokenizer.json").is_file()
        and not slow_files(tokenizer)
    ):
        raise SpecError(
            f"--tokenizer_name {tokenizer}: no tokenizer.json (nor vocab.json, vocab.txt, "
            "...) there; pass an HF tokenizer dir or Hub id, or omit it to train one"
        )


def _check_text_files(spec) -> None:
    if spec.dataset_name:
        _check_dataset_name(spec)
        return
    if not spec.train_file:
        raise SpecError(
            "--train_file is required: pass a .txt, .jsonl or .csv file, a --dataset_name "
            "(or --demo)"
        )
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


def _check_streaming(spec) -> None:
    if not spec.streaming:
        return
    streamed = [name for name, recipe in RECIPES.items() if "streaming" in recipe.data_fields]
    if spec.recipe not in streamed:
        raise SpecError(f"--streaming: {spec.recipe} reads its rows into memory (only "
                        f"{', '.join(streamed)} stream); omit --streaming")  # fmt: skip
    if not spec.max_steps:
        raise SpecError("--streaming needs --max_steps: a stream's length is known at its end")
    if spec.line_by_line:
        raise SpecError("--streaming packs blocks; --line_by_line reads lines: omit one")
    saved = next(
        (p for p in (spec.train_file, spec.dataset_name) if p and saved_datasets.kind(p)), None
    )
    if saved:
        raise SpecError(f"--streaming: {saved} is a saved dataset, read from disk as it is "
                        "needed already; omit --streaming")  # fmt: skip


def _check_dataset_name(spec) -> None:
    """A Hub id is looked up when the run prepares; a local name must be a folder."""
    if spec.train_file or spec.validation_file:
        raise SpecError(
            "pass --dataset_name or --train_file/--validation_file, not both: the HF scripts "
            "would ignore the files"
        )
    name = spec.dataset_name
    if not hub_id(name) and not Path(name).is_dir():
        raise SpecError(
            f"--dataset_name {name}: no such folder, and not a Hub dataset id (org/name); "
            "check the path or the id"
        )
    if "/" not in name and not Path(name).is_dir():  # the Hub moved them under their owners
        raise SpecError(
            f"--dataset_name {name}: the Hub names datasets org/name now (OSCAR is "
            "oscar-corpus/oscar); pass the full id from the dataset's Hub page"
        )


def _check_image_folders(spec) -> None:
    if spec.dataset_name:
        if spec.train_dir or spec.validation_dir:
            raise SpecError("pass --dataset_name or --train_dir/--validation_dir, not both")
        _check_dataset_name(spec)
        return
    if not spec.train_dir:
        raise SpecError(
            f"--train_dir is required for {spec.recipe}: a folder with one subfolder "
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


def _check_model(spec) -> None:
    """The model's config and weights; a Hub id's are checked once downloaded."""
    if spec.config_pending:
        return
    config = spec.model_config()
    if spec.model_name_or_path and not hub_id(spec.model_name_or_path):
        problem = weights_file.problem(spec.model_name_or_path)
        if problem == weights_file.NO_WEIGHTS:
            raise SpecError(
                f"--model_name_or_path {spec.model_name_or_path}: {problem}; "
                "pass an HF checkpoint dir or Hub id"
            )
        if problem:
            raise SpecError(
                f"--model_name_or_path {spec.model_name_or_path} is damaged: {problem}; "
                "download or export it again"
            )
    kind = config.get("model_type", spec.model_type)
    if kind != spec.model_type:
        raise SpecError(
            f"the model config is a {kind} model, not {spec.model_type}: pass --model_type {kind}"
        )
    model = spec.family_config()
    model.check()
    _check_length_flag(spec)
    flag = RECIPES[spec.recipe].length_field
    length = flag and getattr(spec, flag)
    if length and length > model.positions:
        raise SpecError(
            f"--{flag} {length} is larger than the model's {model.positions} positions: "
            f"lower --{flag} or pick a larger model"
        )
    recipe_check = getattr(RECIPES[spec.recipe], "check", None)
    if recipe_check:  # what only the recipe knows (summarization's target lengths)
        recipe_check(spec, model)


def _check_length_flag(spec) -> None:
    """Each HF script names its example length its own way; a recipe takes only its own."""
    flag = RECIPES[spec.recipe].length_field
    script = RECIPES[spec.recipe].script
    for other in sorted({r.length_field for r in RECIPES.values()} - {None, flag}):
        if getattr(spec, other) is not None:
            takes = f"takes --{flag} (as {script} names it)" if flag else "has no length flag"
            raise SpecError(f"{spec.recipe} {takes}, not --{other}: pass that instead")


def _check_output(spec) -> None:
    if spec.output_dir is None:
        return
    path = Path(spec.output_dir)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise SpecError(
            f"--output_dir {spec.output_dir} is not writable (at {existing}): "
            "choose a directory you can write to"
        )


def _check_hub(spec) -> None:
    if spec.hub_model_id and not REPO_NAME.match(spec.hub_model_id):
        raise SpecError(
            f"--hub_model_id {spec.hub_model_id!r} is not a Hub repo name: use namespace/name "
            "with letters, digits, '-', '_' or '.'"
        )
    if spec.hub_model_id and ("--" in spec.hub_model_id or ".." in spec.hub_model_id):
        raise SpecError(f"--hub_model_id {spec.hub_model_id!r}: the Hub forbids '--' and '..'")


def read_config(location: str, flag: str) -> dict:
    path = Path(location)
    if path.is_dir():
        path = path / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(
            f"{flag} {location}: no config.json there; pass an HF model dir or Hub id"
        ) from None
    except (OSError, ValueError) as exc:
        raise SpecError(
            f"{flag} {location}: unreadable config.json ({exc}); fix or replace it"
        ) from None


CHECKS = (_check_choices, _check_numbers, _check_files, _check_streaming, _check_model,
          _check_output, _check_hub)  # fmt: skip
