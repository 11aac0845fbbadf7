"""Compare: marked runs on one chart (each its own colour: train line, eval points), against
step, tokens seen or wall time, smoothed and on a log scale at will; their final and best
evaluations side by side; the settings that differ."""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from tpudeck.core.runs.compare import (
    X_AXES,
    differing_settings,
    final_and_best,
    read_curves,
    setting_lines,
    summary_table,
)

from ..widgets.curves import CurvePlot, Look, Series

# Distinct in dark and light themes and for the common colour blindnesses (Okabe-Ito).
PALETTE = ((0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233),
           (213, 94, 0), (240, 228, 66), (150, 150, 150))  # fmt: skip
SMOOTHING_STEP = 0.1
X_TITLES = {"step": "step", "tokens": "tokens seen", "time": "seconds since start"}


@dataclass
class CurvesRead(Message):
    """Every compared run's curves, read off the UI thread."""

    curves: list  # RunCurves, in the order of the runs


def short_name(run_id: str) -> str:
    """20261127-023858-lr0-003-d29d -> lr0-003: what tells a sweep's runs apart."""
    parts = run_id.split("-")
    return "-".join(parts[2:-1]) if len(parts) > 3 else run_id


class CompareScreen(Screen):
    CSS_PATH = "compare.tcss"  # loaded when the screen is first opened
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("x", "next_axis", "x: step/tokens/time"),
        Binding("plus,equals_sign", "smooth(1)", "Smooth more"),
        Binding("minus", "smooth(-1)", "Smooth less"),
        Binding("l", "log_y", "Log y"),
    ]

    def __init__(self, records: list):
        super().__init__()
        self.records = records
        names = [short_name(r.run_id) for r in records]
        self.names = names if len(set(names)) == len(names) else [r.run_id for r in records]
        self.curves: list = []
        self.axis, self.smoothing, self.log_y = "step", 0.0, False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="compare"):
            yield Static(id="compare-view")
            with Horizontal(id="compare-plots"):
                yield CurvePlot("loss", self._looks(eval_points=True), id="compare-loss")
                yield CurvePlot("learning rate", self._looks(), id="compare-lr")
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="differing")
        yield Footer()

    def _looks(self, eval_points: bool = False) -> dict[str, Look]:
        looks = {}
        for i, name in enumerate(self.names):
            color = PALETTE[i % len(PALETTE)]
            looks[name] = Look(color=color)
            if eval_points:
                looks[f"{name} eval"] = Look(points=True, color=color)
        return looks

    def on_mount(self) -> None:
        self.sub_title = f"comparing {len(self.records)} runs"
        self.read_curves()
        self.query_one("#differing", Static).update(_differing(differing_settings(self.records)))

    @work(thread=True, exclusive=True, group="compare")
    def read_curves(self) -> None:
        self.post_message(CurvesRead([read_curves(r) for r in self.records]))

    def on_curves_read(self, message: CurvesRead) -> None:
        self.curves = message.curves
        self._fill_table()
        self.redraw()

    def redraw(self) -> None:
        loss, lr = (
            self.query_one("#compare-loss", CurvePlot),
            self.query_one("#compare-lr", CurvePlot),
        )
        loss.series, lr.series = {}, {}
        for name, curves in zip(self.names, self.curves, strict=True):
            loss.series[name] = Series(*curves.loss.against(self.axis))
            loss.series[f"{name} eval"] = Series(*curves.eval_loss.against(self.axis))
            lr.series[name] = Series(*curves.lr.against(self.axis))
        for plot in (loss, lr):
            plot.smoothing, plot.log_y = self.smoothing, self.log_y
            plot.plt.xlabel(X_TITLES[self.axis])
            plot.redraw()
        self.query_one("#compare-view", Static).update(
            f"x: [b]{X_TITLES[self.axis]}[/b]   smoothing [b]{self.smoothing:.1f}[/b]"
            f"   y: [b]{'log' if self.log_y else 'linear'}[/b]"
        )

    def _fill_table(self) -> None:
        heads, rows = summary_table(
            [(name, record.state, final_and_best(curves))
             for name, record, curves in zip(self.names, self.records, self.curves, strict=True)]
        )  # fmt: skip
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        table.add_columns(*heads)
        for row in rows:
            table.add_row(*row)

    def action_next_axis(self) -> None:
        self.axis = X_AXES[(X_AXES.index(self.axis) + 1) % len(X_AXES)]
        self.redraw()

    def action_smooth(self, direction: int) -> None:
        self.smoothing = round(min(0.9, max(0.0, self.smoothing + direction * SMOOTHING_STEP)), 1)
        self.redraw()

    def action_log_y(self) -> None:
        self.log_y = not self.log_y
        self.redraw()


def _differing(settings: dict[str, list]) -> str:
    if not settings:
        return "[b]settings[/b]: the same in every run"
    lines = "\n".join(setting_lines(settings))
    return "[b]settings that differ[/b] (in the order of the runs)\n" + escape(lines)
