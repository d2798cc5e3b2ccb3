"""A learner's natural mistakes never break the instrument (issue 22)."""

from textual.widgets import Static

from charlm_tui.screens.dialogs import ConfirmScreen
from charlm_tui.screens.inside import InsideScreen
from core.history import RunLog
from core.session import Phase
from core.settings import RunConfig
from test_app import make_app, set_field, steps, wait_for

DIVERGES = RunConfig(learning_rate=10.0, max_steps=5_000, epochs=None)  # the default model: nan by step ~10


async def diverge(pilot) -> None:
    await pilot.press("f5")
    await wait_for(pilot, lambda: pilot.app.main.phase is Phase.FAILED, what="the divergence")


async def test_after_a_divergence_a_lower_lr_and_f5_train_a_new_model(tmp_path):
    app = make_app(tmp_path, config=DIVERGES)
    async with app.run_test(size=(80, 24)) as pilot:
        await diverge(pilot)
        diverged = app.session.run
        await set_field(pilot, "#learning_rate", "0.03")
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # a new model, or the last good weights again
        await pilot.press("y")
        await wait_for(pilot, lambda: app.session.run is not diverged and steps(app) > 50, what="a new model training")
        assert app.main.phase is Phase.RUNNING and app.session.run.config.learning_rate == 0.03
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.main.phase is Phase.PAUSED, what="the pause")
    runs, warnings = RunLog().read()
    assert warnings == [] and [run.outcome() for run in runs] == ["non_finite", "paused"]


async def test_try_again_goes_on_from_the_last_good_weights(tmp_path):
    app = make_app(tmp_path, config=DIVERGES)
    async with app.run_test(size=(80, 24)) as pilot:
        await diverge(pilot)
        diverged, step = app.session.run, app.session.step
        await pilot.press("f5")
        await pilot.pause()
        await pilot.press("enter")  # Enter alone never throws a model away: "Try again"
        await wait_for(pilot, lambda: app.main.phase is Phase.FAILED and app.session.step >= step,
                       what="the same divergence")
        assert app.session.run is diverged


async def test_inside_a_diverged_model_says_so_instead_of_nan_bars(tmp_path):
    app = make_app(tmp_path, config=DIVERGES)
    async with app.run_test(size=(80, 24)) as pilot:
        await diverge(pilot)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, InsideScreen) and app.screen.readings is not None,
                       what="the readings")
        await pilot.pause()
        screen = app.screen
        assert screen.readings.blown_up and screen.has_class("-blown-up")
        said = screen.query_one("#blown-up", Static).render().plain
        assert "not finite" in said and "lower lr" in said
        assert not screen.query_one("#parts").display
