"""Fakes of the OS level for the accelerator guard: /proc trees, /dev trees, foreign holders."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def fake_process(
    proc: Path, pid: int, command: str, fds: dict[int, str], uid: int = 0, ticks: int = 1000
):
    """One /proc/PID entry: stat (start ticks), status (Uid), cmdline and fd symlinks."""
    base = proc / str(pid)
    (base / "fd").mkdir(parents=True)
    name = Path(command.split()[0]).name
    fields = ["S"] + ["0"] * 18 + [str(ticks)] + ["0"] * 10
    (base / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")
    (base / "status").write_text(f"Name:\t{name}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
    (base / "cmdline").write_bytes(command.replace(" ", "\0").encode() + b"\0")
    for fd, target in fds.items():
        os.symlink(target, base / "fd" / str(fd))


def fake_proc_tree(root: Path, processes: int, holders: dict[int, list[str]]) -> Path:
    """A /proc with `processes` ordinary processes plus `holders` (pid -> device paths)."""
    proc = root / "proc"
    proc.mkdir(parents=True)
    (proc / "stat").write_text("cpu 1 2 3\nbtime 1700000000\n")
    for pid in range(1000, 1000 + processes):
        fake_process(
            proc, pid, f"/usr/bin/sleep {pid}", {0: "/dev/null", 1: "pipe:[123]", 2: "/dev/null"}
        )
    for pid, devices in holders.items():
        fake_process(
            proc, pid, "python notebook.py", {i + 3: d for i, d in enumerate(devices)}, ticks=5000
        )
    return proc


def fake_dev_tree(root: Path, names=("accel0", "accel1")) -> Path:
    dev = root / "dev"
    dev.mkdir(parents=True)
    for name in names:
        (dev / name).write_text("")
    return dev


def hold_open(path: Path, lock: str | None = None) -> subprocess.Popen:
    """A real process that keeps `path` open, and locked with `lock` ("lockf" as libtpu
    does, "flock" as tpudeck does) if given."""
    locking = {
        None: "",
        "lockf": "fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n",
        "flock": "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n",
    }[lock]
    path.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        + locking
        + "print('holding', flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, "notebook"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "holding"
    return child


def wait_until(predicate, timeout: float = 120, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"condition not met within {timeout} s")
