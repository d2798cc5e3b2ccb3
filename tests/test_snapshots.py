"""Snapshots of the main screen (pytest-textual-snapshot). Update with: pytest tests/test_snapshots.py --snapshot-update"""

import pytest
from textual.widgets import Input

from charlm_tui.app import CharLMApp
from core.corpora import resolve_corpus
from core.data import Corpus
from core.settings import RunConfig


async def no_blink(pilot):
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen(snap_compare, tmp_path, size):
    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=size, run_before=no_blink)


def test_watch_view_at_80x24(snap_compare, tmp_path):
    async def watch(pilot):
        await no_blink(pilot)
        await pilot.press("f3")

    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=watch)


def test_a_terminal_too_small_says_so(snap_compare, tmp_path):
    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=(40, 12), run_before=no_blink)


async def trained(pilot, steps: int = 3000, corpus: Corpus | None = None, config: RunConfig | None = None):
    """The default model (or `config` on `corpus`) after `steps` steps, driven through the session (a step count,
    not seconds), paused."""
    app = pilot.app
    await pilot.pause()  # the main screen is composed
    for field in app.query(Input):
        field.cursor_blink = False
    app.query_one("#auto-every", Input).value = "0"
    session = app.session
    session.new(corpus or app.main.corpus, config or app.main.settings)
    session.start()
    for _ in session.train():
        if session.step >= steps:
            session.pause()
    app.main.query_one("TrainingPanel").show_run(session)
    app.main.follow_session()
    app.main.action_view("train")
    session.saved_step = session.step  # nothing to autosave
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_the_loss_chart_after_a_run(snap_compare, tmp_path, size):
    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=size, run_before=trained)


async def overfitted(pilot):
    """The overfit preset's idea in seconds: a small model on 1,500 characters of its text, half held out, until
    validation has risen for a while — the chart's gap and the verdict naming it with numbers."""
    corpus = Corpus(resolve_corpus("rabbit_hole").text[:1500], "rabbit_hole")
    config = RunConfig.preset("overfit").replace(hidden_dim=64, batch_size=4, learning_rate=0.01, max_steps=500,
                                                 eval_every=20)
    await trained(pilot, 500, corpus, config)
    verdict = str(pilot.app.main.query_one("#train-verdict").render())
    assert "above training and rising since step" in verdict and "overfitting — try dropout" in verdict, verdict


def test_overfitting_shows_its_gap_and_the_verdict_names_it_at_80x24(snap_compare, tmp_path):
    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=overfitted)
