"""Told when a run ends: a toast in every open app, the bell if asked for, and the user's
notify_command run once per ending across every app and the trainer."""

import json
import os
import subprocess
import sys
import textwrap

from tpudeck.core.runs.notices import Notice, announce
from tpudeck.core.user_settings import save_setting
from tpudeck.tui.app import TpudeckApp

from .builders import fake_run, tpudeck, wait_for
from .fake_os import wait_until

# A second app in its own process: it prints the notices it shows, then quits.
OTHER_APP = textwrap.dedent(
    """
    import asyncio, json, sys
    from tpudeck.tui.app import TpudeckApp

    async def main():
        app = TpudeckApp()
        async with app.run_test(size=(120, 40)) as pilot:
            print("ready", flush=True)
            for _ in range(600):
                notes = [str(n.message) for n in app._notifications]
                if any("failed" in note for note in notes):
                    print(json.dumps(notes), flush=True)
                    return
                await pilot.pause(0.1)

    asyncio.run(main())
    """
)


def notify_into(path) -> None:
    """This user's notify_command appends each notice it is given to `path`."""
    save_setting("notify_command", f"cat >> {path}")


def calls(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_failing_run_is_one_notify_command_call_and_a_toast_in_both_apps(
    tpudeck_home, tmp_path, monkeypatch
):
    received = tmp_path / "notices.jsonl"
    notify_into(received)
    save_setting("bell", True)
    rings = []
    app = TpudeckApp()
    monkeypatch.setattr(app, "bell", lambda: rings.append(1))
    async with app.run_test(size=(120, 40)) as pilot:
        other = subprocess.Popen([sys.executable, "-c", OTHER_APP], stdout=subprocess.PIPE,
                                 text=True)  # fmt: skip
        assert other.stdout.readline().strip() == "ready"
        result = tpudeck("run", "--detach", "--name", "doomed", "--", sys.executable, "-c",
                         "import time; time.sleep(1.5); raise SystemExit(3)")  # fmt: skip
        assert result.returncode == 0, result.stderr
        failed = lambda: [str(n.message) for n in app._notifications if "failed" in str(n.message)]  # noqa: E731
        await wait_for(pilot, lambda: failed(), 60)
        their_notes = json.loads(other.stdout.readline())
        assert other.wait(30) == 0
    assert "doomed" in failed()[0] and "exited with code 3" in failed()[0]
    assert any("doomed" in note and "failed" in note for note in their_notes)
    assert rings  # the bell was asked for in the settings
    wait_until(lambda: calls(received), timeout=10)
    (call,) = calls(received)  # three processes noticed it; one told the command
    assert call["event"] == "failed" and "doomed" in call["run_id"] and call["owner"] == "root"


def test_a_trainer_announces_its_own_end_with_no_app_open(tmp_path):
    received = tmp_path / "notices.jsonl"
    notify_into(received)
    result = tpudeck("train", "--demo", "--max_steps", "2", "--platform", "cpu", "--run_name",
                     "quick")  # fmt: skip
    assert result.returncode == 0, result.stderr
    wait_until(lambda: calls(received), timeout=10)
    (call,) = calls(received)
    assert call["event"] == "finished" and "quick" in call["run_id"]


def test_runs_that_ended_before_the_app_opened_are_not_news(tpudeck_home, sleeper):
    from tpudeck.core.runs.store import RunStore
    from tpudeck.tui.run_rows import RunRows
    from tpudeck.tui.store_watch import EndingsSeen

    fake_run(tpudeck_home, "20260101-000000-old-0001", "failed", sleeper.pid)
    live = fake_run(tpudeck_home, "20260101-000000-live-0002", "training", sleeper.pid)
    rows, seen = RunRows(RunStore()), EndingsSeen()
    assert seen.news(rows.read()) == []
    sleeper.kill()
    sleeper.wait()  # the live run's process vanishes: it died
    (news,) = seen.news(rows.read())
    assert news.run_id == live.run_id and news.event == "died" and news.bad
    assert seen.news(rows.read()) == []  # news once
    live.emit("push", status="failed", repo="me/x", error="gave up after 5 attempts")
    (push,) = seen.news(rows.read())
    assert push.event == "push_failed" and "gave up" in push.describe()


def test_of_many_processes_noticing_one_ending_exactly_one_runs_the_command(tmp_path):
    received = tmp_path / "notices.jsonl"
    notify_into(received)
    notice = Notice("20260101-000000-x-0001", "died", "gone", "root", 1767225600.0)
    code = f"from tpudeck.core.runs.notices import Notice, announce; print(announce({notice!r}))"
    racers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               env={**os.environ})  # fmt: skip
              for _ in range(6)]  # fmt: skip
    ran = [racer.communicate(timeout=60)[0].strip() for racer in racers]
    assert ran.count("True") == 1 and ran.count("False") == 5
    wait_until(lambda: calls(received), timeout=10)
    assert len(calls(received)) == 1 and not announce(notice)
