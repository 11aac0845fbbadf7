"""A run of several trainer processes (a pod slice's hosts; here two processes of four CPU
devices each, joined by jax's distributed runtime) trains as one process of eight does."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tpudeck.core.errors import TpudeckError
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.train.processes import Processes

from .builders import fake_gcloud, tpudeck

# A constant rate after warmup: a run of 10 steps and one of 20 share their first 10. (By
# step 30 the two programs' different orders of summing the gradients show, ~1e-3.)
FLAGS = ("--demo", "--platform", "cpu", "--lr_schedule", "constant", "--warmup_steps", "5", "--logging_steps", "5",
         "--save_steps", "10", "--eval_steps", "10")  # fmt: skip


def losses(run) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in RunDir(run).read_events("step")}


def test_two_processes_train_and_resume_as_one(tmp_path, tpudeck_home):
    one = tmp_path / "one"
    done = tpudeck("train", *FLAGS, "--max_steps", "20", "--output_dir", str(one))
    assert done.returncode == 0, done.stderr

    two = tmp_path / "two"
    first = tpudeck("train", "--hosts", "local:2", *FLAGS, "--max_steps", "10",
                    "--output_dir", str(two))  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert losses(two) == pytest.approx({s: v for s, v in losses(one).items() if s <= 10},
                                        rel=1e-5)  # fmt: skip
    # Process 0 alone writes the run's records; process 1 keeps its own log.
    assert [e["step"] for e in RunDir(two).read_events("step")] == [5, 10]
    assert RunDir(two).read_status()["state"] == "finished"
    assert "step 10/10" in (two / "stdout.1.log").read_text()
    assert len(list((two / "tensorboard").iterdir())) == 1
    assert [p.name for p in (two / "checkpoints").iterdir()] == ["step_10"]

    resumed = tpudeck("train", "--hosts", "local:2", "--resume", "--max_steps", "20",
                      "--output_dir", str(two))  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert losses(two) == pytest.approx(losses(one), rel=1e-5)  # the same 20 steps
    evals = [e["loss"] for e in RunDir(two).read_events("eval")]
    assert evals[-1] == pytest.approx(RunDir(one).read_events("eval")[-1]["loss"], rel=1e-5)


def worker_pid(run, index: int) -> int | None:
    """The trainer the launcher started as process `index` of the run in `run`."""
    for proc in psutil.process_iter():
        try:
            if (proc.environ().get("TPUDECK_PROCESS_ID") == str(index)
                    and str(run) in " ".join(proc.cmdline())):  # fmt: skip
                return proc.pid
        except psutil.Error:
            continue
    return None


def test_a_worker_killed_fails_the_run_and_resume_replays_its_steps(tmp_path, tpudeck_home):
    run = tmp_path / "run"
    with open(tmp_path / "out.txt", "w") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "tpudeck", "train", "--hosts", "local:2", *FLAGS,
             "--logging_steps", "1", "--max_steps", "300", "--output_dir", str(run)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 300
    while not any(e["step"] > 12 for e in RunDir(run).read_events("step")):
        assert supervisor.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(worker_pid(run, 1), signal.SIGKILL)  # a checkpoint at 10, none yet at 20

    assert supervisor.wait(timeout=120) == 1
    status = RunDir(run).read_status()
    assert status["state"] == "failed"
    assert status["message"] == "worker 1 of 2 was killed by SIGKILL"
    assert (
        "tpudeck: error: worker 1 of 2 was killed by SIGKILL" in (tmp_path / "out.txt").read_text()
    )
    assert worker_pid(run, 0) is None  # the other worker does not wait for it forever
    killed = losses(run)

    resumed = tpudeck("train", "--hosts", "local:2", "--resume", "--max_steps", str(max(killed)),
                      "--output_dir", str(run))  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    (start,) = [e["step"] for e in RunDir(run).read_events("resume")]
    replayed = {e["step"]: e["loss"] for e in RunDir(run).read_events("step")
                if e["t"] > RunDir(run).read_events("resume")[0]["t"]}  # fmt: skip
    assert start < max(killed) and replayed  # the steps after the checkpoint, again
    assert replayed == {step: killed[step] for step in range(start + 1, max(killed) + 1)}


def test_a_tpu_slice_through_gcloud_trains_and_stops_on_every_worker(tmp_path, tpudeck_home):
    """`--hosts gcloud:TPU:ZONE` starts a trainer on each worker with `gcloud compute tpus
    tpu-vm ssh --worker=N` (worker 0's address from `describe` as the coordinator); a
    SIGTERM to the launch stops every worker with `ssh --worker=all`, at one step. Sharded
    (fsdp): the checkpoint is gathered from both processes' shards."""
    run, env = tmp_path / "run", fake_gcloud(tmp_path)
    with open(tmp_path / "out.txt", "w") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "tpudeck", "train", "--hosts", "gcloud:my-tpu:us-central2-b",
             *FLAGS, "--logging_steps", "2", "--max_steps", "300", "--parallelism", "fsdp",
             "--output_dir", str(run)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + 300
    while not any(e["step"] >= 4 for e in RunDir(run).read_events("step")):
        assert supervisor.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    supervisor.send_signal(signal.SIGTERM)

    assert supervisor.wait(timeout=120) == 0, (tmp_path / "out.txt").read_text()
    status = RunDir(run).read_status()
    assert status["state"] == "stopped"
    assert status["message"] == f"stopped by SIGTERM at step {status['step']}"
    assert (run / "checkpoints" / f"step_{status['step']}").is_dir()
    assert f"run stopped at step {status['step']}" in (run / "stdout.1.log").read_text()
    calls = [json.loads(line) for line in (tmp_path / "gcloud.jsonl").read_text().splitlines()]
    tpu = ["compute", "tpus", "tpu-vm"]
    assert calls[0] == [*tpu, "describe", "my-tpu", "--zone", "us-central2-b", "--format=json"]
    starts, stops = sorted(calls[1:3], key=lambda call: call[7]), calls[3:]  # two at once
    assert [call[:8] for call in starts] == [
        [*tpu, "ssh", "my-tpu", "--zone", "us-central2-b", f"--worker={n}"] for n in (0, 1)
    ]
    assert ("TPUDECK_NUM_PROCESSES=2 TPUDECK_PROCESS_ID=1 "
            "JAX_COORDINATOR_ADDRESS=127.0.0.1:8476 exec") in starts[1][8]  # fmt: skip
    assert [call[7] for call in stops] == ["--worker=all"]
    assert "kill -TERM" in stops[0][8]


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"TPUDECK_NUM_PROCESSES": "2"}, "2 processes need JAX_COORDINATOR_ADDRESS=HOST:PORT"),
        ({"TPUDECK_NUM_PROCESSES": "2", "TPUDECK_PROCESS_ID": "2",
          "JAX_COORDINATOR_ADDRESS": "h:1"}, "TPUDECK_PROCESS_ID=2 is not one of the 2"),
        ({"TPUDECK_NUM_PROCESSES": "two"}, "must be whole numbers"),
    ],
)  # fmt: skip
def test_a_process_misnamed_by_its_launcher_is_one_line(environ, expected):
    with pytest.raises(TpudeckError, match=expected):
        Processes.from_env(environ)


def test_a_follower_without_the_run_directory_is_refused(tpudeck_home):
    env = {**os.environ, "TPUDECK_NUM_PROCESSES": "2", "TPUDECK_PROCESS_ID": "1",
           "JAX_COORDINATOR_ADDRESS": "127.0.0.1:1"}  # fmt: skip
    done = tpudeck("train", "--demo", "--platform", "cpu", env=env)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("process 1 of 2 needs --output_dir: the run directory process 0 trains into")
    )
