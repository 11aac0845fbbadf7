"""Run a bench's measuring program in a fresh Python process (its peak RSS its own) and read
the JSON figures its last line prints (shared by benches)."""

from __future__ import annotations

import json
import subprocess
import sys


def measure(program: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])
