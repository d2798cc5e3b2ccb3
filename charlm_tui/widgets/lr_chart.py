"""LRChart: the learning-rate finder's curve, the smoothed loss against the lr on a log scale, with LossChart's axes
(StepLossChart): round, evenly spaced loss ticks and a tick at each power of ten of the lr. As fastai's lr_find
plot, it keeps to the useful part: the loss axis spans `LRFinderResult.plot_range` (the start and the fall), the
rise past it runs along the top edge and the legend says from which lr; the warm-up rows, averages of a few losses,
are left out. The lowest loss is marked ◆ and the suggested lr by a vertical line."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual_plot import HiResMode
from textual_plot.axis_formatter import AxisFormatter

from charlm_tui.widgets.loss_chart import StepLossChart
from core.lr_finder import LRFinderResult


class LRAxis(AxisFormatter):
    """Labels for the lr axis, whose values are log10(lr): `0.0001`, `0.01`, `1`."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return []  # LRChart passes its own ticks

    @staticmethod
    def label(value: float) -> str:
        return f"{10.0 ** value:g}"

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [self.label(t) for t in ticks]


class LRChart(StepLossChart):
    """A sweep's smoothed loss against log10(lr), from the sweep's lr_min to its lr_max."""

    X_NAME = "lr"
    X_AXIS = LRAxis
    STYLE_CLASSES = ("lr-chart--loss", "lr-chart--lowest", "lr-chart--suggestion")
    COMPONENT_CLASSES = set(STYLE_CLASSES)

    DEFAULT_CSS = """
    LRChart {
        & > .lr-chart--loss { color: $text-primary; }
        & > .lr-chart--lowest { color: $text-success; text-style: bold; }
        & > .lr-chart--suggestion { color: $text-accent; }
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.result: LRFinderResult | None = None

    def show(self, result: LRFinderResult) -> None:
        self.result = result
        self._update()

    def _data(self) -> tuple:
        return (self.result,)

    def _x_scale(self, steps: list[float], margin: int) -> tuple[float, float, list[float]]:
        if self.result is None:
            return 0.0, 1.0, []
        low, high = math.log10(self.result.lr_min), math.log10(self.result.lr_max)
        room = len(LRAxis.label(high)) // 2 + len(self.X_NAME) + 2  # columns right of lr_max: its label clear of "lr"
        columns = max(self.size.width - margin - 2, room + 1)
        high += (high - low) * room / (columns - room)
        ticks = [float(k) for k in range(math.ceil(low), math.floor(high) + 1)]
        return low, high, [t for t in ticks if self._x_label_clear(t, low, high, margin)]

    def _redraw(self, styles: tuple[str, ...]) -> None:
        loss_style, lowest_style, suggestion_style = styles
        span = self.result.plot_range if self.result is not None else None
        if span is None:
            _, frame = self._axes([], [])
            self._place_labels(frame.margin, [Text("sweeping…" if self.result is None else "no step was taken")])
            return
        low, top = span
        rows = self.result.settled_rows
        xs = [math.log10(row.lr) for row in rows]
        plot, frame = self._axes([low, top], xs)
        suggestion, lowest = self.result.suggestion, self.result.lowest
        # the suggestion's line first, under the curve (as LossChart's epoch marks)
        unit = (frame.high - frame.low) / frame.rows
        middles = [frame.low + (r + 0.5) * unit for r in range(frame.rows)]
        plot.scatter([math.log10(suggestion)] * len(middles), middles, marker="│", marker_style=suggestion_style)
        ys = [min(row.smoothed, top) for row in rows]  # the rise past the top runs along the top edge
        if len(xs) > 1:
            plot.plot(xs, ys, line_style=loss_style, hires_mode=HiResMode.BRAILLE)
        plot.scatter([math.log10(lowest.lr)], [lowest.smoothed], marker="◆", marker_style=lowest_style)
        above = next((row for row in rows if row.smoothed > top), None)
        self._place_labels(frame.margin, self._legends(styles, suggestion, above and above.lr))

    @staticmethod
    def _legends(styles: tuple[str, ...], suggestion: float, cut_at: float | None) -> list[Text]:
        """The legend in shorter and shorter wordings."""
        loss_style, lowest_style, suggestion_style = styles
        cut = f"  ↑ off the top from lr {cut_at:.1g}" if cut_at is not None else ""
        return [
            Text.assemble(("━", loss_style), f" {loss}  ", ("◆", lowest_style), " lowest  ",
                          ("│", suggestion_style), f" {said} {suggestion:g}{cut}  ")
            for loss, said in (("smoothed loss", "suggested"), ("loss", "suggested"), ("loss", "lr"))
        ]
