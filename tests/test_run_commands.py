"""`tpudeck ls | logs | stop | rm | queue` on hand-made run directories, good and bad."""

import json
import os
import pwd
import sys
import tempfile
from pathlib import Path

import pytest

from tpudeck.core.errors import TpudeckError
from tpudeck.core.runs.events import EventTail
from tpudeck.core.runs.procs import start_ticks
from tpudeck.core.runs.queue import RunQueue

from .builders import as_user, make_run, tpudeck


def test_ls_shows_state_progress_and_owner_for_people_and_scripts(tpudeck_home):
    make_run(tpudeck_home, "20260101-000000-a-0001", "finished")
    make_run(tpudeck_home, "20260101-000001-b-0002", "training", pid=2**22 + 1)  # no such process
    rows = json.loads(tpudeck("ls", "--json").stdout)
    assert [(r["run_id"], r["state"], r["step"], r["loss"]) for r in rows] == [
        ("20260101-000000-a-0001", "finished", 3, 1.25),
        ("20260101-000001-b-0002", "died", 3, 1.25),  # training, but its process is gone
    ]
    table = tpudeck("ls").stdout
    assert "died" in table and "3/10" in table and pwd.getpwuid(os.geteuid()).pw_name in table


def test_corrupt_status_and_garbage_events_are_reported_not_crashed_on(tpudeck_home):
    run = make_run(tpudeck_home, "20260101-000000-bad-0001", "finished")
    run.status_path.write_text("{not json")
    with open(run.events_path, "a") as f:
        f.write("garbage line\n[1, 2]\n")
    result = tpudeck("ls", "--json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["state"] == "unknown" and "status.json is corrupt" in row["message"]
    tail = EventTail(run.events_path)
    assert [e["kind"] for e in tail.read()] == ["step"] and tail.garbage == 2


def test_stop_signals_the_run_and_waits_for_it(tpudeck_home, sleeper):
    make_run(tpudeck_home, "20260101-000000-s-0001", "training", pid=sleeper.pid)
    result = tpudeck("stop", "s-0001", "--timeout", "1", "--kill")
    assert result.returncode == 0, result.stderr
    assert sleeper.wait(timeout=10) != 0  # `sleep` dies of the SIGTERM
    assert json.loads(tpudeck("ls", "--json").stdout)[0]["state"] in ("stopped", "died")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["stop", "nope"], "no run 'nope'"),
        (["logs", "nope"], "no run 'nope'"),
        (["stop", "fin"], "is already finished"),
        (["rm", "live"], "`tpudeck stop"),
        (["queue", "--move", "up", "fin"], "is not in the queue"),
        (["run", "--", sys.executable, "missing_script.py"], "script missing_script.py not found"),
        (["run", "--", "no-such-command-xyz"], "not found on PATH"),
    ],
)
def test_bad_run_references_are_one_line_errors(tpudeck_home, sleeper, args, expected):
    make_run(tpudeck_home, "20260101-000000-fin-0001", "finished")
    make_run(tpudeck_home, "20260101-000001-live-0002", "training", pid=sleeper.pid)
    result = tpudeck(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert expected in result.stderr


def test_rm_deletes_a_finished_run_and_its_store_link(tpudeck_home, tmp_path):
    make_run(tmp_path, "elsewhere", "finished")  # a run in its own --output_dir, linked below
    (tpudeck_home / "runs").mkdir(parents=True, exist_ok=True)
    (tpudeck_home / "runs" / "20260101-000000-ext-0001").symlink_to(tmp_path / "runs" / "elsewhere")
    assert tpudeck("rm", "ext-0001").returncode == 0
    assert not (tmp_path / "runs" / "elsewhere").exists() and not list(
        (tpudeck_home / "runs").iterdir()
    )


def test_owners_reorder_only_their_own_queued_runs(tpudeck_home):
    queue = RunQueue(tpudeck_home)
    queue.dir.mkdir(parents=True)
    live = start_ticks(os.getpid())
    for i, user in enumerate(["alice", "bob", "alice"]):
        entry = {
            "run_id": f"r{i}",
            "pid": os.getpid(),
            "pid_start": live,
            "user": user,
            "position": i,
        }
        (queue.dir / f"r{i}.json").write_text(json.dumps(entry))
    queue.move("r2", -1, user="alice")  # jumps over bob's run only by swapping with her own r0
    assert [e["run_id"] for e in queue.entries()] == ["r2", "r1", "r0"]
    with pytest.raises(TpudeckError, match="belongs to alice"):
        queue.move("r0", -1, user="bob")
    with pytest.raises(TpudeckError, match="no run of yours there"):
        queue.move("r1", -1, user="bob")


def test_another_unix_user_cannot_stop_or_delete_your_run(other_user, sleeper):
    home = Path(tempfile.mkdtemp(dir="/tmp"))
    os.chmod(home, 0o755)  # a team's shared store: readable by everyone
    make_run(home, "20260101-000000-mine-0001", "training", pid=sleeper.pid)
    make_run(home, "20260101-000001-done-0002", "finished")
    code, err = as_user(other_user, ["stop", "mine-0001"], home)
    assert code == 2 and "belongs to root: only they (or root) may stop it" in err
    code, err = as_user(other_user, ["rm", "done-0002"], home)
    assert code == 2 and "may delete it" in err
    assert sleeper.poll() is None and (home / "runs" / "20260101-000001-done-0002").is_dir()
