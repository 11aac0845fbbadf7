"""A local Hub-compatible HTTP server for push tests: the endpoints huggingface_hub uses for
whoami, create_repo, preupload (answering "regular", so files arrive inline) and commit.

It stores what it receives and can be told to fail: `fail_next` 5xx answers to commits,
`delay_s` before every commit answer, reject every token, 404 on `missing` endpoints, or `stop()` listening (clients
get "connection refused") and `start()` again on the same port.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self, token: str):
        self.token = token
        self.repos: dict[str, dict[str, bytes]] = {}  # repo id -> path -> content
        self.fail_next = 0  # answer this many commits with 500
        self.delay_s = 0.0  # a slow Hub: each commit answers after this long
        self.reject_tokens = False
        self.missing: set[str] = set()  # paths answered 404, as a Hub lacking that endpoint
        self.commits: list[str] = []  # commit messages, in order
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                ok = (
                    not hub.reject_tokens
                    and self.headers.get("authorization") == f"Bearer {hub.token}"
                )
                if not ok:
                    self._reply(401, {"error": "Invalid credentials in Authorization header"})
                return ok

            def do_GET(self):
                hub.requests.append(f"GET {self.path}")
                if self.path.startswith("/api/whoami-v2") and self._authorised():
                    self._reply(
                        200,
                        {
                            "name": "tester",
                            "type": "user",
                            "auth": {"accessToken": {"role": "write"}},
                        },
                    )
                elif not self.path.startswith("/api/whoami-v2"):
                    self._reply(404, {"error": "not found"})

            def do_POST(self):
                hub.requests.append(f"POST {self.path}")
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if not self._authorised():
                    return
                if self.path in hub.missing:
                    self._reply(404, {"error": f"no route {self.path}"})
                elif self.path == "/api/repos/create":
                    request = json.loads(body)
                    repo = f"{request.get('organization') or 'tester'}/{request['name']}"
                    hub.repos.setdefault(repo, {})
                    self._reply(200, {"url": f"{hub.url}/{repo}", "name": repo})
                elif (
                    self.path == "/api/validate-yaml"
                ):  # the card's metadata, checked before commit
                    self._reply(200, {"errors": [], "warnings": []})
                elif m := re.match(r"^/api/models/(.+)/preupload/[^/]+$", self.path):
                    files = json.loads(body)["files"]
                    self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                 "shouldIgnore": False, "oid": None} for f in files]})  # fmt: skip
                elif m := re.match(r"^/api/models/(.+)/commit/[^/]+$", self.path):
                    time.sleep(hub.delay_s)
                    if hub.fail_next > 0:
                        hub.fail_next -= 1
                        self._reply(500, {"error": "internal error"})
                        return
                    store = hub.repos.setdefault(m[1], {})
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        if item["key"] == "header":
                            hub.commits.append(item["value"]["summary"])
                        if item["key"] == "file":
                            store[item["value"]["path"]] = base64.b64decode(
                                item["value"]["content"]
                            )
                    self._reply(
                        200,
                        {"commitUrl": f"{hub.url}/{m[1]}/commit/abc123", "commitOid": "abc123"},
                    )
                else:
                    self._reply(404, {"error": f"no route {self.path}"})

        self.handler = Handler
        self.port = 0
        self.server = None
        self.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (again, on the same port after a stop())."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: the Hub is down until start()."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
