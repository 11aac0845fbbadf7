"""The background pusher against a local Hub: coalescing, retries, restarts, refusals.

These run in-process on a hand-made run directory (the pusher reads files, not models);
test_hub_training.py drives the same pusher from a real training run.
"""

import json
import shutil
import time

import pytest

from tpudeck.core.hub.client import HubError, connect
from tpudeck.core.hub.snapshot import pending_dir, sending_dir, take_snapshot
from tpudeck.core.hub.sync import HubSync
from tpudeck.core.runs.rundir import RunDir

from .hub_server import FakeHub

TOKEN = "hf_tpudeckSyncToken0123456789"
REPO = "tester/sync"


@pytest.fixture
def hub(monkeypatch):
    from huggingface_hub import constants

    with FakeHub(TOKEN) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        yield hub


@pytest.fixture
def run(tmp_path) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.create(json.dumps({"model_type": "gpt2", "run_name": "sync test"}))
    (run.tensorboard_dir).mkdir()
    (run.tensorboard_dir / "events.out.tfevents.1.host").write_bytes(b"scalars")
    return run


def save(run: RunDir, step: int) -> None:
    """What the trainer does at a save: a checkpoint and an export, each renamed into place."""
    for final, name in ((run.checkpoints_dir / f"step-{step}", "state.msgpack"),
                        (run.model_dir, "model.safetensors")):  # fmt: skip
        tmp = final.with_name(f".tmp-{final.name}")
        tmp.mkdir(parents=True)
        (tmp / name).write_bytes(f"weights of step {step}".encode())
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    run.emit("eval", step=step, loss=5.0 - step, perplexity=100.0)


def wait_for_event(run: RunDir, predicate, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in run.read_events("push") if predicate(e)]
        if found:
            return found[-1]
        time.sleep(0.02)
    raise AssertionError(f"no such push event in {run.read_events('push')}")


def syncing(run: RunDir, strategy: str = "every_save", **kwargs) -> HubSync:
    api, repo = connect(REPO, "sync test", False, TOKEN)
    return HubSync(run, api, repo, strategy, first_retry_s=0.2, **kwargs).start()


def statuses(run: RunDir) -> list[tuple]:
    return [(e["status"], e.get("step")) for e in run.read_events("push")]


def test_saves_that_pile_up_behind_a_slow_push_coalesce_into_the_newest(hub, run):
    hub.delay_s = 1.0
    sync = syncing(run)
    save(run, 1)
    sync.queue(1)
    wait_for_event(run, lambda e: e["status"] == "started")
    for step in (2, 3):  # both arrive while step 1 is still on the wire
        save(run, step)
        sync.queue(step)
    assert sync.close()
    assert [s for s in statuses(run) if s[0] == "done"] == [("done", 1), ("done", 3)]
    files = hub.repos[REPO]
    assert files["model.safetensors"] == b"weights of step 3"
    assert files["runs/events.out.tfevents.1.host"] == b"scalars"
    assert "| 3 | 2.0000 |" in files["README.md"].decode()
    assert "last-checkpoint/state.msgpack" not in files  # only --hub_strategy checkpoint
    assert not sending_dir(run).exists() and not pending_dir(run).exists()


def test_checkpoint_strategy_also_sends_the_latest_checkpoint(hub, run):
    sync = syncing(run, "checkpoint")
    save(run, 4)
    sync.queue(4)
    assert sync.close()
    assert hub.repos[REPO]["last-checkpoint/state.msgpack"] == b"weights of step 4"


def test_a_hub_that_goes_down_is_retried_until_it_returns(hub, run):
    sync = syncing(run)
    hub.stop()
    save(run, 1)
    sync.queue(1)
    retry = wait_for_event(run, lambda e: e["status"] == "retry")
    assert "ConnectError" in retry["error"] and retry["retry_in_s"] == 0.2
    wait_for_event(run, lambda e: e["status"] == "retry" and e["retry_in_s"] == 0.4)
    hub.start()
    assert sync.close()
    assert statuses(run)[-1] == ("done", 1)
    assert hub.repos[REPO]["model.safetensors"] == b"weights of step 1"


def test_server_errors_are_retried_with_growing_waits(hub, run):
    hub.fail_next = 3
    sync = syncing(run)
    save(run, 1)
    sync.queue(1)
    assert sync.close()
    retries = [e for e in run.read_events("push") if e["status"] == "retry"]
    commit = f"HfHubHTTPError 500 on POST /api/models/{REPO}/commit/main"
    assert [(e["error"], e["retry_in_s"]) for e in retries] == [
        (commit, 0.2),
        (commit, 0.4),
        (commit, 0.8),
    ]
    assert statuses(run)[-1] == ("done", 1)


def test_a_snapshot_left_by_a_dead_process_is_sent_by_the_next(hub, run):
    save(run, 7)
    take_snapshot(run, REPO, 7, with_checkpoint=False).rename(sending_dir(run))  # died mid-push
    assert syncing(run).close()
    assert statuses(run)[-1] == ("done", 7)
    assert hub.repos[REPO]["model.safetensors"] == b"weights of step 7"


def test_a_revoked_token_stops_pushing_with_a_reason_and_keeps_the_snapshot(hub, run):
    sync = syncing(run)
    save(run, 1)
    sync.queue(1)
    wait_for_event(run, lambda e: e["status"] == "done")
    hub.reject_tokens = True
    save(run, 2)
    sync.queue(2)
    failed = wait_for_event(run, lambda e: e["status"] == "failed")
    assert failed["error"].startswith("the Hub refused the token (401)")
    save(run, 3)
    sync.queue(3)  # ignored: the Hub said no
    assert not sync.close()
    assert statuses(run)[-1] == ("failed", 2) and sending_dir(run).is_dir()


def test_a_rejected_commit_names_the_request_that_failed(hub, run):
    hub.missing = {"/api/validate-yaml"}  # huggingface_hub checks the card's YAML first
    sync = syncing(run)
    save(run, 1)
    sync.queue(1)
    failed = wait_for_event(run, lambda e: e["status"] == "failed")
    assert failed["error"].startswith(
        "the Hub rejected the commit (HfHubHTTPError 404 on POST /api/validate-yaml);"
    )
    assert not sync.close()


def test_after_the_run_it_gives_up_in_time_and_leaves_the_snapshot_for_later(hub, run):
    sync = syncing(run, final_timeout_s=1.0)
    hub.stop()
    save(run, 1)
    sync.queue(1)
    began = time.monotonic()
    assert not sync.close()
    assert time.monotonic() - began < 5
    failed = run.read_events("push")[-1]
    assert failed["status"] == "failed" and "gave up after" in failed["error"]
    assert f"tpudeck push {run.run_id}" in failed["error"]
    assert (sending_dir(run) / "model.safetensors").read_bytes() == b"weights of step 1"


def test_connect_names_the_fix_for_each_way_it_can_fail(hub, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    with pytest.raises(HubError, match=r"no Hub token: pass --hub_token, set HF_TOKEN"):
        connect(REPO, "x", False, None)
    with pytest.raises(HubError, match=r"the Hub refused the token \(401\)"):
        connect(REPO, "x", False, "hf_wrong")
    api, repo = connect(None, "my run: v2 (big)", False, TOKEN)
    assert repo == "tester/my-run-v2-big" and repo in hub.repos
    hub.stop()
    with pytest.raises(HubError, match=r"cannot reach the Hub at http://127\.0\.0\.1:\d+ \(Conn"):
        connect(REPO, "x", False, TOKEN)
    hub.start()
