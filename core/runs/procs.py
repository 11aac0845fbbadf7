"""Facts about processes read straight from a /proc tree (the real one, or a test's fake).

A pid alone is not an identity: pids are reused. (pid, start ticks) is, so liveness
checks compare the start time recorded at launch with the one /proc shows now.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import re
from pathlib import Path

PROC = Path("/proc")


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
    pid: int
    user: str
    command: str
    start_ticks: int  # clock ticks after boot (field 22 of /proc/PID/stat)
    since: float | None  # unix time the process started, when boot time is known


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """The process's start time in clock ticks after boot, or None if it is not running.

    A zombie is not running: a killed run whose parent never reaps it (a container's init
    may not) must still show as died.
    """
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def is_alive(pid: int | None, ticks: int | None, proc: Path = PROC) -> bool:
    """True if `pid` is running and is the same process that started at `ticks`."""
    if not pid:
        return False
    now = start_ticks(pid, proc)
    return now is not None and (ticks is None or now == ticks)


def current_user() -> str:
    """The effective user's name, from the uid (unlike $USER, which anyone can set)."""
    return _user_of(os.geteuid())


def _user_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _boot_time(proc: Path) -> float | None:
    try:
        for line in (proc / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


# Tokens passed as flags (HF scripts' --hub_token, --token) are shown to nobody.
_SECRET_FLAG = re.compile(r"(--(?:hub_)?token[= ])\S+")


def process_info(pid: int, proc: Path = PROC) -> ProcessInfo | None:
    base = proc / str(pid)
    ticks = start_ticks(pid, proc)
    if ticks is None:
        return None
    try:
        uid = int(
            next(
                line.split()[1]
                for line in (base / "status").read_text().splitlines()
                if line.startswith("Uid:")
            )
        )
        user = _user_of(uid)
    except (OSError, StopIteration, ValueError):
        user = "?"
    try:
        # One line for display: arguments may hold newlines (python -c "...").
        command = " ".join(
            (base / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
        )
    except OSError:
        command = ""
    command = _SECRET_FLAG.sub(r"\1***", command)
    boot = _boot_time(proc)
    since = None if boot is None else boot + ticks / os.sysconf("SC_CLK_TCK")
    return ProcessInfo(pid, user, command or f"[pid {pid}]", ticks, since)


def children(pid: int, proc: Path = PROC) -> list[int]:
    """Direct children of `pid` (from /proc/PID/task/*/children)."""
    found = []
    for task in (proc / str(pid) / "task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int, proc: Path = PROC) -> list[int]:
    """`pid` and all its descendants, parents first."""
    tree, frontier = [], [pid]
    while frontier:
        current = frontier.pop(0)
        tree.append(current)
        frontier += children(current, proc)
    return tree
