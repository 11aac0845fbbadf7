"""Start jax on the backend a run asked for, and fail loudly on any other.

When the TPU is held by another process jax may log the error and fall back to CPU, so a
run "works" a hundred times slower; pinning JAX_PLATFORMS and checking prevents that.
"""

from __future__ import annotations

import os

from ..devices.tpu_runtime import enable_metrics
from ..errors import BackendError


def start_backend(platform: str) -> list:
    """Import jax pinned to `platform` ("auto" takes jax's default) and return local devices."""
    if platform != "auto":
        os.environ["JAX_PLATFORMS"] = platform
    enable_metrics(os.environ)  # per-chip duty cycle and HBM for `tpudeck devices` and the app
    import jax

    try:
        devices = jax.local_devices()
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"jax cannot start the {platform} backend ({first_line}); "
            "check who holds the accelerator or pass --platform cpu"
        ) from None
    backend = jax.default_backend()
    if platform != "auto" and backend != platform:
        raise BackendError(
            f"the run asked for {platform} but jax started {backend}; "
            f"unset JAX_PLATFORMS or pass --platform {backend}"
        )
    return devices
