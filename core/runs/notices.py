"""Telling people a run ended. A run that finishes, fails, dies or diverges, or whose Hub push
stops, is a notice: every open app shows it, and the user's `notify_command` (ui.json) runs
once with it as JSON on stdin. The trainer and every app may notice the same ending; the
first to claim it (an exclusive create under $TPUDECK_HOME/notices) runs the command, the
others do not, so a team chat hears of each ending once."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import threading

from ..errors import TpudeckError
from ..user_settings import load_settings
from .home import store_folder
from .store import read_run

log = logging.getLogger(__name__)

ENDINGS = ("finished", "failed", "died", "diverged")  # a stop is the user's own doing
PUSH_STOPPED = "push_failed"


@dataclasses.dataclass(frozen=True)
class Notice:
    run_id: str
    event: str  # one of ENDINGS, or PUSH_STOPPED
    message: str
    owner: str
    at: float  # when it happened: a resumed run that ends again is another notice

    @property
    def key(self) -> str:
        return f"{self.run_id}.{self.event}.{round(self.at * 1000)}"

    def describe(self) -> str:
        what = "Hub push stopped" if self.event == PUSH_STOPPED else self.event
        return f"{self.run_id} {what}" + (f": {self.message}" if self.message else "")

    @property
    def bad(self) -> bool:
        return self.event != "finished"


def ending(run: dict) -> Notice | None:
    """The notice of a run's end (from its summary), if it ended in one of ENDINGS. A died
    run wrote no end: its last status write dates it, the same for every reader."""
    if run["state"] not in ENDINGS:
        return None
    message = run["message"] or ""
    if run["state"] == "died":
        message = "its process vanished without a word (killed, or out of memory)"
    return Notice(run["run_id"], run["state"], message, run["owner"], run["ended"] or 0.0)


def push_stopped(run: dict) -> Notice | None:
    """The notice of a Hub push that gave up, from the run's newest push event."""
    push = run["push"]
    if not push or push.get("status") != "failed":
        return None
    return Notice(run["run_id"], PUSH_STOPPED, push.get("error", ""), run["owner"], push["t"])


def notices_of(run: dict) -> list[Notice]:
    return [n for n in (ending(run), push_stopped(run)) if n is not None]


def announce_end(run_dir) -> None:
    """For a trainer or a script's supervisor, as it exits: announce its run's ending."""
    announce_quietly(ending(read_run(run_dir.path).summary()))


def announce_push_stopped(run_dir, push: dict) -> None:
    """For a trainer whose pusher gave up: announce it (keyed by the event's own time, as
    the apps that read the event key it)."""
    record = read_run(run_dir.path)  # its owner; the push is the event just written
    announce_quietly(push_stopped({"run_id": record.run_id, "owner": record.owner, "push": push}))


def announce_quietly(notice: Notice | None, home=None) -> None:
    """A notice that cannot be sent costs a log line, never a run's outcome or an app."""
    if notice is None:
        return
    try:
        announce(notice, home)
    except (OSError, TpudeckError) as exc:
        log.warning("could not run notify_command for %s: %s", notice.describe(), exc)


def announce(notice: Notice, home=None) -> bool:
    """Run this user's notify_command with `notice` if nobody has yet; True if it ran.

    The command runs in its own session and is not waited for: an app's screen, or a
    trainer's exit, never waits on a slow chat server."""
    command = load_settings().get("notify_command")
    if not command:
        return False
    try:
        claim = os.open(store_folder("notices", home) / notice.key,
                        os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o664)  # fmt: skip
    except FileExistsError:
        return False  # another app, or the trainer, told them already
    os.close(claim)
    child = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        child.stdin.write((json.dumps(dataclasses.asdict(notice)) + "\n").encode())
        child.stdin.close()
    except OSError:
        pass  # the command did not read its stdin: it still ran
    threading.Thread(target=child.wait, daemon=True).start()  # reaped, never a zombie
    return True
