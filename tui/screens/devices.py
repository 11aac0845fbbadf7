"""Devices: the host's CPU and memory, who holds the accelerator (tpudeck or not), the queue."""

from __future__ import annotations

import time

import psutil
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Sparkline, Static

from tpudeck.core.cli_runs import who_report

from ..messages import DevicesRead

SAMPLE_SECONDS = 2.0
HISTORY = 120


class DevicesScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self):
        super().__init__()
        self.cpu_history: list[float] = []

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
        psutil.cpu_percent(percpu=True)  # primes the counters: the next call measures an interval
        self.sample()
        self.set_interval(SAMPLE_SECONDS, self.sample)

    @work(thread=True, exclusive=True, group="devices")
    def sample(self) -> None:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self.app.store.home if self.app.store.home.exists() else "/"))
        host = {
            "cpu": psutil.cpu_percent(percpu=True),
            "memory_used": memory.used,
            "memory_total": memory.total,
            "disk_free": disk.free,
            "load": psutil.getloadavg(),
        }
        self.post_message(DevicesRead(host, who_report()))

    def on_devices_read(self, message: DevicesRead) -> None:
        host, who = message.host, message.who
        cores = "  ".join(f"{c:3.0f}%" for c in host["cpu"])
        self.cpu_history = (self.cpu_history + [sum(host["cpu"]) / max(len(host["cpu"]), 1)])[
            -HISTORY:
        ]
        self.query_one("#cpu-spark", Sparkline).data = self.cpu_history
        gb = 1e9
        self.query_one("#host-text", Static).update(
            f"[b]host[/b]  cpu {cores}\n"
            f"memory {host['memory_used'] / gb:.1f}/{host['memory_total'] / gb:.1f} GB   "
            f"load {' '.join(f'{x:.2f}' for x in host['load'])}   run store free {host['disk_free'] / gb:.0f} GB"
        )
        lines = [
            f"[b]accelerator[/b]  {'free' if who['summary'] == 'free' else 'held by ' + who['summary']}"
        ]
        for f in who["foreign"]:
            since = time.strftime("%H:%M", time.localtime(f["since"])) if f.get("since") else "?"
            lines.append(
                f"  outside tpudeck: pid {f['pid']} of {f['user']} since {since}: {f['command'][:100]}"
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
        lines.append("  per-chip duty cycle and HBM: not available yet (device telemetry)")
        self.query_one("#holder", Static).update("\n".join(lines))
        queue = [f"{i + 1}. {e['run_id']} ({e['user']})" for i, e in enumerate(who["queue"])]
        self.query_one("#queue", Static).update("[b]queue[/b]\n" + ("\n".join(queue) or "empty"))
