"""The Textual app driven by Pilot: launch from the keyboard, follow, stop, validate, refuse."""

import os
import re
import subprocess
import sys

import pytest

from tpudeck.core.demo import demo_settings
from tpudeck.core.runs.store import RunStore
from tpudeck.tui.app import TpudeckApp
from tpudeck.tui.screens.dialogs import Confirm
from tpudeck.tui.screens.launch import LaunchScreen
from tpudeck.tui.screens.run import RunScreen

from .builders import V2_8, fake_pci, fake_run, judged, text_of, tree_digest, wait_for

SIZE = (140, 45)


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
            assert app.screen.query_one("#queue").row_count == 0
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
        assert "100 steps = 409.6k tokens" in summary


async def test_the_launch_form_says_whether_the_state_fits_the_chips(
    demo_corpus, tmp_path, monkeypatch
):
    """On a v2-8 (4 GiB per device): GPT-2 medium's state does not fit replicated, and
    fits sharded."""
    monkeypatch.setenv("TPUDECK_SYSFS_PCI", str(fake_pci(tmp_path / "pci", V2_8)))
    values = {"train_file": str(demo_corpus), "model_size": "medium", "platform": "tpu"}
    app = TpudeckApp(launch_values=values)
    async with app.run_test(size=SIZE) as pilot:
        await judged(pilot)
        assert "which does not fit a TPU v2 device's 4.00 GiB" in text_of(app, "#summary")
        app.screen.query_one("#parallelism").value = "fsdp"
        await judged(pilot)
        assert "which fits a TPU v2 device's 4.00 GiB" in text_of(app, "#summary")


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


async def test_a_hub_id_launches_without_the_network_sized_when_downloaded(demo_corpus):
    values = {"train_file": str(demo_corpus), "model_name_or_path": "org/tiny-gpt2"}
    app = TpudeckApp(launch_values=values)
    async with app.run_test(size=SIZE) as pilot:
        await judged(pilot)
        assert "ready to launch" in text_of(app, "#error")
        assert "from the Hub's org/tiny-gpt2: downloaded" in text_of(app, "#summary")


@pytest.mark.slow
async def test_a_run_on_several_hosts_launches_from_the_launch_screen(tmp_path):
    """The hosts field hands the form's spec to every worker (here two processes of four
    CPU devices) through the supervisor `tpudeck train --hosts ... --detach` starts."""
    run = tmp_path / "pod"
    values = {**demo_settings(), "max_steps": 4, "logging_steps": 2, "output_dir": str(run)}
    app = TpudeckApp(launch_values=values)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#hosts").value = "bogus:2"
        await judged(pilot)
        assert "hosts: --hosts bogus:2: say local:N" in text_of(app, "#error")
        app.screen.query_one("#hosts").value = "local:2"
        await judged(pilot)
        assert "on local:2, one trainer per worker" in text_of(app, "#summary")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), timeout=120)
        await wait_for(pilot, lambda: "finished" in text_of(app, "#summary"), timeout=180)
    assert "step 4/4" in (run / "stdout.1.log").read_text()  # worker 1's own log
    assert "step 4/4" in (run / "hosts.log").read_text()  # worker 0's, through the supervisor
