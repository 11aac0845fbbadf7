"""A function run in a child process while the trainer does something else, for the data.

Preparing token blocks imports datasets and pyarrow (~130 MB that a process never gives
back), trains or loads a tokenizer and tokenises the corpus; what it hands the trainer is
a few file-backed arrays. Done in a spawned child, none of that stays in the trainer, and
the trainer imports jax and the training code meanwhile (a second a launch no longer waits
for in series). The child's log records go to the trainer's handlers; its memory-mapped
arrays come back as their file, not as their bytes; its exceptions are raised here; it dies
with the trainer (kill -9 included), never tokenising on for nobody.
"""

from __future__ import annotations

import logging
import logging.handlers
import mmap
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.reduction import ForkingPickler
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def run_apart(meanwhile: Callable[[], object], function: Callable[..., T], *args) -> T:
    """function(*args) in a spawned child process while meanwhile() runs here; its result,
    or its exception raised here once meanwhile() is done. `function` and its arguments
    are pickled: a module's function, and plain data. A process that may not start its
    own interpreter again (one that became another user) runs both here, in turn."""
    if not os.access(sys.executable, os.X_OK):
        meanwhile()
        return function(*args)
    context = multiprocessing.get_context("spawn")  # no copy of this process's threads
    records = context.Queue()
    listener = logging.handlers.QueueListener(
        records, *logging.getLogger().handlers, respect_handler_level=True
    )
    listener.start()
    try:
        with ProcessPoolExecutor(1, context, _in_child, (records, _levels())) as child:
            result = child.submit(function, *args)
            meanwhile()
            return result.result()
    except BrokenPipeError as exc:  # not the CLI's closed stdout: say what it was
        raise RuntimeError(f"the process preparing the data could not start ({exc})") from exc
    finally:
        listener.stop()  # after the child has exited: every record it sent is handled
        records.close()


def _levels() -> dict[str, int]:
    """The levels this process's loggers were given (the root's, the noisy libraries')."""
    loggers = [logging.getLogger(), *logging.root.manager.loggerDict.values()]
    return {log.name: log.level for log in loggers if isinstance(log, logging.Logger) and log.level}


def _in_child(records, levels: dict[str, int]) -> None:
    _die_with_parent()
    logging.getLogger().handlers = [logging.handlers.QueueHandler(records)]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    ForkingPickler.register(np.memmap, _reduce_memmap)


def _die_with_parent() -> None:
    if sys.platform != "linux":
        return  # elsewhere a child outlives a killed trainer until its work is done
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _reduce_memmap(array: np.memmap):
    """A whole file mapped read-only travels as its path (the receiver maps it again);
    anything else as a copy of its bytes."""
    if isinstance(array.base, mmap.mmap) and array.mode == "r" and array.filename:
        return np.memmap, (array.filename, array.dtype, "r", array.offset, array.shape)
    return np.array, (np.asarray(array),)
