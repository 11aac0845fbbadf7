"""Peak dense bf16 FLOP/s per jax device, for model FLOPs utilisation (MFU).

On TPU v2/v3 a chip is two jax devices (one per TensorCore), so the table is per device.
Figures are the vendors' published peaks. Unknown devices (and CPUs) give no MFU.
"""

from __future__ import annotations

# Matched in order against jax's device_kind, lower-cased.
PEAK_FLOPS_PER_DEVICE = (
    ("tpu v2", 45e12 / 2),
    ("tpu v3", 123e12 / 2),
    ("tpu v4", 275e12),
    ("tpu v5 lite", 197e12),
    ("tpu v5e", 197e12),
    ("tpu v5p", 459e12),
    ("tpu v5", 459e12),
    ("tpu v6 lite", 918e12),
    ("tpu v6e", 918e12),
    ("h100", 989e12),
    ("h200", 989e12),
    ("a100", 312e12),
    ("l4", 121e12),
    ("a10g", 70e12),
)


def peak_flops(device_kind: str) -> float | None:
    kind = device_kind.lower()
    return next((peak for name, peak in PEAK_FLOPS_PER_DEVICE if name in kind), None)


def mfu(flops_per_second: float, device_kind: str, n_devices: int) -> float | None:
    peak = peak_flops(device_kind)
    return None if peak is None else flops_per_second / (peak * n_devices)
