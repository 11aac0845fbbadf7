"""A run of several trainer processes (a pod slice's hosts; here two processes of four CPU
devices each, joined by jax's distributed runtime) trains as one process of eight does."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psutil
import pytest

from tpudeck.core.errors import TpudeckError
from tpudeck.core.runs.lock import AcceleratorLock
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.train.processes import Processes

from .builders import fake_gcloud, free_port, one_line_error, tpudeck, tree_digest

# A constant rate after warmup: a run of 10 steps and one of 20 share their first 10. (By
# step 30 the two programs' different orders of summing the gradients show, ~1e-3.)
FLAGS = ("--demo", "--platform", "cpu", "--lr_schedule", "constant", "--warmup_steps", "5",
         "--logging_steps", "5", "--save_steps", "10", "--eval_steps", "10")  # fmt: skip


def losses(run) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in RunDir(run).read_events("step")}


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    """The reference: 20 steps of one process on all 8 devices, logging every step."""
    where = tmp_path_factory.mktemp("one")
    env = {**os.environ, "TPUDECK_HOME": str(where / "home")}
    done = tpudeck("train", *FLAGS, "--logging_steps", "1", "--max_steps", "20",
                   "--output_dir", str(where / "run"), env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return where / "run"


def as_one(run, one) -> None:
    """The losses `run` logged are the reference's at the same steps."""
    logged = losses(run)
    assert logged and logged == pytest.approx({s: losses(one)[s] for s in logged}, rel=1e-5)


def start_training(out, *args: str, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tpudeck", "train", *args], stdout=out,
                            stderr=subprocess.STDOUT, env=env)  # fmt: skip


def wait_for_step(run, step: int, launch: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not any(e["step"] >= step for e in RunDir(run).read_events("step")):
        assert launch.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)


def test_two_processes_train_as_one_detached_from_the_terminal(tmp_path, tpudeck_home, one):
    """--detach: the launch returns once process 0 has the run; its supervisor is in a
    session of its own (a closed SSH session's SIGHUP never reaches it) and logs to the
    run's hosts.log. (The gcloud and Ray tests run the supervisor in the foreground; the
    resume of two processes is the kill -9 test's, which replays the lost steps bit for bit.)"""
    two = tmp_path / "two"
    done = tpudeck("train", "--hosts", "local:2", "--detach", *FLAGS, "--max_steps", "10",
                   "--output_dir", str(two))  # fmt: skip
    assert done.returncode == 0, done.stderr
    supervisor = int(re.search(r"its supervisor, pid (\d+)", done.stdout)[1])
    assert os.getsid(supervisor) == supervisor != os.getsid(0)
    deadline = time.monotonic() + 300
    while RunDir(two).read_status().get("state") != "finished":
        assert time.monotonic() < deadline, RunDir(two).hosts_log_path.read_text()[-2000:]
        time.sleep(0.2)
    as_one(two, one)
    # Process 0 alone writes the run's records; process 1 keeps its own log.
    assert [e["step"] for e in RunDir(two).read_events("step")] == [5, 10]
    assert "step 10/10" in (two / "stdout.1.log").read_text()
    assert "step 10/10" in RunDir(two).hosts_log_path.read_text()  # process 0's output
    assert len(list((two / "tensorboard").iterdir())) == 1
    assert [p.name for p in (two / "checkpoints").iterdir()] == ["step_10"]
    (evaluation,) = RunDir(two).read_events("eval")
    reference = next(e for e in RunDir(one).read_events("eval") if e["step"] == 10)
    assert evaluation["loss"] == pytest.approx(reference["loss"], rel=1e-5)


def test_a_detached_launch_process_0_refuses_is_one_line_and_leaves_the_directory(
    tmp_path, tpudeck_home
):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    before = tree_digest(occupied)
    refused = tpudeck("train", "--hosts", "local:2", "--detach", *FLAGS, "--max_steps", "10",
                      "--output_dir", str(occupied))  # fmt: skip
    assert refused.returncode == 2
    assert one_line_error(refused).startswith(
        f"tpudeck: error: --output_dir {occupied} is not empty"
    )
    assert tree_digest(occupied) == before  # hosts.log gone with the refusal


def stopped_at_one_step(run) -> int:
    """A run stopped by SIGTERM: every worker stopped at its step, with a checkpoint."""
    status = RunDir(run).read_status()
    assert status["state"] == "stopped"
    assert status["message"] == f"stopped by SIGTERM at step {status['step']}"
    assert (run / "checkpoints" / f"step_{status['step']}").is_dir()
    assert f"run stopped at step {status['step']}" in (run / "stdout.1.log").read_text()
    return status["step"]


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


def kill_worker_1(run, out_path, *launch_args: str, env=None) -> dict[int, float]:
    """Train through a launcher past the checkpoint at step 10, then kill -9 worker 1's
    trainer: the whole run fails, naming it, and no worker is left waiting for it. The
    losses the run logged (every step)."""
    with open(out_path, "w") as out:
        launch = start_training(out, *launch_args, *FLAGS, "--logging_steps", "1",
                                "--max_steps", "300", "--output_dir", str(run), env=env)  # fmt: skip
    wait_for_step(run, 13, launch)
    os.kill(worker_pid(run, 1), signal.SIGKILL)  # a checkpoint at 10, none yet at 20

    assert launch.wait(timeout=120) == 1, out_path.read_text()[-2000:]
    status = RunDir(run).read_status()
    assert status["state"] == "failed"
    assert status["message"] == "worker 1 of 2 was killed by SIGKILL"
    assert "tpudeck: error: worker 1 of 2 was killed by SIGKILL" in out_path.read_text()
    assert worker_pid(run, 0) is None  # the other worker does not wait for it forever
    return losses(run)


def resumed_steps(run) -> dict[int, float]:
    """The losses logged since the run's last resume."""
    since = RunDir(run).read_events("resume")[-1]["t"]
    return {e["step"]: e["loss"] for e in RunDir(run).read_events("step") if e["t"] > since}


def assert_replayed(run, killed: dict[int, float]) -> None:
    """The resume went back to the last checkpoint before the kill and logged its steps up
    to the killed run's last, bit for bit."""
    start = RunDir(run).read_events("resume")[-1]["step"]
    replayed = resumed_steps(run)
    assert start < max(killed) <= max(replayed)
    again = range(start + 1, max(killed) + 1)
    assert {s: replayed[s] for s in again} == {s: killed[s] for s in again}


def resume_then_stop(run, out_path, killed, *launch_args: str, env=None) -> int:
    """--resume through the launcher, then SIGTERM to the launch once the resumed run is
    past the killed one's last step: every worker stops at one step; that step."""
    with open(out_path, "w") as out:
        launch = start_training(out, *launch_args, "--resume", "--max_steps", "300",
                                "--output_dir", str(run), env=env)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (
        RunDir(run).read_events("resume") and max(resumed_steps(run), default=0) >= max(killed)
    ):
        assert launch.poll() is None and time.monotonic() < deadline, out_path.read_text()[-2000:]
        time.sleep(0.05)
    launch.send_signal(signal.SIGTERM)
    assert launch.wait(timeout=120) == 0, out_path.read_text()[-2000:]
    assert_replayed(run, killed)
    return stopped_at_one_step(run)


def test_a_worker_killed_fails_the_run_and_resume_replays_its_steps(tmp_path, tpudeck_home, one):
    run = tmp_path / "run"
    killed = kill_worker_1(run, tmp_path / "out.txt", "--hosts", "local:2")
    as_one(run, one)

    resumed = tpudeck("train", "--hosts", "local:2", "--resume", "--max_steps", str(max(killed)),
                      "--output_dir", str(run))  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert_replayed(run, killed)
    (start,) = [e["step"] for e in RunDir(run).read_events("resume")]
    assert list(resumed_steps(run)) == list(range(start + 1, max(killed) + 1))  # and no more


def gcloud_calls(where) -> list[list[str]]:
    return [json.loads(line) for line in (where / "gcloud.jsonl").read_text().splitlines()]


def test_a_tpu_slice_through_gcloud_trains_fails_resumes_and_stops(tmp_path, tpudeck_home, one):
    """`--hosts gcloud:TPU:ZONE` starts a trainer on each worker with `gcloud compute tpus
    tpu-vm ssh --worker=N` (worker 0's address from `describe` as the coordinator). A worker
    killed fails the run and the others are stopped with `ssh --worker=all`; the resume,
    sharded (fsdp: each process reads and writes its own shards of the checkpoint, gathering
    none), replays its steps; a SIGTERM to the launch stops every worker, at one step."""
    run, env = tmp_path / "run", fake_gcloud(tmp_path)
    hosts = ("--hosts", "gcloud:my-tpu:us-central2-b")
    killed = kill_worker_1(run, tmp_path / "out.txt", *hosts, "--parallelism", "fsdp", env=env)
    as_one(run, one)
    calls = gcloud_calls(tmp_path)
    tpu = ["compute", "tpus", "tpu-vm"]
    assert calls[0] == [*tpu, "describe", "my-tpu", "--zone", "us-central2-b", "--format=json"]
    starts, stops = sorted(calls[1:3], key=lambda call: call[7]), calls[3:]  # two at once
    assert [call[:8] for call in starts] == [
        [*tpu, "ssh", "my-tpu", "--zone", "us-central2-b", f"--worker={n}"] for n in (0, 1)
    ]
    assert ("TPUDECK_NUM_PROCESSES=2 TPUDECK_PROCESS_ID=1 "
            "JAX_COORDINATOR_ADDRESS=127.0.0.1:8476 exec") in starts[1][8]  # fmt: skip
    assert stops and all(call[7] == "--worker=all" for call in stops)
    assert "kill -TERM" in stops[0][8]  # then -KILL, where one outlives the grace

    (tmp_path / "gcloud.jsonl").unlink()
    step = resume_then_stop(run, tmp_path / "resumed.txt", killed, *hosts, env=env)
    assert (run / "checkpoints" / f"step_{step}" / "state" / "ocdbt.process_1").is_dir()
    stops = gcloud_calls(tmp_path)[3:]
    assert [call[7] for call in stops] == ["--worker=all"] and "kill -TERM" in stops[0][8]


def test_a_resume_refused_by_process_0_leaves_the_run_as_it_was(tmp_path, tpudeck_home):
    """Process 0's one-line refusal is the launch's; the stopped run stays stopped."""
    run = tmp_path / "run"
    done = tpudeck("train", *FLAGS, "--max_steps", "10", "--output_dir", str(run))
    assert done.returncode == 0, done.stderr
    state = run / "checkpoints" / "step_10" / "state"
    next(p for p in state.rglob("*") if p.is_file() and p.stat().st_size > 1000).write_bytes(b"x")
    status = RunDir(run).status_path.read_bytes()

    refused = tpudeck("train", "--hosts", "local:2", "--resume", "--max_steps", "20",
                      "--output_dir", str(run))  # fmt: skip
    assert refused.returncode == 1
    assert "step_10 is corrupt" in refused.stderr
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith("tpudeck: error: worker 0 of 2 exited with status 2")
    )
    assert RunDir(run).status_path.read_bytes() == status
    assert worker_pid(run, 1) is None  # the follower waiting for it is ended


@pytest.fixture
def ray_cluster():
    """A Ray head on this machine whose node has 4 CPU devices for each trainer; its
    address."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_TMPDIR": temp,
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}  # fmt: skip
    address = f"127.0.0.1:{free_port()}"
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    subprocess.run([*ray, "start", "--head", "--port", address.split(":")[1], "--num-cpus", "4",
                    "--include-dashboard=false", "--disable-usage-stats"], env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    try:
        yield address
    finally:
        subprocess.run([*ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_ray_cluster_runs_fails_resumes_and_stops_the_trainers(
    tmp_path, tpudeck_home, one, ray_cluster
):
    """`--hosts ray:2:ADDRESS`: the trainers are two tasks of the cluster (this process the
    job's driver, worker 0's log reaching it through Ray). A worker killed fails the run;
    the resume replays its steps; a SIGTERM stops both through tasks on their nodes."""
    run, hosts = tmp_path / "run", ("--hosts", f"ray:2:{ray_cluster}")
    killed = kill_worker_1(run, tmp_path / "out.txt", *hosts)
    as_one(run, one)
    assert "(_run pid=" in (tmp_path / "out.txt").read_text()  # worker 0's lines, via Ray

    step = resume_then_stop(run, tmp_path / "resumed.txt", killed, *hosts)
    assert f"run stopped at step {step}" in (tmp_path / "resumed.txt").read_text()


def test_no_wait_names_a_busy_worker_before_any_trainer_starts(tmp_path, tpudeck_home):
    """Every worker is asked who holds its accelerator (its own `tpudeck who`) first."""
    blocker = AcceleratorLock(tpudeck_home)
    assert blocker.try_acquire("held-by-the-test")
    try:
        error = one_line_error(tpudeck("train", "--hosts", "local:2", "--demo", "--platform",
                                       "tpu", "--no-wait", "--output_dir", str(tmp_path / "run")))  # fmt: skip
    finally:
        blocker.release()
    assert error.startswith("tpudeck: error: worker 0's accelerator is held by ")
    assert "held-by-the-test" in error
    assert error.endswith(": drop --no-wait to queue behind it on every worker")
    assert not (tmp_path / "run").exists()  # no trainer started


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


def test_only_workers_beside_process_0_go_without_their_own_lock():
    """--hosts local:N: process 0's accelerator lock holds the host for the run (a worker
    beside it waiting for the same lock would wait forever for the run it is part of)."""
    env = {"TPUDECK_NUM_PROCESSES": "2", "JAX_COORDINATOR_ADDRESS": "h:1", "TPUDECK_HOST_OF_0": "1"}
    assert Processes.from_env({**env, "TPUDECK_PROCESS_ID": "1"}).host_of_0
    assert not Processes.from_env({**env, "TPUDECK_PROCESS_ID": "0"}).host_of_0
    assert not Processes.from_env(
        {**env, "TPUDECK_PROCESS_ID": "1", "TPUDECK_HOST_OF_0": ""}
    ).host_of_0


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
