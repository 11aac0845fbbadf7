"""`tpudeck train --push_to_hub` against a local Hub that is slow, fails, goes down and
comes back: training's pace does not change, the final push lands, the token leaks nowhere.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tpudeck.core.runs.rundir import RunDir

from .builders import lock_was_taken, text_of, tpudeck, wait_for
from .hub_server import FakeHub

TOKEN = "hf_tpudeckTrainToken0123456789"
RUN_FLAGS = ("--demo", "--platform", "cpu", "--max_steps", "600", "--save_steps", "30",
             "--logging_steps", "20", "--eval_steps", "300")  # fmt: skip


def hub_env(hub_url: str) -> dict:
    return {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        "HF_ENDPOINT": hub_url,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
    }


def wall_steps_per_s(run: RunDir) -> float:
    """Steps over wall time, saves and evals included: a push that blocked would show."""
    steps = run.read_events("step")[2:]  # the first windows include warm-up
    return (steps[-1]["step"] - steps[0]["step"]) / (steps[-1]["t"] - steps[0]["t"])


def wait_for_push(run: RunDir, status: str, after: int = 0, timeout: float = 120) -> int:
    """Index of the first push event with `status` after index `after`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pushes = run.read_events("push")
        for i in range(after, len(pushes)):
            if pushes[i]["status"] == status:
                return i
        time.sleep(0.05)
    raise AssertionError(f"no {status} push after {after}: {run.read_events('push')}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same run twice: without a push, then pushing through a faulty Hub."""
    root = tmp_path_factory.mktemp("hubtrain")
    env = {**os.environ, "TPUDECK_HOME": str(root / "home")}
    plain = RunDir(root / "plain")
    result = tpudeck("train", *RUN_FLAGS, "--output_dir", str(plain.path), env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    pushed = RunDir(root / "pushed")
    with FakeHub(TOKEN) as hub, open(root / "pushed.out", "w") as out:
        hub.fail_next, hub.delay_s = 2, 0.5  # a Hub that errs, then answers slowly
        child = subprocess.Popen(
            [sys.executable, "-m", "tpudeck", "train", *RUN_FLAGS, "--output_dir", str(pushed.path),
             "--push_to_hub", "--hub_model_id", "tester/demo-live", "--hub_strategy", "checkpoint",
             "--hub_token", TOKEN],
            stdout=out, stderr=subprocess.STDOUT, env={**hub_env(hub.url), **{"TPUDECK_HOME": env["TPUDECK_HOME"]}},
        )  # fmt: skip
        first_done = wait_for_push(pushed, "done")
        hub.stop()  # the Hub goes down mid-run ...
        wait_for_push(pushed, "retry", after=first_done)
        time.sleep(2)
        hub.start()  # ... and comes back
        assert child.wait(timeout=300) == 0, (root / "pushed.out").read_text()
    return plain, pushed, hub, (root / "pushed.out").read_text()


# serial: the pace ratio below is a bound that another test's load would skew
pytestmark = [pytest.mark.slow, pytest.mark.serial]


def test_training_pace_is_the_same_with_a_faulty_hub(runs):
    plain, pushed, _, _ = runs
    # Each push answers after 0.5 s: had one blocked a save, 20 saves would halve the pace.
    ratio = wall_steps_per_s(pushed) / wall_steps_per_s(plain)
    assert ratio > 0.75, f"steps/s with push / without = {ratio:.2f}"


def test_pushes_retry_through_errors_and_an_outage_and_the_final_one_lands(runs):
    _, pushed, hub, _ = runs
    pushes = pushed.read_events("push")
    errors = {e["error"] for e in pushes if e["status"] == "retry"}
    kinds = {error.split(" on ")[0] for error in errors}  # "ConnectError on POST /api/..."
    assert "HfHubHTTPError 500" in kinds and "ConnectError" in kinds
    assert pushes[-1]["status"] == "done" and pushes[-1]["step"] == 600
    assert pushes[-1]["url"].startswith(hub.url)
    queued = [e for e in pushes if e["status"] == "queued"]
    done = [e for e in pushes if e["status"] == "done"]
    assert len(queued) == 20 and len(done) < len(queued)  # saves behind a slow push coalesce
    files = hub.repos["tester/demo-live"]
    assert files["model.safetensors"] == (pushed.model_dir / "model.safetensors").read_bytes()
    assert "last-checkpoint/checksums.json" in files and "tokenizer.json" in files
    assert any(name.startswith("runs/events.out.tfevents") for name in files)
    card = files["README.md"].decode()
    assert "| 600 |" in card and "for 600 steps" in card
    # the Hub's inference widget runs it: its task, and a prompt from the run's own data
    assert 'pipeline_tag: text-generation\nwidget:\n- text: "On ' in card
    assert not (pushed.path / "hub" / "pending").exists()


def test_the_token_is_in_no_file_of_the_run_and_not_in_its_output(runs):
    _, pushed, _, output = runs
    assert TOKEN not in output
    for path in pushed.path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


async def test_the_run_screen_shows_the_pushes_and_never_the_token(runs, monkeypatch):
    from tpudeck.tui.app import TpudeckApp

    _, pushed, hub, _ = runs
    home = pushed.path.parent / "home"
    monkeypatch.setenv("TPUDECK_HOME", str(home))
    link = next(p for p in (home / "runs").iterdir() if p.resolve() == pushed.path)
    app = TpudeckApp()
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_run(link.name)
        await wait_for(pilot, lambda: "pushed" in text_of(app, "#hub"), 10)
        hub_text = text_of(app, "#hub")
        screen = app.export_screenshot()
    assert "tester/demo-live" in hub_text and "step 600 pushed" in hub_text
    assert f"{hub.url}/tester/demo-live" in hub_text
    assert TOKEN not in screen and TOKEN not in hub_text


def test_a_dead_hub_or_a_bad_token_fails_in_one_line_before_the_accelerator(tmp_path):
    with FakeHub(TOKEN) as hub:
        pass  # stopped: nothing listens on its port now
    cases = {
        "cannot reach the Hub at http://127.0.0.1": TOKEN,
        "the Hub refused the token (401)": "hf_wrong",
    }
    for expected, token in cases.items():
        live = FakeHub(TOKEN) if token == "hf_wrong" else None
        url = live.url if live else hub.url
        run = RunDir(tmp_path / token)
        result = tpudeck("train", "--demo", "--push_to_hub", "--hub_model_id", "tester/x",
                         "--hub_token", token, "--output_dir", str(run.path), env=hub_env(url))  # fmt: skip
        if live:
            live.stop()
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], result.stderr
        assert not run.path.exists()  # refused before it started: no run is left behind
        assert not lock_was_taken(Path(os.environ["TPUDECK_HOME"]))
