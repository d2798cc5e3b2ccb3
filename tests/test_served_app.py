"""A served visitor's app (issue 20), driven with Pilot as its own process would run it: confined to its folder."""

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static

from charlm_tui.screens.dialogs import PathScreen
from charlm_tui.widgets.paths import PathSuggester
from test_app import make_app, set_field, text_of
from test_first_minutes import a_paused_model

OUTSIDE = ["/etc/passwd", "~", "~/.bashrc", "../..", "../../private/secret.txt"]


@pytest.mark.parametrize("typed", OUTSIDE)
async def test_the_corpus_field_refuses_what_lies_outside_the_visitors_folders(visitor, tmp_path, typed):
    app = make_app(visitor[0])
    async with app.run_test(size=(80, 24)) as pilot:
        before = app.main.corpus
        await set_field(pilot, "#corpus-path", typed)
        await pilot.press("enter")
        await pilot.pause()
        error = text_of(app.screen.query_one("#corpus-error", Static))
        assert "not open to this served app" in error and "bundled texts" in error, error
        assert app.main.corpus is before  # the previous corpus stays
        shown = " ".join(text_of(widget) for widget in app.screen.query(Static))
        assert "serving user's own words" not in shown


async def test_the_served_folders_texts_are_in_the_corpus_list_and_open(visitor):
    home, texts, _ = visitor
    app = make_app(home)
    async with app.run_test(size=(80, 24)) as pilot:
        options = app.screen.query_one("#corpus-list", OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids[0] == "names" and ids[-1] == str(texts / "poems.txt")
        options.focus()
        options.highlighted = len(ids) - 1
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.corpus.text.startswith("roses") and app.main.corpus.name == "poems.txt"


async def test_save_refuses_a_path_outside_the_visitors_folder_and_keeps_the_dialog_open(visitor, tmp_path):
    home, _, private = visitor
    app = make_app(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        suggested = Path(app.screen.query_one("#path", Input).value)
        assert suggested.parent == home / "checkpoints"
        for typed in [*OUTSIDE, str(private / "model.json"), str(tmp_path / ".bashrc")]:
            await set_field(pilot, "#path", typed)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, PathScreen), typed  # still asking
            message = text_of(app.screen.query_one("#path-message", Static))
            assert "saves only in your own folder" in message, (typed, message)
        assert sorted(p.name for p in private.iterdir()) == ["secret.txt"] and not (tmp_path / ".bashrc").exists()
        await set_field(pilot, "#path", "mine")
        await pilot.press("enter")
        await pilot.pause()
        assert (home / "checkpoints" / "mine.json").is_file() and app.said_that("Saved")


async def test_load_refuses_a_path_outside_the_visitors_folders(visitor):
    home, _, private = visitor
    app = make_app(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        await set_field(pilot, "#path", str(private / "secret.txt"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PathScreen)
        assert "reads only the bundled texts" in text_of(app.screen.query_one("#path-message", Static))


async def test_paths_are_completed_only_inside_the_visitors_folders(visitor, tmp_path):
    home, texts, _ = visitor
    (home / "checkpoints").mkdir()
    (home / "checkpoints" / "first.json").write_text("{}")
    suggester = PathSuggester(home)
    assert await suggester.get_suggestion("checkpoints/f") == "checkpoints/first.json"
    assert await suggester.get_suggestion(f"{texts}/p") == f"{texts}/poems.txt"
    for typed in ("/e", "/etc/pass", f"{tmp_path}/pri", "../../p"):
        assert await suggester.get_suggestion(typed) is None, typed
