"""The store's token-block cache, kept under a size: when a launch writes new blocks, the
least recently used files go until the folder fits (TPUDECK_BLOCK_CACHE_GB, default 50).
Every launch that reads a file marks it used. A pruned file is only a tokenisation to
redo: its next launch writes the same bytes again. A trainer reading one keeps it open
(Linux frees a deleted file when its last reader closes it)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path

from ..errors import DataError

log = logging.getLogger(__name__)

LIMIT_ENV = "TPUDECK_BLOCK_CACHE_GB"
DEFAULT_GB = 50.0
IN_USE_S = 3600  # used within the hour: another launch may be about to read it


def limit_bytes() -> int:
    try:
        return int(float(os.environ.get(LIMIT_ENV) or DEFAULT_GB) * 2**30)
    except ValueError:
        return int(DEFAULT_GB * 2**30)  # a mistyped limit costs the setting, never a run


def check_room(folder: Path, needs: int) -> None:
    """Refuse, before anything is written, blocks that the folder's disk has no room for."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if needs > free:
        raise no_room(folder, f"about {needs / 2**30:.1f} GB of blocks to write, "
                              f"{free / 2**30:.1f} GB free")  # fmt: skip


def no_room(folder: Path, how: str) -> DataError:
    return DataError(
        f"the token-block cache {folder}: {how}; free space there, point TPUDECK_HOME at a "
        "bigger disk, or train with --streaming (clm, mlm, t5_mlm: nothing is written)"
    )


def mark_used(path: Path) -> None:
    # A team store's file of another user's may refuse: its age stays, it may go sooner.
    with contextlib.suppress(OSError):
        os.utime(path)


def prune(folder: Path, keep: Path, limit: int | None = None) -> list[Path]:
    """Remove the least recently used block files of `folder` (never `keep`, nor one used
    within the hour) until the rest fits in `limit` bytes; the files removed."""
    limit = limit_bytes() if limit is None else limit
    now, files = time.time(), []
    for path in folder.glob("*.int32"):
        try:
            stat = path.stat()
        except OSError:
            continue  # pruned by another launch meanwhile
        files.append((stat.st_mtime, stat.st_size, path))
    total, removed = sum(size for _, size, _ in files), []
    for used, size, path in sorted(files):
        if total <= limit:
            break
        if path == keep or now - used < IN_USE_S:
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    if removed:
        log.info("pruned %d token-block files from %s to keep it under %.1f GB", len(removed),
                 folder, limit / 2**30)  # fmt: skip
    return removed
