"""The app reads the run store when it changes, not each second: with no run live, the
kernel's word (inotify) wakes the reader; where the store cannot be watched it lists the
store each second as before. Either way a new run reaches the Runs screen at once."""

import asyncio
import time

from textual.widgets import DataTable

from tpudeck.tui import app as app_module
from tpudeck.tui.app import TpudeckApp

from .builders import fake_run, make_run, wait_for


def counting_reads(app: TpudeckApp) -> list[float]:
    """When the app's store reader listed the store."""
    reads, read = [], app.rows.read

    def counted():
        reads.append(time.monotonic())
        return read()

    app.rows.read = counted
    return reads


async def shows_a_new_run_soon(pilot, app, home) -> float:
    table = app.screen.query_one(DataTable)
    began = time.monotonic()
    make_run(home, "20260102-000000-new-0001", "finished")
    await wait_for(pilot, lambda: table.row_count == 2, timeout=5)
    return time.monotonic() - began


async def test_an_idle_store_is_read_when_it_changes_not_each_second(tpudeck_home):
    make_run(tpudeck_home, "20260101-000000-done-0001", "finished")
    app = TpudeckApp()
    reads = counting_reads(app)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.store_watched and len(reads) >= 1, timeout=10)
        await asyncio.sleep(1.5)  # a listing timed before the watch began is done
        listed = len(reads)
        await asyncio.sleep(3)
        assert len(reads) == listed  # nothing changed, nothing live: not listed again
        assert await shows_a_new_run_soon(pilot, app, tpudeck_home) < 2


async def test_a_store_that_cannot_be_watched_is_listed_each_second(tpudeck_home, monkeypatch):
    def no_inotify(*_args):
        raise OSError("inotify watch limit reached")

    monkeypatch.setattr(app_module, "watch_changes", no_inotify)
    make_run(tpudeck_home, "20260101-000000-done-0001", "finished")
    app = TpudeckApp()
    reads = counting_reads(app)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: len(reads) >= 1, timeout=10)
        listed = len(reads)
        await asyncio.sleep(3)
        assert len(reads) >= listed + 2 and not app.store_watched
        assert await shows_a_new_run_soon(pilot, app, tpudeck_home) < 2


async def test_a_live_runs_events_do_not_wake_the_reader_beyond_its_second(tpudeck_home, sleeper):
    """While a run is live the store is listed each second anyway (its trainer may die
    without a word); each event it writes must not add a listing on top."""
    run = fake_run(tpudeck_home, "20260101-000000-live-0001", "training", sleeper.pid)
    app = TpudeckApp()
    reads = counting_reads(app)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.store_watched and len(reads) >= 2, timeout=10)
        listed, began = len(reads), time.monotonic()
        while time.monotonic() - began < 3:  # 20 events a second
            run.emit("step", step=4, loss=1.0, lr=1e-3)
            await asyncio.sleep(0.05)
        assert len(reads) - listed <= 4  # about one a second, not one per event
