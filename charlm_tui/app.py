"""charlm-tui: train a character-level language model live, from the keyboard.

The app owns the run (corpus, model, trainer) and its state; the panels show it and post messages
when the user changes something. Training and sampling each run in a thread worker that posts
messages (never touching widgets), at a bounded rate, so the UI stays responsive.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
import threading
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Container
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Header, Tab, Tabs
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from charlm_tui.messages import (CorpusChosen, GeneratedText, GenerationFinished, SettingsChanged, SpeedMeasured,
                                 TrainingProgress, TrainingStopped)
from charlm_tui.screens.dialogs import ConfirmScreen, HelpScreen, PathScreen
from charlm_tui.widgets.corpus_panel import CorpusPanel
from charlm_tui.widgets.generation_panel import GenerationPanel
from charlm_tui.widgets.hyper_panel import HyperPanel
from charlm_tui.widgets.training_panel import TrainingPanel
from charlm_tui.workers import LossCurves, measure_speed, progress_message, sample_loop, train_loop
from core.checkpoint import CheckpointError, load_checkpoint
from core.corpora import DEFAULT_CORPUS, resolve_corpus
from core.data import Corpus, CorpusError, load_corpus
from core.run import PRESETS, Run, RunConfig
from core.sampling import Sampler, prepare_prompt
from core.training import StopReason

GRID_MIN_SIZE = (140, 40)  # at least this many columns and rows: all four panels at once
GIL_SWITCH_INTERVAL = 0.001  # seconds
TEMPERATURE_KEYS = Binding.Group("temp −/+")  # shown as one footer entry
# The model settings that make a different model, with the names the form gives them.
ARCHITECTURE = {"context_length": "context", "embed_dim": "embed dim", "hidden_dim": "hidden dim",
                "n_hidden": "layers", "activation": "activation", "engine": "engine"}


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "charlm-tui"


def keymap_file() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "charlm-tui" / "keys.toml"


def while_open(handler):
    """A worker's message handler that does nothing once the app is closing (its widgets may be gone)."""

    @functools.wraps(handler)
    def guarded(self, message):
        if self._quitting:
            return None
        try:
            return handler(self, message)
        except NoMatches:  # torn down between the check and the query: the app is closing
            return None

    return guarded


class CharLMApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "charlm-tui"
    SUB_TITLE = "a character-level language model, trained live"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("question_mark", "help", "Help", show=False, id="help.alt"),
        # shown on the view tabs rather than in the footer
        Binding("f2", "view('setup', True)", "Setup view", show=False, id="view.setup"),
        Binding("f3", "view('train', True)", "Watch view", show=False, id="view.train"),
        Binding("f5", "toggle_training", "Train", id="train.toggle"),
        Binding("f6", "stop_training", "Stop", id="train.stop"),
        Binding("f7", "generate", "Sample", id="sample.start"),
        Binding("f8", "stop_generation", "Stop text", id="sample.stop"),
        Binding("f9", "temperature(-0.1)", "Temp −", id="sample.cooler", group=TEMPERATURE_KEYS),
        Binding("f10", "temperature(0.1)", "Temp +", id="sample.warmer", group=TEMPERATURE_KEYS),
        Binding("ctrl+s", "save", "Save", id="checkpoint.save"),
        Binding("ctrl+o", "load", "Load", id="checkpoint.load"),
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit"),
    ]
    COMMANDS_HELP = {
        "help": "Show every key",
        "toggle_training": "Start, pause or resume training", "stop_training": "Stop training (keeps the model)",
        "generate": "Generate text from the current weights", "stop_generation": "Stop the generation in progress",
        "save": "Save a checkpoint", "load": "Load a checkpoint", "quit": "Quit (autosaves a trained model)",
    }

    def __init__(self, corpus: str = DEFAULT_CORPUS, resume: str | None = None, config: RunConfig | None = None,
                 preset: str = "default", autosave_path: Path | None = None, calibrate: bool = True):
        super().__init__()
        self.calibrate = calibrate  # time a few steps at start-up, for the time-per-epoch estimate
        self.initial_corpus = corpus
        self.resume_path = resume
        self.initial_settings: RunConfig = config or PRESETS[preset]
        self.preset = preset
        self.autosave_path = Path(autosave_path) if autosave_path else data_home() / "autosave.json"
        self.run_: Run | None = None
        self.curves: LossCurves | None = None
        self.state = "idle"
        self.saved_step = 0
        self.cancel_training: threading.Event | None = None
        self.train_worker: Worker | None = None
        self.cancel_sampling: threading.Event | None = None
        self.generation = 0
        self.next_auto_sample = 0
        self._stopping = False  # F6 (stop) rather than F5 (pause) cancelled the worker
        self._signals: list[int] = []
        self._quitting = False  # from here on, late messages from the workers are dropped

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(Tab("Setup  F2", id="setup"), Tab("Watch  F3", id="train"), id="view-tabs")
        with Container(id="panels"):
            yield CorpusPanel(id="corpus")
            yield HyperPanel(self.initial_settings, self.preset, id="hyper")
            yield TrainingPanel(id="training")
            yield GenerationPanel(id="generation")
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
        self.screen.add_class("view-setup")
        self._apply_keymap()
        self._install_signal_handlers()
        self._fit(self.size.width, self.size.height)
        self._set_state("idle")
        corpus_panel = self.query_one(CorpusPanel)
        corpus_panel.context_length = self.initial_settings.model.context_length
        if not corpus_panel.choose(self.initial_corpus) and self.initial_corpus != DEFAULT_CORPUS:
            self.notify(f"Could not open {self.initial_corpus}; using {DEFAULT_CORPUS}.", severity="error")
            corpus_panel.choose(DEFAULT_CORPUS)
        if self.resume_path:
            self.call_after_refresh(self._load_from, self.resume_path)
        elif self.autosave_path.exists():
            self.notify(f"An autosaved model is at {self.autosave_path}: {self.key_label('checkpoint.load')} loads it.",
                        timeout=8)
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
        for cancel in (self.cancel_training, self.cancel_sampling):
            if cancel is not None:
                cancel.set()  # however the app ends, its threads end with it
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """All four panels in a grid on a big terminal; two views (setup / watch) on a small one."""
        self.screen.set_class(width >= GRID_MIN_SIZE[0] and height >= GRID_MIN_SIZE[1], "-grid")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Only what makes sense now is in the footer (and active): it keeps the footer short at 80 columns."""
        if action == "stop_training":
            return self.state in ("running", "paused")
        if action in ("generate", "save"):
            return self.run_ is not None
        if action == "stop_generation":
            return self._sampling()
        if action == "load":
            return self.state != "running"
        return True

    def action_view(self, view: str, focus: bool = False) -> None:
        self.screen.set_class(view == "setup", "view-setup")
        self.screen.set_class(view == "train", "view-train")
        self.refresh_bindings()
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
        if not path.exists():
            return
        try:
            keys = tomllib.loads(path.read_text(encoding="utf-8")).get("keys", {})
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
                raise ValueError("every entry of [keys] must be id = \"key\"")
            known = {b.id for b in self.BINDINGS}
            unknown = sorted(set(keys) - known)
            if unknown:
                raise ValueError(f"unknown binding id {', '.join(unknown)}; the ids are {', '.join(sorted(known))}")
            final = {b.id: keys.get(b.id, b.key) for b in self.BINDINGS}
            owners: dict[str, list[str]] = {}
            for binding_id, combo in final.items():
                for key in combo.split(","):
                    owners.setdefault(key.strip(), []).append(binding_id)
            clashes = [f"{key} ({' and '.join(ids)})" for key, ids in owners.items() if len(ids) > 1]
            if clashes:
                raise ValueError(f"a key would do two things: {'; '.join(clashes)}")
            self.set_keymap(keys)
        except (OSError, ValueError) as error:
            self.notify(f"Ignoring {path}: {error}", severity="warning", timeout=15)

    # --- corpus and settings -------------------------------------------------------------------

    @on(CorpusChosen)
    def _corpus_chosen(self, message: CorpusChosen) -> None:
        self._refresh_estimates()
        if self.run_ is not None and self.run_.corpus.name != message.corpus.name:
            self.notify(f"The current model stays on {self.run_.corpus.name}. Pause or stop it, then "
                        f"{self.key_label('train.toggle')} offers a new model on {message.corpus.name}.")

    @on(SettingsChanged)
    def _settings_changed(self, message: SettingsChanged) -> None:
        if message.config is not None:
            corpus_panel = self.query_one(CorpusPanel)
            corpus_panel.context_length = message.config.model.context_length
            corpus_panel.validation_fraction = message.config.validation_fraction
            corpus_panel.refresh_stats()
            self._refresh_estimates()

    def _refresh_estimates(self) -> None:
        hyper = self.query_one(HyperPanel)
        if self.corpus is not None and self.settings is not None:
            hyper.vocab_size = len(self.corpus.vocab)
            try:
                hyper.train_examples = len(self.corpus.split(self.settings.model.context_length,
                                                             self.settings.validation_fraction).train)
            except (CorpusError, ValueError):
                hyper.train_examples = 0
        hyper.refresh_table()

    @work(thread=True, exclusive=True, group="speed", exit_on_error=False)
    def _measure_speed(self) -> None:
        probe = Corpus(("the quick brown fox jumps over the lazy dog. " * 20), "probe")
        measure_speed(Run.new(probe, PRESETS["default"]), 30, self.post_message)

    @on(SpeedMeasured)
    @while_open
    def _speed_measured(self, message: SpeedMeasured) -> None:
        self.query_one(HyperPanel).seconds_per_step_per_parameter = message.seconds_per_step_per_parameter
        self._refresh_estimates()

    # --- training ---------------------------------------------------------------------------

    def key_labels(self, binding: Binding) -> list[str]:
        """How the keys bound to `binding` (after any remapping) are shown: F5, ^s, ..."""
        keys = self._keymap.get(binding.id, binding.key).split(",")
        return [k.upper() if k[1:].isdigit() else self.get_key_display(Binding(k, binding.action)) for k in keys]

    def key_label(self, binding_id: str) -> str:
        return self.key_labels(next(b for b in self.BINDINGS if b.id == binding_id))[0]

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.refresh_bindings()
        keys = {name: self.key_label(name) for name in
                ("train.toggle", "train.stop", "sample.start", "checkpoint.save")}
        self.query_one(TrainingPanel).show_state(state, keys, detail)
        self.sub_title = {
            "idle": f"ready · {keys['train.toggle']} starts training",
            "running": f"training · {keys['train.toggle']} pauses",
            "paused": f"paused · {keys['train.toggle']} resumes",
        }.get(state, f"{state} · {keys['sample.start']} samples · {keys['checkpoint.save']} saves")

    def _differences(self) -> list[str]:
        """What the settings would change about the current model (reasons to start a new one)."""
        run, settings = self.run_, self.settings
        if run is None or settings is None:
            return []
        ours, theirs = run.config.model, settings.model
        changes = [f"{label} {getattr(ours, field)} → {getattr(theirs, field)}"
                   for field, label in ARCHITECTURE.items() if getattr(ours, field) != getattr(theirs, field)]
        if self.corpus is not None and self.corpus.name != run.corpus.name:
            changes.append(f"corpus {run.corpus.name} → {self.corpus.name}")
        if settings.validation_fraction != run.config.validation_fraction:
            changes.append(f"validation {run.config.validation_fraction} → {settings.validation_fraction}")
        return changes

    def action_toggle_training(self) -> None:
        if self.state == "running":
            self._pause()
            return
        if self.settings is None:
            self.notify("Fix the hyperparameters first:\n" + "\n".join(self.query_one(HyperPanel).problems),
                        severity="error", title="Cannot start")
            self.action_view("setup")
            return
        if self.corpus is None:
            self.notify("Choose a corpus first.", severity="error", title="Cannot start")
            return
        if self.run_ is None:
            self._start_new_run()
            return
        changes = self._differences()
        if self.state == "paused" and not changes:
            self._continue_run()
            return
        reason = ("The settings changed: " + ", ".join(changes) + "." if changes
                  else f"Training has {self.state}.")
        keep = "\nKeep puts the settings back to the current model's." if changes else ""
        self.push_screen(
            ConfirmScreen(f"{reason}\nDiscard the current model ({self.run_.trainer.state.step:,} steps) and "
                          f"train a new one? ({self.key_label('checkpoint.save')} saves it first.){keep}",
                          yes="New model", no="Keep"),
            lambda discard: self._start_new_run() if discard else self._keep_current(changes),
        )

    def _keep_current(self, changes: list[str]) -> None:
        """Put the form and corpus back to the current model's, and carry on with it if it was paused."""
        run = self.run_
        train = self.settings.train if self.settings else run.config.train  # the training settings may stay
        self.query_one(HyperPanel).fill(replace(run.config, train=train))
        self.query_one(CorpusPanel).set_corpus(run.corpus)
        if self.state == "paused":
            self._continue_run()

    def _start_new_run(self) -> None:
        try:
            run = Run.new(self.corpus, self.settings)
        except (CorpusError, ValueError) as error:
            self.notify(str(error), severity="error", title="Cannot start")
            return
        self.run_ = run
        self.curves = LossCurves(run)
        self.saved_step = 0
        self.next_auto_sample = 0
        self.query_one(TrainingPanel).reset()
        self._launch()

    def _continue_run(self) -> None:
        trainer = self.run_.trainer
        trainer.config = self.settings.train  # budget, learning rate and clipping may change between pauses
        if trainer.finished:
            self.notify("The step or epoch budget is used up: raise it in the hyperparameters to train on.",
                        severity="warning")
            return
        self._launch()

    def _launch(self) -> None:
        self.cancel_training = threading.Event()
        self._stopping = False
        self._set_state("running")
        self.action_view("train")
        self.train_worker = self._train(self.run_, self.curves, self.cancel_training)

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def _train(self, run: Run, curves: LossCurves, cancel: threading.Event) -> None:
        train_loop(run, curves, cancel, self.post_message)

    def _pause(self) -> None:
        if self.cancel_training is not None:
            self.cancel_training.set()

    def action_stop_training(self) -> None:
        if self.state in ("running", "paused"):
            self._stopping = True
            if self.state == "running":
                self._pause()
            else:
                self._set_state("stopped")

    @on(TrainingProgress)
    @while_open
    def _training_progress(self, message: TrainingProgress) -> None:
        self.query_one(TrainingPanel).show_progress(message, running=self.state == "running")
        settings = self.query_one(GenerationPanel).settings()
        if isinstance(settings, str) or settings.auto_every <= 0 or self.state != "running":
            return
        if message.step >= self.next_auto_sample:
            self.next_auto_sample = message.step + settings.auto_every
            if message.step > 0 and not self._sampling():
                self.action_generate(length=min(settings.length, 120), heading=f"auto sample at step {message.step:,}")

    @on(TrainingStopped)
    @while_open
    def _training_stopped(self, message: TrainingStopped) -> None:
        if message.reason == StopReason.CANCELLED.value:
            self._set_state("stopped" if self._stopping else "paused")
        elif message.reason == StopReason.FINISHED.value:
            self._set_state("finished", message.message)
        else:
            self._set_state("failed", message.message)
            self.notify(message.message, severity="error", title="Training stopped", timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            if event.worker.group == "train":
                self._set_state("failed", f"{type(error).__name__}: {error}")
            self.notify(f"{type(error).__name__}: {error}", severity="error", title=f"{event.worker.group} failed")

    # --- generation -----------------------------------------------------------------------------

    def _sampling(self) -> bool:
        return self.cancel_sampling is not None and not self.cancel_sampling.is_set()

    def action_generate(self, length: int | None = None, heading: str | None = None) -> None:
        panel = self.query_one(GenerationPanel)
        if self.run_ is None:
            self.notify(f"There is no model yet: start training with {self.key_label('train.toggle')} first.",
                        severity="warning")
            return
        settings = panel.settings()
        if isinstance(settings, str):
            self.notify(settings, severity="error", title="Cannot sample")
            return
        run = self.run_
        self.action_view("train")
        prompt = prepare_prompt(settings.prompt, run.corpus.vocab, run.model.context_length)
        panel.show_status(f"skipped characters not in the vocabulary: {prompt.skipped!r}" if prompt.skipped else "")
        self.action_stop_generation()
        self.generation += 1
        self.cancel_sampling = threading.Event()
        step = run.trainer.state.step
        panel.begin(heading or f"step {step:,}, temperature {settings.temperature:g}")
        panel.append(prompt.text)
        sampler = Sampler(run.trainer.snapshot(), run.corpus.vocab, seed=self.generation)
        self._sample(sampler, prompt, length or settings.length, settings.temperature, settings.top_k,
                     self.generation, self.cancel_sampling)

    @work(thread=True, exclusive=True, group="sample", exit_on_error=False)
    def _sample(self, sampler, prompt, length, temperature, top_k, generation, cancel) -> None:
        sample_loop(sampler, prompt, length, temperature, top_k, generation, cancel, self.post_message)

    def action_stop_generation(self) -> None:
        if self.cancel_sampling is not None:
            self.cancel_sampling.set()

    @on(GeneratedText)
    @while_open
    def _generated_text(self, message: GeneratedText) -> None:
        if message.generation == self.generation:
            self.query_one(GenerationPanel).append(message.text)

    @on(GenerationFinished)
    @while_open
    def _generation_finished(self, message: GenerationFinished) -> None:
        if message.generation == self.generation:
            if message.cancelled:
                self.query_one(GenerationPanel).append(" …(stopped)")
            self.cancel_sampling.set()

    def action_temperature(self, delta: float) -> None:
        self.query_one(GenerationPanel).nudge_temperature(delta)

    # --- checkpoints ----------------------------------------------------------------------------

    def action_save(self) -> None:
        if self.run_ is None:
            self.notify("There is no model to save yet.", severity="warning")
            return
        folder = data_home() / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        default = folder / f"{Path(self.run_.corpus.name).stem}-step{self.run_.trainer.state.step}.json"
        self.push_screen(PathScreen("Save checkpoint to:", str(default)), self._save_to)

    def _save_to(self, path: str | None) -> bool:
        if not path or self.run_ is None:
            return False
        try:
            saved = self.run_.save(path)
        except (OSError, CheckpointError) as error:
            self.notify(f"Could not save to {path}: {error}", severity="error", title="Not saved")
            return False
        self.saved_step = self.run_.trainer.state.step
        self.notify(f"Saved {saved}")
        return True

    def _refuse_load_while_training(self) -> bool:
        if self.state == "running":
            self.notify(f"Pause training ({self.key_label('train.toggle')}) before loading a checkpoint.",
                        severity="warning")
        return self.state == "running"

    def action_load(self) -> None:
        if self._refuse_load_while_training():
            return
        default = str(self.autosave_path) if self.autosave_path.exists() else str(data_home() / "checkpoints") + "/"
        ask_path = lambda: self.push_screen(PathScreen("Load checkpoint from:", default), self._load_from)  # noqa: E731
        if self.run_ is not None and self.run_.trainer.state.step > self.saved_step:
            self.push_screen(
                ConfirmScreen(f"Loading replaces the current model, whose last {self.run_.trainer.state.step - self.saved_step:,} "
                              f"steps are not saved ({self.key_label('checkpoint.save')} saves them).",
                              yes="Load anyway", no="Cancel"),
                lambda go: ask_path() if go else None,
            )
        else:
            ask_path()

    def _load_from(self, path: str | None) -> None:
        if not path or self._refuse_load_while_training():
            return
        try:
            checkpoint = load_checkpoint(path)
            corpus = self._corpus_for(checkpoint)
            run = Run.resume(checkpoint, corpus)
        except (CheckpointError, CorpusError, ValueError) as error:
            self.notify(str(error), severity="error", title="Not loaded", timeout=10)
            return
        self.run_ = run
        self.curves = LossCurves(run)
        self.saved_step = run.trainer.state.step
        self.query_one(CorpusPanel).set_corpus(corpus)
        self.query_one(HyperPanel).fill(run.config)
        panel = self.query_one(TrainingPanel)
        panel.reset()
        last = run.trainer.last_step_event()
        if last is not None:
            panel.show_progress(progress_message(run, self.curves, last), running=False)
        self._set_state("finished" if run.trainer.finished else "paused",
                        f"loaded {Path(path).name} at step {run.trainer.state.step:,}")
        self.notify(f"Loaded {path}: step {run.trainer.state.step:,}. {self.key_label('train.toggle')} continues, "
                    f"{self.key_label('sample.start')} samples.")

    def _corpus_for(self, checkpoint) -> Corpus:
        """The corpus a checkpoint was trained on: its file or bundled text, else the current one if it fits."""
        name, path = checkpoint.corpus.get("name", ""), checkpoint.corpus.get("path")
        for source in filter(None, (name, path)):  # a bundled name first, so it keeps its name
            try:
                corpus = resolve_corpus(source) if source == name else load_corpus(source)
            except (CorpusError, OSError):
                continue
            if corpus.vocab == checkpoint.vocab:
                return corpus
        if self.corpus is not None and self.corpus.vocab == checkpoint.vocab:
            return self.corpus
        where = f" ({path})" if path else ""
        raise CorpusError(f"This checkpoint was trained on {name or 'another text'}{where}, with a vocabulary of "
                          f"{len(checkpoint.vocab)} characters: open that text in the corpus panel, then load again.")

    # --- help, commands, quitting ---------------------------------------------------------------

    def action_help(self) -> None:
        keys = []
        for binding in self.BINDINGS:
            if binding.id == "help.alt":
                continue
            keys.append((", ".join(self.key_labels(binding)), self._describe(binding)))
        keys += [("^p", "Command palette: every action by name"), ("Tab / Shift+Tab", "Next / previous field")]
        self.push_screen(HelpScreen(keys))

    def _describe(self, binding: Binding) -> str:
        name = binding.action.partition("(")[0]
        if name in ("view", "temperature"):
            return binding.description
        return self.COMMANDS_HELP.get(name, binding.description)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            name = binding.action.split("(")[0]
            if binding.id == "help.alt" or name == "quit":
                continue
            yield SystemCommand(binding.description, f"{self._describe(binding)} ({self.key_label(binding.id)})",
                                lambda action=binding.action: self.run_action(action))

    async def action_quit(self) -> None:
        """Stop the workers, autosave a model with unsaved training, then exit."""
        if self._quitting:
            return
        self._quitting = True
        self.action_stop_generation()
        if self.cancel_training is not None:
            self.cancel_training.set()
        if self.train_worker is not None and self.train_worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            try:
                await self.train_worker.wait()
            except (WorkerFailed, WorkerCancelled):
                pass  # already reported; what matters here is that the thread has ended
        if self.run_ is not None and self.run_.trainer.state.step > self.saved_step:
            try:
                self.autosave_path.parent.mkdir(parents=True, exist_ok=True)
                self.run_.save(self.autosave_path)
            except (OSError, CheckpointError) as error:
                self._quitting = False
                if self.state == "running":
                    self._set_state("paused")  # the worker has stopped; its last messages were dropped
                self.notify(f"Autosave to {self.autosave_path} failed: {error}. Save with "
                            f"{self.key_label('checkpoint.save')}, or quit again to leave without saving.",
                            severity="error", timeout=15)
                self.saved_step = self.run_.trainer.state.step  # a second quit leaves
                return
        self.exit()
