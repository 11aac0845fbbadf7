"""The test session's own set-up (conftest.py): its process compiles with LLVM's O0 on 8
CPU devices, and the processes its tests start compile as a user's trainer does."""

import os
import subprocess
import sys

from .conftest import DEVICES_FLAG, IN_PROCESS_FLAG


def test_started_processes_see_8_devices_and_compile_as_users_do():
    flags = os.environ["XLA_FLAGS"].split()
    assert flags.count(DEVICES_FLAG) == 1 and IN_PROCESS_FLAG not in flags
    child = subprocess.run(
        [sys.executable, "-c", "import os, jax; print(len(jax.devices()), os.environ['XLA_FLAGS'])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    count, child_flags = child.stdout.split(maxsplit=1)
    assert count == "8" and IN_PROCESS_FLAG not in child_flags
