"""Devices: host, TPU chips and GPUs, who holds the accelerator (tpudeck or not), the queue."""

from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from tpudeck.core.cli_runs import describe_readings, who_report
from tpudeck.core.devices.sampler import Sampler, default_probes
from tpudeck.core.errors import TpudeckError
from tpudeck.core.runs.queue import RunQueue
from tpudeck.core.user_settings import load_settings

from ..messages import DevicesRead
from ..widgets.chips import chips_panel, input_bound_hint

HISTORY = 120


class DevicesScreen(Screen):
    CSS_PATH = "devices.tcss"  # loaded when the screen is first opened
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("plus,equals_sign", "priority(1)", "Priority +"),
        Binding("minus", "priority(-1)", "Priority -"),
        Binding("left_square_bracket", "move(-1)", "Move up"),
        Binding("right_square_bracket", "move(1)", "Move down"),
    ]

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
            yield Static(id="chips")
            yield Static(id="hint")
            yield Static(id="holder")
            yield Static("[b]queue[/b]  (select a run: + - priority, [ ] move)", id="queue-title")
            yield DataTable(id="queue", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "devices"
        self.sample()
        # Sampling runs on a worker thread; ui.json's "sample_seconds" sets the pace.
        self.set_interval(float(load_settings().get("sample_seconds", 1.0)), self.sample)

    @work(thread=True, exclusive=True, group="devices")
    def sample(self) -> None:
        readings = self.sampler.sample_once()
        tpu_history = list(self.sampler.history["tpu_runtime"])  # this thread is its only writer
        self.post_message(DevicesRead(readings, who_report(), tpu_history))

    def on_devices_read(self, message: DevicesRead) -> None:
        readings, who = message.readings, message.who
        host = readings["host"]
        if host.available:
            cores = host.values["cpu_percent"]
            self.cpu_history = (self.cpu_history + [sum(cores) / max(len(cores), 1)])[-HISTORY:]
            self.query_one("#cpu-spark", Sparkline).data = self.cpu_history
        others = {k: r for k, r in readings.items() if k != "tpu_runtime"}
        self.query_one("#host-text", Static).update(escape("\n".join(describe_readings(others))))
        self.query_one("#chips", Static).update(chips_panel(message.tpu_history))
        hint = input_bound_hint(readings["tpu_runtime"], host)
        self.query_one("#hint", Static).update(f"[b]![/b] {escape(hint)}" if hint else "")
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
        self.show_queue(who["queue"])

    def show_queue(self, entries: list[dict]) -> None:
        table = self.query_one("#queue", DataTable)
        if not table.columns:
            table.add_columns("#", "run", "user", "priority", "after")
        selected = self.selected_queued()
        table.clear()
        for i, e in enumerate(entries):
            after = Path(e["after"]).name if e.get("after") else ""
            table.add_row(str(i + 1), e["run_id"], e["user"], str(e.get("priority", 0)), after,
                          key=e["run_id"])  # fmt: skip
        ids = [e["run_id"] for e in entries]
        if selected in ids:
            table.move_cursor(row=ids.index(selected), animate=False)

    def selected_queued(self) -> str | None:
        table = self.query_one("#queue", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_priority(self, change: int) -> None:
        """Raise or lower the selected queued run's priority: its owner's (or root's) call."""
        if run_id := self.selected_queued():
            queue = RunQueue(self.app.store.home)
            try:
                priority = queue.entry(run_id).get("priority", 0) + change
            except TpudeckError as exc:  # it left the queue since the table was drawn
                self.notify(str(exc), severity="error")
                return
            self.app.act_on_run(lambda: queue.set_priority(run_id, priority),
                                f"{run_id}: priority {priority}")  # fmt: skip
            self.sample()

    def action_move(self, offset: int) -> None:
        if run_id := self.selected_queued():
            queue = RunQueue(self.app.store.home)
            self.app.act_on_run(lambda: queue.move(run_id, offset),
                                f"{run_id} moved {'up' if offset < 0 else 'down'}")  # fmt: skip
            self.sample()
