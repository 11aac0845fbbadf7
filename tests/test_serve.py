"""`tpudeck serve`: the app over a websocket, as a browser page drives it (textual-serve),
and in a real headless Chromium."""

import asyncio
import contextlib
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import aiohttp
from PIL import Image
from playwright.sync_api import sync_playwright

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


@contextlib.contextmanager
def served():
    """`tpudeck serve` on a free port: (its port, the line it printed), its page ready."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tpudeck", "serve", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        said = server.stdout.readline()
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        yield port, said
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_serve_binds_to_localhost_and_each_page_gets_the_runs_screen(tpudeck_home, sleeper):
    run = fake_run(tpudeck_home, "20260101-000000-served-0001", "training", sleeper.pid)
    with served() as (port, said):
        assert f"serving on http://127.0.0.1:{port} (this machine only)" in said
        assert f"ssh -L {port}:localhost:{port}" in said
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
        assert b"textual.js" in page and b"tpudeck" in page
        text = await screen_text(port, run.run_id)
        assert run.run_id in text and "STATE" in text and "training" in text


# Debian's chromium (`make test` installs it); flags for a machine without a network.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]  # fmt: skip


def test_a_browser_page_draws_the_runs_and_its_keys_drive_the_app(tpudeck_home, sleeper, tmp_path):
    """What a laptop's browser does through the SSH tunnel: the page opens the app's
    websocket, draws the Runs screen on its canvas, and a key typed into the page reaches
    the app (v: the Devices screen)."""
    run = fake_run(tpudeck_home, "20260101-000000-browsed-0001", "training", sleeper.pid)
    frames: list[bytes] = []

    def drawn() -> str:
        data = b"".join(f if isinstance(f, bytes) else f.encode() for f in frames)
        return ANSI.sub(b"", data).decode(errors="replace")

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 60
        while text not in drawn():
            assert time.monotonic() < deadline, f"{text!r} never drawn: {drawn()[-400:]!r}"
            page.wait_for_timeout(100)

    with served() as (port, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("body.-first-byte", timeout=60_000)  # the app's first bytes
        wait_for(run.run_id)
        page.locator(".xterm-screen").click()
        frames.clear()
        page.keyboard.press("v")
        wait_for("(select a run: + - priority")
        page.wait_for_timeout(500)  # the canvas paints on the next animation frames
        page.locator(".xterm-screen").screenshot(path=tmp_path / "page.png")
        browser.close()
    colours = Image.open(tmp_path / "page.png").convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 8  # text and panels drawn, not a blank
