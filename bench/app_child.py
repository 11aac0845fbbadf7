"""Run the app in a fresh child process and read one JSON figure back (shared by benches)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CHILD_PRELUDE = """
import asyncio, json, os, resource, sys, time
from tpudeck.tui.app import TpudeckApp
"""


def child(code: str, home: str) -> dict:
    env = {**os.environ, "TPUDECK_HOME": home, "XDG_CONFIG_HOME": os.path.join(home, "config")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        raise SystemExit(f"bench child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_percent(home: str, keys: list[str], seconds: int = 20) -> dict:
    """The app's CPU over `seconds` after pressing `keys` on the Runs screen."""
    return child(f"""
        async def main():
            app = TpudeckApp()
            async with app.run_test(size=(120, 36)) as pilot:
                await pilot.pause(2)
                await pilot.press(*{keys!r})
                await pilot.pause(2)
                before, began = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
                await asyncio.sleep({seconds})
                after = resource.getrusage(resource.RUSAGE_SELF)
                cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
                print(json.dumps({{"cpu_percent": 100 * cpu / (time.monotonic() - began)}}))
        asyncio.run(main())
    """, home)  # fmt: skip
