"""A run whose disk fills up: it ends `failed` in one line, leaves no half-written files,
keeps its last checkpoint, and resumes once there is room. On a real, small tmpfs."""

import json
import subprocess

import pytest

from tpudeck.core.runs.rundir import RunDir

from .builders import one_line_error, tpudeck

# Each demo checkpoint is ~1.7 MB: the first fits in 2.6 MB, the second cannot.
SMALL = "2600k"


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL}", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        pytest.skip(f"mounting a tmpfs needs root and CAP_SYS_ADMIN ({done.stderr.strip()})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_fails_the_run_in_one_line_and_resume_continues(small_disk):
    run = small_disk / "run"
    args = ["--demo", "--max_steps", "6", "--save_steps", "2", "--platform", "cpu"]
    error = one_line_error(tpudeck("train", *args, "--output_dir", str(run)))
    assert error == (
        "tpudeck: error: disk full at step 4 while saving a checkpoint; free space and "
        f"resume: tpudeck train --resume --output_dir {run}"
    )
    status = json.loads((run / "status.json").read_text())
    assert (status["state"], status["message"]) == (
        "failed",
        error.removeprefix("tpudeck: error: "),
    )
    litter = [p.name for p in run.rglob(".*") if p.name != ".launch.json"]
    assert litter == [] and not (run / ".launch.json").exists()
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_2"]

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    resumed = tpudeck("train", "--resume", "--output_dir", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from step 2" in resumed.stderr
    assert json.loads((run / "status.json").read_text())["state"] == "finished"


def test_events_and_status_survive_a_disk_with_no_byte_left(small_disk):
    run = RunDir(small_disk / "run")
    run.create("{}")
    run.write_status("training", step=3)
    run.emit("step", step=3, loss=1.0)
    with open(small_disk / "filler", "wb", buffering=0) as f:  # take every free byte
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass
    run.emit("step", step=4, loss=0.5, note="x" * 10_000)  # lost, with a warning, no raise
    status = run.write_status("failed", message="disk full at step 4")
    assert json.loads(run.status_path.read_text()) == status
    assert [e["step"] for e in run.read_events("step")] == [3]  # no torn line either
    assert sorted(p.name for p in run.path.iterdir()) == [
        "events.jsonl",
        "spec.json",
        "status.json",
    ]
