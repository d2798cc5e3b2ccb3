"""A training session: one run's lifecycle, the same for the app and the headless command line.

The session knows which phase the run is in and which moves are allowed from there; a refused move
raises a `SessionError` whose message says why and what to do. It owns no thread: `train()` is a
blocking generator of training events that the caller runs wherever it likes (the app in a worker
thread, the command line in its main thread), and `pause()` / `stop()` may be called from any thread.

    EMPTY ──new──▶ PAUSED ──start/resume──▶ RUNNING ──pause──▶ PAUSED
                                              │ ├──stop──▶ STOPPED ──resume (budget raised)──▶ RUNNING
                                              │ ├─budget done─▶ FINISHED ──resume (budget raised)──▶ RUNNING
                                              │ └─NaN / error─▶ FAILED ──resume──▶ RUNNING
    load: any phase but RUNNING ──▶ PAUSED (or FINISHED when its budget is used up)
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Callable, Iterator

from core.checkpoint import Checkpoint, CheckpointError, check_save_path, load_checkpoint
from core.corpora import bundled_corpora, resolve_corpus
from core.data import Corpus, CorpusError, load_corpus
from core.history import STOPPED, RunRecord, RunTracker
from core.places import data_home, locked, writable
from core.run import Run
from core.settings import RunConfig
from core.training import StoppedEvent, StopReason, TrainingEvent


class Phase(str, Enum):
    EMPTY = "empty"  # no model yet
    PAUSED = "paused"  # a model that can train on: new, paused or loaded
    RUNNING = "running"
    FINISHED = "finished"  # its epochs or step budget are done
    STOPPED = "stopped"  # stopped by the user; raising the budget lets it go on
    FAILED = "failed"  # a non-finite step or an error stopped it; the weights are the last good ones


AFTER = {StopReason.FINISHED: Phase.FINISHED, StopReason.EARLY_STOPPED: Phase.FINISHED, StopReason.NON_FINITE: Phase.FAILED}


class SessionError(RuntimeError):
    """A move the session refuses now, with a message saying why and what to do."""


class Session:
    def __init__(self, autosave_path: Path | None = None):
        self.autosave_path = Path(autosave_path) if autosave_path else data_home() / "autosave.json"
        self.run: Run | None = None
        self.phase = Phase.EMPTY
        self.detail = ""  # what the last stop or load said
        self.saved_step = 0  # the step last saved or loaded
        self._cancel = threading.Event()
        self._stop_requested = False
        self.history = RunTracker()  # every run, in data_home()/runs.jsonl (a write error never stops training)
        self.began = time.time()

    # --- what is true now ---

    @property
    def step(self) -> int:
        return self.run.trainer.state.step if self.run else 0

    @property
    def unsaved_steps(self) -> int:
        return self.step - self.saved_step

    def changes(self, corpus: Corpus | None, config: RunConfig | None) -> list[str]:
        """What `corpus` and `config` would change that the current model cannot (reasons for a new one)."""
        if self.run is None or config is None:
            return []
        changes = self.run.config.differences(config, fixed_only=True)
        if corpus is not None and corpus.fingerprint != self.run.corpus.fingerprint:
            changes.append(f"corpus {self.run.corpus.name} → {corpus.name}")
        return changes

    # --- moves ---

    def _refuse_while_running(self, what: str) -> None:
        if self.phase is Phase.RUNNING:
            raise SessionError(f"Pause training before {what}.")

    def new(self, corpus: Corpus, config: RunConfig) -> Run:
        """A new model on `corpus`; the previous one, if any, is dropped (ask the user first)."""
        self._refuse_while_running("starting a new model")
        run = Run.new(corpus, config)
        self.run, self.phase, self.detail, self.saved_step = run, Phase.PAUSED, "", 0
        return run

    def start(self) -> None:
        """Let the next `train()` go (from PAUSED)."""
        if self.phase is not Phase.PAUSED:
            raise SessionError("There is no paused model to start." if self.run is None else f"Training has {self.phase.value}.")
        if self.run.trainer.finished:
            raise SessionError(self._budget_used_up())
        self._cancel.clear()
        self._stop_requested = False
        self.phase = Phase.RUNNING

    def resume(self, config: RunConfig | None = None) -> None:
        """Go on with the current model, with new training settings if given (learning rate, budget,
        clipping...). A stopped or finished run goes on too, once its budget has been raised."""
        if self.run is None:
            raise SessionError("There is no model to resume: start a new one.")
        self._refuse_while_running("changing the settings")
        if config is not None:
            fixed = self.run.config.differences(config, fixed_only=True)
            if fixed:
                raise SessionError(f"These settings are fixed for this model: {', '.join(fixed)}. "
                                   "Put them back, or start a new model.")
            self.run.reconfigure(config)
        if self.run.trainer.finished:
            raise SessionError(self._budget_used_up())
        self.phase = Phase.PAUSED
        self.start()

    def _budget_used_up(self) -> str:
        trainer = self.run.trainer
        if trainer.stopped_early:
            return (f"Validation has not improved for {trainer.evaluations_since_best} evaluations (patience "
                    f"{trainer.config.patience}): raise patience, or clear it, to train on from the best weights.")
        config, by_epochs = trainer.config, (trainer.config.epochs or 0) * trainer.epoch_size
        epochs = f"{config.epochs} epoch ends" if config.epochs == 1 else f"{config.epochs} epochs end"
        if trainer.time_spent is not None and trainer.time_spent >= 1:
            limit, setting = f"its {config.minutes:g} minutes of training are spent", "minutes"
        elif config.epochs is not None and by_epochs == trainer.total_steps:
            limit, setting = f"its {epochs} at step {by_epochs:,}", "epochs"
        else:
            limit, setting = f"its max steps, {config.max_steps:,}, are done", "max steps"
        return f"The budget is used up ({limit}): raise {setting} to train on (the model carries on from where it is)."

    def train(self, max_steps: int | None = None, watch: Callable[[list, float], None] | None = None
              ) -> Iterator[TrainingEvent]:
        """Train until finished, paused, stopped, failed or `max_steps` more steps, yielding every event; the
        phase follows (`watch`: see `Trainer.step`)."""
        if self.phase is not Phase.RUNNING:
            raise SessionError("start() or resume() first.")
        history = self.history
        history.update(self.run)  # a stretch starts: recorded at once
        try:
            for event in self.run.trainer.events(self._cancel, max_steps, watch):
                if isinstance(event, StoppedEvent):
                    self.phase = AFTER.get(event.reason, Phase.STOPPED if self._stop_requested else Phase.PAUSED)
                    self.detail = event.message if self.phase is not Phase.PAUSED else f"paused at step {event.step:,}"
                    history.update(self.run, STOPPED if self.phase is Phase.STOPPED else event.reason)
                else:
                    history.update(self.run)  # a clock read; a line written every few seconds
                yield event
        except Exception as error:
            self.phase, self.detail = Phase.FAILED, f"{type(error).__name__}: {error}"
            history.update(self.run, "error")
            raise
        finally:
            if self.phase is Phase.RUNNING:  # the caller left the loop early
                self.phase = Phase.PAUSED
                history.update(self.run, StopReason.CANCELLED)

    def single_step(self, watch: Callable[[list, float], None] | None = None) -> list[TrainingEvent]:
        """Exactly one step of a paused (or stopped) model, taken as training takes it, so that the run goes
        on as if it had trained normally; the model is paused afterwards. Its events, the last a StoppedEvent."""
        self.resume()
        return list(self.train(max_steps=1, watch=watch))

    def pause(self) -> None:
        """Ask a running `train()` to end after the current step (safe from any thread)."""
        self._cancel.set()

    def stop(self) -> None:
        """End training for good (until the budget is raised); the model stays to sample and save."""
        if self.phase is Phase.RUNNING:
            self._stop_requested = True
            self.pause()
        elif self.phase is Phase.PAUSED and self.run is not None:
            self.phase, self.detail = Phase.STOPPED, f"stopped at step {self.step:,}"
            if self.step:  # a model that never trained has no run to record
                self.history.update(self.run, STOPPED)

    # --- checkpoints ---

    def check_save_path(self, path: str | Path) -> Path:
        """Where `save(path)` would write, or a CheckpointError saying why it cannot: quick, so that an app saving in
        the background says at once what is wrong with a path."""
        if self.run is None:
            raise SessionError("There is no model to save yet.")
        return check_save_path(path, self.run.corpus.source)

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (between two steps: safe while training runs; from any thread)."""
        if self.run is None:
            raise SessionError("There is no model to save yet.")
        step = self.step
        saved = self.run.save(path)
        self.saved_step = step
        self.history.saved(self.run, saved)
        return saved

    def autosave(self) -> Path | None:
        """Save unsaved training to the autosave file — or, if that cannot be written, beside it or in the
        temporary folder; the path, or None when nothing needed saving. Raises the first place's error
        only when no place would take it."""
        if self.run is None or self.unsaved_steps <= 0:
            return None
        name = f"charlm-tui-autosave-{os.getpid()}.json"
        places = [self.autosave_path, self.autosave_path.with_name(name), Path(tempfile.gettempdir()) / name]
        first_error = None
        for place in places:
            try:
                writable(place).parent.mkdir(parents=True, exist_ok=True)
                with locked(place.parent):  # whose file it is, and writing it, is one act: apps quit together
                    if place == self.autosave_path and self._holds_another_process_work(place):
                        continue
                    return self.save(place)
            except (OSError, CheckpointError) as error:
                first_error = first_error or error
        raise first_error

    def newest_autosave(self) -> Path | None:
        """The latest autosave in the autosave's folder (this app's, another's beside it, or a served visitor's
        earlier visit), to offer on ^O; None when there is none."""
        folder = self.autosave_path.parent
        found = {self.autosave_path, *folder.glob("autosave*.json"), *folder.glob("charlm-tui-autosave-*.json")}
        dated = []
        for path in found:
            try:
                dated.append((path.stat().st_mtime, path))
            except OSError:
                continue
        return max(dated)[1] if dated else None

    def _holds_another_process_work(self, path: Path) -> bool:
        """Whether `path` holds another run, saved since this session began: another charlm-tui (a second
        terminal) autosaved there, and writing over it would lose that training. An older autosave is fair game."""
        try:
            return path.stat().st_mtime >= self.began and load_checkpoint(path).run_id != self.run.id
        except (OSError, CheckpointError):
            return False

    def load(self, path: str | Path, corpus: Corpus | None = None, changes: dict | None = None,
             fallback: Corpus | None = None) -> Run:
        """Carry on from a checkpoint: on `corpus` if given, else on the text it was trained on (or on
        `fallback`, see `corpus_for`); with `changes` to its training settings (a raised budget, say)."""
        self._refuse_while_running("loading a checkpoint")
        checkpoint = load_checkpoint(path)
        config = checkpoint.config.replace(**changes) if changes else None
        run = Run.resume(checkpoint, corpus or corpus_for(checkpoint, fallback), config)
        self.run, self.saved_step = run, run.trainer.state.step
        self.history.begin(run, resumed_from=path)
        self.phase = Phase.FINISHED if run.trainer.finished else Phase.PAUSED
        self.detail = f"loaded {Path(path).name} at step {self.step:,}"
        return run


def corpus_for(checkpoint: Checkpoint, fallback: Corpus | None = None) -> Corpus:
    """The text a checkpoint was trained on: the bundled corpus of that name, or its file (the same
    text by fingerprint first; a changed file with the same characters will do), else `fallback` if it
    has the checkpoint's characters. A CorpusError says what is missing when none fits."""
    about = checkpoint.corpus
    name, path = about.get("name", ""), about.get("path")
    candidates = []
    if about.get("bundled", True) and name in {c.name for c in bundled_corpora()}:
        candidates.append(lambda: resolve_corpus(name))
    if path:
        candidates.append(lambda: load_corpus(path, name or None))
    found = []
    for make in candidates:
        try:
            found.append(make())
        except (CorpusError, OSError):
            continue
    if fallback is not None:
        found.append(fallback)
    fingerprint = about.get("fingerprint")
    for corpus in sorted(found, key=lambda c: c.fingerprint != fingerprint):
        if corpus.vocab == checkpoint.vocab:
            return corpus
    where = f" ({path})" if path else ""
    raise CorpusError(f"This checkpoint was trained on {name or 'a text'}{where}, which is gone or has changed "
                      f"(its vocabulary of {len(checkpoint.vocab)} characters does not match): give that text, or one "
                      "with the same characters (in the app: open it in the corpus panel, then load again; "
                      "on the command line: --corpus PATH).")


def recorded_checkpoint(record: RunRecord) -> tuple[Path | None, str]:
    """The checkpoint of a recorded run, if its file still holds that run; else None and why not."""
    if record.checkpoint is None:
        return None, "it was not saved"
    path = Path(record.checkpoint)
    if not path.exists():
        return None, f"its checkpoint {path} is gone"
    try:
        checkpoint = load_checkpoint(path)
    except (OSError, CheckpointError) as error:
        return None, f"its checkpoint {path} cannot be read: {error}"
    if checkpoint.run_id != record.id:  # saved over since (an autosave, say)
        return None, f"{path} holds another run now"
    return path, ""
