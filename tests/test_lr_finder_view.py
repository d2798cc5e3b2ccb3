"""The learning-rate finder's plot and screen: the plot keeps to the useful part of the curve (the diverged tail
is cut off at the top, and said so), lr on a log scale with round ticks, and the screen says what the sweep
started from."""

from textual.app import App, ComposeResult

from charlm_tui.widgets.lr_chart import LRChart
from core.lr_finder import find_lr
from core.run import Run
from test_app import TINY, make_app, text_of, wait_for
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


async def test_on_a_trained_model_the_sweep_starts_from_fresh_weights_and_says_so(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        session = app.session
        session.new(app.main.corpus, app.main.settings)
        session.start()
        for _ in session.train(max_steps=300):
            pass
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: getattr(app.screen, "result", None) is not None, what="the sweep")
        fresh = find_lr(Run.new(app.main.corpus, TINY), seed=TINY.seed)
        assert app.screen.result.rows == fresh.rows  # the weights this model started from, not its trained ones
        said = " ".join(text_of(widget) for widget in app.screen.query("#lr-finder Static"))
        assert "fresh weights of this model's settings, not the weights it has trained for 300 steps" in " ".join(said.split())
        assert session.step == 300


async def test_without_a_model_the_sweep_says_it_starts_from_the_forms_settings(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: getattr(app.screen, "result", None) is not None, what="the sweep")
        said = " ".join(text_of(widget) for widget in app.screen.query("#lr-finder Static"))
        assert "fresh weights of the form's settings" in " ".join(said.split())
