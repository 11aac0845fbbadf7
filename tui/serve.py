"""`tpudeck serve`: the same app in a browser, through textual-serve: each page that
connects gets its own app process, driven over a websocket. It binds to localhost unless
told otherwise, for an SSH tunnel from a laptop; anyone who can reach the port drives the
app as the user who served it."""

from __future__ import annotations

import shlex
import sys

LOCAL = ("127.0.0.1", "localhost", "::1")


def serve(host: str, port: int) -> int:
    from textual_serve.server import Server

    url = f"http://{host}:{port}"
    if host in LOCAL:
        print(f"tpudeck: serving on {url} (this machine only). From a laptop: "
              f"ssh -L {port}:localhost:{port} THIS_VM, then open http://localhost:{port}")  # fmt: skip
    else:
        print(f"tpudeck: serving on {url}: anyone who can reach it drives tpudeck as you; "
              "--host 127.0.0.1 and an SSH tunnel keep it to you")  # fmt: skip
    command = shlex.join([sys.executable, "-m", "tpudeck", "ui"])
    Server(command, host=host, port=port, title="tpudeck").serve()
    return 0
