"""The loss chart (textual-plot) on its own, in a tiny app: snapshots at 80×10 and 160×30, the log scale, awkward
data, no redraw without a change, the best validation. Update the snapshots with:
pytest tests/test_loss_chart.py --snapshot-update"""

import math
import random

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from charlm_tui.widgets.loss_chart import LossChart, LossPlot, aligned_scale, log_ticks

EPOCHS = [1700, 3400]


def falling_curve(seed: int = 7, points: int = 256, last_step: int = 5000):
    """A smoothed training loss falling from ~4.3 to ~1.9 with seeded noise; validation every 500 steps, lowest at
    step 3500 (2.10) and rising after it; two epoch marks."""
    rng = random.Random(seed)
    training = []
    for i in range(points):
        step = round(1 + i * (last_step - 1) / (points - 1))
        training.append((step, 1.9 + 2.4 * math.exp(-step / 900) + rng.gauss(0, 0.06)))
    validation = [
        (step, 2.05 + 2.3 * math.exp(-step / 900) + (0.06 * (step - 3500) / 500 if step > 3500 else 0))
        for step in range(500, last_step + 1, 500)
    ]
    return training, validation, list(EPOCHS)


class ChartApp(App):
    """Nothing but the chart, shown with the given data on mount."""

    def __init__(self, training=(), validation=(), epoch_steps=(), log_y=False):
        super().__init__()
        self.data = (list(training), list(validation), list(epoch_steps))
        self.start_log_y = log_y

    def compose(self) -> ComposeResult:
        yield LossChart()

    def on_mount(self) -> None:
        self.query_one(LossChart).show(*self.data, log_y=self.start_log_y)


def plot_text(app: App) -> str:
    """What the plot shows, as text: the tick labels beside each row of the plot area."""
    plot = app.query_one(LossPlot)
    canvases = {canvas.id: canvas for canvas in plot.query("Canvas")}
    left, area = canvases["margin-left"], canvases["plot"]
    return "\n".join(
        left.render_line(y).text + area.render_line(y).text for y in range(area.size.height)
    )


def tick_labels(app: App) -> list[str]:
    """The y tick labels, top to bottom."""
    left = next(c for c in app.query_one(LossPlot).query("Canvas") if c.id == "margin-left")
    return [text for y in range(left.size.height) if (text := left.render_line(y).text.strip())]


def tick_rows(app: App) -> dict[float, int]:
    """The loss at each y tick, and the row it is on."""
    left = next(c for c in app.query_one(LossPlot).query("Canvas") if c.id == "margin-left")
    return {float(text): y for y in range(left.size.height) if (text := left.render_line(y).text.strip())}


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.pause()


# --- snapshots ---


@pytest.mark.parametrize("size", [(80, 10), (160, 30)])
def test_chart_snapshot(snap_compare, size):
    assert snap_compare(ChartApp(*falling_curve()), terminal_size=size)


def test_chart_snapshot_log_y(snap_compare):
    assert snap_compare(ChartApp(*falling_curve(), log_y=True), terminal_size=(80, 10))


def test_chart_snapshot_at_its_minimum_size(snap_compare):
    assert snap_compare(ChartApp(*falling_curve()), terminal_size=(74, LossChart.MIN_ROWS))


# --- the log scale ---


async def test_toggling_log_y_redraws_with_loss_labels_spaced_logarithmically():
    app = ChartApp(*falling_curve())
    async with app.run_test(size=(80, 16)) as pilot:
        await settle(pilot)
        chart = app.query_one(LossChart)
        linear, linear_ticks = plot_text(app), tick_rows(app)
        chart.log_y = True  # the reactive attribute alone redraws
        await settle(pilot)
        logarithmic, log_ticks_ = plot_text(app), tick_rows(app)
        assert logarithmic != linear
        assert "log y" in chart.legend_text
        # the labels are losses (2, 3, 4), not their logarithms (0.3, 0.48, 0.6)
        assert {2, 3, 4} <= set(log_ticks_), log_ticks_
        # 2→3 spans more rows than 3→4 on a log scale; the same on a linear one
        assert log_ticks_[2] - log_ticks_[3] > log_ticks_[3] - log_ticks_[4]
        assert {2, 3, 4} <= set(linear_ticks), linear_ticks
        assert linear_ticks[2] - linear_ticks[3] == linear_ticks[3] - linear_ticks[4], linear_ticks
        chart.show(*falling_curve(), log_y=False)
        await settle(pilot)
        assert plot_text(app) == linear
        assert "log y" not in chart.legend_text


# --- awkward data ---

AWKWARD = {
    "empty": ([], [], []),
    "one point": ([(10, 3.2)], [], []),
    "one validation point": ([], [(500, 2.5)], [500]),
    "all equal": ([(s, 2.0) for s in range(0, 1000, 10)], [(500, 2.0), (1000, 2.0)], [500]),
    "huge": ([(s, 1e6 if s < 100 else 2.0) for s in range(0, 1000, 10)], [(500, 1e6)], []),
    "all huge": ([(s, 1e6 + s) for s in range(0, 1000, 10)], [], []),
    "not finite": ([(0, math.nan), (10, 3.0), (20, math.inf), (30, 2.5)], [(20, math.nan)], []),
    "zero and negative": ([(0, 0.0), (10, -1.0), (20, 2.0), (30, 1.0)], [(20, 0.0)], []),
    "a million steps": ([(s, 3 - s / 1e6) for s in range(0, 1_200_000, 5000)], [(1_000_000, 2.0)], [600_000]),
}


@pytest.mark.parametrize("name", list(AWKWARD))
@pytest.mark.parametrize("log_y", [False, True])
@pytest.mark.parametrize("size", [(80, 10), (LossChart.MIN_COLUMNS, LossChart.MIN_ROWS)])
async def test_awkward_data_draws_without_raising(name, log_y, size):
    app = ChartApp(*AWKWARD[name], log_y=log_y)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        chart = app.query_one(LossChart)
        assert chart.redraws >= 1
        text = plot_text(app)
        assert text.strip()  # at least the axes
        labels = tick_labels(app)
        assert len(labels) == len(set(labels))  # tick labels that can be told apart
        if name == "empty":
            assert not labels and "waiting" in chart.legend_text
        if name == "one point":
            assert "•" in text  # the point at the last step, not hidden under the right border
        if name == "one validation point":
            assert "◆" in text and "best 2.50" in chart.legend_text


async def test_huge_losses_get_readable_tick_labels():
    app = ChartApp(*AWKWARD["huge"], log_y=True)
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        assert {"1", "100", "1e4", "1e6"} <= set(tick_labels(app)), tick_labels(app)
        assert "best 1e6" in app.query_one(LossChart).legend_text


# --- cheap when nothing changed ---


async def test_showing_the_same_data_again_does_not_redraw():
    training, validation, epochs = falling_curve()
    app = ChartApp(training, validation, epochs)
    async with app.run_test(size=(80, 10)) as pilot:
        await settle(pilot)
        chart = app.query_one(LossChart)
        drawn = chart.redraws
        for _ in range(5):
            chart.show(list(training), list(validation), list(epochs), log_y=False)  # equal, not the same lists
            await pilot.pause()
        assert chart.redraws == drawn
        chart.show(training + [(5001, 1.8)], validation, epochs)
        await pilot.pause()
        assert chart.redraws == drawn + 1
        chart.show(training + [(5001, 1.8)], validation, epochs, log_y=True)
        await pilot.pause()
        assert chart.redraws == drawn + 2


async def test_a_resize_or_a_theme_change_redraws():
    app = ChartApp(*falling_curve())
    async with app.run_test(size=(80, 10)) as pilot:
        await settle(pilot)
        chart = app.query_one(LossChart)
        drawn = chart.redraws
        await pilot.resize_terminal(100, 14)
        await settle(pilot)
        assert chart.redraws == drawn + 1
        app.theme = "textual-light"
        await settle(pilot)
        assert chart.redraws == drawn + 2


# --- the best validation, the epochs ---


async def test_the_best_validation_is_marked_and_labelled():
    training, validation, epochs = falling_curve()
    validation[5] = (3000, 1.9876)  # the best now, and the only point that low
    app = ChartApp(training, validation, epochs)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        chart = app.query_one(LossChart)
        assert chart.best_validation() == (3000, 1.9876)
        assert "best 1.988 at step 3,000" in chart.legend_text  # as the numbers under the chart say it
        text = plot_text(app)
        assert text.count("◆") == 1
        # the marker sits in the column of step 3000 (about 3/5 of the way along the axis)
        column = next(line.index("◆") for line in text.splitlines() if "◆" in line)
        plot_left = len(text.splitlines()[0]) - app.query_one(LossPlot).query_one("#plot").size.width
        share = (column - plot_left) / (len(text.splitlines()[0]) - plot_left)
        assert 0.55 < share < 0.65, share


async def test_the_best_validation_stays_labelled_on_a_narrow_chart():
    app = ChartApp(*falling_curve())
    async with app.run_test(size=(LossChart.MIN_COLUMNS + 10, 8)) as pilot:
        await settle(pilot)
        assert "best 2.097" in app.query_one(LossChart).legend_text


async def test_epoch_marks_are_drawn_unless_there_are_too_many():
    training, validation, _ = falling_curve()
    app = ChartApp(training, validation, EPOCHS)
    async with app.run_test(size=(80, 10)) as pilot:
        await settle(pilot)
        chart = app.query_one(LossChart)
        first_row = plot_text(app).splitlines()[1]
        assert first_row.count("│") == 2 and "epoch" in chart.legend_text
        chart.show(training, validation, list(range(100, 5000, 200)))  # 25 epochs
        await settle(pilot)
        assert plot_text(app).splitlines()[1].count("│") == 0 and "epoch" not in chart.legend_text


# --- the size it needs, the scales ---


def test_the_minimum_size_is_stated():
    assert LossChart.fits(LossChart.MIN_COLUMNS, LossChart.MIN_ROWS)
    assert not LossChart.fits(LossChart.MIN_COLUMNS - 1, LossChart.MIN_ROWS)
    assert not LossChart.fits(LossChart.MIN_COLUMNS, LossChart.MIN_ROWS - 1)
    assert LossChart.fits(74, 6)  # what an 80×24 terminal gives it


@pytest.mark.parametrize("low, high, rows", [(1.9, 4.3, 3), (1.9, 4.3, 7), (1.9, 4.3, 27), (2.0, 2.001, 9),
                                             (0.0, 1e6, 7), (-1.0, 2.0, 2)])
def test_linear_ticks_are_round_evenly_spaced_and_around_the_data(low, high, rows):
    bottom, top, ticks, step = aligned_scale(low, high, rows, most=max(2, rows // 2 + 1))
    assert bottom < low and top > high
    assert 1 <= len(ticks) <= max(2, rows // 2 + 1)
    unit = (top - bottom) / rows
    for tick in ticks:
        assert bottom < tick < top
        assert abs(tick / step - round(tick / step)) < 1e-6  # a multiple of the spacing
        assert abs((tick - bottom) / unit % 1 - 0.5) < 1e-6  # in the middle of a row


def test_log_ticks_are_round_losses_within_the_range():
    assert log_ticks(1.8, 4.5, 4) == [2, 2.5, 3, 4]
    assert log_ticks(1.8, 4.5, 3) == [2, 3]
    assert log_ticks(1.5, 2e6, 4) == [10, 1000, 1e5]
    assert all(2.0 <= t <= 2.2 for t in log_ticks(2.0, 2.2, 3))


# --- inside the app ---


class ScrollingApp(App):
    """The chart in a scrolling column, between tall neighbours."""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("above\n" * 30)
            yield LossChart()
            yield Static("below\n" * 30)

    def on_mount(self) -> None:
        self.query_one(LossChart).styles.height = 10
        self.query_one(LossChart).show(*falling_curve())


async def test_the_mouse_wheel_over_the_chart_scrolls_what_holds_it():
    app = ScrollingApp()
    async with app.run_test(size=(80, 24)) as pilot:
        scroller = app.query_one(VerticalScroll)
        scroller.scroll_to(y=25, animate=False)
        await settle(pilot)
        area = app.query_one(LossPlot).query_one("#plot")
        x, y = area.region.x + 5, area.region.y + 2
        before = scroller.scroll_y
        area.post_message(events.MouseScrollDown(area, 5, 2, 0, 1, 0, False, False, False, screen_x=x, screen_y=y))
        await settle(pilot)
        assert scroller.scroll_y > before


async def test_the_chart_takes_no_focus():
    app = ScrollingApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not any(w.focusable for w in app.query_one(LossChart).query("*"))
        assert not app.query_one(LossChart).focusable
