"""The main screen: the four panels in two views, and the keys that train, sample and save.

It maps keys to the session's moves (`core.session`), asks before anything that would lose work, and
mirrors the session's phase in a reactive attribute whose watcher updates what the screen says. The
panels do the rest: the training panel runs training in its own thread worker, the generation panel
sampling in its own; both report back in messages. Saving and loading a checkpoint run in a thread worker
of this screen, whose results come back through `call_from_thread`.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container
from textual.events import Key, Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tab, Tabs
from textual.worker import Worker, WorkerState

from charlm_tui.keymap import SCREEN_BINDINGS
from charlm_tui.messages import CorpusChosen, PresetChosen, SettingsChanged, TrainingProgress, TrainingStopped
from charlm_tui.screens.dialogs import ConfirmScreen, PathScreen
from charlm_tui.screens.inside import InsideScreen
from charlm_tui.screens.lr_finder import LRFinderScreen
from charlm_tui.screens.runs import RunsScreen, RunsViewChoices
from charlm_tui.screens.temperatures import TemperatureScreen
from charlm_tui.widgets.corpus_panel import CorpusPanel
from charlm_tui.widgets.generation_panel import GenerationPanel
from charlm_tui.widgets.hyper_panel import HyperPanel
from charlm_tui.widgets.training_panel import TrainingPanel
from core.checkpoint import CheckpointError
from core.corpora import DEFAULT_CORPUS, bundled_corpora
from core.data import Corpus, CorpusError
from core.history import RunRecord
from core.run import Run
from core.places import data_home, readable, writable
from core.session import Phase, Session, SessionError, recorded_checkpoint
from core.settings import RunConfig

PANELS = (CorpusPanel, HyperPanel, TrainingPanel, GenerationPanel)  # a new panel: one module, one entry here
GRID_MIN_SIZE = (140, 40)  # at least this many columns and rows: all four panels at once
REFUSAL_TIMEOUT = 3  # seconds: a toast at 80×24 covers part of the form
SHORT_HEIGHT = 30  # fewer rows: the training panel leaves its state line to the header (and its keys to the footer)
MIN_SIZE = (78, 22)  # below this the form's fields lose their values: say so instead of showing them clipped


class MainScreen(Screen):
    BINDINGS = SCREEN_BINDINGS

    phase: reactive[Phase] = reactive(Phase.EMPTY, bindings=True, always_update=True, init=False)

    def __init__(self):
        super().__init__()
        self.last_checkpoint: Path | None = None  # saved or loaded here: ^O offers it first
        self.runs_choices = RunsViewChoices()  # the Runs view's marks, order and filter, from one opening to the next
        self.compared_temperatures = (0.5, 1.0, 1.5)  # ^t's columns, as last edited
        self.checkpoint_work: str | None = None  # "saving" or "loading" while a worker does it

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(Tab("Setup  F2", id="setup"), Tab("Watch  F3", id="train"), Tab("Runs  F4", id="runs"),
                   Tab("Inside  ^n", id="inside"), id="view-tabs")
        with Container(id="panels"):
            for panel in PANELS:
                yield panel(classes=f"panel in-{panel.VIEW}-view")
        yield Static(id="too-small")
        yield Footer(compact=True, show_command_palette=False)  # ^P still opens it; help lists it

    @property
    def session(self) -> Session:
        return self.app.session

    @property
    def settings(self) -> RunConfig | None:
        """The hyperparameter form's configuration (None while a field is invalid)."""
        return self.query_one(HyperPanel).config

    @property
    def corpus(self) -> Corpus | None:
        """The corpus selected in the corpus panel (the next new model's)."""
        return self.query_one(CorpusPanel).corpus

    def on_mount(self) -> None:
        self.action_view("setup", focus=True)
        self._fit(self.size.width, self.size.height)
        self.watch_phase(self.phase)
        app = self.app
        corpus_panel = self.query_one(CorpusPanel)
        corpus_panel.config = app.initial_settings
        if not corpus_panel.choose(app.initial_corpus) and app.initial_corpus != DEFAULT_CORPUS:
            self.notify(f"Could not open {app.initial_corpus}; using {DEFAULT_CORPUS}.", severity="error")
            corpus_panel.choose(DEFAULT_CORPUS)
        if app.resume_path:
            self.call_after_refresh(self._load_from, app.resume_path)
        elif (autosave := app.session.newest_autosave()) is not None:
            self.notify(f"An autosaved model is at {autosave}: {app.key_label('checkpoint.load')} "
                        "loads it.", timeout=8)

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """All four panels in a grid on a big terminal; two views (setup / watch) on a small one; below
        the smallest usable size, one line saying how big it must be (training goes on meanwhile)."""
        self.set_class(width >= GRID_MIN_SIZE[0] and height >= GRID_MIN_SIZE[1], "-grid")
        self.set_class(height < SHORT_HEIGHT, "-short")
        too_small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        self.set_class(too_small, "-too-small")
        if too_small:
            need = f"at least {MIN_SIZE[0]}×{MIN_SIZE[1]}"
            grow = (f"Make the browser window bigger, or zoom out (Ctrl −): charlm-tui needs {need} characters"
                    if self.app.is_web else f"Make the terminal {need} to see charlm-tui")
            self.query_one("#too-small", Static).update(
                f"{grow} (it is {width}×{height} now).\n\nTraining, if it runs, goes on meanwhile; "
                f"{self.app.key_label('quit')} quits.")

    def action_view(self, view: str, focus: bool = False) -> None:
        self.set_class(view == "setup", "view-setup")
        self.set_class(view == "train", "view-train")
        tabs = self.query_one("#view-tabs", Tabs)
        if tabs.active != view:
            tabs.active = view
        if focus:
            self.query_one("#corpus-list" if view == "setup" else "#prompt").focus()

    @on(Tabs.TabActivated, "#view-tabs")
    async def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab.id in ("runs", "inside"):  # a screen of its own: the tab goes back to the view it came from
            event.tabs.active = "setup" if self.has_class("view-setup") else "train"
            await self.attempt(event.tab.id)
        else:
            self.action_view(event.tab.id)

    # --- the phase ---------------------------------------------------------------------------------

    def refusal(self, action: str) -> str | None:
        """Why `action` cannot be done now, in words that say what to do; None if it can."""
        key = self.app.key_label
        if action == "stop_training" and self.phase not in (Phase.RUNNING, Phase.PAUSED):
            return (f"Training is not running: {key('train.toggle')} starts it." if self.phase is Phase.EMPTY
                    else f"Training has already {self.phase.value}: {key('train.toggle')} trains on.")
        if action in ("generate", "compare_temperatures", "save", "inside") and self.session.run is None:
            what = {"save": "save", "inside": "look inside"}.get(action, "sample from")
            return (f"There is no model yet to {what}: "
                    f"{key('train.toggle')} trains one, {key('checkpoint.load')} loads one.")
        if action == "stop_generation" and not any(panel.sampling_on_request for panel in self.query(GenerationPanel)):
            return f"No text is being generated: {key('sample.start')} samples."
        if action in ("save", "load") and self.checkpoint_work:
            return f"Wait a moment: a checkpoint is {self.checkpoint_work}."
        if action == "toggle_training" and self.checkpoint_work == "loading":
            return "Wait a moment: a checkpoint is loading (it may replace this model)."
        if action == "load" and self.phase is Phase.RUNNING:
            return f"Pause training ({key('train.toggle')}) before loading a checkpoint."
        if action == "find_lr" and self.phase is Phase.RUNNING:
            return f"Pause training ({key('train.toggle')}) before the learning-rate finder: it would share the CPU."
        return None

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Only what makes sense now is in the footer: it keeps the footer short at 80 columns. A key
        for something refused is not silent: `on_key` says why."""
        return self.refusal(action) is None

    async def attempt(self, action: str) -> None:
        """Run a screen action by name, or say why it cannot run now (the command palette's way in)."""
        reason = self.refusal(action.split("(")[0])
        if reason:
            self.notify(reason, severity="warning", timeout=REFUSAL_TIMEOUT)
        else:
            await self.run_action(action)

    def on_key(self, event: Key) -> None:
        """A key whose action is refused now reaches here unhandled: say why, rather than nothing."""
        for binding in SCREEN_BINDINGS:
            if event.key in self.app.keys_of(binding):
                reason = self.refusal(binding.action.split("(")[0])
                if reason:
                    event.stop()
                    self.notify(reason, severity="warning", timeout=REFUSAL_TIMEOUT)
                return

    def watch_phase(self, phase: Phase) -> None:
        keys = {name: self.app.key_label(name) for name in ("train.toggle", "train.stop", "sample.start", "checkpoint.save")}
        self.query_one(TrainingPanel).show_state(phase, keys, "" if phase is Phase.RUNNING else self.session.detail)
        self.sub_title = {
            Phase.EMPTY: f"ready · {keys['train.toggle']} starts training",
            Phase.RUNNING: f"training · {keys['train.toggle']} pauses",
            Phase.PAUSED: f"paused · {keys['train.toggle']} resumes",
        }.get(phase, f"{phase.value} · {keys['sample.start']} samples · {keys['checkpoint.save']} saves")

    def follow_session(self) -> None:
        self.phase = self.session.phase  # always_update: the detail may change while the phase stays

    # --- corpus and settings -------------------------------------------------------------------

    @on(CorpusChosen)
    def _corpus_chosen(self, message: CorpusChosen) -> None:
        self.query_one(HyperPanel).corpus = message.corpus
        run = self.session.run
        if run is None:
            self.query_one(GenerationPanel).fit_prompt(message.corpus)
        self._show_pending()  # with a model: "for a new model: corpus names → proverbs" under the form

    @on(PresetChosen)
    def _preset_chosen(self, message: PresetChosen) -> None:
        self.query_one(CorpusPanel).choose(message.corpus)

    @on(SettingsChanged)
    def _settings_changed(self, message: SettingsChanged) -> None:
        if message.config is not None:
            self.query_one(CorpusPanel).config = message.config
        self._show_pending()

    def _show_pending(self) -> None:
        """Say in the form which changes only a new model can take (the current one keeps its settings)."""
        self.query_one(HyperPanel).show_pending(self.session.changes(self.corpus, self.settings),
                                                self.app.key_label("train.toggle"))

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
        if self.phase is Phase.FAILED:  # after a divergence the last good weights are often no good either
            self.app.push_screen(
                ConfirmScreen(f"Training stopped: {self.session.detail}\nStart a new model, from fresh weights, with "
                              f"the form's settings (lr {settings.learning_rate:g})? Or try again from this model's "
                              f"last good weights ({self.session.step:,} steps)?", yes="New model", no="Try again"),
                lambda fresh: self._train_new() if fresh else None if fresh is None else self._train_with(settings))
            return
        self._train_with(settings)

    def _train_with(self, settings: RunConfig) -> None:
        """Train the current model on with `settings`, or — when they change what it cannot — ask to start anew."""
        changes = self.session.changes(self.corpus, settings)
        if not changes:
            self._train_on()
            return
        self.app.push_screen(
            ConfirmScreen(f"The settings changed: {', '.join(changes)}.\nDiscard the current model "
                          f"({self.session.step:,} steps) and train a new one? ({self.app.key_label('checkpoint.save')} "
                          "saves it first.)\nKeep puts the settings back to the current model's.",
                          yes="New model", no="Keep"),
            lambda discard: self._train_new() if discard else None if discard is None else self._keep_current(),
        )

    def _keep_current(self) -> None:
        """Put the form's fixed settings and the corpus back to the current model's, and train on."""
        run = self.session.run
        self.query_one(HyperPanel).fill((self.settings or run.config).with_fixed_of(run.config))
        self.query_one(CorpusPanel).corpus = run.corpus
        self._show_pending()
        self._train_on(offer_new=False)  # the learner has just chosen to keep it

    def _train_new(self) -> None:
        try:
            self.session.new(self.corpus, self.settings)
        except (CorpusError, SessionError, ValueError) as error:
            self.notify(str(error), severity="error", title="Cannot start")
            return
        self._show_model(f"new model on {self.session.run.corpus.name}")
        self._train_on()

    def _show_model(self, heading: str) -> None:
        """A model came (new or loaded): its curves, a pane of its own samples, a prompt it can read."""
        run = self.session.run
        generation = self.query_one(GenerationPanel)
        generation.next_auto_sample = 0
        generation.clear(heading)
        generation.fit_prompt(run.corpus)
        self.query_one(TrainingPanel).show_run(self.session)
        self._show_pending()

    def _train_on(self, offer_new: bool = True) -> None:
        """Start, resume, or extend (a finished or stopped model whose budget was raised)."""
        try:
            self.session.resume(self.settings)
        except SessionError as error:  # its budget is used up
            if not offer_new:
                self.notify(f"{error}", title="Kept", timeout=8)
                return
            self.app.push_screen(ConfirmScreen(f"{error}\nOr discard this model ({self.session.step:,} steps) and train a "
                                           "new one?", yes="New model", no="Keep"),
                             lambda discard: self._train_new() if discard else None)
            return
        self.follow_session()
        self.action_view("train")
        self.query_one(TrainingPanel).train(self.session)

    def action_stop_training(self) -> None:
        self.session.stop()
        self.follow_session()

    @on(TrainingProgress)
    def _training_progress(self, message: TrainingProgress) -> None:
        if self.phase is Phase.RUNNING and not self.app.quitting:
            self.query_one(GenerationPanel).auto_sample(self.session.run, message.step)

    @on(TrainingStopped)
    def _training_stopped(self, message: TrainingStopped) -> None:
        if self.app.quitting:
            return
        self.follow_session()
        last = self.query_one(TrainingPanel).last
        if last is not None and last.steps_per_sec > 0:  # a better figure for estimates than the start-up probe
            self.query_one(HyperPanel).seconds_per_step_per_parameter = (
                1 / (last.steps_per_sec * self.session.run.model.num_parameters()))
        if self.session.phase is Phase.FAILED:
            self.notify(message.message, severity="error", title="Training stopped", timeout=10)
        if self.session.history.error:  # training went on; the Runs view will not have this run
            self.notify(f"{self.session.history.error} (the Runs view will miss this run)", severity="warning",
                        timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            if event.worker.group == "checkpoint":
                self._checkpoint_work_done()
            self.follow_session()
            self.notify(f"{type(error).__name__}: {error}", severity="error", title=f"{event.worker.group} failed")

    # --- generation -----------------------------------------------------------------------------

    def action_generate(self) -> None:
        self.action_view("train")
        problem = self.query_one(GenerationPanel).generate(self.session.run)
        if problem:
            self.notify(problem, severity="error", title="Cannot sample")

    def action_stop_generation(self) -> None:
        self.query_one(GenerationPanel).stop()

    def action_compare_temperatures(self) -> None:
        """Samples at several temperatures side by side, from one snapshot, with the generation panel's settings."""
        settings = self.query_one(GenerationPanel).settings()
        if isinstance(settings, str):
            self.notify(settings, severity="error", title="Cannot sample")
            return
        screen = TemperatureScreen(self.session.run, settings.prompt, settings.length, settings.top_k, settings.top_p,
                                   self.compared_temperatures)
        self.app.push_screen(screen, lambda _: setattr(self, "compared_temperatures", screen.temperatures))

    def action_find_lr(self) -> None:
        """Sweep fresh weights of the current model's settings (or of the form's, on the chosen corpus) and offer the
        suggestion, an lr to train them from the start (not the trained weights: see core.lr_finder)."""
        run = self.session.run
        if run is not None:
            fresh = Run.new(run.corpus, run.config)
            self.app.push_screen(LRFinderScreen(fresh, run.trainer.state.step), self._apply_lr)
            return
        if self.settings is None or self.corpus is None:
            self.notify("Fix the hyperparameters first:\n" + "\n".join(self.query_one(HyperPanel).problems),
                        severity="error", title="Cannot sweep")
            return
        self.app.push_screen(LRFinderScreen(Run.new(self.corpus, self.settings)), self._apply_lr)

    def _apply_lr(self, lr: float | None) -> None:
        if lr is not None:
            self.query_one(HyperPanel).set_learning_rate(lr)
            self.notify(f"lr set to {lr:g}: {self.app.key_label('train.toggle')} trains with it.")

    def action_log_scale(self) -> None:
        log = self.query_one(TrainingPanel).toggle_log_scale()
        self.notify(f"Loss axis: {'log' if log else 'linear'}", timeout=REFUSAL_TIMEOUT)

    def action_temperature(self, delta: float) -> None:
        self.query_one(GenerationPanel).nudge_temperature(delta)

    # --- the run history -----------------------------------------------------------------------

    def action_inside(self) -> None:
        self.app.push_screen(InsideScreen(self.session))

    def action_runs(self) -> None:
        self.app.push_screen(RunsScreen(self.session.history.log, self.corpus.name if self.corpus else None,
                                        self.runs_choices), self._load_record)  # the log: what it read, it keeps

    def _load_record(self, record: RunRecord | None) -> None:
        """A run chosen in the Runs view: its corpus and settings into the form, and its checkpoint loaded when
        the file still holds that run (an autosave may hold a later one by now)."""
        if record is None:
            return
        try:
            config = RunConfig(**record.settings)
        except (TypeError, ValueError) as error:
            self.notify(f"That run's settings cannot be used here: {error}", severity="error", title="Not loaded")
            return
        corpus_panel = self.query_one(CorpusPanel)
        corpus_panel.config = config
        name, path = record.corpus["name"], record.corpus.get("path")
        source = name if name in {c.name for c in bundled_corpora()} else path or name  # a bundled one by its name
        if not corpus_panel.choose(source):
            self.notify(f"The run's text {source} cannot be opened: its settings are in the form, the corpus is "
                        "unchanged.", severity="warning")
        elif corpus_panel.corpus.fingerprint != record.corpus["fingerprint"]:
            self.notify(f"{source} has changed since that run: a new model will not train on the same text.",
                        severity="warning")
        self.query_one(HyperPanel).fill(config)
        self._show_pending()
        self._find_checkpoint(record)

    @work(thread=True, group="checkpoint-lookup", exit_on_error=False)
    def _find_checkpoint(self, record: RunRecord) -> None:
        """Whether the run's checkpoint still holds it: reading it may take a while, not on the UI thread."""
        self.app.call_from_thread(self._offer_checkpoint, *recorded_checkpoint(record))

    def _offer_checkpoint(self, checkpoint: Path | None, why_not: str) -> None:
        """Load a chosen run's checkpoint, or say why not, or ask first when that would lose training."""
        key = self.app.key_label
        if checkpoint is None:
            self.notify(f"The run's settings are in the form ({why_not}): {key('train.toggle')} trains a new model "
                        "with them.")
        elif self.phase is Phase.RUNNING:
            self.last_checkpoint = checkpoint
            self.notify(f"The run's settings are in the form. Pause training ({key('train.toggle')}), then "
                        f"{key('checkpoint.load')} loads its checkpoint {checkpoint}.")
        elif self.session.unsaved_steps > 0:
            self.app.push_screen(
                ConfirmScreen(f"Loading that run's checkpoint replaces the current model, whose last "
                              f"{self.session.unsaved_steps:,} steps are not saved.", yes="Load anyway", no="Cancel"),
                lambda go: self._load_from(str(checkpoint)) if go else None,
            )
        else:
            self._load_from(str(checkpoint))

    # --- checkpoints ----------------------------------------------------------------------------

    def action_save(self) -> None:
        run = self.session.run
        folder = data_home() / "checkpoints"
        try:
            writable(folder).mkdir(parents=True, exist_ok=True)
        except OSError as error:  # $XDG_DATA_HOME a file, $HOME missing: the dialog still takes any other path
            self.notify(f"The checkpoint folder {folder} cannot be created ({error.strerror or error}): type a path "
                        "elsewhere.", severity="warning", title="Save", timeout=8)
        default = folder / f"{Path(run.corpus.name).stem}-step{self.session.step}.json"
        self.app.push_screen(PathScreen("Save checkpoint to:", str(default), allowed=writable), self._save_to)

    def _save_to(self, path: str | None) -> None:
        if not path:
            return
        if not Path(path).suffix and not os.path.lexists(path):  # a new "first" means a checkpoint, first.json
            path += ".json"
        reason = self.refusal("save")  # a load or a save under way
        if reason:
            self.notify(reason, severity="warning", timeout=REFUSAL_TIMEOUT)
            return
        try:
            self.session.check_save_path(path)  # at once: what is wrong with a path is said before anything is written
        except (OSError, CheckpointError, SessionError) as error:
            self._not_saved(path, error)
            return
        self._checkpoint_work_begins("saving", path)
        self._save_in_background(path)

    @work(thread=True, group="checkpoint", exit_on_error=False)
    def _save_in_background(self, path: str) -> None:
        """Write the checkpoint off the UI thread: a large one takes seconds (the autosave at quitting does not)."""
        try:
            saved = self.session.save(path)
        except (OSError, CheckpointError, SessionError) as error:
            self.app.call_from_thread(self._not_saved, path, error)
            return
        self.app.call_from_thread(self._saved, saved)

    def _saved(self, saved: Path) -> None:
        self._checkpoint_work_done()
        self.last_checkpoint = saved
        self.notify(f"Saved {saved}")

    def _not_saved(self, path: str, error: Exception) -> None:
        self._checkpoint_work_done()
        self.notify(f"Could not save to {path}: {error}", severity="error", title="Not saved")

    def action_load(self) -> None:
        folder = data_home() / "checkpoints"  # where ^S saves: a bare name is looked for there, whatever is offered
        candidates = (self.last_checkpoint, self.session.newest_autosave())  # the last one saved here, else an autosave
        default = next((str(path) for path in candidates if path is not None and path.exists()), str(folder) + "/")
        ask_path = lambda: self.app.push_screen(PathScreen("Load checkpoint from:", default, base=folder,  # noqa: E731
                                                           allowed=readable),
                                                self._load_from)
        if self.session.unsaved_steps > 0:
            self.app.push_screen(
                ConfirmScreen(f"Loading replaces the current model, whose last {self.session.unsaved_steps:,} steps "
                              f"are not saved ({self.app.key_label('checkpoint.save')} saves them).",
                              yes="Load anyway", no="Cancel"),
                lambda go: ask_path() if go else None,
            )
        else:
            ask_path()

    def _load_from(self, path: str | None) -> None:
        if not path:
            return
        reason = self.refusal("load")
        if reason:
            self.notify(reason, severity="warning", timeout=REFUSAL_TIMEOUT)
            return
        self._checkpoint_work_begins("loading", path)
        self._load_in_background(path, self.corpus)

    @work(thread=True, group="checkpoint", exit_on_error=False)
    def _load_in_background(self, path: str, fallback: Corpus | None) -> None:
        """Read and check the checkpoint off the UI thread (a large one takes seconds); meanwhile the keys that would
        change the session wait (see `refusal`), so that the session is this worker's alone."""
        try:
            run = self.session.load(path, fallback=fallback)
        except (OSError, CheckpointError, CorpusError, SessionError, ValueError) as error:
            self.app.call_from_thread(self._not_loaded, error)
            return
        self.app.call_from_thread(self._loaded, path, run)

    def _not_loaded(self, error: Exception) -> None:
        self._checkpoint_work_done()
        self.notify(str(error), severity="error", title="Not loaded", timeout=10)

    def _loaded(self, path: str, run: Run) -> None:
        self._checkpoint_work_done()
        self.query_one(CorpusPanel).corpus = run.corpus
        self.query_one(HyperPanel).fill(run.config)
        self.last_checkpoint = Path(path)
        self._show_model(f"loaded {Path(path).name} at step {self.session.step:,}")
        self.follow_session()
        train, sample = self.app.key_label('train.toggle'), self.app.key_label('sample.start')
        finished = self.session.phase is Phase.FINISHED
        go_on = f"its budget is used up: raise max steps, then {train} trains on" if finished else f"{train} continues"
        self.notify(f"Loaded {path}: step {self.session.step:,}; {go_on}; {sample} samples.")

    def _checkpoint_work_begins(self, what: str, path: str) -> None:
        self.checkpoint_work = what
        self.sub_title = f"{what} {Path(path).name}…"
        self.refresh_bindings()

    def _checkpoint_work_done(self) -> None:
        self.checkpoint_work = None
        self.watch_phase(self.phase)  # the sub-title as it was
        self.refresh_bindings()
