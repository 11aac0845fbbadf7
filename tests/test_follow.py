"""Following a run: every event the trainer writes reaches the screen once, in order, however
long a read takes, and the watcher ends with its screen."""

import json
import subprocess
import sys
import time

from tpudeck.core.runs.event_summary import load_summary
from tpudeck.core.runs.procs import start_ticks
from tpudeck.core.runs.rundir import RunDir
from tpudeck.tui.app import TpudeckApp
from tpudeck.tui.follow import RunFollower
from tpudeck.tui.screens.run import RunScreen

from .builders import text_of, wait_for

BACKLOG = 600_000  # steps there when the screen opens: its first read outlasts a look period
LIVE = 60  # then written at 20 steps/s while the screen follows

WRITER = """
import sys, time
from tpudeck.core.runs.rundir import RunDir
run, first, count = RunDir(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for step in range(first, first + count):
    run.emit("step", step=step, total_steps=first + count - 1, loss=1.0 / step, lr=1e-3)
    if step % 5 == 0:
        run.write_status("training", step=step, total_steps=first + count - 1)
    time.sleep(0.05)
run.write_status("finished", step=first + count - 1, total_steps=first + count - 1)
"""


def run_with_backlog(home) -> RunDir:
    run = RunDir(home / "runs" / "20260101-000000-followed-0001")
    run.create(json.dumps({"model_type": "gpt2", "platform": "cpu"}))
    with open(run.events_path, "a") as events:
        events.write("".join(
            json.dumps({"t": 0.0, "kind": "step", "step": s, "loss": 1.0 / s, "lr": 1e-3}) + "\n"
            for s in range(1, BACKLOG + 1)
        ))  # fmt: skip
    return run


def start_writer(run: RunDir) -> subprocess.Popen:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(run.path), str(BACKLOG + 1),
                               str(LIVE)])  # fmt: skip
    run.write_status("training", own=False, pid=writer.pid, pid_start=start_ticks(writer.pid))
    return writer


async def test_the_run_screen_shows_every_step_of_a_20_steps_per_second_run_once(tpudeck_home):
    run = run_with_backlog(tpudeck_home)
    app = TpudeckApp()
    async with app.run_test(size=(140, 45)) as pilot:
        writer = start_writer(run)
        app.open_run(run.run_id)
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), timeout=10)
        screen = app.screen
        await wait_for(pilot, lambda: "finished" in text_of(app, "#summary"), timeout=60)
        assert writer.wait(10) == 0
        await pilot.pause(1.0)  # a last look after the final status
        steps = list(screen.query_one("#loss-plot").series["train"].x)
        assert steps == list(range(1, BACKLOG + LIVE + 1))  # none doubled, none dropped
        assert f"step {BACKLOG + LIVE}/{BACKLOG + LIVE}" in text_of(app, "#summary")

        app.pop_screen()
        await pilot.pause(1.5)
        watchers = [w for w in app.workers if w.group == "follow"]
        assert not watchers, watchers  # the screen's watcher ended with it

        # The first screen saved the summary of what it read; a screen opened again starts
        # from it (reads only the lines after it) and shows the same steps.
        assert load_summary(run.events_path).offset > 0
        app.open_run(run.run_id)
        await wait_for(pilot, lambda: "finished" in text_of(app, "#summary"), timeout=10)
        again = list(app.screen.query_one("#loss-plot").series["train"].x)
        assert again == list(range(1, BACKLOG + LIVE + 1))


def test_a_follower_of_an_ended_run_reads_nothing_until_the_run_changes(tpudeck_home):
    run = RunDir(tpudeck_home / "runs" / "20260101-000000-ended-0001")
    run.create("{}")
    run.emit("step", step=1, loss=2.0, lr=1e-3)
    run.write_status("finished", own=False, step=1, total_steps=1)
    follower = RunFollower(run)
    assert follower.look() and train_points(follower.take()) == [(1, 2.0, 1e-3)]
    assert not follower.look()  # ended, untouched: not even status.json is read

    time.sleep(0.01)  # a resume by someone else: the run moves again
    run.write_status("training", own=False, pid=1, pid_start=start_ticks(1))
    run.emit("step", step=2, loss=1.5, lr=1e-3)
    assert follower.look()
    taken = follower.take()
    assert train_points(taken) == [(2, 1.5, 1e-3)] and taken.status["state"] == "training"
    assert train_points(follower.take()) == []  # what was taken is gone; the status stays


def train_points(taken) -> list[tuple]:
    events = taken.events
    return list(zip(events.loss.x, events.loss.y, events.lr.y, strict=True))
