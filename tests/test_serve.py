"""`tpudeck serve`: the app over a websocket, as a browser page drives it (textual-serve)."""

import asyncio
import re
import subprocess
import sys
import time
import urllib.request

import aiohttp

from .builders import fake_run, free_port

ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]")


async def screen_text(port: int, wanted: str, timeout: float = 60) -> str:
    """What the served app draws for a 120x40 page, until `wanted` shows."""
    seen = b""
    page = f"http://127.0.0.1:{port}/ws?width=120&height=40"
    async with aiohttp.ClientSession() as session, session.ws_connect(page) as ws:
        deadline = time.monotonic() + timeout
        while wanted.encode() not in ANSI.sub(b"", seen) and time.monotonic() < deadline:
            try:
                message = await ws.receive(timeout=1)
            except asyncio.TimeoutError:
                continue
            if message.type == aiohttp.WSMsgType.BINARY:
                seen += message.data
    return ANSI.sub(b"", seen).decode(errors="replace")


async def test_serve_binds_to_localhost_and_each_page_gets_the_runs_screen(tpudeck_home, sleeper):
    run = fake_run(tpudeck_home, "20260101-000000-served-0001", "training", sleeper.pid)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tpudeck", "serve", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        said = server.stdout.readline()
        assert f"serving on http://127.0.0.1:{port} (this machine only)" in said
        assert f"ssh -L {port}:localhost:{port}" in said
        for _ in range(100):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert b"textual.js" in page and b"tpudeck" in page
        text = await screen_text(port, run.run_id)
        assert run.run_id in text and "STATE" in text and "training" in text
    finally:
        server.terminate()
        server.wait(timeout=30)
