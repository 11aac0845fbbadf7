"""Checkpoints appear whole and are pruned; the run directory's files are written safely."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tpudeck.core.errors import CheckpointError
from tpudeck.core.runs.rundir import RunDir, list_steps, new_run_id, remove_stale_temps
from tpudeck.core.train.checkpoints import Checkpoints, read_state, verify

from .builders import flip_a_byte, legacy_checkpoint

STATE = {
    "params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)},
    "step": np.array(7, np.int32),
}


def saved(directory, steps, keep: int = 2, state=STATE) -> list[tuple[int, str]]:
    """Save `state` at `steps` as the trainer does; the saves announced, in order."""
    announced = []
    book = Checkpoints(directory, keep, lambda step, path: announced.append((step, path.name)))
    for step in steps:
        book.save(step, state, {"epoch": 0})
    book.close()
    return announced


def test_checkpoint_round_trips_and_keeps_only_the_newest(tmp_path):
    assert saved(tmp_path, (10, 20, 30)) == [(10, "step_10"), (20, "step_20"), (30, "step_30")]
    assert list_steps(tmp_path) == [20, 30]
    state, meta = Checkpoints(tmp_path, 2, print).restore(30, STATE)
    np.testing.assert_array_equal(state["params"]["w"], STATE["params"]["w"])
    assert meta == {"step": 30, "epoch": 0}
    np.testing.assert_array_equal(read_state(tmp_path, 30)["params"]["w"], STATE["params"]["w"])


KILLED_MID_SAVE = """
import sys, time
from pathlib import Path
import numpy as np
from tpudeck.core.train.checkpoints import Checkpoints
book = Checkpoints(Path(sys.argv[1]), 3, lambda step, path: None)
book.save(1, {"w": np.zeros(4, np.float32)}, {})
book.wait()
book.save(2, {"w": np.random.default_rng(0).random(2**26, dtype=np.float32)}, {})  # 256 MB
print("saving", flush=True)  # save() returned: the write goes on in Orbax's thread
time.sleep(600)
"""


def test_a_kill_9_mid_save_leaves_the_checkpoints_before_it_whole(tmp_path):
    directory = tmp_path / "checkpoints"
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_SAVE, str(directory)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout.readline() == "saving\n"
    child.kill()
    child.wait()
    assert (directory / "step_2.orbax-checkpoint-tmp").is_dir()  # it died writing step 2
    assert list_steps(directory) == [1]
    verify(directory, 1)
    book = Checkpoints(directory, 3, print)  # the next trainer's
    state, _ = book.restore(1, {"w": np.ones(4, np.float32)})
    np.testing.assert_array_equal(state["w"], np.zeros(4))
    book.save(3, state, {})  # its first save has removed the leftover
    book.close()
    assert sorted(p.name for p in directory.iterdir()) == ["step_1", "step_3"]


def test_a_flipped_byte_fails_verification_and_names_the_checkpoint_before(tmp_path):
    saved(tmp_path, (5, 10))
    verify(tmp_path, 10, 5)
    flip_a_byte(tmp_path / "step_10" / "state")
    with pytest.raises(
        CheckpointError,
        match=r"does not match its checksum.*rm -r .*step_10\) to resume from step 5",
    ):
        verify(tmp_path, 10, 5)


def test_checkpoints_saved_before_orbax_verify_resume_and_count_toward_the_limit(tmp_path):
    legacy_checkpoint(tmp_path, 5, {"params": STATE["params"], "step": 5}, {"epoch": 0})
    verify(tmp_path, 5)
    state, meta = Checkpoints(tmp_path, 2, print).restore(5, STATE)
    np.testing.assert_array_equal(state["params"]["w"], STATE["params"]["w"])
    assert (meta["step"], meta["epoch"]) == (5, 0)
    flip_a_byte(tmp_path / "step-5" / "state.msgpack")
    with pytest.raises(CheckpointError, match="does not match its checksum.*to train from step 0"):
        verify(tmp_path, 5)
    saved(tmp_path, (10, 20))
    assert sorted(p.name for p in tmp_path.glob("step*")) == ["step_10", "step_20"]


def test_a_corrupt_checkpoint_names_the_fix(tmp_path):
    legacy_checkpoint(tmp_path, 5, {"params": STATE["params"], "step": 5}, {})
    (tmp_path / "step-5" / "state.msgpack").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="delete it .* to resume from the one before"):
        Checkpoints(tmp_path, 2, print).restore(5, STATE)


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path, sleeper):
    (tmp_path / ".status.json.999999999.tmp").write_text("{")
    (tmp_path / f".status.json.{sleeper.pid}.tmp").write_text("{")
    remove_stale_temps(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f".status.json.{sleeper.pid}.tmp"]


def test_status_is_merged_and_replaced_atomically(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create('{"a": 1}')
    run.write_status("training", step=3, total_steps=10)
    status = run.write_status("finished", step=10, loss=float("nan"))
    assert status["state"] == "finished" and status["total_steps"] == 10 and "ended" in status
    assert status["loss"] is None  # JSON has no NaN
    assert json.loads(run.status_path.read_text()) == status
    assert [p.name for p in run.path.iterdir() if p.name.startswith(".")] == []


def test_a_new_state_drops_the_notes_of_the_last_one(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create("{}")
    run.write_status("waiting-for-accelerator", waiting_for="bob's run (pid 7)", queue_position=1)
    run.write_status("stopped", message="stopped by SIGTERM at step 360", step=360)
    resumed = run.write_status("compiling")
    assert "message" not in resumed and "waiting_for" not in resumed and resumed["step"] == 360
    again = run.write_status("waiting-for-accelerator", waiting_for="a", queue_position=2)
    assert run.write_status("waiting-for-accelerator", queue_position=1)["waiting_for"] == "a"
    assert again["queue_position"] == 2


def test_event_readers_skip_a_torn_last_line(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create("{}")
    run.emit("step", step=1, loss=2.5)
    with open(run.events_path, "a") as f:
        f.write('{"t": 1, "kind": "st')  # the writer is mid-line
    assert run.read_events() == [
        {"t": run.read_events()[0]["t"], "kind": "step", "step": 1, "loss": 2.5}
    ]


def test_run_ids_sort_by_time_and_read_as_what_ran():
    run_id = new_run_id("GPT2 demo / stories!")
    assert run_id[:8].isdigit() and "-gpt2-demo-stories-" in run_id
