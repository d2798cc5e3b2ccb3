"""The learning-rate finder's plot and screen: the plot keeps to the useful part of the curve (the diverged tail
is cut off at the top, and said so), lr on a log scale with round ticks."""

from textual.app import App, ComposeResult

from charlm_tui.widgets.lr_chart import LRChart
from test_loss_chart import settle, tick_rows
from test_lr_finder import made

# falls from about 3.3 to 2.0 at lr 0.01, then rises and diverges to 40 (the kind of tail that squashed the plot)
DIVERGED = made([3.3, 3.35, 3.3, 3.2, 3.0, 2.6, 2.2, 2.0, 2.3, 3.0, 9.0, 40.0], stop="diverged", warmup=1)


class ChartApp(App):
    def compose(self) -> ComposeResult:
        yield LRChart()

    def on_mount(self) -> None:
        self.query_one(LRChart).show(DIVERGED)


def x_tick_text(app: App) -> str:
    bottom = next(c for c in app.query_one(LRChart).query("Canvas") if c.id == "margin-bottom")
    return bottom.render_line(0).text


async def test_the_plot_runs_from_the_lowest_loss_to_the_start_and_cuts_the_diverged_tail_off():
    app = ChartApp()
    async with app.run_test(size=(66, 12)) as pilot:
        await settle(pilot)
        ticks = tick_rows(app)  # {loss: row}, row 0 at the top
        (low, bottom_row), (high, top_row) = min(ticks.items()), max(ticks.items())
        per_row = (high - low) / (bottom_row - top_row)
        assert len({round((b - a) / per_row, 6) for a, b in zip(sorted(ticks), sorted(ticks)[1:])}) == 1, ticks  # even
        assert low - per_row <= 2.0 and 3.35 <= high + top_row * per_row < 4, ticks  # not 0 to 40: the fall fills it
        assert x_tick_text(app).split() == ["0.0001", "0.001", "0.01", "0.1", "1"]  # lr on a log scale
        legend = app.query_one(LRChart).legend_text
        assert "off the top from lr 0.4" in legend, legend  # the first lr past the start's loss

