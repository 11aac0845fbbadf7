"""Start jax on the backend a run asked for, and fail loudly on any other; with jax's
persistent compilation cache in the run store.

When the TPU is held by another process jax may log the error and fall back to CPU, so a
run "works" a hundred times slower; pinning JAX_PLATFORMS and checking prevents that.
The compilation cache (keyed by jax: program, shapes, devices, versions) lets a relaunch or
resume of the same shape, by anyone sharing the store, load its step instead of compiling.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..devices.tpu_runtime import enable_metrics
from ..errors import BackendError
from .processes import Processes

# The team's compile cache is bounded: past this, jax evicts the programs least recently
# used (JAX_COMPILATION_CACHE_MAX_SIZE, in bytes, sets another bound; -1, none). A TPU VM's
# boot disk is ~100 GB, and a big model's step is hundreds of MB compiled.
COMPILE_CACHE_BYTES = 10 * 2**30


def start_backend(platform: str, compile_cache: Path, processes: Processes | None = None) -> list:
    """Import jax on `platform` ("auto" takes jax's default), compiling through the
    persistent cache in `compile_cache` (or JAX_COMPILATION_CACHE_DIR), joined to the other
    `processes` of the run, and return the devices of all of them."""
    # jax names GPU backends by vendor: JAX_PLATFORMS=gpu asks for cuda and rocm both and
    # fails where one plugin is installed. jax prefers an accelerator, so for a GPU it is
    # left to choose, and the check below refuses the CPU it falls back to.
    pinned = platform not in ("auto", "gpu")
    if pinned:
        os.environ["JAX_PLATFORMS"] = platform
    enable_metrics(os.environ)  # per-chip duty cycle and HBM for `tpudeck devices` and the app
    import jax

    if pinned:  # jax reads the variable when first imported: maybe while data was prepared
        jax.config.update("jax_platforms", platform)

    # jax's own variable, where set, names another cache (a faster disk, a CI session's).
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(compile_cache)
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # CPU steps too
    if "JAX_COMPILATION_CACHE_MAX_SIZE" not in os.environ:  # jax's own bound, where set
        jax.config.update("jax_compilation_cache_max_size", COMPILE_CACHE_BYTES)

    try:
        if processes:
            processes.join()
        devices = jax.devices()
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(
            f"jax cannot start the {platform} backend ({first_line}); "
            "check who holds the accelerator or pass --platform cpu"
        ) from None
    backend = jax.default_backend()
    if platform != "auto" and backend != platform:
        # Unpinned, jax found no such device: no GPU, or no jax plugin for it.
        fix = (
            "unset JAX_PLATFORMS"
            if os.environ.get("JAX_PLATFORMS")
            else "pip install 'tpudeck[cuda]'"
        )
        raise BackendError(
            f"the run asked for {platform} but jax started {backend}; "
            f"{fix} or pass --platform {backend}"
        )
    return devices
