"""The Launch form's estimate: what a spec will run and roughly what it costs (parameters,
optimizer state per device, global batch, tokens), before anything is launched."""

from __future__ import annotations

from textual.markup import escape

from tpudeck.core.data import image_folder
from tpudeck.core.devices.memory_fit import fit_note
from tpudeck.core.errors import TpudeckError
from tpudeck.core.registry import FAMILIES, RECIPES
from tpudeck.core.spec import RunSpec


def _config(spec: RunSpec):
    """The spec's model config (a family's ModelConfig)."""
    config = spec.family_config()
    if RECIPES[spec.recipe].inputs == "images":  # the classifier has the folder's classes
        classes = len(image_folder.class_names(spec.train_dir or ""))
        config = FAMILIES[spec.model_type].config({**config.to_hf(), "num_labels": classes or 2})
    return config


def describe(spec: RunSpec, devices: int, where: str) -> str:
    """What will run and roughly what it costs, before anything is launched."""
    if spec.config_pending:
        return (
            f"[b]{spec.recipe}[/b] {spec.model_type} from the Hub's "
            f"[b]{escape(spec.config_pending)}[/b]: downloaded (into HF_HOME's cache) and "
            "checked when the run prepares, before it takes the accelerator; sized then"
        )
    config, head, tokens = _config(spec), RECIPES[spec.recipe].head, spec.example_length()
    try:
        per_device = spec.per_device_batch(devices)
    except TpudeckError as exc:
        return f"[b]✗[/b] {escape(str(exc))}"
    global_batch = per_device * devices * spec.gradient_accumulation_steps
    if spec.max_steps:
        steps = (
            f"{spec.max_steps:,} steps = {amount(spec.max_steps * global_batch * tokens)} tokens"
        )
    else:
        steps = f"{spec.num_train_epochs:g} epochs"
    return (
        f"[b]{spec.recipe}[/b] {spec.model_type}-{spec.model_size}: "
        f"{config.param_count(head) / 1e6:,.1f}M parameters, "
        f"{fit_note(config, head, spec.parallelism, spec.platform, devices)}\n"
        f"{devices} devices ({where}) x {per_device} per device x {spec.gradient_accumulation_steps} "
        f"accumulation = global batch {global_batch} of {config.example_name(tokens)}; {steps}; "
        f"{spec.dtype}; "
        f"lr {spec.learning_rate:g} ({spec.lr_schedule})" + _describe_push(spec)
    )


def amount(count: float) -> str:
    """12,800 -> "12.8k", 3.1e9 -> "3.1G": a figure that never reads 0.0M."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:,.1f}{unit}"
    return f"{count:,.0f}"


def _describe_push(spec: RunSpec) -> str:
    if not spec.push_to_hub:
        return ""
    repo = spec.hub_model_id or "your-namespace/<run name>"
    when = {"end": "at the end", "every_save": "at every save", "checkpoint": "at every save, with the checkpoint"}  # fmt: skip
    return (
        f"\npushes to the Hub as {escape(repo)} {when[spec.hub_strategy]}"
        f"{' (private)' if spec.hub_private else ''}; token from HF_TOKEN or `hf auth login`"
    )
