"""`tpudeck push` against a local Hub-compatible server: weights, traces and card arrive."""

import json
import os

import numpy as np
import pytest

from tpudeck.core.runs.rundir import RunDir

from .builders import tpudeck
from .hub_server import FakeHub

pytestmark = pytest.mark.slow
TOKEN = "hf_tpudeckTestToken0123456789"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = RunDir(tmp_path_factory.mktemp("hub") / "run")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    result = tpudeck("train", "--demo", "--platform", "cpu", "--max_steps", "40", "--eval_steps", "20",
                     "--output_dir", str(run.path), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run


def push(hub: FakeHub, run: RunDir, token: str = TOKEN):
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1"}
    return tpudeck(
        "push", str(run.path), "--hub_model_id", "tester/demo-gpt2", "--hub_token", token, env=env
    )


def test_push_delivers_weights_traces_and_card_that_load_back(trained, tmp_path):
    with FakeHub(TOKEN) as hub:
        result = push(hub, trained)
    assert result.returncode == 0, result.stderr
    files = hub.repos["tester/demo-gpt2"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(files)
    assert any(name.startswith("runs/events.out.tfevents") for name in files)
    assert "Final evaluation loss" in files["README.md"].decode()
    for name, content in files.items():  # the repo as a user would download it
        (tmp_path / "repo" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / name).write_bytes(content)
    from transformers import AutoModelForCausalLM

    from tpudeck.core.models.family import get_family

    theirs = AutoModelForCausalLM.from_pretrained(tmp_path / "repo")
    _, ours = get_family("gpt2").load(tmp_path / "repo")
    np.testing.assert_allclose(
        ours["wte"]["embedding"], theirs.transformer.wte.weight.detach().numpy()
    )
    statuses = [e["status"] for e in trained.read_events("push")]
    assert statuses[-3:] == ["queued", "started", "done"]


def test_push_retries_server_errors_until_it_lands(trained):
    with FakeHub(TOKEN) as hub:
        hub.fail_next = 2
        result = push(hub, trained)
    assert result.returncode == 0, result.stderr
    pushes = trained.read_events("push")
    last = pushes[max(i for i, e in enumerate(pushes) if e["status"] == "queued") :]
    assert [e["status"] for e in last] == [
        "queued",
        "started",
        "retry",
        "started",
        "retry",
        "started",
        "done",
    ]
    assert last[2]["retry_in_s"] == 1.0 and last[4]["retry_in_s"] == 2.0


def test_a_rejected_token_stops_with_a_reason(trained):
    with FakeHub(TOKEN) as hub:
        result = push(hub, trained, token="hf_wrongToken")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the Hub refused the token (401)" in result.stderr.strip().splitlines()[-1]
    assert trained.read_events("push")[-1]["status"] == "failed"


def test_the_token_is_never_written_to_the_run_directory(trained):
    with FakeHub(TOKEN) as hub:
        push(hub, trained)
    for path in trained.path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in json.dumps(trained.read_events())
