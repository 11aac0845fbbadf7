"""Errors a user can cause. Each message is one line that names the fix."""


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
