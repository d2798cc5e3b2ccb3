"""Nothing the app shows can drive the terminal (issue 21): text from outside has its control characters drawn.

Checked where it matters, at the bytes a terminal receives: the app and the command line run in a
pseudo-terminal on a corpus, and under a file name, full of escape sequences (OSC 0 retitles the window,
OSC 52 writes the clipboard, ESC [ 2 J clears the screen, C1's CSI 0x9B is ESC [ in one byte).
"""

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, strategies as st
from rich.segment import Segment

from charlm_tui.app import DRAWN_CONTROLS
from core.visible import visible
from test_app import make_app, set_field
from test_faults import F5, ROOT, child_env, tui
from test_first_minutes import a_paused_model

SEQUENCES = "\x1b]0;PWNED-TITLE\x07 \x1b]52;c;cm0gLXJmIH4=\x07 \x1b[2J \x9b31m \x07"
# what must never reach the terminal, and what shows instead that it was drawn
INJECTED = ["\x1b]0;PWNED", "\x1b]52;", "\x1b]0;FILENAME", "\x9b", "PWNED-TITLE\x07", "\x1b[2J \x9b"]
CONTROLS = {chr(code) for code in [*range(0x20), *range(0x80, 0xA0)]} - {"\n", "\t"}


@pytest.fixture
def evil(tmp_path):
    """A corpus of names each carrying the sequences, under a file name that carries one too."""
    path = tmp_path / "evil\x1b]0;FILENAME\x07.txt"
    path.write_text("".join(f"name{i} {SEQUENCES} tail\n" for i in range(80)))
    return path


def in_a_terminal(*args: str, timeout: float = 120) -> str:
    """What `charlm-tui ARGS` writes to a terminal (stdout and stderr both, as a terminal shows them)."""
    master, slave = os.openpty()
    process = subprocess.Popen([sys.executable, "-m", "charlm_tui.cli", *args], cwd=ROOT, env=child_env(),
                               stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    received = bytearray()

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal is closed: the command has ended
                return
            if not data:
                return
            received.extend(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    process.wait(timeout)
    reader.join(10)
    os.close(master)
    return received.decode("utf-8", "replace")


def assert_nothing_drives_the_terminal(output: str) -> None:
    for sequence in INJECTED:
        assert sequence not in output, (sequence, output[-2000:])


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc",))))
def test_ordinary_text_is_shown_as_it_is(text):
    assert visible(text) == text and visible(text, lines=True) == text


@given(st.text())
def test_no_control_character_but_newline_and_tab_survives(text):
    assert not CONTROLS & set(visible(text, lines=True))
    assert not (CONTROLS | {"\n", "\t"}) & set(visible(text))
    assert visible("a\x1b]0;t\x07\x9b") == "a␛]0;t␇\\x9b"


def test_the_apps_last_guard_draws_a_control_left_in_a_line_and_keeps_its_width():
    line = [Segment("ab\x1b]0;x\x07", None), Segment("cdefghijkl", None)]  # 16 cells: ESC and BEL take none
    drawn = DRAWN_CONTROLS.apply(line, None)
    assert "".join(s.text for s in drawn) == "ab␛]0;x␇cdefghij"  # drawn, and cut back to the line's width
    ordinary = [Segment("names ✓ émilie", None)]
    assert DRAWN_CONTROLS.apply(ordinary, None) is ordinary


def test_headless_training_samples_and_messages_print_no_escape_sequence(evil, tmp_path):
    model = tmp_path / "evil-model.json"
    output = in_a_terminal("--headless", "--corpus", str(evil), "--context", "3", "--embed", "4", "--hidden", "8",
                           "--steps", "300", "--sample", "400", "--temperature", "2", "--save", str(model))
    assert "training finished" in output and "␛]0;FILENAME␇" in output  # the file's name, drawn
    assert_nothing_drives_the_terminal(output)
    assert "\x1b" not in output and "\x07" not in output  # a plain command prints no escape at all
    for args in (["--resume", str(model), "--next", "name1 \x1b]0;"], ["runs"],
                 ["--headless", "--resume", str(model), "--sample", "300", "--temperature", "1.5,3"],
                 ["--corpus", str(evil) + "\x1b]0;FILENAME\x07-missing", "--headless"]):
        output = in_a_terminal(*args)
        assert output.strip(), args
        assert_nothing_drives_the_terminal(output)
        assert "\x1b" not in output and "\x07" not in output, (args, output[-1500:])


def test_json_stays_json_and_carries_the_characters_escaped(evil, tmp_path):
    in_a_terminal("--headless", "--corpus", str(evil), "--context", "3", "--embed", "4", "--hidden", "8",
                  "--steps", "50", "--sample", "0")
    output = in_a_terminal("runs", "--jsonl")
    assert_nothing_drives_the_terminal(output)
    (run,) = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert run["corpus"]["name"] == evil.name  # the very characters, escaped as JSON escapes them


def test_the_app_shows_such_a_corpus_its_samples_and_its_name_drawn(evil):
    with tui("--corpus", str(evil), "--context", "3", "--embed", "4", "--hidden", "8", "--steps", "100000") as app:
        assert app.wait_for("Help", 30), app.text[-2000:]
        time.sleep(0.5)
        app.press(F5)
        assert app.wait_for("steps/s", 30), app.text[-2000:]
        app.press(b"\x1b[18~")  # F7: a sample of a model of this text
        assert app.wait_for("% new", 30), app.text[-2000:]
        app.press(b"\x1bOS")  # F4: the run history, its corpus column
        assert app.wait_for("all corpora", 20), app.text[-2000:]
        app.press(b"\x1b")
        app.press(b"\x11")  # ^Q
        app.exit_code(15)
        output = bytes(app.raw).decode("utf-8", "replace")
    assert_nothing_drives_the_terminal(output)
    assert "␛]0;PWNED-TITLE␇" in output and "␛]0;FILENAME␇" in output  # shown, drawn


async def test_a_file_name_with_markup_is_shown_as_it_is_and_runs_nothing(tmp_path):
    """Square brackets in a name are text: `[/]` crashed a notification, `[@click=…]` made an action link."""
    folder, name = tmp_path / "a[", "]b[@click=app.quit]c[b].txt"  # its path holds [/]: a folder "a[" then "]b…"
    folder.mkdir()
    (folder / name).write_text("one line of text\nand another one\n" * 30)
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        for typed in (str(folder / name), str(folder / ("missing-" + name))):
            await set_field(pilot, "#corpus-path", typed)
            await pilot.press("enter")
            await pilot.pause()
        assert app.main.corpus.name == name
        assert name in app.screen.query_one("#corpus-stats").render().plain
        assert "missing-" + name in app.screen.query_one("#corpus-error").render().plain
        await a_paused_model(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await set_field(pilot, "#path", str(folder / ("model-" + name.replace(".txt", ".json"))))
        await pilot.press("enter")
        await pilot.pause()
        assert app.said_that("Saved") and app.return_code is None and app.is_running
