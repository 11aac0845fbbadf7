"""How each screen looks, pinned with pytest-textual-snapshot on fixed run directories.

Update after an intended change with: .venv/bin/python -m pytest tests/test_snapshots.py --snapshot-update
"""

import json
import time

import pytest

from tpudeck.core.data.demo_corpus import write_demo_corpus
from tpudeck.core.demo import DEMO_SETTINGS
from tpudeck.core.runs.rundir import RunDir
from tpudeck.tui.app import TpudeckApp

from .builders import text_of

SIZE = (120, 36)


def finished_run(home, run_id: str, steps: int = 60, lr: float = 3e-3) -> RunDir:
    run = RunDir(home / "runs" / run_id)
    run.create(json.dumps({"model_type": "gpt2", "learning_rate": lr}))
    run.write_status(
        "finished", own=False, pid=1, step=steps, total_steps=steps, created=time.time() - 3600
    )
    run.emit("compile", seconds=3.2, devices=8)
    for step in range(2, steps + 1, 2):
        loss = 6.0 * (1 - 20 * lr) ** step + 0.8
        run.emit("step", step=step, total_steps=steps, loss=loss, lr=lr * (1 - step / steps),
                 tokens_per_s=52000.0, steps_per_s=12.5, mfu=None)  # fmt: skip
        if step % 20 == 0:
            run.emit("eval", step=step, loss=loss + 0.05, perplexity=2.5)
    run.emit("memory", step=steps, bytes_in_use=[2**30] * 8, peak_bytes_in_use=[3 * 2**30] * 8,
             bytes_limit=[16 * 2**30] * 8)  # fmt: skip
    pushed_at = time.time() - 7200  # "2h00m ago" stays put while the snapshot is taken
    with open(run.events_path, "a") as events:
        for status, extra in (("queued", {}), ("started", {"attempt": 1}),
                              ("retry", {"error": "HfHubHTTPError 503", "retry_in_s": 1.0}),
                              ("started", {"attempt": 2}),
                              ("done", {"url": "https://huggingface.co/me/demo/commit/abc1"})):  # fmt: skip
            event = dict(t=pushed_at, kind="push", status=status, repo="me/demo", step=steps)
            events.write(json.dumps({**event, **extra}) + "\n")
    (run.checkpoints_dir / f"step_{steps}").mkdir(parents=True)
    run.log_path.write_text(
        "".join(f"12:00:{s:02d} step {s}/{steps}  loss 1.0\n" for s in range(10, steps + 1, 10))
    )
    return run


@pytest.fixture
def store(tpudeck_home):
    finished_run(tpudeck_home, "20261125-120000-demo-gpt2-0001")
    finished_run(tpudeck_home, "20261125-130000-gpt2-small-wiki-0002", steps=40, lr=1e-3)
    return tpudeck_home


async def settle(pilot):
    await pilot.pause(1.5)


async def devices_sampled(pilot):
    """The Devices screen (v) once it shows its first sampling round: a scan of every
    process, slower on a loaded machine than any fixed pause."""
    await settle(pilot)
    await pilot.press("v")
    deadline = time.monotonic() + 60
    while "accelerator" not in text_of(pilot.app, "#holder") and time.monotonic() < deadline:
        await pilot.pause(0.1)
    await settle(pilot)


def test_runs_screen(snap_compare, store):
    assert snap_compare(TpudeckApp(), terminal_size=SIZE, run_before=settle)


def test_run_screen(snap_compare, store):
    assert snap_compare(
        TpudeckApp(), press=["down", "enter"], terminal_size=SIZE, run_before=settle
    )


def test_launch_screen(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_demo_corpus("stories.txt", stories=20)
    app = TpudeckApp(launch_values={**DEMO_SETTINGS, "train_file": "stories.txt"})
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_launch_screen_with_an_error(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_demo_corpus("stories.txt", stories=20)
    app = TpudeckApp(
        launch_values={**DEMO_SETTINGS, "train_file": "stories.txt", "block_size": 4096}
    )
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_compare_screen(snap_compare, store):
    assert snap_compare(
        TpudeckApp(), press=["space", "down", "space", "C"], terminal_size=SIZE, run_before=settle
    )


def test_help_screen(snap_compare, store):
    assert snap_compare(
        TpudeckApp(), press=["question_mark"], terminal_size=SIZE, run_before=settle
    )


def test_light_theme(snap_compare, store):
    assert snap_compare(TpudeckApp(), press=["ctrl+t"], terminal_size=SIZE, run_before=settle)


@pytest.fixture
def tpu_metrics(monkeypatch):
    from .tpu_metrics_server import FakeTpuMetrics

    service = FakeTpuMetrics().start()
    monkeypatch.setenv("TPUDECK_TPU_METRICS", service.address)
    yield service
    service.stop()


def test_devices_screen(snap_compare, store, tmp_path, monkeypatch, tpu_metrics):
    from types import SimpleNamespace

    from tpudeck.core.user_settings import save_setting

    from .builders import V3_8, fake_pci

    save_setting("sample_seconds", 60)  # one sampling round: the sparklines stay one long
    monkeypatch.setenv("TPUDECK_SYSFS_PCI", str(fake_pci(tmp_path / "pci", V3_8)))
    monkeypatch.setenv("TPUDECK_DEVICE_GLOBS", str(tmp_path / "no-dev" / "accel*"))
    monkeypatch.setenv("TPUDECK_LIBTPU_LOCKFILE", str(tmp_path / "no-lockfile"))
    # Fixed host figures: the snapshot pins the layout, not this machine's load.
    monkeypatch.setattr("psutil.cpu_percent", lambda **_: [12.0, 48.0])
    monkeypatch.setattr("psutil.virtual_memory", lambda: SimpleNamespace(used=6e9, total=24e9))
    monkeypatch.setattr("psutil.disk_usage", lambda _: SimpleNamespace(free=80e9))
    monkeypatch.setattr("psutil.getloadavg", lambda: (0.5, 0.25, 0.125))
    assert snap_compare(TpudeckApp(), terminal_size=SIZE, run_before=devices_sampled)
