"""Run: one run followed live: curves, throughput, progress, log tail, checkpoints, Hub pushes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, ProgressBar, Static

from tpudeck.core.errors import TpudeckError
from tpudeck.core.runs.actions import request_stop
from tpudeck.core.runs.events import EventTail
from tpudeck.core.runs.store import check_owner, read_run

from ..run_rows import format_duration
from ..widgets.curves import CurvePlot
from .dialogs import Confirm

FOLLOW_SECONDS = 0.5
LOG_TAIL_BYTES = 1 << 16


@dataclass
class RunUpdate(Message):
    """What changed in a run's directory since the last look."""

    events: list
    log_text: str
    status: dict
    state: str
    checkpoints: list


class RunScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("s", "stop", "Stop")]

    def __init__(self, run_id: str):
        super().__init__()
        self.record = self.app.store.find(run_id)
        self.tail = EventTail(self.record.run_dir.events_path)
        self.log_offset = max(0, _size(self.record.run_dir.log_path) - LOG_TAIL_BYTES)
        self.latest: dict[str, dict] = {}  # newest event of each kind
        self.pushes: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="run"):
            yield Static(id="summary")
            yield ProgressBar(id="progress", show_eta=False)
            with Horizontal(id="plots"):
                yield CurvePlot("loss", id="loss-plot")
                yield CurvePlot("learning rate", id="lr-plot")
            with Horizontal(id="details"):
                yield Log(id="log", max_lines=2000)
                with Vertical(id="side"):
                    yield Static(id="checkpoints")
                    yield Static(id="hub")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.record.run_id
        self.follow()
        self.set_interval(FOLLOW_SECONDS, self.follow)

    @work(thread=True, exclusive=True, group="follow")
    def follow(self) -> None:
        run_dir = self.record.run_dir
        try:
            with open(run_dir.log_path, "rb") as f:
                f.seek(self.log_offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        self.log_offset += len(chunk)
        record = read_run(run_dir.path)
        checkpoints = (
            sorted(p.name for p in run_dir.checkpoints_dir.glob("step-*"))
            if run_dir.checkpoints_dir.is_dir()
            else []
        )
        self.post_message(
            RunUpdate(
                self.tail.read(),
                chunk.decode(errors="replace"),
                record.status,
                record.state,
                checkpoints,
            )
        )

    def on_run_update(self, update: RunUpdate) -> None:
        loss_plot, lr_plot = (
            self.query_one("#loss-plot", CurvePlot),
            self.query_one("#lr-plot", CurvePlot),
        )
        for event in update.events:
            kind = event.get("kind")
            self.latest[kind] = event
            if kind == "step":
                loss_plot.add("train", event["step"], event.get("loss"))
                lr_plot.add("lr", event["step"], event.get("lr"))
            elif kind == "eval":
                loss_plot.add("eval", event["step"], event.get("loss"))
            elif kind == "push":
                self.pushes.append(event)
        if update.events:
            loss_plot.redraw()
            lr_plot.redraw()
        if update.log_text:
            self.query_one(Log).write(update.log_text)
        self.record.status = update.status
        self.record.state = update.state
        self._show_summary(update)

    def _show_summary(self, update: RunUpdate) -> None:
        step, evaluation = self.latest.get("step", {}), self.latest.get("eval", {})
        compile_event = self.latest.get("compile", {})
        total = step.get("total_steps") or update.status.get("total_steps")
        done = step.get("step") or update.status.get("step") or 0
        eta = (total - done) / step["steps_per_s"] if total and step.get("steps_per_s") else None
        mfu = step.get("mfu")
        fields = [
            f"[b]{update.state}[/b]",
            f"step {done}/{total or '-'}",
            f"loss {step['loss']:.4f}" if step.get("loss") is not None else "loss -",
            f"eval {evaluation['loss']:.4f}" if evaluation.get("loss") is not None else "eval -",
            f"{step['tokens_per_s']:,.0f} tok/s" if step.get("tokens_per_s") else "- tok/s",
            f"MFU {mfu:.1%}" if mfu is not None else "MFU n/a",
            f"compile {compile_event['seconds']:.1f}s" if compile_event else "compile -",
            f"ETA {format_duration(eta)}" if update.state == "training" else "",
            f"owner {self.record.owner}",
        ]
        message = update.status.get("message") or update.status.get("waiting_for")
        self.query_one("#summary", Static).update(
            "   ".join(f for f in fields if f) + (f"\n{message}" if message else "")
        )
        bar = self.query_one(ProgressBar)
        bar.update(total=total or None, progress=done)
        self.query_one("#checkpoints", Static).update(
            "[b]checkpoints[/b]\n" + ("\n".join(update.checkpoints) or "none yet")
        )
        pushes = "\n".join(
            f"{p.get('status', '?')} {p.get('url') or p.get('error') or ''}"
            for p in self.pushes[-5:]
        )
        self.query_one("#hub", Static).update(
            "[b]Hub[/b]\n" + (pushes or "no pushes (run without --push_to_hub)")
        )

    def action_stop(self) -> None:
        try:
            check_owner(self.record, "stop")
        except TpudeckError as exc:
            self.notify(str(exc), severity="error")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.act_on_run(
                    lambda: request_stop(self.record), f"stopping {self.record.run_id}"
                )

        self.app.push_screen(
            Confirm(f"Stop run {self.record.run_id}? It checkpoints, then stops."), confirmed
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
