"""Run: one run followed live: curves, throughput, progress, log tail, checkpoints, Hub pushes."""

from __future__ import annotations

import dataclasses
import json
import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, Static
from textual.worker import get_current_worker

from tpudeck.core.devices.memory_fit import size_text
from tpudeck.core.devices.tpu_runtime import TpuRuntimeProbe
from tpudeck.core.runs.event_summary import EventSummary
from tpudeck.core.runs.store import eta_seconds
from tpudeck.core.train.startup import startup_line

from ..follow import Increment, RunChanged, RunFollower
from ..hub_panel import hub_panel
from ..run_rows import format_duration
from ..widgets.chips import run_devices_panel
from ..widgets.curves import CurvePlot, Look

FOLLOW_SECONDS = 1.0
PLOT_SECONDS = 2.0  # curves redraw at most this often: calm over SSH, cheap on CPU
PUSHES_KEPT = 20
GAP = "   "  # between the summary's fields
DEVICE_SECONDS = 1.0


# The scores a recipe's evaluation may report beyond its loss, as the summary shows them.
EVAL_SCORES = (("accuracy", "accuracy", "{:.1%}"), ("f1", "F1", "{:.3f}"),
               ("matthews_correlation", "MCC", "{:.3f}"), ("pearson", "Pearson", "{:.3f}"),
               ("spearman", "Spearman", "{:.3f}"), ("rouge1", "ROUGE-1", "{:.1f}"),
               ("rouge2", "ROUGE-2", "{:.1f}"), ("rougeL", "ROUGE-L", "{:.1f}"))  # fmt: skip


def eval_scores(evaluation: dict) -> str:
    return "   ".join(
        f"{label} {shape.format(evaluation[key])}"
        for key, label, shape in EVAL_SCORES
        if evaluation.get(key) is not None
    )


class RunScreen(Screen):
    CSS_PATH = "run.tcss"  # loaded when the screen is first opened
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("s", "stop", "Stop"),
        Binding("c", "resume", "Resume"),
        Binding("t", "try_model", "Try"),
        Binding("l", "next_log", "Log", show=False),  # a run of several processes
    ]

    def __init__(self, run_id: str):
        super().__init__()
        self.record = self.app.store.find(run_id)
        self.follower = RunFollower(self.record.run_dir)
        self.latest: dict[str, dict] = {}  # newest event of each kind
        self.pushes: list[dict] = []
        self.plots_stale = False
        self.plots_drawn_at = 0.0
        self.tpu_probe = TpuRuntimeProbe.from_env()
        self.tpu_reading = None
        self._on_accelerator = _asked_for_accelerator(self.record.run_dir)
        self.shown: Increment | None = None  # the last update shown
        self.shown_content: dict = {}  # each panel's content as last shown

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="run"):
            yield Static(id="summary")
            yield Static(id="progress")
            with Horizontal(id="plots"):
                yield CurvePlot("loss", {"eval": Look(points=True)}, id="loss-plot")
                yield CurvePlot("learning rate", id="lr-plot")
            with Horizontal(id="details"):
                yield Log(id="log", max_lines=2000)
                with Vertical(id="side"):
                    yield Static(id="checkpoints")
                    yield Static(id="run-devices")
                    yield Static(id="hub")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.record.run_id
        self.watch_run()
        self.set_interval(PLOT_SECONDS, self.redraw_plots)
        self.set_interval(DEVICE_SECONDS, self.sample_devices)

    @work(thread=True, group="follow")
    def watch_run(self) -> None:
        """This screen's one watcher of its run, until the screen closes (which cancels it)."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            if self.follower.look():
                self.post_message(RunChanged())
            time.sleep(FOLLOW_SECONDS)

    @work(thread=True, exclusive=True, group="devices")
    def sample_devices(self) -> None:
        """libtpu's per-chip view, while this run is the one on the TPU."""
        if self.record.state in ("compiling", "training") and self._on_tpu():
            self.tpu_reading = self.tpu_probe.sample()
        else:
            self.tpu_reading = None

    def on_run_changed(self, _: RunChanged) -> None:
        update = self.follower.take()
        loss_plot, lr_plot = (
            self.query_one("#loss-plot", CurvePlot),
            self.query_one("#lr-plot", CurvePlot),
        )
        events = update.events
        loss_plot.extend("train", events.loss)
        lr_plot.extend("lr", events.lr)
        loss_plot.extend("eval", events.evals)
        self.latest.update(events.latest)
        self.pushes = (self.pushes + events.pushes)[-PUSHES_KEPT:]
        self.plots_stale = self.plots_stale or bool(len(events.loss) or len(events.evals))
        if time.monotonic() - self.plots_drawn_at >= PLOT_SECONDS:
            self.redraw_plots()  # else the timer draws them: at most once a second
        if update.log_text:
            self.query_one(Log).write(update.log_text)
        self.record.status = update.status
        self.record.state = update.state
        self._show_summary(update)

    def redraw_plots(self) -> None:
        if self.plots_stale:
            self.plots_stale, self.plots_drawn_at = False, time.monotonic()
            self.query_one("#loss-plot", CurvePlot).redraw()
            self.query_one("#lr-plot", CurvePlot).redraw()

    def on_resize(self) -> None:
        if self.shown is not None:  # the summary's fields re-packed for the new width
            self._show_summary(self.shown)

    def _show_summary(self, update: Increment) -> None:
        # Kept for a resize to redraw it: its status, not its events (a long run's first
        # update holds every point, which the plots have copied).
        self.shown = dataclasses.replace(update, events=EventSummary())
        step, evaluation = self.latest.get("step", {}), self.latest.get("eval", {})
        compile_event = self.latest.get("compile", {})
        total = step.get("total_steps") or update.status.get("total_steps")
        done = step.get("step") or update.status.get("step") or 0
        eta = eta_seconds(update.state, step)
        mfu = step.get("mfu")
        fields = [
            f"[b]{update.state}[/b]",
            f"step {done}/{total}" if total else "step -",
            f"loss {step['loss']:.4f}" if step.get("loss") is not None else "loss -",
            f"eval {evaluation['loss']:.4f}" if evaluation.get("loss") is not None else "eval -",
            eval_scores(evaluation),
            f"{step['tokens_per_s']:,.0f} tok/s" if step.get("tokens_per_s") else "- tok/s",
            f"MFU {mfu:.1%}" if mfu is not None else "MFU n/a",
            compiled(compile_event),
            f"ETA {format_duration(eta)}" if eta is not None else "",
            f"owner {self.record.owner}",
        ]
        width = self.query_one("#summary").content_size.width or 200  # 0 before the layout
        lines = packed(fields, width)
        if self.latest.get("startup"):
            lines.append(startup_line(self.latest["startup"]))
        message = update.status.get("message") or update.status.get("waiting_for")
        preparing = self.latest.get("prepare") if update.state == "preparing" else None
        if preparing:  # a download (or other preparation) with a size: its own progress
            message = preparation(preparing)
            total, done = preparing["total"], preparing["done"]
        self._show("#summary", "\n".join(lines) + (f"\n{escape(message)}" if message else ""))
        self._show(
            "#progress", progress_line(total, done, self.query_one("#progress").content_size.width)
        )
        self._show("#checkpoints",
                   "[b]checkpoints[/b]\n" + ("\n".join(update.checkpoints) or "none yet"))  # fmt: skip
        self._show("#hub", hub_panel(self.pushes))
        self._show("#run-devices",
                   run_devices_panel(self.tpu_reading, self.latest.get("memory"), compile_event))  # fmt: skip

    def _show(self, selector: str, content) -> None:
        """Update a panel only when its content changed: each update lays the screen out
        again, and most panels change far less often than the run logs steps."""
        if self.shown_content.get(selector) != content:
            self.shown_content[selector] = content
            self.query_one(selector, Static).update(content)

    def _on_tpu(self) -> bool:
        """As the trainer's compile event says; before it, as the spec asked."""
        platform = self.latest.get("compile", {}).get("platform")
        return platform == "tpu" if platform else self._on_accelerator

    def action_stop(self) -> None:
        self.app.stop_with_confirmation(self.record)

    def action_resume(self) -> None:
        self.app.resume(self.record)

    def action_try_model(self) -> None:
        self.app.try_run(self.record)

    def action_next_log(self) -> None:
        """The next process's log, of a run of several hosts (stdout.log is process 0's)."""
        run_dir = self.record.run_dir
        logs = [run_dir.log_path, *sorted(run_dir.path.glob("stdout.*.log"), key=_process)]
        if len(logs) == 1:
            self.notify("this run has one process: its log is the one shown")
            return
        shown = logs.index(self.follower.log_path) if self.follower.log_path in logs else 0
        path = logs[(shown + 1) % len(logs)]
        self.follower.show_log(path)
        log = self.query_one(Log)
        log.clear()
        log.border_title = f"process {0 if path == logs[0] else _process(path)}'s log"


def _process(log_path) -> int:
    """stdout.3.log -> 3."""
    return int(log_path.name.split(".")[1])


def progress_line(total: int | None, done: int, width: int) -> str:
    """The run's progress as one line of markup: a bar across `width` and its percentage
    (an empty bar while the total is unknown). Drawn when the step changes, unlike
    Textual's ProgressBar, which redraws itself each second (15 times a second without a
    total): following a run costs less."""
    share = min(max(done / total, 0.0), 1.0) if total else 0.0
    label = f"{share:4.0%}" if total else ""
    cells = max((width or 80) - len(label) - 1, 1)
    filled = round(share * cells)
    return f"[$accent]{'━' * filled}[/][dim]{'━' * (cells - filled)}[/] {label}"


def packed(fields: list[str], width: int) -> list[str]:
    """Fields (markup) on as few lines as fit `width`, none split across two: a wrap between
    "ETA" and its value reads as nothing."""
    lines, line, used = [], [], 0
    for field in filter(None, fields):
        size = Text.from_markup(field).cell_len
        if line and used + len(GAP) + size > width:
            lines.append(GAP.join(line))
            line, used = [], 0
        used += size + len(GAP) * bool(line)
        line.append(field)
    return lines + [GAP.join(line)] * bool(line)


def compiled(event: dict) -> str:
    """The compile event in words: "compile 2.4s", "compile 0.5s (cached)" when jax's
    persistent cache had the step, and the step's memory per device where XLA says it:
    "compile 2.4s, 1.2 GiB/device"."""
    if not event:
        return "compile -"
    words = f"compile {event['seconds']:.1f}s" + (" (cached)" if event.get("cached") else "")
    if event.get("memory_bytes"):
        words += f", {size_text(event['memory_bytes'])}/device"
    return words


def preparation(event: dict) -> str:
    """A `prepare` event in words: "downloading org/name: 12.0 of 480.0 MB", "tokenising
    training texts: 20,000 of 1,500,000 texts"."""
    done, total, unit = event["done"], event["total"], event.get("unit", "B")
    amount = (
        f"{done / 1e6:,.1f} of {total / 1e6:,.1f} MB"
        if unit == "B"
        else f"{done:,} of {total:,} {unit}"
    )
    return f"{event['stage']} {event.get('what', '')}: {amount}"


def _asked_for_accelerator(run_dir) -> bool:
    """Runs on --platform cpu never hold the TPU: libtpu's numbers would be someone else's."""
    try:
        return json.loads(run_dir.spec_path.read_text()).get("platform") != "cpu"
    except (OSError, ValueError):
        return False
