"""Metric curves that stay cheap to draw: a million points render as at most a few hundred."""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from textual_plotext import PlotextPlot

from tpudeck.core.runs.compare import smoothed
from tpudeck.core.runs.event_summary import Curve


class Series(Curve):
    """An append-only (x, y) series; `view` strides it down to `limit` points, keeping the
    last, after smoothing (TensorBoard's debiased moving average) when asked."""

    def __init__(self, xs=(), ys=()):
        super().__init__(array("d", xs), array("d", ys))

    def view(self, limit: int, smoothing: float = 0.0) -> tuple[list[float], list[float]]:
        ys = smoothed(self.y, smoothing) if smoothing else self.y  # no copy when unsmoothed
        n = len(self.x)
        if n <= limit:
            return list(self.x), list(ys)
        stride = -(-n // limit)
        xs, kept = list(self.x[::stride]), list(ys[::stride])
        if xs[-1] != self.x[-1]:
            xs.append(self.x[-1])
            kept.append(ys[-1])
        return xs, kept


@dataclass(frozen=True)
class Look:
    """How a series is drawn: sparse ones (evaluations) as marked points, not a line like
    the dense ones, so the two are told apart at a glance and in any theme; a colour, so a
    run's train line and eval points match on a chart of several runs."""

    points: bool = False
    color: tuple | None = None


class CurvePlot(PlotextPlot):
    """Named series drawn on one plot; redrawn only when asked (no busy redraws)."""

    def __init__(self, title: str, looks: dict[str, Look] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.title, self.looks = title, dict(looks or {})
        self.series: dict[str, Series] = {}
        self.smoothing, self.log_y = 0.0, False
        self.drawn: dict[str, tuple[list, list]] = {}  # what the last redraw plotted

    def extend(self, name: str, points: Curve) -> None:
        if len(points):
            self.series.setdefault(name, Series()).extend(points)

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)
        plt.yscale("log" if self.log_y else "linear")
        limit = max(32, 2 * (self.size.width or 80))
        self.drawn = {}
        for name, series in self.series.items():
            look = self.looks.get(name, Look())
            xs, ys = series.view(limit, 0.0 if look.points else self.smoothing)
            if self.log_y:  # a log axis has no place for zero or below (an lr at its end)
                kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
                xs, ys = [x for x, _ in kept], [y for _, y in kept]
            if not xs:
                continue
            self.drawn[name] = (xs, ys)
            style = {"label": name, "color": look.color} if look.color else {"label": name}
            if look.points:
                plt.scatter(xs, ys, marker="◆", **style)
            else:
                plt.plot(xs, ys, marker="braille", **style)
        self.refresh()
