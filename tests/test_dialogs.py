"""The path prompt and the help screen, each opened alone in a tiny app and driven with Pilot, at 80×24 and 160×48."""

from pathlib import Path

import pytest
from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from charlm_tui.app import CharLMApp
from charlm_tui.screens.dialogs import HelpScreen, PathScreen
from charlm_tui.widgets.paths import PathSuggester, resolve_path, tilde_path
from test_app import wait_for

SIZES = [(80, 24), (160, 48)]
KEYS = [("F1, ?", "Show every key"), ("F5", "Start, pause or resume training"), ("F6", "Stop training"),
        ("F7", "Generate text from the current weights"), ("F8", "Stop the generation in progress"),
        ("F9", "Temperature down"), ("F10", "Temperature up"), ("^s", "Save a checkpoint"),
        ("^o", "Load a checkpoint"), ("^q", "Quit"), ("^p", "Command palette"), ("Tab / Shift+Tab", "Next field")]


class DialogApp(App):
    """Opens one dialog, styled as in the app, and keeps what it returns."""

    CSS_PATH = CharLMApp.CSS_PATH

    def __init__(self, dialog):
        super().__init__()
        self.dialog = dialog
        self.results: list = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


async def path_field(pilot) -> Input:
    """The path dialog's field, once the dialog is up and the field has focus."""
    await wait_for(pilot, lambda: isinstance(pilot.app.focused, Input), what="the path field")
    await pilot.pause()  # the suggestion asked for on focus
    return pilot.app.focused


async def type_path(pilot, text: str) -> Input:
    """Empty the field with ^U, then type `text` key by key."""
    field = await path_field(pilot)
    await pilot.press("ctrl+u", *text)
    await pilot.pause()  # let the suggester answer the last key
    return field


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """The process works in a folder of its own, so a path resolved against it would show."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def checkpoints(tmp_path) -> Path:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("names-step900.json", "names-step300.json", "other.json", ".hidden"):
        (folder / name).write_text("{}")
    (folder / "old").mkdir()
    return folder


# --- the path prompt ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_the_default_is_kept_and_backspace_deletes_one_character(tmp_path, size):
    default = str(tmp_path / "checkpoints" / "names-step300.json")
    app = DialogApp(PathScreen("Save checkpoint to:", default))
    async with app.run_test(size=size) as pilot:
        field = await path_field(pilot)
        assert field.value == default and field.cursor_position == len(default)
        await pilot.press("backspace")
        assert field.value == default[:-1]
        await pilot.press("n", "enter")
        await pilot.pause()
    assert app.results == [default]


@pytest.mark.parametrize("default", ["checkpoints/names-step300.json", "checkpoints/"])
async def test_a_relative_name_goes_to_the_default_folder(tmp_path, elsewhere, default):
    app = DialogApp(PathScreen("Save checkpoint to:", f"{tmp_path}/{default}"))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_path(pilot, "mine.json")
        caption = " ".join(label.render().plain for label in app.screen.query(".caption"))
        assert f"relative paths are in {tmp_path / 'checkpoints'}" in caption
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [str(tmp_path / "checkpoints" / "mine.json")]


async def test_an_explicit_base_takes_relative_paths(tmp_path, elsewhere):
    app = DialogApp(PathScreen("Load checkpoint from:", base=tmp_path / "runs"))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_path(pilot, "sub/m.json")
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [str(tmp_path / "runs" / "sub" / "m.json")]


async def test_tilde_is_the_home_folder(tmp_path, elsewhere, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    app = DialogApp(PathScreen("Save checkpoint to:", str(home / ".local" / "share" / "checkpoints" / "a.json")))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_path(pilot, "~/x.json")
        assert "relative paths are in ~/.local/share/checkpoints" in app.screen.query(".caption").first().render().plain
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [str(home / "x.json")]


@pytest.mark.parametrize("size", SIZES)
async def test_right_arrow_completes_from_the_default_folder(checkpoints, elsewhere, size):
    app = DialogApp(PathScreen("Load checkpoint from:", f"{checkpoints}/"))
    async with app.run_test(size=size) as pilot:
        field = await path_field(pilot)
        await pilot.press("right")  # the folder's first file; not the dot-file, which sorts before it
        assert field.value == f"{checkpoints}/names-step300.json"
        await type_path(pilot, "ot")  # relative: completed in the default folder, not in the working one
        await pilot.press("right")
        assert field.value == "other.json"
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [str(checkpoints / "other.json")]


async def test_enter_on_an_empty_field_says_what_to_do_and_stays_open(tmp_path):
    app = DialogApp(PathScreen("Save checkpoint to:", str(tmp_path / "a.json")))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_path(pilot, "   ")
        message = app.screen.query_one("#path-message", Static)
        assert not message.display
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PathScreen) and app.results == []
        assert message.display and "type a path, or Esc to cancel" in message.render().plain
        await pilot.press("x")
        assert not message.display  # the message was about the empty field


async def test_a_second_enter_before_it_closes_does_nothing(tmp_path):
    app = DialogApp(PathScreen("Save checkpoint to:", str(tmp_path / "a.json")))
    async with app.run_test(size=(80, 24)) as pilot:
        field = await path_field(pilot)
        for _ in range(2):  # both queued before either is handled, as two quick presses arrive
            field.post_message(Input.Submitted(field, field.value))
        await pilot.pause()
        assert app.return_code is None
    assert app.results == [str(tmp_path / "a.json")]


async def test_escape_returns_none(tmp_path):
    app = DialogApp(PathScreen("Save checkpoint to:", str(tmp_path / "a.json")))
    async with app.run_test(size=(80, 24)) as pilot:
        await path_field(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PathScreen)
    assert app.results == [None]


# --- the help screen ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_help_explains_the_panels_and_lists_the_keys(size):
    app = DialogApp(HelpScreen(KEYS))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        text = " ".join(static.render().plain for static in app.screen.query(".help-panel"))
        for words in ("Corpus", "Hyperparameters", "Training", "Generation", "validation", "cross-entropy",
                      "overfitting", "perplexity", "temperature", "top-k", "prompt"):
            assert words in text, words
        table = app.screen.query_one("#help-keys", Static).content
        assert [cell for column in table.columns for cell in column.cells] == [k for k, _ in KEYS] + [d for _, d in KEYS]


async def test_help_scrolls_at_80x24():
    app = DialogApp(HelpScreen(KEYS))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        help_text = app.screen.query_one("#help", VerticalScroll)
        assert help_text.max_scroll_y > 0 and help_text.scroll_y == 0
        await pilot.press("down")
        assert help_text.scroll_y == 1
        pages = -(-help_text.max_scroll_y // help_text.scrollable_content_region.height)
        await pilot.press(*["pagedown"] * pages)
        assert help_text.scroll_y == help_text.max_scroll_y
        await pilot.press(*["pageup"] * pages, "up")
        assert help_text.scroll_y == 0


@pytest.mark.parametrize("key", ["escape", "f1", "question_mark", "q"])
async def test_help_closes(key):
    app = DialogApp(HelpScreen(KEYS))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
    assert app.results == [None]


# --- the parts, without a screen ----------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


@pytest.mark.parametrize("text, expected", [
    ("  m.json ", "base/m.json"),
    ("sub/m.json", "base/sub/m.json"),
    ("/elsewhere/m.json", "/elsewhere/m.json"),
    ("~/m.json", "home/m.json"),
    ("~", "home"),
])
def test_resolve_path(tmp_path, home, text, expected):
    where = {"base": tmp_path / "base", "home": home}
    first, _, rest = expected.partition("/")
    assert resolve_path(text, tmp_path / "base") == (where[first] / rest if first in where else Path(expected))


def test_resolve_path_without_a_base_leaves_a_relative_path_relative():
    assert resolve_path(" sub/m.json", None) == Path("sub/m.json")


def test_tilde_path(home):
    assert tilde_path(home / ".local" / "share") == "~/.local/share"
    assert tilde_path(home) == "~"
    assert tilde_path(Path("/srv/data")) == "/srv/data"


@pytest.mark.parametrize("typed, expected", [
    ("names", "names-step300.json"),  # the first match, alphabetically
    ("names-step9", "names-step900.json"),
    ("ol", "old/"),  # a folder
    ("old", "old/"),
    ("old/", None),  # an empty folder
    (".h", ".hidden"),  # dot-files once the name starts with '.'
    ("nothing", None),
    ("missing/x", None),  # the folder is not there
    ("other.json/x", None),  # not a folder
])
async def test_suggestions_relative_to_the_base(checkpoints, elsewhere, typed, expected):
    assert await PathSuggester(checkpoints).get_suggestion(typed) == expected


async def test_suggestions_keep_the_form_typed(checkpoints, home, monkeypatch):
    (home / "model.json").write_text("{}")
    suggester = PathSuggester(checkpoints)
    assert await suggester.get_suggestion(f"{checkpoints}/") == f"{checkpoints}/names-step300.json"  # no dot-file
    assert await suggester.get_suggestion(f"{checkpoints}/o") == f"{checkpoints}/old/"
    assert await suggester.get_suggestion("~/mo") == "~/model.json"
    assert await suggester.get_suggestion("~") == "~/"
    monkeypatch.chdir(checkpoints)
    assert await PathSuggester(None).get_suggestion("oth") == "other.json"  # no base: the working folder
