"""Data files checked with bounded memory before a parser holds them whole.

A parser given a 2 GB file without a newline reads it as one line into memory; a torn
last JSON line makes pyarrow fail without saying which row. These scans read a few MiB
at a time and name the file, the line or row, and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError

MAX_LINE_BYTES = 16 * 2**20  # one document or example per line; far above any real one
_CHUNK = 4 * 2**20  # smaller than the bound, so a longer line always spans a whole chunk


def check_line_lengths(path: str, flag: str) -> None:
    """Refuse a file with a line longer than MAX_LINE_BYTES, before it is parsed."""
    if Path(path).suffix.lower() == ".json" and _first_byte(path) == b"[":
        return  # a JSON array is one document, parsed whole by design
    since_newline, line = 0, 1
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            first = chunk.find(b"\n")
            if first == -1:
                since_newline += len(chunk)
            else:
                since_newline += first
            if since_newline > MAX_LINE_BYTES:
                raise DataError(
                    f"--{flag} {path}: line {line} is longer than {MAX_LINE_BYTES // 2**20} MiB "
                    "(a file without line breaks?); split it into lines, one document or "
                    "example per line"
                )
            if first != -1:
                line += chunk.count(b"\n")
                since_newline = len(chunk) - chunk.rfind(b"\n") - 1


def first_bad_json_row(path: str) -> tuple[int, str] | None:
    """(row number, reason) of the first JSON-lines row that does not parse, if any."""
    with open(path, "rb") as f:
        for row, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except ValueError as exc:
                return row, str(exc)
    return None


def _first_byte(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(64).lstrip()[:1]
