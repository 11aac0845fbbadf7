"""Errors a user can cause. Each message is one line that names the fix."""

import errno


class TpudeckError(Exception):
    """A problem with the user's input or environment; the CLI prints it and exits 2."""


class SpecError(TpudeckError):
    """A RunSpec field has a bad value."""


class DataError(TpudeckError):
    """A dataset or tokenizer cannot be used as asked."""


class CheckpointError(TpudeckError):
    """A checkpoint or exported model is missing or corrupt."""


class BackendError(TpudeckError):
    """The accelerator backend is not the one the run asked for."""


class DiskFull(TpudeckError):
    """The run's filesystem filled up while the trainer wrote to it."""

    def __init__(self, step: int, what: str, run_path):
        super().__init__(
            f"disk full at step {step} while saving {what}; free space and resume: "
            f"tpudeck train --resume --output_dir {run_path}"
        )


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC however a library wraps it (shutil.Error lists, safetensors' Rust IoError)."""
    if getattr(exc, "errno", None) == errno.ENOSPC:
        return True
    text = str(exc)
    return "No space left on device" in text or "code: 28," in text
