"""LossChart: the loss curve as a real plot — smoothed training loss and validation on one chart, steps along x
with faint marks where epochs ended, an optional log-scaled y axis, and the best validation marked.

Drawn with textual-plot's PlotWidget (braille lines, boxed axes with tick labels), by way of StepLossChart, the axes
LossChart shares with the Runs view's RunsChart (several runs overlaid). StepLossChart picks the ticks itself:
round losses that sit mid-row and evenly spaced (or round losses on a log scale, labelled as losses), round steps
clear of the "step" label. A one-line legend sits on the plot's top border. The chart redraws only when its data,
its size, the log scale or the theme changed, so `show` may be called several times a second. Below
`LossChart.MIN_ROWS` × `LossChart.MIN_COLUMNS` it is unreadable: the caller shows a Sparkline instead
(`LossChart.fits(width, height)`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from typing import NamedTuple

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.events import MouseScrollDown, MouseScrollUp
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Static
from textual_plot import HiResMode, PlotWidget
from textual_plot.axis_formatter import AxisFormatter

Point = tuple[float, float]
MAX_EPOCH_MARKS = 20  # beyond this many epochs the marks would only grey the plot
LOG_FLOOR = 1e-12  # losses at or below zero cannot be drawn on a log scale and are left out there
Y_EDGE = 0.03  # share of the loss range left free at least above and below the data
SHORT_PLOT_ROWS = 4  # a plot this short spans the bulk of the losses; the highest tenth runs along its top edge


def _compact(value: float, digits: int = 3) -> str:
    """A short label for a value: `2`, `2.5`, `0.01`, `1e6`, `1.05e6`."""
    if value == 0:
        return "0"
    mantissa, _, exponent = f"{value:.{digits}g}".partition("e")
    return mantissa + ("e" + str(int(exponent)) if exponent else "")


def _nice_steps(span: float) -> list[float]:
    """Candidate tick spacings 1, 2, 5 × 10^k around a span, finest first."""
    top = math.floor(math.log10(span))
    return [m * 10.0 ** k for k in range(top - 3, top + 2) for m in (1.0, 2.0, 5.0)]


def linear_ticks(low: float, high: float, most: int, least_step: float = 0.0) -> tuple[list[float], float]:
    """Up to `most` evenly spaced round values within [low, high], and their spacing (at least `least_step`)."""
    span = high - low
    if not (span > 0 and math.isfinite(span)):
        return [low], 1.0
    for step in [s for s in _nice_steps(span) if s >= least_step]:
        first = math.ceil(low / step)
        count = math.floor(high / step) - first + 1
        if count <= most:
            return [(first + i) * step for i in range(max(count, 0))], step
    return [low, high], span


def aligned_scale(low: float, high: float, rows: int, most: int) -> tuple[float, float, list[float], float]:
    """Limits and ticks for a linear loss axis of `rows` text rows: round ticks (spacing 1, 2, 5 × 10^k) that fall
    on the middle of a row every r rows, so that they are evenly spaced and exact, with [low, high] inside and a
    little room above and below. Returns (bottom, top, ticks, spacing). `high` must exceed `low`."""
    span = high - low
    edge = span * Y_EDGE
    need = span + 2 * edge
    least_gap = 1 if rows <= 4 else max(2, math.ceil(rows / most))
    for fewest in (2, 1):
        for step in _nice_steps(span):
            for gap in range(min(math.floor(step * rows / need), rows), least_gap - 1, -1):
                unit = step / gap  # loss per row
                middle = round(((low + high) / 2 - rows * unit / 2) / unit + 0.5)
                for m in (middle, middle - 1, middle + 1):
                    bottom = unit * (m - 0.5)  # ticks on multiples of the unit sit mid-row
                    top = bottom + rows * unit
                    if bottom <= low - edge and top >= high + edge:
                        ticks = [k * step for k in range(math.ceil(bottom / step), math.floor(top / step) + 1)]
                        if fewest <= len(ticks) <= most:
                            return bottom, top, ticks, step
    ticks, step = linear_ticks(low - edge, high + edge, most)
    return low - edge, high + edge, ticks, step


LOG_MANTISSAS = ([1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9], [1, 1.5, 2, 3, 5, 7], [1, 2, 5], [1, 3], [1])


def log_ticks(low: float, high: float, most: int) -> list[float]:
    """Up to `most` round loss values within [low, high] (both > 0) for a log-scaled axis."""
    first, last = math.floor(math.log10(low)), math.floor(math.log10(high))
    for mantissas in LOG_MANTISSAS:
        ticks = [m * 10.0 ** k for k in range(first, last + 1) for m in mantissas if low <= m * 10.0 ** k <= high]
        if len(ticks) <= most:
            if len(ticks) >= 2:
                return ticks
            return linear_ticks(low, high, most)[0]  # a narrow range, nearly linear there
    return ticks[:: math.ceil(len(ticks) / most)]  # many decades: every n-th power of ten


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0


class LossAxis(AxisFormatter):
    """Labels for the loss axis: the ticks are computed by StepLossChart; on a log scale the plotted values are
    log10(loss) and the labels still say the loss."""

    def __init__(self) -> None:
        self.log = False
        self.decimals: int | None = None

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return []  # StepLossChart always passes its own ticks

    def label(self, value: float, digits: int = 3) -> str:
        loss = 10.0 ** value if self.log else value
        if self.decimals is not None and 1e-3 <= abs(loss) < 1e4:
            return f"{loss:.{self.decimals}f}"
        return _compact(loss, digits)

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        for digits in range(3, 10):  # as many digits as it takes to tell the ticks apart (1e6, 1.0005e6, …)
            labels = [self.label(t, digits) for t in ticks]
            if len(set(labels)) == len(labels):
                break
        return labels


class StepAxis(AxisFormatter):
    """Labels for the step axis: `500`, `2000`, `15k`, `1.5M`."""

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return []

    @staticmethod
    def label(value: float) -> str:
        if abs(value) >= 1e6:
            return f"{value / 1e6:g}M"
        if abs(value) >= 1e4:
            return f"{value / 1e3:g}k"
        return f"{value:g}"

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [self.label(t) for t in ticks]


class LossPlot(PlotWidget, can_focus=False):
    """The plot inside LossChart: not focusable, no legend box of its own, no zooming."""

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        event.prevent_default()  # PlotWidget's zoom handler would stop the wheel: let it scroll what holds the chart

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        event.prevent_default()

    def render(self) -> RenderResult:
        # PlotWidget draws pixel by pixel and each pixel asks its canvas to refresh: one refresh per canvas is enough
        with ExitStack() as stack:
            for canvas in self.query("Canvas"):  # textual-hires-canvas's, which textual-plot draws on
                stack.enter_context(canvas.batch_refresh())
            return super().render()


class Frame(NamedTuple):
    """Where the data lands on a StepLossChart's plot."""

    margin: int  # columns left of the plot's border: the loss tick labels
    low: float  # the loss range, as plotted (log10 of the loss on a log scale)
    high: float
    rows: int  # text rows inside the border
    x_low: float  # the step range
    x_high: float


class StepLossChart(Widget):
    """Losses against the step on a PlotWidget: the axes and their round ticks (log-scaled too), "loss" and "step" in
    the corners and a one-line legend on the top border. A subclass says what it shows (`_data`, its `STYLE_CLASSES`)
    and draws it (`_redraw`, which starts with `_axes`); the chart redraws only when its data, its size, the log scale
    or the theme changed."""

    STYLE_CLASSES: tuple[str, ...] = ()  # component classes whose styles `_redraw` receives, in this order
    X_NAME = "step"  # written at the x axis's right end
    X_AXIS: type[StepAxis] = StepAxis  # the x tick labels (a formatter with a static `label`)

    DEFAULT_CSS = """
    StepLossChart {
        height: 1fr;
        layers: plot labels;
        & > LossPlot { layer: plot; height: 1fr; }
        & > LossPlot > .plot--axis { color: $foreground 45%; }
        & > LossPlot > .plot--tick { color: $foreground 80%; text-style: none; }
        & > .loss-chart--label {
            layer: labels; position: absolute; height: 1; width: auto;
            text-wrap: nowrap; text-overflow: clip; color: $foreground 80%;
        }
    }
    """

    log_y: var[bool] = var(False)
    """Plot the loss on a log scale (the tick labels still show the loss)."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.redraws = 0  # how many times the plot was rebuilt (it is not when nothing changed)
        self.legend_text = ""  # the legend line as drawn, plain
        self._drawn: tuple | None = None  # what the plot shows now
        self._loss_axis = LossAxis()
        self._x_axis = self.X_AXIS()

    def compose(self) -> ComposeResult:
        yield LossPlot(allow_pan_and_zoom=False)
        self._legend = Static("", classes="loss-chart--label", markup=False)
        self._y_label = Static("loss", classes="loss-chart--label", markup=False)
        self._x_label = Static(self.X_NAME, classes="loss-chart--label", markup=False)
        yield self._legend
        yield self._y_label
        yield self._x_label

    def on_mount(self) -> None:
        plot = self.query_one(LossPlot)
        plot.margin_top = 0  # the legend sits on the plot's top border instead
        plot.margin_bottom = 1  # one row of x ticks; X_NAME is written at its right end
        plot.set_x_formatter(self._x_axis)
        plot.set_y_formatter(self._loss_axis)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._update())

    def watch_log_y(self) -> None:
        self._update()

    def on_resize(self) -> None:
        self._update()

    def _data(self) -> tuple:
        """What the chart shows (compared with what it showed to skip a redraw)."""
        raise NotImplementedError

    def _redraw(self, styles: tuple[str, ...]) -> None:
        """Draw the data, given the styles of `STYLE_CLASSES`."""
        raise NotImplementedError

    def _update(self) -> None:
        if not self.is_mounted or self.size.width < 4 or self.size.height < 3:
            return
        styles = tuple(str(self.get_component_rich_style(name)) for name in self.STYLE_CLASSES)
        state = (self._data(), self.log_y, self.size, styles)
        if state == self._drawn:
            return
        self._drawn = state
        self.redraws += 1
        self._redraw(styles)

    def _points(self, points: Sequence[Point]) -> tuple[list[float], list[float]]:
        """x and y of the points that can be drawn (finite; positive on a log scale), y as plotted."""
        xs: list[float] = []
        ys: list[float] = []
        for step, loss in points:
            if not (math.isfinite(step) and math.isfinite(loss)):
                continue
            if self.log_y:
                if loss <= LOG_FLOOR:
                    continue
                loss = math.log10(loss)
            xs.append(float(step))
            ys.append(loss)
        return xs, ys

    def _axes(self, losses: list[float], steps: list[float]) -> tuple[LossPlot, Frame]:
        """The plot, cleared, with its axes set to hold these losses (as plotted) and steps."""
        height = self.size.height
        plot = self.query_one(LossPlot)
        plot.clear()

        # y range and ticks (in loss), then in plotted units
        data_rows = max(height - 3, 1)  # the plot's height less its two border rows and the x ticks
        if losses:
            low, high = min(losses), max(losses)
            if not self.log_y and data_rows <= SHORT_PLOT_ROWS and len(losses) >= 10:
                # TensorBoard's "ignore outliers": over 3 rows a whole run's span (3.3 down to 2.4) left ticks 0.5
                # apart, and 2.4 could not be told from 2.6; the first steps' high losses run along the top instead
                high = sorted(losses)[int(0.9 * (len(losses) - 1))]
            span = high - low
            if span <= 1e-12 * max(1.0, abs(high)):
                span = max(abs(high) * 0.1, 0.1 if not self.log_y else 0.05)
                low, high = low - span / 2, high + span / 2
            most = data_rows if data_rows <= 4 else min(8, data_rows // 2 + 1)
            if self.log_y:
                low, high = low - span * 2 * Y_EDGE, high + span * 2 * Y_EDGE
                ticks = [math.log10(t) for t in log_ticks(10.0 ** low, 10.0 ** high, most)]
                self._loss_axis.decimals = None
            else:
                low, high, ticks, step = aligned_scale(low, high, data_rows, most)
                self._loss_axis.decimals = _decimals(step)
            self._loss_axis.log = self.log_y
            ticks = self._distinct_rows(ticks, low, high, data_rows)
        else:
            low, high, ticks = 0.0, 1.0, []
        labels = self._loss_axis.get_labels_for_ticks(ticks)
        margin = max([len(s) for s in labels] + [4]) + 2  # "loss" fits above the tick labels
        if plot.margin_left != margin:
            plot.margin_left = margin
            plot.refresh(layout=True)  # PlotWidget resizes its canvases only on a layout refresh
        plot.set_ylimits(low, high)
        plot.set_yticks(ticks)

        x_low, x_high, x_ticks = self._x_scale(steps, margin)
        plot.set_xlimits(x_low, x_high)
        plot.set_xticks(x_ticks)
        return plot, Frame(margin, low, high, data_rows, x_low, x_high)

    def _x_scale(self, steps: list[float], margin: int) -> tuple[float, float, list[float]]:
        """The x range and its ticks for these steps: round steps whose labels end clear of "step"."""
        if not steps:
            return 0.0, 1.0, []
        width = self.size.width
        x_low, x_high = min(steps), max(steps)
        if 0 <= x_low <= 0.1 * x_high or x_low == x_high:
            x_low = min(x_low, 0.0)  # a run from its start: the axis starts at step 0
        x_high = max(x_high, x_low + 1)
        columns = max(width - margin - 2, 1)
        x_high += (x_high - x_low) / (2 * columns)  # half a column more: the last step off the right border
        label_width = max(len(StepAxis.label(x_high)), len(StepAxis.label(x_low))) + 3
        x_ticks, _ = linear_ticks(x_low, x_high, max(2, min(10, columns // label_width)), least_step=1)
        return x_low, x_high, [t for t in x_ticks if self._x_label_clear(t, x_low, x_high, margin)]

    def _distinct_rows(self, ticks: list[float], low: float, high: float, rows: int) -> list[float]:
        """The ticks that fall on distinct rows inside the plot (as PlotWidget places them)."""
        kept, used = [], set()
        for t in ticks:
            row = math.ceil((1 - (t - low) / (high - low)) * rows)
            if 1 <= row <= rows and row not in used:
                used.add(row)
                kept.append(t)
        return kept

    def _x_label_clear(self, tick: float, low: float, high: float, margin: int) -> bool:
        """Whether an x tick's label (centred on the tick, as PlotWidget does) ends a blank column before X_NAME."""
        width = self.size.width
        columns = width - margin - 2
        x = 1 + math.floor((tick - low) / (high - low) * columns) + margin
        text = self.X_AXIS.label(tick)
        return x - len(text) // 2 + (1 if len(text) % 2 == 0 else 0) + len(text) <= width - len(self.X_NAME) - 2

    def _place_labels(self, margin: int, legends: Sequence[Text]) -> None:
        """The first of `legends` (longest wording first) that fits on the plot's top border, or the last; "loss"
        and X_NAME in the corners."""
        width, height = self.size
        room = max(width - margin - 3, 0)
        if self.log_y:
            for legend in legends:
                legend.append("log y  ")
        legend = next((t for t in legends if t.cell_len - 2 <= room), legends[-1])
        legend.rstrip()
        legend.pad_left(1)
        legend.pad_right(1)
        self.legend_text = legend.plain.strip()
        self._legend.update(legend)
        self._legend.styles.offset = (margin + 1, 0)
        self._legend.styles.max_width = max(width - margin - 2, 1)
        self._y_label.styles.offset = (margin - 5, 0)  # right-aligned with the tick labels
        self._x_label.styles.offset = (width - len(self.X_NAME), height - 1)


class LossChart(StepLossChart):
    """Smoothed training loss and validation loss against the step, with epoch marks and the best validation."""

    MIN_ROWS = 5  # a legend over the top border, 2 rows of braille (8 dots), the step ticks
    MIN_COLUMNS = 32

    STYLE_CLASSES = ("loss-chart--train", "loss-chart--validation", "loss-chart--best", "loss-chart--epoch",
                     "loss-chart--gap")
    COMPONENT_CLASSES = set(STYLE_CLASSES)

    DEFAULT_CSS = """
    LossChart {
        & > .loss-chart--train { color: $text-primary; }
        & > .loss-chart--validation { color: $text-accent; }
        & > .loss-chart--best { color: $text-success; text-style: bold; }
        & > .loss-chart--epoch { color: $foreground 30%; }
        & > .loss-chart--gap { color: $text-warning; }
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.training: tuple[Point, ...] = ()
        self.validation: tuple[Point, ...] = ()
        self.epoch_steps: tuple[int, ...] = ()

    @classmethod
    def fits(cls, width: int, height: int) -> bool:
        """Whether a chart of this size is readable; below it, show a Sparkline."""
        return width >= cls.MIN_COLUMNS and height >= cls.MIN_ROWS

    def show(
        self,
        training: Sequence[Point],
        validation: Sequence[Point],
        epoch_steps: Sequence[int] = (),
        log_y: bool | None = None,
    ) -> None:
        """Show these curves: (step, smoothed training loss) ≤ ~256 points, (step, validation loss), the steps
        where an epoch ended; `log_y` sets the log scale (None keeps it). Does nothing when nothing changed."""
        self.training = tuple(training)
        self.validation = tuple(validation)
        self.epoch_steps = tuple(epoch_steps)
        if log_y is not None:
            self.log_y = log_y
        self._update()

    def best_validation(self) -> Point | None:
        """The validation point with the lowest finite loss (the first of equals), or None."""
        finite = [p for p in self.validation if math.isfinite(p[1])]
        return min(finite, key=lambda p: p[1]) if finite else None

    def gap(self) -> tuple[float, float, float] | None:
        """(step, training loss, validation loss) at the latest validation, the training curve's point at or just
        before it: how far held-out text is above the text trained on (overfitting widens it). None without both."""
        if not self.validation or not self.training:
            return None
        step, validation = self.validation[-1]
        before = [p for p in self.training if p[0] <= step] or self.training[:1]
        training = before[-1][1]
        return (step, training, validation) if math.isfinite(training) and math.isfinite(validation) else None

    def _data(self) -> tuple:
        return self.training, self.validation, self.epoch_steps

    def _redraw(self, styles: tuple[str, ...]) -> None:
        train_style, val_style, best_style, epoch_style, gap_style = styles
        width = self.size.width
        tx, ty = self._points(self.training)
        vx, vy = self._points(self.validation)
        best = self.best_validation()
        if best is not None and self.log_y and best[1] <= LOG_FLOOR:
            best = None
        plot, frame = self._axes(ty + vy, tx + vx)
        if not self.log_y:  # what is above the axis (a short plot's first steps) runs along its top
            ty, vy = [min(y, frame.high) for y in ty], [min(y, frame.high) for y in vy]

        # epoch marks first, under everything (PlotWidget's own vertical lines would be drawn over the curves), then
        # validation under training so that the noisier training line stays whole where they overlap, then the
        # validation points and the best one on top
        marks = [s for s in self.epoch_steps if frame.x_low < s < frame.x_high]
        if len(marks) > MAX_EPOCH_MARKS:
            marks = []
        if marks:
            unit = (frame.high - frame.low) / frame.rows
            row_middles = [frame.low + (r + 0.5) * unit for r in range(frame.rows)]
            plot.scatter(
                [s for s in marks for _ in row_middles], row_middles * len(marks), marker="│", marker_style=epoch_style
            )
        if len(vx) > 1:
            plot.plot(vx, vy, line_style=val_style, hires_mode=HiResMode.BRAILLE)
        if len(tx) > 1:
            plot.plot(tx, ty, line_style=train_style, hires_mode=HiResMode.BRAILLE)
        elif tx:
            plot.scatter(tx, ty, marker="•", marker_style=train_style)
        if vx and len(vx) <= max(width // 4, 1):
            plot.scatter(vx, vy, marker="•", marker_style=val_style)
        if best is not None:
            by = math.log10(best[1]) if self.log_y else best[1]
            plot.scatter([best[0]], [by], marker="◆", marker_style=best_style)
        gap = self.gap()
        if gap is not None and gap[2] > gap[1] and not (self.log_y and gap[1] <= LOG_FLOOR):
            # a bar from the training curve up to the latest validation: the gap, drawn where it is now
            low, high = (math.log10(y) for y in gap[1:]) if self.log_y else gap[1:]
            high = min(high, frame.high)
            unit = (frame.high - frame.low) / frame.rows
            rows = [low + k * unit / 2 for k in range(int((high - low) / (unit / 2)) + 1)]
            if rows:
                plot.scatter([gap[0]] * len(rows), rows, marker="┃", marker_style=gap_style)

        self._place_labels(frame.margin, self._legends(best, styles, bool(tx), bool(vx), bool(marks), gap))

    def _legends(
        self, best: Point | None, styles: tuple[str, ...], has_train: bool, has_val: bool, has_marks: bool,
        gap: tuple[float, float, float] | None = None,
    ) -> list[Text]:
        """The legend in shorter and shorter wordings."""
        train_style, val_style, best_style, epoch_style, gap_style = styles
        best_value = "" if best is None else f"{best[1]:.3f}" if abs(best[1]) < 100 else _compact(best[1])
        variants = []
        for train_name, val_name, best_at, epoch_name in (
            ("train (smoothed)", "validation", " at step ", "epoch"),
            ("train", "validation", " @", "epoch"),
            ("train", "val", " @", "epoch"),
            ("train", "val", None, None),
        ):
            parts: list[tuple[str, str]] = []
            if has_train:
                parts.append(("━", train_style))
                parts.append((f" {train_name}  ", ""))
            if has_val:
                parts.append(("•", val_style))
                parts.append((f" {val_name}  ", ""))
            if best is not None:
                parts.append(("◆", best_style))
                step = f"{best[0]:,.0f}" if best_at == " at step " else StepAxis.label(best[0])  # as the numbers say it
                at = f"{best_at}{step}" if best_at else ""
                parts.append((f" best {best_value}{at}  ", ""))
            if gap is not None and best_at is not None:
                parts.append(("┃", gap_style))
                parts.append((f" gap {gap[2] - gap[1]:+.2f}  ", ""))
            if has_marks and epoch_name:
                parts.append(("│", epoch_style))
                parts.append((f" {epoch_name}  ", ""))
            if not parts:
                parts.append(("waiting for the first steps  ", ""))
            variants.append(Text.assemble(*parts))
        return variants
