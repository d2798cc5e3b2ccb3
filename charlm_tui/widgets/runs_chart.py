"""RunsChart: the loss curves of several runs overlaid on one chart, a colour each, with a legend that names each
run by its number and what sets it apart ("#3 tanh"). The axes are LossChart's (StepLossChart)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from rich.style import Style
from rich.text import Text
from textual_plot import HiResMode

from charlm_tui.widgets.loss_chart import LOG_FLOOR, Point, StepLossChart


class Series(NamedTuple):
    """One run's curve on the chart."""

    name: str  # "#3"
    detail: str  # what sets it apart from the others: "tanh, hidden dim 128" (may be empty)
    points: tuple[Point, ...]
    colour: int  # which of RunsChart's colours
    best: Point | None = None  # marked ◆ (the best validation)


class RunsChart(StepLossChart):
    """Up to `COLOURS` runs' curves against the step, each in its colour; `what` says which curve they are."""

    STYLE_CLASSES = tuple(f"runs-chart--colour-{i}" for i in range(5))
    COMPONENT_CLASSES = set(STYLE_CLASSES)
    COLOURS = len(STYLE_CLASSES)

    DEFAULT_CSS = """
    RunsChart {
        & > .runs-chart--colour-0 { color: $text-primary; }
        & > .runs-chart--colour-1 { color: $text-accent; }
        & > .runs-chart--colour-2 { color: $text-success; }
        & > .runs-chart--colour-3 { color: $text-error; }
        & > .runs-chart--colour-4 { color: $foreground; }
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.series: tuple[Series, ...] = ()
        self.what = ""

    def show(self, series: Sequence[Series], what: str) -> None:
        """Show these curves (`what` they are, for the legend: "validation"); does nothing when nothing changed."""
        self.series = tuple(series)
        self.what = what
        self._update()

    def colour_style(self, colour: int) -> Style:
        """The style a series of this colour is drawn in (for a key to it elsewhere)."""
        return self.get_component_rich_style(self.STYLE_CLASSES[colour % self.COLOURS], partial=True)

    def _data(self) -> tuple:
        return self.series, self.what

    def _redraw(self, styles: tuple[str, ...]) -> None:
        colours = [styles[s.colour % self.COLOURS] for s in self.series]
        points = [self._points(s.points) for s in self.series]
        plot, frame = self._axes([y for _, ys in points for y in ys], [x for xs, _ in points for x in xs])
        for (xs, ys), colour in zip(points, colours):
            if len(xs) > 1:
                plot.plot(xs, ys, line_style=colour, hires_mode=HiResMode.BRAILLE)
            elif xs:
                plot.scatter(xs, ys, marker="•", marker_style=colour)
        for series, colour in zip(self.series, colours):  # on top of every line
            if series.best is not None and not (self.log_y and series.best[1] <= LOG_FLOOR):
                y = math.log10(series.best[1]) if self.log_y else series.best[1]
                plot.scatter([series.best[0]], [y], marker="◆", marker_style=colour)
        self._place_labels(frame.margin, self._legends(colours))

    def _legends(self, colours: list[str]) -> list[Text]:
        """The legend in shorter and shorter wordings: what the curves are, each run with what sets it apart and
        the best marker's key; then without the key, the details, what they are."""
        has_best = any(s.best is not None for s in self.series)
        variants = []
        for detailed, keyed, titled in ((True, True, True), (True, False, True), (False, True, True),
                                        (False, False, True), (False, False, False)):
            parts: list[tuple[str, str]] = [(f"{self.what}:  ", "")] if titled and self.what else []
            for series, colour in zip(self.series, colours):
                label = f"{series.name} {series.detail}" if detailed and series.detail else series.name
                parts += [("━", colour), (f" {label}  ", "")]
            if not self.series:
                parts.append(("no run to show  ", ""))
            if has_best and keyed:
                parts.append(("◆ best  ", ""))
            variants.append(Text.assemble(*parts))
        return variants
