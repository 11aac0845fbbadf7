"""Metric curves that stay cheap to draw: a million points render as at most a few hundred."""

from __future__ import annotations

from array import array

from textual_plotext import PlotextPlot


class Series:
    """An append-only (x, y) series; `view` strides it down to `limit` points, keeping the last."""

    def __init__(self):
        self.x, self.y = array("d"), array("d")

    def append(self, x: float, y: float) -> None:
        self.x.append(x)
        self.y.append(y)

    def __len__(self) -> int:
        return len(self.x)

    def view(self, limit: int) -> tuple[list[float], list[float]]:
        n = len(self.x)
        if n <= limit:
            return list(self.x), list(self.y)
        stride = -(-n // limit)
        xs, ys = list(self.x[::stride]), list(self.y[::stride])
        if xs[-1] != self.x[-1]:
            xs.append(self.x[-1])
            ys.append(self.y[-1])
        return xs, ys


class CurvePlot(PlotextPlot):
    """Named series drawn on one plot; redrawn only when asked (no busy redraws). Series
    named in `points` (sparse ones, as evaluations) are drawn as marked points, not a line
    like the dense ones, so the two are told apart at a glance and in any theme."""

    def __init__(self, title: str, points: tuple[str, ...] = (), **kwargs):
        super().__init__(**kwargs)
        self.title, self.points = title, points
        self.series: dict[str, Series] = {}

    def add(self, name: str, x: float, y: float | None) -> None:
        if y is not None:
            self.series.setdefault(name, Series()).append(x, y)

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)
        limit = max(32, 2 * (self.size.width or 80))
        for name, series in self.series.items():
            if len(series):
                xs, ys = series.view(limit)
                if name in self.points:
                    plt.scatter(xs, ys, label=name, marker="◆")
                else:
                    plt.plot(xs, ys, label=name, marker="braille")
        self.refresh()
