"""The background pusher: snapshots go up one at a time while training goes on.

The trainer never waits on the network. At a save it takes a snapshot (links and small
copies: milliseconds) and this thread commits it. Network errors, 5xx and 429 are retried
with capped backoff for as long as the run trains, and for `final_timeout_s` after it
ends; a newer snapshot supersedes one still retrying. A 401/403 stops pushing with its
reason while training goes on. Every step is a `push` event in events.jsonl.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time

from ..runs.notices import announce_push_stopped
from ..runs.rundir import RunDir
from .client import commit_snapshot, connect, describe, is_retriable, refusal
from .snapshot import pending_dir, sending_dir, snapshot_step, take_snapshot

log = logging.getLogger(__name__)


class HubSync:
    """Pushes a run's snapshots to one repo from a daemon thread."""

    def __init__(self, run_dir: RunDir, api, repo_id: str, strategy: str = "end",
                 final_timeout_s: float = 900.0, first_retry_s: float = 1.0,
                 max_retry_s: float = 60.0):  # fmt: skip
        self.run_dir, self.api, self.repo_id, self.strategy = run_dir, api, repo_id, strategy
        self.final_timeout_s, self.first_retry_s = final_timeout_s, first_retry_s
        self.max_retry_s = max_retry_s
        self.refused: str | None = None  # why the Hub will take nothing more from us
        self._closed_at: float | None = None
        self._abandoned = False
        self._wake = threading.Event()
        self._files = threading.Lock()  # pending/ is replaced by one thread, claimed by another
        self._thread = threading.Thread(target=self._work, name="hub-push", daemon=True)

    @classmethod
    def open(cls, run_dir: RunDir, repo_id: str | None, run_name: str, private: bool,
             strategy: str, token: str | None = None) -> HubSync:  # fmt: skip
        """Check token and repo now (before the accelerator is taken); push later.

        Without a repo id the repo is named after the run, in the token owner's namespace.
        """
        try:
            api, repo_id = connect(repo_id, run_name, private, token)
        except Exception as exc:
            run_dir.emit("push", status="failed", repo=repo_id, error=str(exc))
            raise
        return cls(run_dir, api, repo_id, strategy)

    @property
    def sends_checkpoint(self) -> bool:
        """Does a push carry the last checkpoint (so it must be whole before the snapshot)?"""
        return self.strategy == "checkpoint"

    def start(self) -> HubSync:
        """Start the thread; a snapshot a dead process was sending goes again."""
        with self._files:
            sending, pending = sending_dir(self.run_dir), pending_dir(self.run_dir)
            if sending.exists() and not pending.exists():
                sending.rename(pending)
                log.info("pushing the snapshot an earlier process left unsent")
        self._thread.start()
        return self

    def queue(self, step: int) -> None:
        """Snapshot the run as it is now; it replaces any snapshot still waiting."""
        if self.refused:
            return
        with self._files:
            take_snapshot(self.run_dir, self.repo_id, step, self.sends_checkpoint)
        self.run_dir.emit("push", status="queued", repo=self.repo_id, step=step)
        self._wake.set()

    def close(self) -> bool:
        """Wait for the last snapshot to land (or the final timeout); True if it did."""
        self._closed_at = time.monotonic()
        self._wake.set()
        while self._thread.is_alive() and not self._abandoned:
            self._thread.join(0.2)
        return not (pending_dir(self.run_dir).exists() or sending_dir(self.run_dir).exists())

    def abandon(self) -> None:
        """Stop waiting for pushes (Ctrl-C at the end); what is unsent stays for later."""
        self._abandoned = True
        self._wake.set()

    # -- the thread --------------------------------------------------------------------

    def _work(self) -> None:
        while not (self.refused or self._abandoned):
            snapshot = self._claim()
            if snapshot is not None:
                if not self._send(snapshot):
                    return
                continue
            if self._closed_at is not None:
                return
            self._wake.wait()
            self._wake.clear()

    def _claim(self):
        """Move the waiting snapshot to sending/ (dropping an older unsent one)."""
        with self._files:
            pending, sending = pending_dir(self.run_dir), sending_dir(self.run_dir)
            if not pending.exists():
                return None
            shutil.rmtree(sending, ignore_errors=True)
            pending.rename(sending)
            return sending

    def _send(self, snapshot) -> bool:
        """Commit one snapshot with retries; False when pushing must end for good."""
        step = snapshot_step(snapshot)
        event = dict(repo=self.repo_id, step=step)
        wait, attempt = self.first_retry_s, 0
        while True:
            attempt += 1
            self.run_dir.emit("push", status="started", attempt=attempt, **event)
            try:
                url = commit_snapshot(
                    self.api, self.repo_id, snapshot, f"tpudeck: {self.run_dir.run_id} step {step}"
                )
            except Exception as exc:  # httpx and HfHubHTTPError, told apart by status
                self.refused = refusal(exc, self.repo_id)
                if self.refused:
                    stopped = self.run_dir.emit(
                        "push", status="failed", error=self.refused, **event
                    )
                    log.warning("no more pushes: %s", self.refused)
                    announce_push_stopped(self.run_dir, stopped)
                    return False
                if not is_retriable(exc):
                    self._give_up(f"the Hub rejected the commit ({describe(exc)})", event)
                    return True  # this snapshot is bad; a later one may not be
                if self._out_of_time(wait):
                    self._give_up(f"gave up after {attempt} attempts ({describe(exc)})", event)
                    return False
                self.run_dir.emit(
                    "push", status="retry", error=describe(exc), retry_in_s=wait, **event
                )
                if self._pause(wait):
                    return not self._abandoned  # a newer snapshot supersedes this one
                wait = min(wait * 2, self.max_retry_s)
                continue
            shutil.rmtree(snapshot, ignore_errors=True)
            self.run_dir.emit("push", status="done", url=url, **event)
            log.info("pushed step %s to %s", step, url)
            return True

    def _give_up(self, reason: str, event: dict) -> None:
        reason += f"; it stays in hub/ and `tpudeck push {self.run_dir.run_id}` sends it later"
        stopped = self.run_dir.emit("push", status="failed", error=reason, **event)
        log.warning("push failed: %s", reason)
        announce_push_stopped(self.run_dir, stopped)

    def _out_of_time(self, wait: float) -> bool:
        if self._closed_at is None:
            return False  # while training, keep trying: nothing waits on us
        return time.monotonic() + wait > self._closed_at + self.final_timeout_s

    def _pause(self, seconds: float) -> bool:
        """Sleep between attempts; True when a newer snapshot or an abandon cut it short."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            self._wake.wait(left)
            self._wake.clear()
            if self._abandoned or pending_dir(self.run_dir).exists():
                return True
        return False


def push_run(run_dir: RunDir, repo_id: str | None, token: str | None, private: bool,
             timeout_s: float) -> str:  # fmt: skip
    """`tpudeck push`: commit a run as it is now; returns the commit URL or raises HubError."""
    from .client import HubError

    launched = _launch_settings(run_dir)
    sync = HubSync.open(
        run_dir,
        repo_id or launched.get("hub_model_id"),
        launched.get("run_name") or run_dir.run_id,
        private or launched.get("hub_private", False),
        "end",
        token,
    )
    sync.final_timeout_s = timeout_s
    try:
        sync.queue(run_dir.read_status().get("step") or 0)
    except FileNotFoundError:
        raise HubError(
            f"run {run_dir.run_id} has no exported model yet: push it once it has ended"
        ) from None
    if not sync.start().close():
        raise HubError(sync.refused or f"the push to {sync.repo_id} did not land; see its events")
    return run_dir.read_events("push")[-1]["url"]


def _launch_settings(run_dir: RunDir) -> dict:
    try:
        return json.loads(run_dir.spec_path.read_text())
    except (OSError, ValueError):
        return {}
