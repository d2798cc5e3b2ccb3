"""charlm-tui: train a character-level language model live, from the keyboard.

A thin shell around a `core.session.Session`, which holds the run and its lifecycle. The panels
show it: the training panel runs training in its own thread worker, the generation panel sampling in
its own; both report back in messages. The app maps keys to the session's moves, asks before
anything that would lose work, and mirrors the session's phase in a reactive attribute whose watcher
updates what the screen says.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Iterable

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Tab, Tabs
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from charlm_tui.keymap import BINDINGS, keymap_file, read_keymap
from charlm_tui.messages import CorpusChosen, SettingsChanged, SpeedMeasured, TrainingProgress, TrainingStopped
from charlm_tui.screens.dialogs import ConfirmScreen, HelpScreen, PathScreen
from charlm_tui.widgets.corpus_panel import CorpusPanel
from charlm_tui.widgets.generation_panel import GenerationPanel
from charlm_tui.widgets.hyper_panel import HyperPanel
from charlm_tui.widgets.training_panel import TrainingPanel
from charlm_tui.workers import measure_speed
from core.checkpoint import CheckpointError
from core.corpora import DEFAULT_CORPUS
from core.data import Corpus, CorpusError
from core.run import Run
from core.session import Phase, Session, SessionError, data_home
from core.settings import RunConfig

PANELS = (CorpusPanel, HyperPanel, TrainingPanel, GenerationPanel)  # a new panel: one module, one entry here
GRID_MIN_SIZE = (140, 40)  # at least this many columns and rows: all four panels at once
GIL_SWITCH_INTERVAL = 0.001  # seconds
SPEED_PROBE_STEPS = 30


class CharLMApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "charlm-tui"
    BINDINGS = BINDINGS

    phase: reactive[Phase] = reactive(Phase.EMPTY, bindings=True, always_update=True, init=False)

    def __init__(self, corpus: str = DEFAULT_CORPUS, resume: str | None = None, config: RunConfig | None = None,
                 autosave_path: Path | None = None, calibrate: bool = True):
        super().__init__()
        self.calibrate = calibrate  # time a few steps at start-up, for the time-per-epoch estimate
        self.initial_corpus = corpus
        self.resume_path = resume
        self.initial_settings = config or RunConfig.preset("default")
        self.session = Session(autosave_path)
        self.keys: dict[str, str] = {}  # the user's remapping, by binding id
        self._signals: list[int] = []
        self._quitting = False  # from here on, late messages from the workers are dropped

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(Tab("Setup  F2", id="setup"), Tab("Watch  F3", id="train"), id="view-tabs")
        with Container(id="panels"):
            for panel in PANELS:
                yield panel(classes=f"panel in-{panel.VIEW}-view")
        yield Footer(compact=True, show_command_palette=False)  # ^P still opens it; help lists it

    @property
    def settings(self) -> RunConfig | None:
        """The hyperparameter form's configuration (None while a field is invalid)."""
        return self.query_one(HyperPanel).config

    @property
    def corpus(self) -> Corpus | None:
        """The corpus selected in the corpus panel (the next new model's)."""
        return self.query_one(CorpusPanel).corpus

    def on_mount(self) -> None:
        # The trainer thread holds the GIL between its bytecodes; by default the UI thread may wait 5 ms
        # for it every time it wakes, and a key press wakes it many times. 1 ms keeps keys snappy.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self.action_view("setup")
        self._apply_keymap()
        self._install_signal_handlers()
        self._fit(self.size.width, self.size.height)
        self.watch_phase(self.phase)
        corpus_panel = self.query_one(CorpusPanel)
        corpus_panel.context_length = self.initial_settings.context_length
        if not corpus_panel.choose(self.initial_corpus) and self.initial_corpus != DEFAULT_CORPUS:
            self.notify(f"Could not open {self.initial_corpus}; using {DEFAULT_CORPUS}.", severity="error")
            corpus_panel.choose(DEFAULT_CORPUS)
        if self.resume_path:
            self.call_after_refresh(self._load_from, self.resume_path)
        elif self.session.autosave_path.exists():
            self.notify(f"An autosaved model is at {self.session.autosave_path}: {self.key_label('checkpoint.load')} "
                        "loads it.", timeout=8)
        if self.calibrate:
            self._measure_speed()

    def _install_signal_handlers(self) -> None:
        """SIGTERM or SIGHUP (the terminal closed) quits like ^Q: training stops and is autosaved."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, lambda: self.call_later(self.action_quit))
            except (NotImplementedError, RuntimeError, ValueError):
                return  # no signals here (not the main thread, or not POSIX)
            self._signals.append(sig)

    def on_unmount(self) -> None:
        self._quitting = True
        self.session.pause()  # however the app ends, its threads end with it
        for panel in self.query(GenerationPanel):
            panel.stop()
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """All four panels in a grid on a big terminal; two views (setup / watch) on a small one."""
        self.screen.set_class(width >= GRID_MIN_SIZE[0] and height >= GRID_MIN_SIZE[1], "-grid")

    def action_view(self, view: str, focus: bool = False) -> None:
        self.screen.set_class(view == "setup", "view-setup")
        self.screen.set_class(view == "train", "view-train")
        tabs = self.query_one("#view-tabs", Tabs)
        if tabs.active != view:
            tabs.active = view
        if focus:
            self.query_one("#corpus-list" if view == "setup" else "#prompt").focus()

    @on(Tabs.TabActivated, "#view-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        self.action_view(event.tab.id)

    def _apply_keymap(self) -> None:
        path = keymap_file()
        if path.exists():
            try:
                self.keys = read_keymap(path)
            except ValueError as error:
                self.notify(f"Ignoring {path}: {error}", severity="warning", timeout=15)
                return
            self.set_keymap(self.keys)

    def key_labels(self, binding: Binding) -> list[str]:
        """How the keys bound to `binding` (after any remapping) are shown: F5, ^s, ..."""
        keys = self.keys.get(binding.id, binding.key).split(",")
        return [k.upper() if k[1:].isdigit() else self.get_key_display(Binding(k, binding.action)) for k in keys]

    def key_label(self, binding_id: str) -> str:
        return self.key_labels(next(b for b in BINDINGS if b.id == binding_id))[0]

    # --- the phase ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Only what makes sense now is in the footer (and active): it keeps the footer short at 80 columns."""
        if action == "stop_training":
            return self.phase in (Phase.RUNNING, Phase.PAUSED)
        if action in ("generate", "save"):
            return self.session.run is not None
        if action == "stop_generation":
            return any(panel.sampling for panel in self.query(GenerationPanel))
        if action == "load":
            return self.phase is not Phase.RUNNING
        return True

    def watch_phase(self, phase: Phase) -> None:
        keys = {name: self.key_label(name) for name in ("train.toggle", "train.stop", "sample.start", "checkpoint.save")}
        self.query_one(TrainingPanel).show_state(phase, keys, "" if phase is Phase.RUNNING else self.session.detail)
        self.sub_title = {
            Phase.EMPTY: f"ready · {keys['train.toggle']} starts training",
            Phase.RUNNING: f"training · {keys['train.toggle']} pauses",
            Phase.PAUSED: f"paused · {keys['train.toggle']} resumes",
        }.get(phase, f"{phase.value} · {keys['sample.start']} samples · {keys['checkpoint.save']} saves")

    def _follow_session(self) -> None:
        self.phase = self.session.phase  # always_update: the detail may change while the phase stays

    # --- corpus and settings -------------------------------------------------------------------

    @on(CorpusChosen)
    def _corpus_chosen(self, message: CorpusChosen) -> None:
        self._refresh_estimates()
        run = self.session.run
        if run is not None and run.corpus.name != message.corpus.name:
            self.notify(f"The current model stays on {run.corpus.name}. Pause or stop it, then "
                        f"{self.key_label('train.toggle')} offers a new model on {message.corpus.name}.")

    @on(SettingsChanged)
    def _settings_changed(self, message: SettingsChanged) -> None:
        if message.config is not None:
            corpus_panel = self.query_one(CorpusPanel)
            corpus_panel.context_length = message.config.context_length
            corpus_panel.validation_fraction = message.config.validation_fraction
            corpus_panel.refresh_stats()
            self._refresh_estimates()

    def _refresh_estimates(self) -> None:
        hyper = self.query_one(HyperPanel)
        if self.corpus is not None and self.settings is not None:
            hyper.vocab_size = len(self.corpus.vocab)
            try:
                hyper.train_examples = len(self.corpus.split(self.settings.context_length,
                                                             self.settings.validation_fraction).train)
            except (CorpusError, ValueError):
                hyper.train_examples = 0
        hyper.refresh_table()

    @work(thread=True, exclusive=True, group="speed", exit_on_error=False)
    def _measure_speed(self) -> None:
        probe = Corpus(("the quick brown fox jumps over the lazy dog. " * 20), "probe")
        measure_speed(Run.new(probe, RunConfig.preset("default")), SPEED_PROBE_STEPS, self.post_message)

    @on(SpeedMeasured)
    def _speed_measured(self, message: SpeedMeasured) -> None:
        if not self._quitting:
            self.query_one(HyperPanel).seconds_per_step_per_parameter = message.seconds_per_step_per_parameter
            self._refresh_estimates()

    # --- training ---------------------------------------------------------------------------

    def action_toggle_training(self) -> None:
        if self.phase is Phase.RUNNING:
            self.session.pause()
            return
        settings = self.settings
        if settings is None:
            self.notify("Fix the hyperparameters first:\n" + "\n".join(self.query_one(HyperPanel).problems),
                        severity="error", title="Cannot start")
            self.action_view("setup")
            return
        if self.corpus is None:
            self.notify("Choose a corpus first.", severity="error", title="Cannot start")
            return
        if self.session.run is None:
            self._train_new()
            return
        changes = self.session.changes(self.corpus, settings)
        if not changes:
            self._train_on()
            return
        self.push_screen(
            ConfirmScreen(f"The settings changed: {', '.join(changes)}.\nDiscard the current model "
                          f"({self.session.step:,} steps) and train a new one? ({self.key_label('checkpoint.save')} "
                          "saves it first.)\nKeep puts the settings back to the current model's.",
                          yes="New model", no="Keep"),
            lambda discard: self._train_new() if discard else self._keep_current(),
        )

    def _keep_current(self) -> None:
        """Put the form's fixed settings and the corpus back to the current model's, and train on."""
        run = self.session.run
        self.query_one(HyperPanel).fill((self.settings or run.config).with_fixed_of(run.config))
        self.query_one(CorpusPanel).set_corpus(run.corpus)
        self._train_on()

    def _train_new(self) -> None:
        try:
            self.session.new(self.corpus, self.settings)
        except (CorpusError, SessionError, ValueError) as error:
            self.notify(str(error), severity="error", title="Cannot start")
            return
        self.query_one(GenerationPanel).next_auto_sample = 0
        self.query_one(TrainingPanel).show_run(self.session)
        self._train_on()

    def _train_on(self) -> None:
        """Start, resume, or extend (a finished or stopped model whose budget was raised)."""
        try:
            self.session.resume(self.settings)
        except SessionError as error:  # its budget is used up
            self.push_screen(ConfirmScreen(f"{error}\nOr discard this model ({self.session.step:,} steps) and train a "
                                           "new one?", yes="New model", no="Keep"),
                             lambda discard: self._train_new() if discard else None)
            return
        self._follow_session()
        self.action_view("train")
        self.query_one(TrainingPanel).train(self.session)

    def action_stop_training(self) -> None:
        self.session.stop()
        self._follow_session()

    @on(TrainingProgress)
    def _training_progress(self, message: TrainingProgress) -> None:
        if self.phase is Phase.RUNNING and not self._quitting:
            self.query_one(GenerationPanel).auto_sample(self.session.run, message.step)

    @on(TrainingStopped)
    def _training_stopped(self, message: TrainingStopped) -> None:
        if self._quitting:
            return
        self._follow_session()
        if self.session.phase is Phase.FAILED:
            self.notify(message.message, severity="error", title="Training stopped", timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self._follow_session()
            self.notify(f"{type(error).__name__}: {error}", severity="error", title=f"{event.worker.group} failed")

    # --- generation -----------------------------------------------------------------------------

    def action_generate(self) -> None:
        if self.session.run is None:
            self.notify(f"There is no model yet: start training with {self.key_label('train.toggle')} first.",
                        severity="warning")
            return
        self.action_view("train")
        problem = self.query_one(GenerationPanel).generate(self.session.run)
        if problem:
            self.notify(problem, severity="error", title="Cannot sample")

    def action_stop_generation(self) -> None:
        self.query_one(GenerationPanel).stop()

    def action_temperature(self, delta: float) -> None:
        self.query_one(GenerationPanel).nudge_temperature(delta)

    # --- checkpoints ----------------------------------------------------------------------------

    def action_save(self) -> None:
        run = self.session.run
        if run is None:
            self.notify("There is no model to save yet.", severity="warning")
            return
        folder = data_home() / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        default = folder / f"{Path(run.corpus.name).stem}-step{self.session.step}.json"
        self.push_screen(PathScreen("Save checkpoint to:", str(default)), self._save_to)

    def _save_to(self, path: str | None) -> None:
        if path:
            try:
                saved = self.session.save(path)
            except (OSError, CheckpointError, SessionError) as error:
                self.notify(f"Could not save to {path}: {error}", severity="error", title="Not saved")
                return
            self.notify(f"Saved {saved}")

    def action_load(self) -> None:
        if self.phase is Phase.RUNNING:
            self.notify(f"Pause training ({self.key_label('train.toggle')}) before loading a checkpoint.",
                        severity="warning")
            return
        autosave = self.session.autosave_path
        default = str(autosave) if autosave.exists() else str(data_home() / "checkpoints") + "/"
        ask_path = lambda: self.push_screen(PathScreen("Load checkpoint from:", default), self._load_from)  # noqa: E731
        if self.session.unsaved_steps > 0:
            self.push_screen(
                ConfirmScreen(f"Loading replaces the current model, whose last {self.session.unsaved_steps:,} steps "
                              f"are not saved ({self.key_label('checkpoint.save')} saves them).",
                              yes="Load anyway", no="Cancel"),
                lambda go: ask_path() if go else None,
            )
        else:
            ask_path()

    def _load_from(self, path: str | None) -> None:
        if not path:
            return
        try:
            run = self.session.load(path, fallback=self.corpus)
        except (CheckpointError, CorpusError, SessionError, ValueError) as error:
            self.notify(str(error), severity="error", title="Not loaded", timeout=10)
            return
        self.query_one(CorpusPanel).set_corpus(run.corpus)
        self.query_one(HyperPanel).fill(run.config)
        self.query_one(TrainingPanel).show_run(self.session)
        self._follow_session()
        self.notify(f"Loaded {path}: step {self.session.step:,}. {self.key_label('train.toggle')} continues, "
                    f"{self.key_label('sample.start')} samples.")

    # --- help, commands, quitting ---------------------------------------------------------------

    def action_help(self) -> None:
        keys = [(", ".join(self.key_labels(b)), b.tooltip) for b in BINDINGS if b.id != "help.alt"]
        keys += [("^p", "Command palette: every action by name"), ("Tab / Shift+Tab", "Next / previous field")]
        self.push_screen(HelpScreen(keys))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in BINDINGS:
            if binding.id not in ("help.alt", "quit"):
                yield SystemCommand(binding.description, f"{binding.tooltip} ({self.key_label(binding.id)})",
                                    lambda action=binding.action: self.run_action(action))

    async def action_quit(self) -> None:
        """Stop the workers, autosave a model with unsaved training, then exit."""
        if self._quitting:
            return
        self._quitting = True
        self.query_one(GenerationPanel).stop()
        self.session.pause()
        try:
            await self.workers.wait_for_complete([w for w in self.workers if w.group == "train"])
        except (WorkerFailed, WorkerCancelled):
            pass  # already reported; what matters here is that the thread has ended
        try:
            self.session.autosave()
        except (OSError, CheckpointError) as error:
            self._quitting = False
            self._follow_session()
            self.notify(f"Autosave to {self.session.autosave_path} failed: {error}. Save with "
                        f"{self.key_label('checkpoint.save')}, or quit again to leave without saving.",
                        severity="error", timeout=15)
            self.session.saved_step = self.session.step  # a second quit leaves
            return
        self.exit()
