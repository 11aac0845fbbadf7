"""`tpudeck space`: the Gradio app it pushes as a Space runs for real (launched here under
the Gradio the Space pins, its model downloaded from the tests' Hub by transformers) and
answers as `tpudeck try --json` does on the same input; bad input is one line."""

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import gradio
import pytest
from gradio_client import Client, handle_file

from tpudeck.core.hub.space import GRADIO_VERSION
from tpudeck.core.runs.rundir import RunDir

from .builders import free_port, one_line_error, tpudeck
from .hub_server import FakeHub

TOKEN = "hf_space_writer"
MODEL, SPACE = "tester/demo-model", "tester/demo-space"


@pytest.fixture
def hub():
    with FakeHub(TOKEN) as hub:
        yield hub


def hub_env(hub, tmp_path) -> dict:
    return {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf")}  # fmt: skip


def launch(app_dir, env) -> tuple[subprocess.Popen, str]:
    """`python app.py` as a Space runs it, on 127.0.0.1; (the process, its URL) once it
    answers."""
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "app.py"], cwd=app_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
             "GRADIO_ANALYTICS_ENABLED": "False"},
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and app.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return app, f"http://127.0.0.1:{port}/"
        time.sleep(0.5)
    app.kill()
    raise AssertionError(f"the app did not start: {app.communicate()[0].decode()[-3000:]}")


def examples_of(app_py: bytes) -> list[str]:
    line = next(line for line in app_py.decode().splitlines() if line.startswith("EXAMPLES = "))
    return ast.literal_eval(line.removeprefix("EXAMPLES = "))


def scores(label: dict) -> dict[str, float]:
    """A gradio Label's {label: confidence}, as gradio_client returns it."""
    return {row["label"]: row["confidence"] for row in label["confidences"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe", ["clm", "mlm", "text_classification", "summarization", "image_classification"]
)
def test_the_pushed_space_answers_as_tpudeck_try(recipe, trained_demo, hub, tmp_path):
    """The run pushes its model (`tpudeck push`), then its demo: the Space's app runs the
    model the run pushed."""
    run = RunDir(shutil.copytree(trained_demo(recipe).path, tmp_path / "run"))  # ours to push
    env = hub_env(hub, tmp_path)
    assert tpudeck("push", str(run.path), "--hub_model_id", MODEL, env=env).returncode == 0
    published = tpudeck("space", str(run.path), "--space_id", SPACE, env=env)
    assert published.returncode == 0, published.stderr
    assert f"demo of {MODEL} to the Space {SPACE}" in published.stdout
    files = hub.spaces[SPACE]
    assert f"sdk: gradio\nsdk_version: {GRADIO_VERSION}" in files["README.md"].decode()
    assert gradio.__version__ == GRADIO_VERSION  # the app is tried under the version it pins
    app_dir = tmp_path / "space"
    app_dir.mkdir()
    for name, data in files.items():
        (app_dir / name).write_bytes(data)
    (example,) = examples_of(files["app.py"])  # from the run's own data
    image = recipe == "image_classification"
    app, url = launch(app_dir, env)
    try:
        given = handle_file(str(app_dir / example)) if image else example
        theirs = Client(url, verbose=False).predict(given, api_name="/predict")
    finally:
        app.kill()
        app.wait()
    tried = tpudeck("try", str(run.path), "--json", "--image" if image else "--text",
                    str(app_dir / example) if image else example)  # fmt: skip
    assert tried.returncode == 0, tried.stderr
    ours = json.loads(tried.stdout)["result"]
    if recipe in ("clm", "summarization"):
        assert theirs == ours["text"]
        return
    if recipe == "mlm":
        ours = {row["token"]: row["score"] for row in ours}
    else:
        ours = {row["label"]: row["score"] for row in ours[:5]}
    assert list(scores(theirs)) == list(ours)  # the same labels, in the same order
    # Images: transformers' processor resizes with its own filter, tpudeck with Pillow's.
    tolerance = 2e-2 if image else 1e-4
    assert scores(theirs) == pytest.approx(ours, abs=tolerance)


def test_bad_space_requests_are_one_line_each(finished_run_template, hub, tmp_path):
    run = str(finished_run_template)
    env = hub_env(hub, tmp_path)
    nowhere = one_line_error(tpudeck("space", run, env=env))
    assert "--space_id ORG/NAME (the Hub), --out DIR, or both" in nowhere
    bad_id = one_line_error(tpudeck("space", run, "--space_id", "no spaces/here", env=env))
    assert "--space_id 'no spaces/here' is not a Hub repo id" in bad_id
    unpushed = one_line_error(tpudeck("space", run, "--space_id", SPACE, env=env))
    assert "has pushed no model to the Hub: `tpudeck push" in unpushed
    hub.reject_tokens = True
    refused = one_line_error(tpudeck("space", run, "--space_id", SPACE, "--model_id", MODEL,
                                     env=env))  # fmt: skip
    assert "the Hub refused the token (401)" in refused
    assert SPACE not in hub.spaces
    written = tpudeck("space", run, "--model_id", MODEL, "--out", str(tmp_path / "app"), env=env)
    assert written.returncode == 0, written.stderr
    assert f'MODEL_ID = "{MODEL}"' in (tmp_path / "app" / "app.py").read_text()
