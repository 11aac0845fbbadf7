"""Is a model.safetensors file whole? Checked from its header alone, in microseconds.

A safetensors file is an 8-byte header length, a JSON header giving each tensor's byte
range, then the data; a download or copy cut short is shorter than its header promises.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a whole safetensors file, or None when it is."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return "it is shorter than a header"
            (length,) = struct.unpack("<Q", head)
            if length > 100 * 2**20:
                return "its header length is implausible"
            header = json.loads(f.read(length))
        size = path.stat().st_size
    except (OSError, ValueError) as exc:
        return f"its header is unreadable ({exc})"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        return f"it has {size} bytes, its header describes {expected}"
    return None
