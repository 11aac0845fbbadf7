"""The Textual app driven by Pilot: launch from the keyboard, follow, stop, validate, refuse."""

import json
import os
import re
import subprocess
import sys

import pytest

from tpudeck.core.demo import demo_settings
from tpudeck.core.runs.procs import start_ticks
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.runs.store import RunStore
from tpudeck.tui.app import TpudeckApp
from tpudeck.tui.screens.dialogs import Confirm
from tpudeck.tui.screens.launch import LaunchScreen
from tpudeck.tui.screens.run import RunScreen

from .builders import judged, text_of, tree_digest, wait_for

SIZE = (140, 45)


def fake_run(home, run_id: str, state: str, pid: int, steps: int = 30) -> RunDir:
    run = RunDir(home / "runs" / run_id)
    run.create(json.dumps({"model_type": "gpt2"}))
    run.write_status(
        state, own=False, pid=pid, pid_start=start_ticks(pid), step=steps, total_steps=100
    )
    run.emit("compile", seconds=2.5, devices=8)
    for step in range(1, steps + 1):
        run.emit("step", step=step, total_steps=100, loss=5.0 / step, lr=1e-3, tokens_per_s=1000.0,
                 steps_per_s=2.0, mfu=None)  # fmt: skip
    run.emit("eval", step=steps, loss=0.5, perplexity=1.65)
    run.log_path.write_text("".join(f"step {s} loss {5.0 / s:.4f}\n" for s in range(1, steps + 1)))
    return run


@pytest.mark.slow
async def test_launch_the_demo_from_the_keyboard_follow_it_and_stop_it(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    app = TpudeckApp(launch_values={**demo_settings(), "max_steps": 100000, "logging_steps": 5})
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LaunchScreen)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        await wait_for(pilot, lambda: re.search(r"training .* loss \d", text_of(app, "#summary")))
        first = app.screen.latest["step"]["step"]
        await wait_for(pilot, lambda: app.screen.latest["step"]["step"] >= first + 20)
        assert len(app.screen.query_one("#loss-plot").series["train"]) >= 2
        await pilot.press("s")
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await wait_for(pilot, lambda: "stopped" in text_of(app, "#summary"), timeout=60)
        (record,) = RunStore().list()
        assert record.state == "stopped" and "SIGTERM" in record.status["message"]


async def test_a_launch_into_a_finished_run_is_refused_in_one_notification(finished_run):
    """The app launches through the engine (runs/launch.py), as the CLI does: the refusal
    is the engine's one line, and the finished run is left byte for byte."""
    before = tree_digest(finished_run)
    values = {**demo_settings(), "output_dir": str(finished_run)}
    app = TpudeckApp(launch_values=values)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: len(app._notifications) >= 2, timeout=60)
        (refusal,) = [n for n in app._notifications if n.severity == "error"]
        assert refusal.message.startswith(f"--output_dir {finished_run} holds run run (finished")
        assert isinstance(app.screen, LaunchScreen)
    assert tree_digest(finished_run) == before and RunStore().list() == []


async def test_bad_values_are_shown_inline_and_block_the_launch(demo_corpus):
    app = TpudeckApp(launch_values={"train_file": str(demo_corpus), "model_size": "demo"})
    async with app.run_test(size=SIZE) as pilot:
        await judged(pilot)
        assert "ready to launch" in text_of(app, "#error")
        app.screen.query_one("#learning_rate").focus()
        await pilot.press(*"abc")
        await judged(pilot)
        assert "--learning_rate wants a number, got 'abc'" in text_of(app, "#error")
        assert app.screen.query_one("#launch-button").disabled
        await pilot.press("backspace", "backspace", "backspace")
        app.screen.query_one("#block_size").focus()
        await pilot.press(*"4096")
        await judged(pilot)
        assert "larger than the model's 128 positions" in text_of(app, "#error")
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen) and RunStore().list() == []


async def test_runs_screen_lists_runs_and_opens_one(tpudeck_home, sleeper):
    fake_run(tpudeck_home, "20260101-000000-demo-0001", "training", sleeper.pid)
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#runs").row_count == 1, timeout=10)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), timeout=10)
        await wait_for(pilot, lambda: "step 30/100" in text_of(app, "#summary"), timeout=10)
        summary = text_of(app, "#summary")
        assert "loss 0.1667" in summary and "eval 0.5000" in summary and "compile 2.5s" in summary
        assert "ETA 0m35s" in summary and "MFU n/a" in summary
        assert len(app.screen.query_one("#loss-plot").series["train"]) == 30
        assert "step 30 loss" in "\n".join(app.screen.query_one("#log").lines)


@pytest.mark.parametrize("platform", ["auto", "cpu"])
async def test_run_screen_shows_libtpu_figures_only_for_a_run_on_the_tpu(
    tpudeck_home, sleeper, monkeypatch, platform
):
    from .tpu_metrics_server import FakeTpuMetrics

    service = FakeTpuMetrics().start()
    monkeypatch.setenv("TPUDECK_TPU_METRICS", service.address)
    run = fake_run(tpudeck_home, "20260101-000000-tpu-0001", "training", sleeper.pid)
    run.replace_spec(json.dumps({"model_type": "gpt2", "platform": platform}))
    app = TpudeckApp()
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.open_run(run.run_id)
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), timeout=10)
            await pilot.pause(2.5)  # two device samples
            panel = text_of(app, "#run-devices")
    finally:
        service.stop()
    if platform == "cpu":  # a CPU run next to someone's TPU job must not show their numbers
        assert "TPU" not in panel and service.requests == 0
    else:
        assert "TPU busy 63% 62% 0% 99%" in panel and "HBM 3.0 7.0 11.0 15.0 of 16 GiB" in panel


async def test_another_users_run_cannot_be_stopped_from_the_ui(tpudeck_home, sleeper, monkeypatch):
    fake_run(tpudeck_home, "20260101-000000-theirs-0001", "training", sleeper.pid)
    monkeypatch.setattr("tpudeck.core.runs.store.current_user", lambda: "mallory")
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#runs").row_count == 1, timeout=10)
        await pilot.press("s")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, Confirm)
        messages = [n.message for n in app._notifications]
        assert any("belongs to root: only they (or root) may stop it" in m for m in messages)
        assert sleeper.poll() is None


async def test_theme_switch_is_remembered_for_the_next_session():
    async with TpudeckApp().run_test(size=SIZE) as pilot:
        assert pilot.app.theme == "tpudeck-dark"
        await pilot.press("ctrl+t")
        assert pilot.app.theme == "tpudeck-light"
    async with TpudeckApp().run_test(size=SIZE) as pilot:
        assert pilot.app.theme == "tpudeck-light"


def test_a_whole_ui_session_imports_no_ml_library(tpudeck_home):
    code = """
import asyncio, sys
from tpudeck.tui.app import TpudeckApp
from tpudeck.core.demo import demo_settings

async def session():
    app = TpudeckApp(launch_values=demo_settings())
    async with app.run_test(size=(140, 45)) as pilot:
        for keys in (["escape"], ["v"], ["escape", "question_mark"], ["escape", "n"], ["escape"]):
            await pilot.press(*keys)
            await pilot.pause(0.5)

asyncio.run(session())
banned = {"jax", "jaxlib", "flax", "optax", "transformers", "datasets", "torch", "tokenizers",
          "tpudeck.core.train", "tpudeck.core.recipes.text_blocks"}
print(sorted(banned & set(sys.modules)))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


async def test_devices_screen_shows_chips_host_and_a_foreign_holder(tmp_path, monkeypatch):
    from .builders import V3_8, fake_pci
    from .fake_os import fake_dev_tree, hold_open
    from .tpu_metrics_server import FakeTpuMetrics

    service = FakeTpuMetrics().start()
    monkeypatch.setenv("TPUDECK_TPU_METRICS", service.address)
    dev = fake_dev_tree(tmp_path)
    monkeypatch.setenv("TPUDECK_DEVICE_GLOBS", str(dev / "accel*"))
    monkeypatch.setenv("TPUDECK_SYSFS_PCI", str(fake_pci(tmp_path / "pci", V3_8)))
    notebook = hold_open(dev / "accel0")
    try:
        app = TpudeckApp()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("v")
            await wait_for(pilot, lambda: "outside tpudeck" in text_of(app, "#holder"), timeout=10)
            holder = text_of(app, "#holder")
            assert f"pid {notebook.pid}" in holder and "python -c" in holder
            host = text_of(app, "#host-text")
            assert (
                "memory" in host and "cpu" in host and "tpu: 4 x TPU v3 (16 GiB HBM each)" in host
            )
            assert "nvidia: not available" in host
            assert "empty" in text_of(app, "#queue")
            chips = text_of(app, "#chips").splitlines()
            assert len(chips) == 5 and chips[1].startswith("chip 0  busy")
            assert " 63%" in chips[1] and "3.0/16 GiB" in chips[1] and "15.0/16 GiB" in chips[4]
            service.stop()  # the run ends, libtpu's service with it
            await wait_for(pilot, lambda: "no metrics service" in text_of(app, "#chips"), 10)
            service.start()
            await wait_for(pilot, lambda: "chip 3" in text_of(app, "#chips"), 10)
    finally:
        notebook.kill()
        notebook.wait()
        service.stop()


@pytest.mark.slow
async def test_a_user_script_launches_from_the_launch_screen(tmp_path):
    script = tmp_path / "my_train.py"
    script.write_text("print('my script ran', flush=True)\n")
    app = TpudeckApp(launch_values={})
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#recipe").value = "script"
        app.screen.query_one("#script_command").focus()
        await pilot.press(*f"{sys.executable} {script}")
        await judged(pilot)
        assert "ready to launch" in text_of(app, "#error") and "accelerator lock" in text_of(
            app, "#summary"
        )
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), timeout=60)
        await wait_for(pilot, lambda: "finished" in text_of(app, "#summary"), timeout=60)
        assert "my script ran" in "\n".join(app.screen.query_one("#log").lines)


@pytest.mark.slow
async def test_train_a_tokenizer_from_the_launch_screen(demo_corpus, tpudeck_home):
    app = TpudeckApp(
        launch_values={"train_file": str(demo_corpus), "vocab_size": 300, "model_size": "demo"}
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: app.screen.query_one("#tokenizer_name").value, timeout=60)
        directory = app.screen.query_one("#tokenizer_name").value
        assert directory == str(tpudeck_home / "tokenizers" / "stories-bpe-300")
        assert (tpudeck_home / "tokenizers" / "stories-bpe-300" / "tokenizer.json").is_file()
        await judged(pilot)
        assert "ready to launch" in text_of(app, "#error")  # the spec accepts the new tokenizer dir


async def test_runs_sort_cycles_with_o(tpudeck_home, sleeper):
    fake_run(tpudeck_home, "20260101-000000-b-0001", "finished", sleeper.pid, steps=5)  # loss 1.0
    fake_run(tpudeck_home, "20260102-000000-a-0002", "finished", sleeper.pid, steps=50)  # loss 0.1
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#runs")
        await wait_for(pilot, lambda: table.row_count == 2, timeout=10)
        first = lambda: table.get_row_at(0)[0]  # noqa: E731
        assert first() == "20260102-000000-a-0002"  # newest first
        await pilot.press("o", "o", "o")  # newest -> state -> owner -> loss
        assert app.screen.sub_title == "runs, by loss" and first() == "20260102-000000-a-0002"
        await pilot.press("o")
        assert app.screen.sub_title == "runs, by newest"


async def test_launch_summary_counts_devices_and_tokens(demo_corpus):
    values = {
        "train_file": str(demo_corpus),
        "model_size": "demo",
        "block_size": 64,
        "max_steps": 100,
    }
    app = TpudeckApp(launch_values=values)
    async with app.run_test(size=SIZE) as pilot:
        await judged(pilot)
        summary = text_of(app, "#summary")
        assert (
            "8 devices (XLA_FLAGS host devices) x 8 per device x 1 accumulation = global batch 64"
            in summary
        )
        assert "100 steps = 0.4M tokens" in summary


async def test_brackets_in_messages_are_shown_not_parsed_as_markup(demo_corpus):
    app = TpudeckApp(launch_values={"train_file": str(demo_corpus), "dropout": 1.5})
    async with app.run_test(size=SIZE) as pilot:
        await judged(pilot)
        assert "--dropout must be in [0, 1), got 1.5" in text_of(app, "#error")


async def test_ctrl_o_picks_a_checkpoint_folder_for_the_focused_model_field(tmp_path, monkeypatch):
    from tpudeck.tui.screens.picker import PathPicker

    (tmp_path / "work" / "ckpt").mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (tmp_path / "work" / "ckpt" / name).write_text("{}")
    (tmp_path / "work" / "other").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    app = TpudeckApp(launch_values={"model_size": "demo"})
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#model_name_or_path").focus()
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPicker), 10)
        tree = app.screen.query_one("#path-tree")
        await wait_for(pilot, lambda: len(tree.root.children) == 2, 10)
        await pilot.press("down", "down", "ctrl+o")  # other/: not a checkpoint, stays open
        await pilot.pause(0.2)
        assert isinstance(app.screen, PathPicker)
        assert any("not a HF checkpoint folder" in n.message for n in app._notifications)
        await pilot.press("up", "ctrl+o")  # ckpt/
        await wait_for(pilot, lambda: not isinstance(app.screen, PathPicker), 10)
        assert app.screen.query_one("#model_name_or_path").value == str(tmp_path / "work" / "ckpt")


async def test_the_command_palette_offers_the_screens_own_actions(tmp_path, monkeypatch):
    from tpudeck.tui.screens.picker import PathPicker

    monkeypatch.chdir(tmp_path)
    app = TpudeckApp(launch_values={"model_size": "demo"})
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LaunchScreen)
        await pilot.press("ctrl+p")
        await pilot.press(*"pick path")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPicker), 10)


async def test_run_screen_shows_the_accuracy_of_a_classifier(tpudeck_home, sleeper):
    run = fake_run(tpudeck_home, "20260101-000000-vit-0001", "training", sleeper.pid)
    run.emit("eval", step=30, loss=0.25, accuracy=0.975, f1=0.9712, matthews_correlation=0.95)
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(run.run_id)
        await wait_for(pilot, lambda: "accuracy 97.5%" in text_of(app, "#summary"), 10)
        summary = text_of(app, "#summary")
        assert "eval 0.2500" in summary and "F1 0.971" in summary and "MCC 0.950" in summary


async def test_the_form_is_judged_off_the_ui_thread_and_the_newest_edit_wins(
    demo_corpus, monkeypatch
):
    """Validation reads files (a slow disk, a big image folder): keys must not wait."""
    import threading
    import time

    from tpudeck.tui.screens import launch

    threads, real = [], launch.judge

    def slow_judge(form, devices):
        threads.append(threading.current_thread())
        time.sleep(0.2)
        return real(form, devices)

    monkeypatch.setattr(launch, "judge", slow_judge)
    app = TpudeckApp(launch_values={"train_file": str(demo_corpus), "model_size": "demo"})
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#learning_rate").focus()
        await pilot.press(*"0.02")
        await judged(pilot)
        assert "lr 0.02" in text_of(app, "#summary")
        assert threads and threading.main_thread() not in threads


async def test_run_screen_shows_downloads_and_tokenising_while_the_run_prepares(
    tpudeck_home, sleeper
):
    run = fake_run(tpudeck_home, "20260101-000000-hub-0001", "preparing", sleeper.pid, steps=0)
    run.emit("prepare", stage="downloading", what="org/tiny-gpt2", done=12_000_000,
             total=48_000_000, unit="B")  # fmt: skip
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(run.run_id)
        line = "downloading org/tiny-gpt2: 12.0 of 48.0 MB"
        await wait_for(pilot, lambda: line in text_of(app, "#summary"), 10)
        assert app.screen.query_one("ProgressBar").percentage == 0.25
        run.emit("prepare", stage="tokenising", what="training texts", done=20_000,
                 total=1_500_000, unit="texts")  # fmt: skip
        line = "tokenising training texts: 20,000 of 1,500,000 texts"
        await wait_for(pilot, lambda: line in text_of(app, "#summary"), 10)
        run.emit("compile", seconds=0.52, devices=8, cached=True)  # jax's cache had the step
        await wait_for(pilot, lambda: "compile 0.5s (cached)" in text_of(app, "#summary"), 10)
        run.emit("startup", imports=1.25, data=3.0, wait=0.0, jax=0.6, model=0.3, init=0.8,
                 replicate=0.1, compile=0.52)  # fmt: skip
        breakdown = "startup 6.6s: imports 1.2 · data 3.0 · wait 0.0 · jax 0.6 · model 0.3"
        await wait_for(pilot, lambda: breakdown in text_of(app, "#summary"), 10)


async def test_a_hub_id_launches_without_the_network_sized_when_downloaded(demo_corpus):
    values = {"train_file": str(demo_corpus), "model_name_or_path": "org/tiny-gpt2"}
    app = TpudeckApp(launch_values=values)
    async with app.run_test(size=SIZE) as pilot:
        await judged(pilot)
        assert "ready to launch" in text_of(app, "#error")
        assert "from the Hub's org/tiny-gpt2: downloaded" in text_of(app, "#summary")
