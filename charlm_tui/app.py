"""charlm-tui: train a character-level language model live, from the keyboard.

The app holds what lives as long as the process: the session (`core.session`, the run and its
lifecycle), the keymap, the signals that quit, and quitting itself, which autosaves unsaved
training. Everything on screen is the main screen's (`charlm_tui.screens.main`).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from functools import partial
from pathlib import Path
from typing import Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.filter import LineFilter, Monochrome
from textual.screen import Screen
from textual.worker import WorkerCancelled, WorkerFailed

from charlm_tui.keymap import APP_BINDINGS, BINDINGS, SCREEN_BINDINGS, keymap_file, read_keymap
from charlm_tui.preferences import preferences_file, read_preferences, remember_theme
from charlm_tui.screens.dialogs import HelpScreen
from charlm_tui.screens.main import MainScreen
from charlm_tui.widgets.generation_panel import GenerationPanel
from core.checkpoint import CheckpointError
from core.corpora import DEFAULT_CORPUS
from core.session import Session
from core.settings import RunConfig
from core.visible import visible

GIL_SWITCH_INTERVAL = 0.001  # seconds


class StyledMonochrome(Monochrome):
    """NO_COLOR's filter for segments without a style too: textual-plot's canvas draws an empty line as one, and
    Textual's Monochrome expects a style on every segment."""

    def apply(self, segments: list[Segment], background) -> list[Segment]:
        return super().apply([Segment(text, style or Style.null(), control) for text, style, control in segments],
                             background)


NO_COLOR_FILTER = StyledMonochrome()


class DrawnControls(LineFilter):
    """The last guard between outside text and the terminal: a control character left in a line on screen (a
    corpus's ESC, a file name's BEL, in a widget that did not draw it itself) is drawn as `core.visible` draws
    it, never sent; the line keeps its width (what no longer fits is cut at its end)."""

    def apply(self, segments: list[Segment], background) -> list[Segment]:
        if all(control or text.isprintable() for text, _, control in segments):  # nearly every line: as it is
            return segments
        width = Segment.get_line_length(segments)
        drawn = [segment if segment.control else Segment(visible(segment.text), segment.style) for segment in segments]
        return Segment.adjust_line_length(drawn, width)


DRAWN_CONTROLS = DrawnControls()


class CharLMApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "charlm-tui"
    # Tab moves the focus at once, as the key arrives: a non-priority binding runs only after the keys behind it
    # reached the field it is leaving (Tab 7 typed fast put the 7 in the old field).
    BINDINGS = [*APP_BINDINGS, Binding("tab", "focus_next", show=False, priority=True),
                Binding("shift+tab", "focus_previous", show=False, priority=True)]

    def __init__(self, corpus: str = DEFAULT_CORPUS, resume: str | None = None, config: RunConfig | None = None,
                 autosave_path: Path | None = None, calibrate: bool = True):
        super().__init__()
        self.calibrate = calibrate  # time a few steps at start-up, for the time-per-epoch estimate
        self.initial_corpus = corpus
        self.resume_path = resume
        self.initial_settings = config or RunConfig.preset("default")
        self.session = Session(autosave_path)
        self.main = MainScreen()
        self.keys: dict[str, str] = {}  # the user's remapping, by binding id
        self.quitting = False  # from here on, late messages from the workers are dropped
        self._signals: list[int] = []
        self.start_blur_undone = False  # in a browser: the driver's blur at start-up is not the visitor's

    def get_default_screen(self) -> Screen:
        return self.main

    def notify(self, message: str, **kwargs) -> None:
        """A toast, as plain text: what it says may name a file or quote a corpus (data, never markup)."""
        super().notify(message, **{**kwargs, "markup": False})

    def get_line_filters(self) -> list[LineFilter]:
        return [DRAWN_CONTROLS, *(NO_COLOR_FILTER if type(f) is Monochrome else f for f in super().get_line_filters())]

    def on_app_blur(self) -> None:
        """Textual's web driver starts the app blurred, and a blurred app's footer stays empty: a visitor would see
        no keys until they click the page. That first blur is undone; a visitor's own blurs (another tab) stand."""
        if self.is_web and not self.start_blur_undone:
            self.start_blur_undone = True
            self.post_message(events.AppFocus())

    def on_mount(self) -> None:
        # The trainer thread holds the GIL between its bytecodes; by default the UI thread may wait 5 ms
        # for it every time it wakes, and a key press wakes it many times. 1 ms keeps keys snappy.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self._apply_keymap()
        self._apply_preferences()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a kill, or the terminal closed: quit like ^Q
            try:
                loop.add_signal_handler(sig, lambda: self.call_later(self.action_quit, True))
            except (NotImplementedError, RuntimeError, ValueError):
                break  # no signals here (not the main thread, or not POSIX)
            self._signals.append(sig)

    def on_unmount(self) -> None:
        self.quitting = True
        self._stop_workers()  # however the app ends, its threads end with it
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)

    def _stop_workers(self) -> None:
        self.session.pause()
        for panel in self.main.query(GenerationPanel):
            panel.stop()
        self.workers.cancel_all()  # the loops of other screens (temperatures, lr finder) check for it

    # --- keys --------------------------------------------------------------------------------

    def _apply_keymap(self) -> None:
        path = keymap_file()
        if path.exists():
            try:
                self.keys = read_keymap(path)
            except ValueError as error:
                self.notify(f"Ignoring {path}: {error}", severity="warning", timeout=15)
                return
            self.set_keymap(self.keys)

    # --- what the user chose before ------------------------------------------------------------

    def _apply_preferences(self) -> None:
        path = preferences_file()
        if path.exists():
            try:
                chosen = read_preferences(path, set(self.available_themes))
            except ValueError as error:
                self.notify(f"Ignoring {path}: {error}", severity="warning", timeout=15)
            else:
                self.theme = chosen.get("theme", self.theme)
        self._theme_chosen = self.theme
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme) -> None:
        if theme.name == self._theme_chosen:
            return
        self._theme_chosen = theme.name
        try:
            remember_theme(preferences_file(), theme.name)
        except OSError as error:
            self.notify(f"The theme could not be remembered in {preferences_file()}: {error.strerror or error}",
                        severity="warning", timeout=8)

    def keys_of(self, binding: Binding) -> list[str]:
        """The keys bound to `binding`, after any remapping: f5, ctrl+s, ..."""
        return self.keys.get(binding.id, binding.key).split(",")

    def key_labels(self, binding: Binding) -> list[str]:
        """How the keys bound to `binding` are shown: F5, ^s, ..."""
        return [k.upper() if k[1:].isdigit() else self.get_key_display(Binding(k, binding.action))
                for k in self.keys_of(binding)]

    def key_label(self, binding_id: str) -> str:
        return self.key_labels(next(b for b in BINDINGS if b.id == binding_id))[0]

    def action_help(self) -> None:
        rows: dict[str, tuple[list[str], str]] = {}  # by action: F1 and ? share a row
        for binding in BINDINGS:
            rows.setdefault(binding.action, ([], binding.tooltip))[0].extend(self.key_labels(binding))
        keys = [(", ".join(labels), tooltip) for labels, tooltip in rows.values()]
        keys += [("^p", "Command palette: every action by name"), ("Tab / Shift+Tab", "Next / previous field")]
        if self.is_web:  # page scripts cannot keep these from the browser
            keys.append(("In a browser", "Ctrl+N and Ctrl+T open a window and a tab: click the Inside tab, or find "
                                         "Inside and Temperatures in the palette (^p). Ctrl+PgUp and Ctrl+PgDn "
                                         "switch the browser's tabs: ← → on the Inside view's tabs choose a part"))
        self.push_screen(HelpScreen(keys))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            # Keys: Textual's panel squeezes the form and Esc does not close it (F1 lists every key); Screenshot:
            # charlm-tui serve delivers no files to a browser
            if command.title != "Keys" and not (self.is_web and command.title == "Screenshot"):
                yield command
        for binding in APP_BINDINGS + SCREEN_BINDINGS:  # the Inside view's part keys only mean something there
            if binding.id not in ("help.alt", "quit"):
                attempt = self.run_action if binding in APP_BINDINGS else self.main.attempt  # says why, when refused
                yield SystemCommand(binding.description, f"{binding.tooltip} ({self.key_label(binding.id)})",
                                    partial(attempt, binding.action))

    # --- quitting ------------------------------------------------------------------------------

    async def action_quit(self, unattended: bool = False) -> None:
        """Stop the workers, autosave a model with unsaved training, then exit, saying where it went.

        `unattended` (a signal: nobody may be there to answer) exits even when nothing could be saved."""
        if self.quitting:
            return
        self.quitting = True
        self._stop_workers()
        training = [w for w in self.workers if w.group == "train"]
        try:
            if training:  # an empty list would wait for every worker
                await self.workers.wait_for_complete(training)
        except (WorkerFailed, WorkerCancelled):
            pass  # already reported, or cancelled just now; what matters here is that the thread has ended
        try:
            saved = self.session.autosave()
        except (OSError, CheckpointError) as error:
            if unattended:
                self.exit(return_code=1, message=Text(f"charlm-tui: error: unsaved training could not be saved: {error}"))
                return
            self.quitting = False
            self.main.follow_session()
            self.notify(f"Autosave to {self.session.autosave_path} failed: {error}. Save with "
                        f"{self.key_label('checkpoint.save')}, or quit again to leave without saving.",
                        severity="error", timeout=15)
            self.session.saved_step = self.session.step  # a second quit leaves
            return
        self.exit(message=None if saved is None else Text(f"charlm-tui: unsaved training autosaved to {saved}"))
