"""Checks that need the prepared data but no device: they run before the accelerator lock.

How many devices jax will see is mostly known without starting it (devices/expected.py),
so a batch that does not split over them, data smaller than one global batch, or a
training state too big for the devices' memory is refused while the accelerator is still
free for others. The trainer checks again once the
backend is up, for the counts only jax knows (GPUs).
"""

from __future__ import annotations

from ..devices.expected import expected_devices
from ..devices.memory_fit import does_not_fit
from ..errors import DataError, SpecError
from ..registry import FAMILIES, RECIPES
from ..runs.rundir import list_steps
from .checkpoints import verify


def check_global_batch(spec, n_examples: int, n_devices: int) -> None:
    """The global batch splits over the devices and the data fills at least one."""
    per_device = spec.per_device_batch(n_devices)
    global_batch = n_devices * spec.gradient_accumulation_steps * per_device
    if n_examples < global_batch:
        length = RECIPES[spec.recipe].length_field  # shorter examples make more of them
        raise DataError(
            f"the training data has {n_examples} examples, fewer than one global batch of "
            f"{global_batch} ({n_devices} devices x {spec.gradient_accumulation_steps} "
            f"accumulation x {per_device} per device); lower the batch size"
            f"{f' or --{length}' if length else ''}, or add data"
        )


def check_checkpoint(run_dir) -> None:
    """The checkpoint a resume starts from is whole (sizes and checksum, or its structure)."""
    steps = list_steps(run_dir.checkpoints_dir)
    if steps:
        verify(run_dir.checkpoints_dir, steps[-1], steps[-2] if len(steps) > 1 else None)


def check_memory(spec, data, n_devices: int) -> None:
    """The training state fits the devices' memory (where known: TPU chips), else the run
    is refused now, naming fsdp or a smaller model, not by XLA's out-of-memory error after
    minutes of compiling."""
    config = FAMILIES[spec.model_type].config(data.model_config)
    head = RECIPES[spec.recipe].head
    problem = does_not_fit(config, head, spec.parallelism, spec.platform, n_devices)
    if problem:
        raise SpecError(problem)


def preflight(spec, run_dir, data, resume: bool) -> None:
    n_devices, _ = expected_devices(spec.platform)
    examples = next(iter(data.train.values()))
    if n_devices is not None and hasattr(examples, "__len__"):  # a stream's length is unknown
        check_global_batch(spec, len(examples), n_devices)
    if n_devices is not None:
        check_memory(spec, data, n_devices)
    if resume:
        check_checkpoint(run_dir)
