"""Never lose or corrupt a run: the run directory rules, refused launches that undo
themselves, and the mistakes people make on a shared VM, each through the real CLI."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tpudeck.core.runs.procs import is_alive, start_ticks

from .builders import (
    default_signals,
    flip_a_byte,
    lock_was_taken,
    one_line_error,
    tpudeck,
    tree_digest,
)

QUICK = ["--demo", "--max_steps", "2", "--save_steps", "2", "--platform", "cpu"]


def ls(home) -> list[dict]:
    result = tpudeck("ls", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_a_finished_run_is_never_trained_over(finished_run, tpudeck_home, detach):
    before = tree_digest(finished_run)
    result = tpudeck("train", *QUICK, *["--detach"] * detach, "--output_dir", str(finished_run))
    error = one_line_error(result)
    assert "holds run run (finished at step 4): pass --resume" in error
    assert "--overwrite_output_dir" in error
    assert tree_digest(finished_run) == before and not lock_was_taken(tpudeck_home)


def test_resume_without_a_checkpoint_does_not_replace_the_model(finished_run, tpudeck_home):
    for step in (finished_run / "checkpoints").iterdir():
        shutil.rmtree(step)
    before = tree_digest(finished_run)
    error = one_line_error(tpudeck("train", "--resume", "--output_dir", str(finished_run)))
    assert "has no checkpoint to resume from" in error and "--overwrite_output_dir" in error
    assert tree_digest(finished_run) == before and not lock_was_taken(tpudeck_home)


def test_overwrite_output_dir_replaces_the_run_and_keeps_other_files(finished_run):
    (finished_run / "notes.txt").write_text("mine")
    result = tpudeck("train", *QUICK, "--output_dir", str(finished_run), "--overwrite_output_dir")
    assert result.returncode == 0, result.stderr
    assert (finished_run / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (finished_run / "checkpoints").iterdir()) == ["step_2"]
    events = (finished_run / "events.jsonl").read_text().splitlines()
    steps = [json.loads(line).get("step") for line in events]
    assert max(s for s in steps if s) == 2  # the old run's steps 3 and 4 are gone
    assert json.loads((finished_run / "spec.json").read_text())["max_steps"] == 2
    assert not (finished_run / ".previous-run").exists()
    assert not (finished_run / ".launch.json").exists()


def test_a_folder_of_your_own_files_is_refused_unless_told(tmp_path, tpudeck_home):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    error = one_line_error(tpudeck("train", *QUICK, "--output_dir", str(folder)))
    assert "is not empty: pass --overwrite_output_dir" in error
    assert tree_digest(folder) == {"config.json": tree_digest(folder)["config.json"]}


BAD_INPUTS = {
    "overwrite with a bad column": (
        ["--demo", "--text_column", "nope", "--overwrite_output_dir"],
        "has no column 'nope'",
    ),
    "resume with a bad column": (["--resume", "--text_column", "nope"], "has no column 'nope'"),
    "detached resume with a bad column": (
        ["--resume", "--detach", "--text_column", "nope"],
        "has no column 'nope'",
    ),
    "resume from a corrupt checkpoint": (
        ["--resume", "--max_steps", "8"],
        "does not match its checksum",
    ),
    "resume with another block size": (
        ["--resume", "--block_size", "32"],
        "--resume cannot change --block_size (the run has 64)",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_a_refused_input_leaves_the_existing_run_byte_for_byte(case, finished_run, tpudeck_home):
    if case == "resume from a corrupt checkpoint":
        flip_a_byte(finished_run / "checkpoints" / "step_4" / "state")
    args, expected = BAD_INPUTS[case]
    before = tree_digest(finished_run)
    error = one_line_error(tpudeck("train", *args, "--output_dir", str(finished_run)))
    assert expected in error
    assert tree_digest(finished_run) == before
    assert not lock_was_taken(tpudeck_home)


def test_rm_deletes_the_run_and_keeps_your_files_in_its_output_dir(finished_run):
    (finished_run / "notes.txt").write_text("mine")
    result = tpudeck("rm", str(finished_run))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in finished_run.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
@pytest.mark.parametrize("where", ["store", "output_dir"])
def test_a_refused_launch_leaves_no_run_behind(detach, where, tmp_path, tpudeck_home):
    target = ["--output_dir", str(tmp_path / "new")] if where == "output_dir" else []
    args = [*QUICK, "--text_column", "nope", *["--detach"] * detach, *target]
    assert "has no column 'nope'" in one_line_error(tpudeck("train", *args))
    assert ls(tpudeck_home) == [] and not (tmp_path / "new").exists()
    assert list((tpudeck_home / "runs").iterdir()) == []


@pytest.mark.parametrize("flag", ["--resume", "--overwrite_output_dir"])
def test_a_live_run_is_never_written_by_a_second_launch(flag, finished_run, sleeper):
    status = json.loads((finished_run / "status.json").read_text())
    status.update(state="training", pid=sleeper.pid, pid_start=start_ticks(sleeper.pid))
    (finished_run / "status.json").write_text(json.dumps(status))
    before = tree_digest(finished_run)
    error = one_line_error(tpudeck("train", *QUICK, flag, "--output_dir", str(finished_run)))
    assert f"is training (pid {sleeper.pid}): `tpudeck stop" in error
    assert tree_digest(finished_run) == before


def test_a_launcher_that_died_mid_launch_is_undone_by_the_next(finished_run):
    """A journal left by a dead launcher (kill -9 while preparing) is rolled back first."""
    before = tree_digest(finished_run)
    journal = {"pid": 999999999, "pid_start": 1, "created": False, "store_link": None,
               "set_aside": False, "spec": (finished_run / "spec.json").read_text(),
               "status": (finished_run / "status.json").read_text(),
               "events_size": (finished_run / "events.jsonl").stat().st_size,
               "log_size": (finished_run / "stdout.log").stat().st_size}  # fmt: skip
    (finished_run / ".launch.json").write_text(json.dumps(journal))
    (finished_run / "status.json").write_text('{"state": "preparing"}')
    with open(finished_run / "events.jsonl", "a") as f:
        f.write('{"kind": "log"}\n')
    error = one_line_error(tpudeck("train", "--resume", "--text_column", "nope",
                                   "--output_dir", str(finished_run)))  # fmt: skip
    assert "has no column 'nope'" in error
    assert tree_digest(finished_run) == before


def test_every_command_takes_what_tpudeck_prints_for_a_run(finished_run, tmp_path):
    """id, id prefix, run name, the --output_dir as given and its path all find the run."""
    result = tpudeck("train", *QUICK, "--output_dir", "runC", "--run_name", "my run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (link,) = [r["run_id"] for r in ls(None)]
    for ref in (link, link[:12], "my run", "runC", str(tmp_path / "runC")):
        shown = tpudeck("logs", ref, cwd=tmp_path)
        assert shown.returncode == 0 and "run finished at step 2" in shown.stdout, (ref, shown)
    # the hint a failed push prints, `tpudeck push runC`, reaches the run from anywhere
    pushed = tpudeck("push", "runC", "--timeout", "0")
    assert "no run" not in pushed.stderr and "no Hub token" in pushed.stderr


def test_a_home_that_is_a_file_is_one_line_for_every_command(tmp_path):
    (tmp_path / "file").write_text("")
    env = {**os.environ, "TPUDECK_HOME": str(tmp_path / "file")}
    commands = [["ls"], ["who"], ["queue"], ["logs", "x"], ["stop", "x"], ["rm", "x"],
                ["push", "x"], ["devices"], ["train", "--demo"], ["run", "--", "true"],
                ["ui"]]  # fmt: skip
    for command in commands:
        error = one_line_error(tpudeck(*command, env=env))
        assert error.endswith("is a file, not a folder: point TPUDECK_HOME at a folder"), command


# -- huge and torn inputs ------------------------------------------------------------------


def test_a_line_longer_than_the_bound_is_refused_before_it_is_read(tmp_path, tpudeck_home):
    huge = tmp_path / "one-line.txt"
    with open(huge, "wb") as f:
        for _ in range(40):
            f.write(b"word " * 200_000)  # 40 MB and not one newline
    started = time.monotonic()
    error = one_line_error(tpudeck("train", "--train_file", str(huge)))
    assert f"--train_file {huge}: line 1 is longer than 16 MiB" in error
    assert "split it into lines" in error and time.monotonic() - started < 30
    assert ls(tpudeck_home) == [] and not lock_was_taken(tpudeck_home)


def test_a_torn_json_line_is_one_line_naming_file_and_row(tmp_path, demo_corpus, tpudeck_home):
    data = tmp_path / "data.jsonl"
    rows = [json.dumps({"text": line}) for line in demo_corpus.read_text().splitlines()[:300]]
    data.write_text("\n".join(rows) + '\n{"text": "the last line was cut in ha')
    error = one_line_error(tpudeck("train", "--train_file", str(data)))
    assert f"--train_file {data}: row 301 is not valid JSON" in error
    assert not lock_was_taken(tpudeck_home)


# -- tests end what they start ------------------------------------------------------------

INNER_TEST = """
import os, subprocess, sys, time
from pathlib import Path

def test_launches_a_detached_trainer_and_hangs(tpudeck_home):
    launched = subprocess.run(
        [sys.executable, "-m", "tpudeck", "train", "--demo", "--detach", "--platform", "cpu",
         "--max_steps", "100000"], capture_output=True, text=True)
    assert launched.returncode == 0, launched.stderr
    Path(os.environ["INNER_HOME_FILE"]).write_text(str(tpudeck_home))
    time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_test_session_ends_the_trainers_it_started(signum, tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    for shared in ("__init__.py", "conftest.py", "builders.py"):  # a package, as tests/ is
        (inner / shared).write_text(Path(__file__).with_name(shared).read_text())
    (inner / "test_inner.py").write_text(INNER_TEST)
    home_file = tmp_path / "home-of-inner"
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(inner)],
        env={**os.environ, "INNER_HOME_FILE": str(home_file)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_signals,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not home_file.exists():
        assert session.poll() is None and time.monotonic() < deadline, session.stdout.read()
        time.sleep(0.2)
    (status_file,) = Path(home_file.read_text(), "runs").glob("*/status.json")
    status = json.loads(status_file.read_text())
    assert is_alive(status["pid"], status["pid_start"])
    session.send_signal(signum)
    session.wait(timeout=120)
    assert not is_alive(status["pid"], status["pid_start"]), "the trainer outlived its test"
