"""Will a run's training state fit on its devices? Asked before the accelerator is taken
(the trainer's preflight) and on the Launch form, without jax, from the family's config.

The state is what a step must hold on each device: float32 weights, their gradients and
AdamW's two moments, 16 bytes a parameter, whole on every device (pmap, shard_map). The
sharded mode (fsdp) keeps weights and moments split over the devices, but its step
gathers the weights whole (4 bytes a parameter), and makes each weight's gradient whole
before the devices reduce it to their slices: the largest weight's, at least. It is a lower
bound: activations come on top, and XLA may keep more (XLA:CPU's replicated step holds ~4
bytes a parameter more), so the check refuses only what cannot fit, and the trainer
reports the compiled step's own figure when it compiles.
"""

from __future__ import annotations

from .tpu import TpuChipsProbe

WEIGHTS = GRADIENTS = 4  # float32 bytes a parameter
MOMENTS = 8  # AdamW's two, float32


def state_bytes(config, head: str, parallelism: str, n_devices: int) -> int:
    """The state's bytes that one device must hold during a step of the model `config`
    describes (a family's ModelConfig) with `head`."""
    params = config.param_count(head)
    if parallelism != "fsdp":
        return params * (WEIGHTS + GRADIENTS + MOMENTS)
    split = params * (WEIGHTS + MOMENTS) // n_devices  # each device's slice
    return split + params * WEIGHTS + config.largest_weight(head) * GRADIENTS


def device_memory(platform: str) -> tuple[int, str] | None:
    """(bytes of memory per jax device, what that device is) where known before jax starts:
    TPU chips from sysfs and their published HBM (a v2/v3 chip is two devices)."""
    if platform not in ("auto", "tpu"):
        return None
    reading = TpuChipsProbe.from_env().sample()
    if not reading.available:
        return None
    chip = reading.values["chips"][0]
    return chip["hbm_gib"] * 2**30 // chip["jax_devices"], f"TPU {chip['kind']} device"


def does_not_fit(config, head: str, parallelism: str, platform: str, n_devices: int) -> str | None:
    """Why the state cannot fit, naming what would make it fit; None where it fits or where
    the devices' memory is unknown."""
    memory = device_memory(platform)
    if memory is None:
        return None
    limit, device = memory
    needs = state_bytes(config, head, parallelism, n_devices)
    if needs <= limit:
        return None
    sharded = state_bytes(config, head, "fsdp", n_devices)
    fix = (
        f"--parallelism fsdp splits it over the {n_devices} devices ({size_text(sharded)} each)"
        if parallelism != "fsdp" and sharded <= limit * 0.8  # room left for activations
        else "choose a smaller model"
    )
    return (
        f"the training state of {config.param_count(head) / 1e6:,.0f}M parameters needs "
        f"{size_text(needs)} per device (weights, gradients, AdamW moments), more than a "
        f"{device}'s {size_text(limit)}: {fix}"
    )


def fit_note(config, head: str, parallelism: str, platform: str, n_devices: int) -> str:
    """The Launch form's words: the state per device, against the devices' memory."""
    needs = state_bytes(config, head, parallelism, n_devices)
    memory = device_memory(platform)
    if memory is None:
        return f"~{size_text(needs)} of weights and optimizer state per device"
    limit, device = memory
    verdict = "fits" if needs <= limit else "does not fit"
    return (
        f"~{size_text(needs)} of state per device, which {verdict} a {device}'s {size_text(limit)}"
    )


def size_text(size: int) -> str:
    """Bytes as people read memory: "17.1 MiB", "1.35 GiB"."""
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"
