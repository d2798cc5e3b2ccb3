"""What a user chose in the app is there at the next start: the theme (issue 24)."""

from charlm_tui.preferences import preferences_file
from test_app import make_app


async def test_the_theme_chosen_is_there_at_the_next_start(tmp_path):
    first = make_app(tmp_path)
    async with first.run_test(size=(80, 24)) as pilot:
        assert first.theme != "nord"
        first.theme = "nord"  # as ^P → Theme sets it
        await pilot.pause()
    assert 'theme = "nord"' in preferences_file().read_text()
    second = make_app(tmp_path)
    async with second.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert second.theme == "nord"


async def test_a_start_that_chooses_nothing_writes_nothing(tmp_path):
    async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    assert not preferences_file().exists()


async def test_a_broken_settings_file_is_said_and_ignored(tmp_path):
    for content, said in (("theme = [", "not TOML"), ('theme = "no-such-theme"', "no theme called"),
                          ('colour = "red"', "unknown setting colour")):
        preferences_file().parent.mkdir(parents=True, exist_ok=True)
        preferences_file().write_text(content)
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.said_that(said) and app.return_code is None
