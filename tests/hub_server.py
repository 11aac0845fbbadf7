"""A local Hub-compatible HTTP server: the endpoints huggingface_hub uses for whoami,
create_repo, preupload (answering "regular", so files arrive inline) and commit of model and
Space repos, and for downloads (repo info, the file tree, HEAD and GET of /resolve/) of
model and dataset repos.

It stores what it receives and can be told to fail: `fail_next` 5xx answers to commits,
`delay_s` before every commit answer, reject every token, 404 on `missing` endpoints, or `stop()` listening (clients
get "connection refused") and `start()` again on the same port.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class FakeHub:
    def __init__(self, token: str):
        self.token = token
        self.repos: dict[str, dict[str, bytes]] = {}  # repo id -> path -> content
        self.datasets: dict[str, dict[str, bytes]] = {}  # dataset repos, likewise
        self.spaces: dict[str, dict[str, bytes]] = {}  # Space repos, likewise
        self.gated: set[str] = set()  # repos that answer as a gated repo to this token
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

            def do_HEAD(self):
                hub.requests.append(f"HEAD {self.path}")
                self._download(body=False)

            def _download(self, body: bool) -> None:
                """A repo's info, its file tree, or one of its files, as the Hub answers."""
                found = hub.locate(self.path)
                if isinstance(found, tuple):
                    status, code = found
                    self.send_response(status)
                    self.send_header("X-Error-Code", code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = found if isinstance(found, bytes) else json.dumps(found).encode()
                etag = f'"{hashlib.sha256(data).hexdigest()}"'
                part = _byte_range(self.headers.get("Range"), len(data))
                self.send_response(200 if part is None else 206)
                self.send_header("X-Repo-Commit", hub.commit_of(self.path))
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "bytes")
                if part is not None:  # streamed datasets read parquet footers and row groups
                    self.send_header(
                        "Content-Range", f"bytes {part.start}-{part.stop - 1}/{len(data)}"
                    )
                    data = data[part]
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_GET(self):
                hub.requests.append(f"GET {self.path}")
                if not self.path.startswith("/api/whoami-v2"):
                    self._download(body=True)
                elif self._authorised():
                    self._reply(
                        200,
                        {
                            "name": "tester",
                            "type": "user",
                            "auth": {"accessToken": {"role": "write"}},
                        },
                    )

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
                    hub.store_of(request.get("type", "model")).setdefault(repo, {})
                    self._reply(200, {"url": f"{hub.url}/{repo}", "name": repo})
                elif (
                    self.path == "/api/validate-yaml"
                ):  # the card's metadata, checked before commit
                    self._reply(200, {"errors": [], "warnings": []})
                elif m := re.match(r"^/api/(?:models|spaces)/(.+)/preupload/[^/]+$", self.path):
                    files = json.loads(body)["files"]
                    self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                 "shouldIgnore": False, "oid": None} for f in files]})  # fmt: skip
                elif m := re.match(r"^/api/(models|spaces)/(.+)/commit/[^/]+$", self.path):
                    time.sleep(hub.delay_s)
                    if hub.fail_next > 0:
                        hub.fail_next -= 1
                        self._reply(500, {"error": "internal error"})
                        return
                    store = hub.store_of(m[1][:-1]).setdefault(m[2], {})
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
                        {"commitUrl": f"{hub.url}/{m[2]}/commit/abc123", "commitOid": "abc123"},
                    )
                else:
                    self._reply(404, {"error": f"no route {self.path}"})

        self.handler = Handler
        self.port = 0
        self.server = None
        self.start()
        self.url = f"http://127.0.0.1:{self.port}"

    # Download routes: /api/{models,datasets}/ID[/revision/REV | /tree/REV[/dir]],
    # /ID/resolve/REV/PATH and /datasets/ID/resolve/REV/PATH; ids with or without an org.
    _ROUTES = (
        re.compile(r"^/api/(?P<kind>models|datasets)/(?P<id>[^/]+/[^/]+|[^/]+)"
                   r"(?:/(?P<what>revision|tree)/(?P<rev>[^/]+)(?:/(?P<path>.*))?)?$"),
        re.compile(r"^/(?P<kind>datasets/)?(?P<id>.+?)/(?P<what>resolve)/(?P<rev>[^/]+)/(?P<path>.+)$"),
    )  # fmt: skip

    def add_repo(self, repo_id: str, files: dict[str, bytes], kind: str = "model") -> None:
        """Publish a repo's files (its one revision is "main" and its commit hash)."""
        self.store_of(kind)[repo_id] = dict(files)

    def store_of(self, repo_type: str) -> dict[str, dict[str, bytes]]:
        return {"model": self.repos, "dataset": self.datasets, "space": self.spaces}[repo_type]

    def commit_of(self, path: str) -> str:
        request = self._request(unquote(urlsplit(path).path))
        return _commit(request["files"]) if request and request["files"] is not None else ""

    def _request(self, path: str) -> dict | None:
        """The parts of a download request: kind, id, what, rev, path and the repo's files."""
        match = next((m for r in self._ROUTES if (m := r.match(path))), None)
        if match is None:
            return None
        parts = match.groupdict()
        parts["what"], parts["rev"] = parts["what"] or "revision", parts["rev"] or "main"
        repos = self.datasets if parts["kind"] and "datasets" in parts["kind"] else self.repos
        return {**parts, "files": repos.get(parts["id"])}

    def locate(self, url: str):
        """What a download request gets: a JSON-able answer, a file's bytes, or (status,
        the X-Error-Code the Hub sends) for a missing or gated repo, revision or file."""
        parts = urlsplit(url)
        request = self._request(unquote(parts.path))
        files = request and request["files"]
        if files is None:
            return 404, "RepoNotFound"
        if request["id"] in self.gated:
            return 401, "GatedRepo"
        if request["rev"] not in ("main", _commit(files)):
            return 404, "RevisionNotFound"
        if request["what"] == "revision":
            siblings = [{"rfilename": name} for name in sorted(files)]
            return {"id": request["id"], "sha": _commit(files), "siblings": siblings}
        if request["what"] == "tree":
            return _tree(files, (request["path"] or "").strip("/"), "recursive=true" in parts.query)
        if request["path"] not in files:
            return 404, "EntryNotFound"
        return files[request["path"]]

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


def _commit(files: dict[str, bytes]) -> str:
    digest = hashlib.sha1()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + hashlib.sha1(data).digest())
    return digest.hexdigest()


def _tree(files: dict[str, bytes], under: str, recursive: bool) -> list[dict]:
    """The entries under a folder: every file below it, or its files and subfolders."""
    prefix = f"{under}/" if under else ""
    below = sorted((name.removeprefix(prefix), data) for name, data in files.items()
                   if name.startswith(prefix))  # fmt: skip
    if recursive:
        return [_tree_entry(prefix + name, data) for name, data in below]
    folders = sorted({name.split("/")[0] for name, _ in below if "/" in name})
    entries = [{"type": "directory", "path": prefix + f, "oid": "0" * 40} for f in folders]
    return entries + [_tree_entry(prefix + name, data) for name, data in below if "/" not in name]


def _tree_entry(name: str, data: bytes) -> dict:
    """A file as the Hub's tree lists it; every file is an LFS file, its etag the sha256."""
    sha256 = hashlib.sha256(data).hexdigest()
    return {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest(),
            "lfs": {"oid": sha256, "size": len(data), "pointerSize": 134}}  # fmt: skip


def _byte_range(header: str | None, size: int) -> slice | None:
    """The bytes an HTTP Range header asks for ("bytes=a-b", "bytes=a-", "bytes=-n")."""
    found = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
    if not found or found[1] == found[2] == "":
        return None
    if found[1] == "":
        return slice(max(0, size - int(found[2])), size)
    return slice(int(found[1]), min(size, int(found[2]) + 1) if found[2] else size)
