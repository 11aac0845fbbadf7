"""Who holds the accelerator, tpudeck or not: device file descriptors and libtpu's lockfile.

libtpu guards a TPU VM host-wide with lockf(F_TLOCK) on /tmp/libtpu_lockfile for its
process's life; processes also keep /dev/accelN (v2-v4) or /dev/vfio/N (v5e and later)
open. Scanning /proc/*/fd finds holders that tpudeck did not start (a notebook, a stray
python). All roots are parameters so tests run against fake trees.
"""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import os
import pwd
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .procs import PROC, ProcessInfo, current_user, process_info

DEVICE_GLOBS = ("/dev/accel*", "/dev/vfio/[0-9]*")
LIBTPU_LOCKFILE = Path("/tmp/libtpu_lockfile")


@dataclasses.dataclass(frozen=True)
class DeviceHolder:
    process: ProcessInfo
    devices: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class LibtpuLock:
    """State of libtpu's lockfile: absent, held (by pid), stale (no holder) or unknown."""

    state: str
    pid: int | None = None
    owner: str | None = None
    fix: str | None = None  # the exact command that clears a stale file


@dataclasses.dataclass(frozen=True)
class ScanResult:
    holders: list[DeviceHolder]
    libtpu: LibtpuLock
    unreadable: int  # processes whose fds we may not read (other users', when not root)

    @property
    def pids(self) -> set[int]:
        pids = {h.process.pid for h in self.holders}
        return pids | ({self.libtpu.pid} if self.libtpu.pid else set())


class HolderScan:
    def __init__(
        self,
        proc: Path = PROC,
        device_globs: tuple[str, ...] = DEVICE_GLOBS,
        libtpu_lockfile: Path = LIBTPU_LOCKFILE,
    ):
        self.proc, self.device_globs, self.libtpu_lockfile = (
            Path(proc),
            device_globs,
            Path(libtpu_lockfile),
        )

    @classmethod
    def from_env(cls) -> HolderScan:
        """Roots from TPUDECK_PROC, TPUDECK_DEVICE_GLOBS (colon-separated) and
        TPUDECK_LIBTPU_LOCKFILE, for unusual machines and for tests' fake trees."""
        globs = os.environ.get("TPUDECK_DEVICE_GLOBS")
        return cls(
            Path(os.environ.get("TPUDECK_PROC", PROC)),
            tuple(globs.split(":")) if globs else DEVICE_GLOBS,
            Path(os.environ.get("TPUDECK_LIBTPU_LOCKFILE", LIBTPU_LOCKFILE)),
        )

    def devices(self) -> list[str]:
        return sorted(p for pattern in self.device_globs for p in glob.glob(pattern))

    def scan(self) -> ScanResult:
        devices = set(self.devices())
        holders, unreadable = [], 0
        if devices:  # a machine without accelerator nodes has nothing to scan
            for pid, held in self._fd_scan(devices):
                if held is None:
                    unreadable += 1
                elif (info := process_info(pid, self.proc)) is not None:
                    holders.append(DeviceHolder(info, tuple(sorted(held))))
        return ScanResult(holders, self.libtpu_lock(), unreadable)

    def _fd_scan(self, devices: set[str]):
        """(pid, device paths it holds) per process holding any; None where fds are unreadable.

        The scan is syscall-bound (readlink releases the GIL), so interleaved slices of the
        pid list are read on a few threads.
        """
        pids = [name for name in os.listdir(self.proc) if name.isdigit()]
        workers = max(1, min(4, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            slices = pool.map(
                lambda part: list(self._scan_pids(part, devices)),
                [pids[i::workers] for i in range(workers)],
            )
            yield from (found for part in slices for found in part)

    def _scan_pids(self, pids: list[str], devices: set[str]):
        # Links are read relative to an open fd directory: resolving "/proc/PID/fd/N" from
        # the root for every descriptor costs more than the readlink itself.
        for name in pids:
            try:
                fd_dir = os.open(f"{self.proc}/{name}/fd", os.O_RDONLY | os.O_DIRECTORY)
            except PermissionError:
                yield int(name), None
                continue
            except OSError:
                continue  # exited while we looked, or not a process directory
            try:
                held = set()
                for fd in os.listdir(fd_dir):
                    try:
                        target = os.readlink(fd, dir_fd=fd_dir)
                    except OSError:
                        continue
                    if target in devices:
                        held.add(target)
            finally:
                os.close(fd_dir)
            if held:
                yield int(name), held

    def libtpu_lock(self) -> LibtpuLock:
        path = self.libtpu_lockfile
        try:
            owner = _owner(path)
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return LibtpuLock("absent")
        except PermissionError:
            return LibtpuLock(
                "unknown", owner=_owner(path), fix=f"ask {_owner(path)} or run as root"
            )
        try:
            pid = _lock_holder(fd)
        finally:
            os.close(fd)
        if pid:
            return LibtpuLock("held", pid=pid, owner=owner)
        prefix = "" if owner in (None, current_user()) else "sudo "
        return LibtpuLock("stale", owner=owner, fix=f"{prefix}rm -f {path}")


def _lock_holder(fd: int) -> int | None:
    """The pid holding a POSIX record lock on the file (F_GETLK), or None."""
    query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    l_type, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, query))
    return None if l_type == fcntl.F_UNLCK else pid


def _owner(path: Path) -> str | None:
    try:
        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (OSError, KeyError):
        return None
