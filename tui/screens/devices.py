"""Devices: host, TPU chips and GPUs, who holds the accelerator (tpudeck or not), the queue."""

from __future__ import annotations

import time

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Footer, Header, Sparkline, Static

from tpudeck.core.cli_runs import describe_readings, who_report
from tpudeck.core.devices.sampler import Sampler, default_probes

from ..messages import DevicesRead

SAMPLE_SECONDS = 2.0
HISTORY = 120


class DevicesScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self):
        super().__init__()
        self.cpu_history: list[float] = []
        self.sampler = Sampler(default_probes(self.app.store.home), history=HISTORY)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="devices"):
            with Horizontal(id="host"):
                yield Static(id="host-text")
                yield Sparkline([0.0], id="cpu-spark")
            yield Static(id="holder")
            yield Static(id="queue")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "devices"
        self.sample()
        self.set_interval(SAMPLE_SECONDS, self.sample)

    @work(thread=True, exclusive=True, group="devices")
    def sample(self) -> None:
        self.post_message(DevicesRead(self.sampler.sample_once(), who_report()))

    def on_devices_read(self, message: DevicesRead) -> None:
        readings, who = message.readings, message.who
        host = readings["host"]
        if host.available:
            cores = host.values["cpu_percent"]
            self.cpu_history = (self.cpu_history + [sum(cores) / max(len(cores), 1)])[-HISTORY:]
            self.query_one("#cpu-spark", Sparkline).data = self.cpu_history
        self.query_one("#host-text", Static).update(escape("\n".join(describe_readings(readings))))
        lines = [
            f"[b]accelerator[/b]  {'free' if who['summary'] == 'free' else 'held by ' + escape(who['summary'])}"
        ]
        for f in who["foreign"]:
            since = time.strftime("%H:%M", time.localtime(f["since"])) if f.get("since") else "?"
            lines.append(
                f"  outside tpudeck: pid {f['pid']} of {f['user']} since {since}: {escape(f['command'][:100])}"
            )
        lock = who["libtpu_lockfile"]
        if lock["state"] != "absent":
            lines.append(
                f"  libtpu lockfile: {lock['state']}"
                + (f" — clear it with: {lock['fix']}" if lock["fix"] else "")
            )
        if who["unreadable_processes"]:
            lines.append(
                f"  {who['unreadable_processes']} processes of other users could not be inspected"
            )
        self.query_one("#holder", Static).update("\n".join(lines))
        queue = [f"{i + 1}. {e['run_id']} ({e['user']})" for i, e in enumerate(who["queue"])]
        self.query_one("#queue", Static).update("[b]queue[/b]\n" + ("\n".join(queue) or "empty"))
