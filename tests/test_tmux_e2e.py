"""The whole app in a real terminal: tmux runs `tpudeck demo`, keys go in, the screen is read.

Then the terminal is killed, as a dropped SSH session kills it, and the run finishes anyway.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from tpudeck.core.runs.store import RunStore

from .fake_os import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"
    ),
]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def test_demo_in_tmux_shows_loss_moving_and_survives_the_terminal(tpudeck_home, tmp_path):
    session = f"tpudeck-e2e-{os.getpid()}"
    env = {
        "TPUDECK_HOME": str(tpudeck_home),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        "JAX_PLATFORMS": "cpu",
        "TERM": "xterm-256color",
    }
    command = " ".join([*(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "tpudeck", "demo",
                        "--max_steps", "1200", "--logging_steps", "5"])  # fmt: skip
    tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "45", f"env {command}")
    try:
        screen = lambda: tmux("capture-pane", "-p", "-t", session)  # noqa: E731
        try:
            wait_until(lambda: "ready to launch" in screen(), timeout=60)
        except AssertionError:
            raise AssertionError(
                f"the Launch screen did not appear; the terminal shows:\n{screen()}"
            ) from None
        tmux("send-keys", "-t", session, "C-l")
        seen = {}

        def loss_moved() -> bool:
            match = re.search(r"step (\d+)/1200\s+loss (\d+\.\d+)", screen())
            if match:
                seen[int(match[1])] = float(match[2])
            return len(seen) >= 3 and max(seen) > min(seen)

        wait_until(loss_moved, timeout=120, poll=0.3)
        assert len(set(seen.values())) > 1  # the number on screen changed with the steps
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)

    (record,) = RunStore().list()
    assert record.state not in ("finished", "died"), (
        "the run must outlive the terminal, not end before it"
    )
    wait_until(
        lambda: RunStore().list()[0].state in ("finished", "failed", "died", "stopped"), timeout=300
    )
    assert RunStore().list()[0].state == "finished"
