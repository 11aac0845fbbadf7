"""The accelerator guard with real detached trainers: FIFO lock, SIGHUP, kill -9, foreign holders."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tpudeck.core.runs.lock import AcceleratorLock
from tpudeck.core.runs.queue import RunQueue
from tpudeck.core.runs.store import RunStore

from .builders import default_signals, start_tpudeck, tpudeck
from .fake_os import fake_dev_tree, hold_open, wait_until

pytestmark = pytest.mark.slow
SHORT = ("--max_steps", "3", "--logging_steps", "1", "--save_steps", "100", "--eval_steps", "100")
FINAL = ("finished", "failed", "stopped", "diverged", "died")


def child_env(**extra) -> dict:
    """One CPU device per trainer: the guard, not the model, is under test."""
    return {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1", **extra}


def run_id_of(output: str) -> str:
    return re.search(r"^run (\S+): ", output, re.M)[1]


def launch(*args: str, **env) -> str:
    result = tpudeck("train", "--demo", "--detach", *args, env=child_env(**env))
    assert result.returncode == 0, result.stderr
    return run_id_of(result.stdout)


def state(run_id: str) -> str:
    return RunStore().find(run_id).state


@pytest.mark.serial  # 30 ms apart: another test's load would reorder the launches themselves
def test_ten_launches_take_the_lock_one_at_a_time_in_the_order_they_were_issued(tpudeck_home):
    blocker = AcceleratorLock(tpudeck_home)
    assert blocker.try_acquire("held-by-the-test")
    launchers = []
    for i in range(10):  # issued 30 ms apart, all ten racing through their start-up at once
        # Scripts under the guard (the guard is under test: trainers take it in the same code)
        launchers.append(start_tpudeck("run", "--detach", "--name", f"r{i}", "--", sys.executable,
                                       "-c", "import time; time.sleep(0.1)"))  # fmt: skip
        time.sleep(0.03)
    outputs = [launcher.communicate(timeout=600)[0] for launcher in launchers]
    assert [launcher.returncode for launcher in launchers] == [0] * 10, outputs
    run_ids = [run_id_of(out) for out in outputs]
    queued = [e["run_id"] for e in RunQueue(tpudeck_home).entries()]
    assert queued == run_ids  # all ten wait behind the holder, in the order they were issued
    blocker.release()

    wait_until(lambda: all(state(r) in FINAL for r in run_ids), timeout=600)
    assert {state(r) for r in run_ids} == {"finished"}
    log = [
        json.loads(line)
        for line in (tpudeck_home / "locks" / "holders.jsonl").read_text().splitlines()
    ]
    runs_log = [(e["event"], e["run_id"]) for e in log if e["run_id"] != "held-by-the-test"]
    assert [
        r for event, r in runs_log if event == "acquired"
    ] == queued  # served first in, first out
    # Never two holders: every acquire follows the previous holder's release.
    assert runs_log == [(event, r) for r in queued for event in ("acquired", "released")]


def test_closing_the_launching_process_group_does_not_stop_the_run():
    command = f"{sys.executable} -m tpudeck train --demo --detach --max_steps 200 --run_name hup; sleep 600"
    shell = subprocess.Popen(
        ["bash", "-c", command],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=child_env(),
        preexec_fn=default_signals,
    )
    run_id = run_id_of(shell.stdout.readline())
    wait_until(lambda: state(run_id) == "training")
    os.killpg(shell.pid, signal.SIGHUP)  # what a terminal does when the SSH session drops
    assert shell.wait(timeout=30) == -signal.SIGHUP
    wait_until(lambda: state(run_id) in FINAL, timeout=300)
    assert state(run_id) == "finished"


def test_kill_9_frees_the_lock_marks_died_and_starts_the_next(tpudeck_home):
    first = launch("--max_steps", "100000", "--run_name", "long")
    wait_until(lambda: state(first) == "training")
    second = launch(*SHORT, "--run_name", "next")
    assert state(second) == "waiting-for-accelerator"
    os.kill(RunStore().find(first).status["pid"], signal.SIGKILL)
    wait_until(lambda: state(first) == "died", timeout=10)
    wait_until(lambda: state(second) in ("compiling", "training", "finished"), timeout=60)
    wait_until(lambda: state(second) in FINAL, timeout=300)
    assert state(second) == "finished"
    holders = [
        json.loads(line)
        for line in (tpudeck_home / "locks" / "holders.jsonl").read_text().splitlines()
    ]
    assert [(h["event"], h["run_id"]) for h in holders][-2:] == [
        ("acquired", second),
        ("released", second),
    ]


def test_foreign_holder_is_named_and_no_wait_fails_at_once(tmp_path):
    dev = fake_dev_tree(tmp_path)
    notebook = hold_open(dev / "accel0")
    env = child_env(TPUDECK_DEVICE_GLOBS=str(dev / "accel*"))
    try:
        who = tpudeck("who", "--json", env=env)
        report = json.loads(who.stdout)
        (foreign,) = report["foreign"]
        assert foreign["pid"] == notebook.pid and "notebook" in foreign["command"]
        assert foreign["devices"] == [str(dev / "accel0")]
        text = tpudeck("who", env=env).stdout
        assert f"pid {notebook.pid}" in text and "outside tpudeck" in text

        refused = tpudeck("train", "--demo", "--no-wait", *SHORT, env=env)
        assert refused.returncode == 2
        error = refused.stderr.strip().splitlines()[-1]
        assert (
            error.startswith("tpudeck: error: the accelerator is busy: pid")
            and str(notebook.pid) in error
        )
        assert "Traceback" not in refused.stderr
    finally:
        notebook.kill()
        notebook.wait()


def test_a_queued_run_is_cancelled_by_stop_and_leaves_the_queue(tpudeck_home):
    blocker = AcceleratorLock(tpudeck_home)
    assert blocker.try_acquire("held-by-the-test")
    try:
        run_id = launch(*SHORT, "--run_name", "waiting")
        assert state(run_id) == "waiting-for-accelerator"
        result = tpudeck("stop", run_id, "--timeout", "30")
        assert result.returncode == 0, result.stderr
        record = RunStore().find(run_id)
        assert (
            record.state == "stopped"
            and "cancelled before it held the accelerator" in record.status["message"]
        )
        assert RunQueue(tpudeck_home).entries() == []
    finally:
        blocker.release()


def test_logs_follow_prints_until_the_run_ends(tpudeck_home):
    run_id = launch(*SHORT, "--run_name", "logged")
    result = tpudeck("logs", "-f", run_id, timeout=300)
    assert result.returncode == 0
    assert "run finished at step 3" in result.stdout and state(run_id) == "finished"
