"""Checkpoints appear whole and are pruned; the run directory's files are written safely."""

import json

import numpy as np
import pytest

from tpudeck.core.errors import CheckpointError
from tpudeck.core.runs.rundir import RunDir, new_run_id, remove_stale_temps
from tpudeck.core.train import checkpoints

STATE = {"params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "step": np.int32(7)}


def test_checkpoint_round_trips_and_keeps_only_the_newest(tmp_path):
    for step in (10, 20, 30):
        checkpoints.save(tmp_path, step, STATE, {"epoch": 0}, keep=2)
    assert checkpoints.list_steps(tmp_path) == [20, 30]
    state, meta = checkpoints.restore(tmp_path, 30, STATE)
    np.testing.assert_array_equal(state["params"]["w"], STATE["params"]["w"])
    assert {k: meta[k] for k in ("step", "epoch")} == {"step": 30, "epoch": 0}
    assert meta["state_bytes"] == (tmp_path / "step-30" / "state.msgpack").stat().st_size


def test_half_written_saves_are_never_listed_and_the_next_save_removes_the_dead_ones(
    tmp_path, sleeper
):
    dead = tmp_path / ".tmp-step-40-999999999"  # what a kill -9 mid-save leaves behind
    saving = tmp_path / f".tmp-step-40-{sleeper.pid}"  # another process saving right now
    dead.mkdir()
    saving.mkdir()
    checkpoints.save(tmp_path, 30, STATE, {}, keep=2)
    assert checkpoints.list_steps(tmp_path) == [30]
    assert not dead.exists() and saving.exists()


def test_a_flipped_bit_fails_verification_and_names_the_checkpoint_before(tmp_path):
    for step in (5, 10):
        checkpoints.save(tmp_path, step, STATE, {}, keep=2)
    checkpoints.verify(tmp_path, 10, 5)
    state = tmp_path / "step-10" / "state.msgpack"
    blob = bytearray(state.read_bytes())
    blob[-1] ^= 1
    state.write_bytes(bytes(blob))
    with pytest.raises(
        CheckpointError, match=r"does not match its checksum.*to resume from step 5"
    ):
        checkpoints.verify(tmp_path, 10, 5)


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path, sleeper):
    (tmp_path / ".status.json.999999999.tmp").write_text("{")
    (tmp_path / f".status.json.{sleeper.pid}.tmp").write_text("{")
    remove_stale_temps(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f".status.json.{sleeper.pid}.tmp"]


def test_corrupt_checkpoint_names_the_fix(tmp_path):
    checkpoints.save(tmp_path, 5, STATE, {}, keep=2)
    (tmp_path / "step-5" / "state.msgpack").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="delete it to resume from the one before"):
        checkpoints.restore(tmp_path, 5, STATE)


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
