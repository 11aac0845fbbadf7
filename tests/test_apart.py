"""Preparing data in a child process (core/train/apart.py), and the trainer that uses it:
real spawned children, real files, a real kill -9."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tpudeck.core.errors import DataError
from tpudeck.core.runs.procs import start_ticks
from tpudeck.core.train.apart import run_apart

from .fake_os import wait_until


def blocks_and_labels(where: str) -> dict:
    """What a recipe's preparation hands back: a file mapped whole, and arrays in memory."""
    logging.getLogger("tpudeck.tokenising").info("tokenised in process %d", os.getpid())
    path = Path(where, "blocks.int32")
    np.arange(24, dtype=np.int32).tofile(path)
    return {"blocks": np.memmap(path, np.int32, "r", shape=(6, 4)),
            "view": np.memmap(path, np.int32, "r", shape=(6, 4))[2:],
            "labels": np.array([1, 0, 1])}  # fmt: skip


def refuse(column: str):
    raise DataError(f"the training data has no text in column {column!r}; add data to it")


def wait_for(path: str) -> str:
    """Returns once `path` exists: proof that the caller went on while this ran."""
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "the meanwhile never ran"
        time.sleep(0.01)
    return "seen"


def test_a_mapped_file_comes_back_as_the_file_and_the_rest_as_values(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    got = run_apart(lambda: None, blocks_and_labels, str(tmp_path))
    assert isinstance(got["blocks"], np.memmap)  # mapped again here, not sent as bytes
    assert Path(got["blocks"].filename) == tmp_path / "blocks.int32"
    np.testing.assert_array_equal(got["blocks"], np.arange(24).reshape(6, 4))
    np.testing.assert_array_equal(got["view"], np.arange(8, 24).reshape(4, 4))
    np.testing.assert_array_equal(got["labels"], [1, 0, 1])
    (record,) = [r for r in caplog.records if r.name == "tpudeck.tokenising"]
    assert record.getMessage() != f"tokenised in process {os.getpid()}"  # the child's line


def test_the_childs_refusal_is_raised_here_as_it_was_raised():
    with pytest.raises(DataError, match="no text in column 'body'; add data to it"):
        run_apart(lambda: None, refuse, "body")


def test_the_caller_works_while_the_child_does(tmp_path):
    flag = tmp_path / "meanwhile-ran"
    assert run_apart(flag.touch, wait_for, str(flag)) == "seen"


ORPHAN = """
import os, sys, time
from tpudeck.core.train.apart import run_apart

def report_and_sleep(where):
    open(where, "w").write(str(os.getpid()))
    time.sleep(600)

if __name__ == "__main__":
    run_apart(lambda: None, report_and_sleep, sys.argv[1])
"""


def test_the_child_dies_with_a_killed_trainer(tmp_path):
    script, pid_file = tmp_path / "trainer.py", tmp_path / "child.pid"
    script.write_text(ORPHAN)
    trainer = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=60)
        child = int(pid_file.read_text())
        os.kill(trainer.pid, signal.SIGKILL)
        trainer.wait()
        wait_until(lambda: start_ticks(child) is None, timeout=30)  # gone, or a zombie
    finally:
        trainer.kill()


PREPARING_TRAINER = """
import json, logging, sys
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.spec import RunSpec
from tpudeck.core.train.entry import _prepare
from tpudeck.core.train.startup import Startup

if __name__ == "__main__":
    from jax._src import xla_bridge

    logging.basicConfig(level=logging.INFO)
    spec = RunSpec(recipe="clm", model_type="gpt2", model_size="demo", block_size=64,
                   train_file=sys.argv[1], max_train_samples=8)
    spec.validate()
    _spec, _recipe, data = _prepare(spec, RunDir(sys.argv[2]), Startup())
    print(json.dumps({
        "libraries": [m for m in ("datasets", "pyarrow") if m in sys.modules],
        "imported": [m for m in ("jax", "flax", "optax", "orbax.checkpoint") if m in sys.modules],
        "backend": xla_bridge.backends_are_initialized(),
        "mapped": type(data.train["input_ids"].base).__name__,
        "rows": len(data.train["input_ids"]),
    }))
"""


def test_the_trainer_prepares_blocks_without_the_data_libraries_or_the_accelerator(
    tmp_path, demo_corpus
):
    """The trainer after preparing clm data: no datasets or pyarrow in it, the training
    code imported meanwhile, no backend started (the lock is not held yet), and the
    blocks mapped from the block cache."""
    script = tmp_path / "trainer.py"
    script.write_text(PREPARING_TRAINER)
    (tmp_path / "run").mkdir()
    done = subprocess.run([sys.executable, str(script), str(demo_corpus), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {"libraries": [], "imported": ["jax", "flax", "optax", "orbax.checkpoint"],
                    "backend": False, "mapped": "memmap", "rows": 8}  # fmt: skip
    assert "training a byte-level BPE tokenizer" in done.stderr  # the child's log, here
