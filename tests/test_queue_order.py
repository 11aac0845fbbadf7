"""Chains and priorities in the queue, with real detached runs (scripts and a trainer)."""

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest

from tpudeck.core.errors import TpudeckError
from tpudeck.core.runs.lock import AcceleratorLock
from tpudeck.core.runs.procs import start_ticks
from tpudeck.core.runs.queue import RunQueue
from tpudeck.core.runs.store import RunStore

from .builders import as_user, one_line_error, tpudeck
from .fake_os import wait_until

FINAL = ("finished", "failed", "stopped", "diverged", "died")


def launch_script(code: str, *flags: str) -> str:
    result = tpudeck("run", "--detach", *flags, "--", sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    return re.search(r"^run (\S+): ", result.stdout, re.M)[1]


def acquired(home) -> list[str]:
    trail = (home / "locks" / "holders.jsonl").read_text().splitlines()
    return [e["run_id"] for e in map(json.loads, trail) if e["event"] == "acquired"]


def record(run_id: str):
    return RunStore().find(run_id)


@pytest.mark.slow
def test_a_chain_runs_after_its_parent_and_is_cancelled_when_its_parent_fails(tpudeck_home):
    blocker = AcceleratorLock(tpudeck_home)
    assert blocker.try_acquire("held-by-the-test")
    parent = launch_script("import time; time.sleep(0.5)")
    child = launch_script("pass", "--after", parent)
    trainer = tpudeck("train", "--demo", "--detach", "--after", parent, "--max_steps", "2",
                      "--eval_steps", "100", "--save_steps", "100")  # fmt: skip
    assert trainer.returncode == 0, trainer.stderr
    trainer = re.search(r"^run (\S+): ", trainer.stdout, re.M)[1]
    failing = launch_script("raise SystemExit(3)")
    orphan = launch_script("pass", "--after", failing)
    listing = tpudeck("queue").stdout
    assert f"{child}  root  pid" in listing and f"after {parent}" in listing
    assert record(child).status["waiting_for"].startswith(f"run {parent} to finish")
    blocker.release()

    runs = (parent, child, trainer, failing, orphan)
    wait_until(lambda: all(record(r).state in FINAL for r in runs), timeout=300)
    assert [record(r).state for r in runs] == ["finished", "finished", "finished", "failed",
                                               "stopped"]  # fmt: skip
    assert record(orphan).status["message"] == (
        f"cancelled: run {failing}, which it was chained after, failed"
    )
    order = acquired(tpudeck_home)
    assert order.index(parent) < order.index(child) and order.index(parent) < order.index(trainer)
    assert orphan not in order  # it never held the accelerator


@pytest.mark.slow
def test_priorities_reorder_the_waiting_runs_and_can_be_edited(tpudeck_home):
    blocker = AcceleratorLock(tpudeck_home)
    assert blocker.try_acquire("held-by-the-test")
    first = launch_script("pass")
    second = launch_script("pass")
    urgent = launch_script("pass", "--priority", "5")
    last = launch_script("pass")
    assert tpudeck("queue", "--priority", "7", last).returncode == 0
    assert [e["run_id"] for e in RunQueue(tpudeck_home).entries()] == [last, urgent, first, second]
    assert "priority 7" in tpudeck("queue").stdout
    blocker.release()
    wait_until(lambda: all(record(r).state in FINAL for r in (first, second, urgent, last)), 120)
    assert acquired(tpudeck_home)[1:] == [last, urgent, first, second]


def waiting(home, run_id: str, user: str, position: int, priority: int = 0) -> None:
    queue = RunQueue(home)
    queue.dir.mkdir(parents=True, exist_ok=True)
    entry = {"run_id": run_id, "pid": os.getpid(), "pid_start": start_ticks(os.getpid()),
             "user": user, "position": position, "priority": priority, "after": None}  # fmt: skip
    (queue.dir / f"{run_id}.json").write_text(json.dumps(entry))


def test_only_root_puts_a_run_ahead_of_another_users_earlier_run(tpudeck_home):
    waiting(tpudeck_home, "alice-1", "alice", position=1)
    waiting(tpudeck_home, "bob-1", "bob", position=2)
    waiting(tpudeck_home, "bob-2", "bob", position=3)
    queue = RunQueue(tpudeck_home)
    queue.set_priority("bob-2", 0, user="bob")
    with pytest.raises(TpudeckError, match="ahead of alice's run alice-1, queued first: only root"):
        queue.set_priority("bob-2", 1, user="bob")
    with pytest.raises(TpudeckError, match="belongs to bob: only they"):
        queue.set_priority("bob-1", -1, user="alice")
    queue.set_priority("alice-1", -1, user="alice")  # lowering one's own is always fine
    queue.set_priority("bob-2", 0, user="bob")  # now level with alice's: FIFO keeps her ahead
    assert [e["run_id"] for e in queue.entries()] == ["bob-1", "bob-2", "alice-1"]
    queue.set_priority("alice-1", 9, user="root")
    assert queue.entries()[0]["run_id"] == "alice-1"


def test_a_launch_that_would_jump_another_users_run_is_refused_before_it_starts(other_user):
    home = Path(tempfile.mkdtemp(dir="/tmp"))  # a shared store other users can reach
    waiting(home, "root-1", "root", position=1)
    for folder in (home, home / "queue"):
        os.chmod(folder, 0o777)
    preload = "from tpudeck.core.runs import launch"  # what /root's tree hides from them
    code, err = as_user(other_user, ["run", "--priority", "2", "--", "true"], home, preload)
    assert code == 2 and "ahead of root's run root-1, queued first: only root may" in err
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
    code, err = as_user(other_user, ["run", "--after", "nosuch", "--", "true"], home, preload)
    assert code == 2 and "no run 'nosuch'" in err


def test_after_needs_a_run_that_can_still_finish(tpudeck_home, sleeper):
    from .builders import make_run

    make_run(tpudeck_home, "20260101-000000-broken-0001", "failed")
    result = tpudeck("run", "--after", "broken", "--", "true")
    assert "run 20260101-000000-broken-0001 failed: nothing to chain after" in one_line_error(
        result
    )
    result = tpudeck("run", "--after", "broken", "--no-wait", "--", "true")
    assert "--after waits for a run to finish: drop --no-wait" in one_line_error(result)


async def test_the_devices_screen_shows_the_queue_and_edits_priorities(tpudeck_home):
    from tpudeck.tui.app import TpudeckApp

    from .builders import wait_for

    waiting(tpudeck_home, "20260101-000000-first-0001", "root", position=1)
    waiting(tpudeck_home, "20260101-000000-second-0002", "root", position=2)
    app = TpudeckApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v")
        table = app.screen.query_one("#queue")
        await wait_for(pilot, lambda: table.row_count == 2, 10)
        table.focus()
        await pilot.press("down", "plus")  # the second run, one priority up: now first
        await wait_for(pilot, lambda: table.get_row_at(0)[1] == "20260101-000000-second-0002", 10)
        assert table.get_row_at(0)[3] == "1"
        await pilot.press("right_square_bracket")  # the cursor followed it: down again
        await wait_for(pilot, lambda: table.get_row_at(0)[1] == "20260101-000000-first-0001", 10)
        assert [e.get("priority") for e in RunQueue(tpudeck_home).entries()] == [1, 0]
