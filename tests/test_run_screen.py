"""The Run screen driven by Pilot: what it shows of a run and what its keys do."""

import json
import re

import pytest

from tpudeck.core.runs.rundir import RunDir
from tpudeck.tui.app import TpudeckApp
from tpudeck.tui.screens.run import RunScreen

from .builders import fake_run, text_of, wait_for

SIZE = (140, 45)


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
        # The events' 35 s, less the seconds since they were written (several under CI's load)
        eta = re.search(r"ETA 0m(\d+)s", summary)
        assert eta and 5 <= int(eta[1]) <= 35 and "MFU n/a" in summary
        assert len(app.screen.query_one("#loss-plot").series["train"]) == 30
        assert "step 30 loss" in "\n".join(app.screen.query_one("#log").lines)


async def test_l_shows_each_process_log_of_a_run_on_several_hosts(tpudeck_home, sleeper):
    run = fake_run(tpudeck_home, "20260101-000000-pod-0001", "training", sleeper.pid)
    (run.path / "stdout.1.log").write_text("process one joined\n")
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#runs").row_count == 1, timeout=10)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), timeout=10)
        log = lambda: "\n".join(app.screen.query_one("#log").lines)  # noqa: E731
        await wait_for(pilot, lambda: "step 30 loss" in log(), timeout=10)
        await pilot.press("l")
        await wait_for(pilot, lambda: "process one joined" in log(), timeout=10)
        assert "step 30 loss" not in log()
        assert app.screen.query_one("#log").border_title == "process 1's log"
        with open(run.path / "stdout.1.log", "a") as f:
            f.write("process one at step 31\n")  # followed, as process 0's was
        await wait_for(pilot, lambda: "process one at step 31" in log(), timeout=10)
        await pilot.press("l")  # round to process 0
        await wait_for(pilot, lambda: "step 30 loss" in log(), timeout=10)
        assert "process one" not in log()


@pytest.mark.parametrize(
    "platform, compiled_for", [("auto", "tpu"), ("auto", None), ("cpu", None), ("auto", "cpu")]
)
async def test_run_screen_shows_libtpu_figures_only_for_a_run_on_the_tpu(
    tpudeck_home, sleeper, monkeypatch, platform, compiled_for
):
    from .tpu_metrics_server import FakeTpuMetrics

    service = FakeTpuMetrics().start()
    monkeypatch.setenv("TPUDECK_TPU_METRICS", service.address)
    run = fake_run(tpudeck_home, "20260101-000000-tpu-0001", "training", sleeper.pid)
    run.replace_spec(json.dumps({"model_type": "gpt2", "platform": platform}))
    if compiled_for:  # what the trainer's backend turned out to be
        kind = "TPU v3" if compiled_for == "tpu" else "cpu"
        run.emit("compile", seconds=2.5, devices=4, platform=compiled_for, device_kind=kind)
    app = TpudeckApp()
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.open_run(run.run_id)
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), timeout=10)
            await pilot.pause(2.5)  # two device samples
            panel = text_of(app, "#run-devices")
    finally:
        service.stop()
    if platform == "cpu" or compiled_for == "cpu":  # never someone else's TPU job's numbers
        assert "TPU" not in panel and service.requests == 0
    else:
        assert "TPU busy 63% 62% 0% 99%" in panel and "HBM 3.0 7.0 11.0 15.0 of 16 GiB" in panel
    if compiled_for:
        assert f"4 x {'TPU v3' if compiled_for == 'tpu' else 'cpu'}" in panel


async def test_run_screen_shows_the_accuracy_of_a_classifier(tpudeck_home, sleeper):
    run = fake_run(tpudeck_home, "20260101-000000-vit-0001", "training", sleeper.pid)
    run.emit("eval", step=30, loss=0.25, accuracy=0.975, f1=0.9712, matthews_correlation=0.95)
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(run.run_id)
        await wait_for(pilot, lambda: "accuracy 97.5%" in text_of(app, "#summary"), 10)
        summary = text_of(app, "#summary")
        assert "eval 0.2500" in summary and "F1 0.971" in summary and "MCC 0.950" in summary


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
        assert text_of(app, "#progress").endswith(" 25%")
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


@pytest.mark.slow
async def test_c_resumes_a_stopped_run_from_its_own_screen_which_follows_it_on(finished_run):
    run = RunDir(finished_run)
    (run.checkpoints_dir / "step_4").rename(run.path / "elsewhere")  # stopped after step 2
    run.write_status("stopped", own=False, step=2, message="stopped by SIGTERM at step 2")
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(str(run.path))
        await wait_for(pilot, lambda: "stopped by SIGTERM" in text_of(app, "#summary"), 10)
        screen = app.screen
        await pilot.press("c")
        await wait_for(pilot, lambda: "finished" in text_of(app, "#summary"), 120)
        assert app.screen is screen  # no second screen for the same run
        assert "stopped by SIGTERM" not in text_of(app, "#summary")  # the old note is gone
        assert "step 4/4" in text_of(app, "#summary")


@pytest.mark.parametrize("state", ["finished", "training"])
async def test_c_on_a_run_with_nothing_to_resume_says_so_and_launches_nothing(
    tpudeck_home, sleeper, state
):
    run = fake_run(tpudeck_home, "20260101-000000-done-0001", state, sleeper.pid)
    app = TpudeckApp()
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(run.run_id)
        await wait_for(pilot, lambda: state in text_of(app, "#summary"), 10)
        await pilot.press("c")
        await pilot.pause(0.5)
        notes = [str(n.message) for n in app._notifications]
        assert notes and "nothing to resume" in notes[-1]
        assert not [w for w in app.workers if w.group == "launch"]


async def test_the_summary_never_splits_a_figure_from_its_name_at_100_columns(
    tpudeck_home, sleeper
):
    run = fake_run(tpudeck_home, "20260101-000000-classifier-with-a-long-name-0001", "training",
                   sleeper.pid)  # fmt: skip
    run.emit("eval", step=30, loss=0.25, accuracy=0.975, f1=0.9712, matthews_correlation=0.95)
    app = TpudeckApp()
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_run(run.run_id)
        await wait_for(pilot, lambda: "MCC" in text_of(app, "#summary"), 10)
        for line in text_of(app, "#summary").splitlines():
            assert not re.search(r"(ETA|MFU|step|loss|eval|owner|F1|MCC|compile)\s*$", line), line
        assert re.search(r"ETA 0m3\ds", text_of(app, "#summary"))
