"""Headless training: the same session as the app, reported as lines of text or JSON on stdout."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import textwrap
import threading
from typing import Callable

from core.checkpoint import CheckpointError, check_save_path
from core.corpora import resolve_corpus
from core.data import CorpusError
from core.inside import LINE_START, next_char_odds, shown
from core.lr_finder import find_lr
from core.metrics import short_number
from core.novelty import NoveltyStats, novelty_index
from core.run import Run
from core.sampling import Sampler, prepare_prompt
from core.places import data_home
from core.session import Phase, Session, SessionError
from core.settings import TEMPERATURE, SettingError
from core.training import EpochEvent, StepEvent, StoppedEvent, StopReason, TrainingEvent, ValidationEvent
from charlm_tui.arguments import corpus_from_args, given_settings, run_config_from_args



def _line(event: TrainingEvent, total: int | None) -> str:
    if isinstance(event, StepEvent):
        of = f"/{total}" if total else ""
        return (f"step {event.step}{of}  epoch {event.epoch}  example loss {short_number(event.loss, 4)}  "
                f"avg {short_number(event.avg_loss, 4)}  ppl {short_number(event.perplexity, 2)}  "
                f"{event.steps_per_sec:.0f} steps/s")
    if isinstance(event, EpochEvent):
        return (f"epoch {event.epoch} complete  loss {short_number(event.avg_loss, 4)}  "
                f"perplexity {short_number(event.perplexity, 2)}")
    if isinstance(event, ValidationEvent):
        return (f"validation at step {event.step}  loss {short_number(event.loss, 4)}  "
                f"perplexity {short_number(event.perplexity, 2)}")
    return event.message


def _fields(event: TrainingEvent) -> dict:
    """An event as JSON fields (every number finite: the trainer lets no NaN through)."""
    kind = {StepEvent: "step", EpochEvent: "epoch", ValidationEvent: "validation", StoppedEvent: "stopped"}[type(event)]
    fields = {k: (v.value if isinstance(v, StopReason) else v) for k, v in event.__dict__.items()}
    if hasattr(event, "perplexity"):
        fields["perplexity"] = event.perplexity
    return {"event": kind, **fields}


def _open(args: argparse.Namespace) -> Session:
    """A session holding the run to train: resumed from --resume, or new."""
    session = Session(data_home() / "headless-autosave.json")  # the app's autosave is the app's
    corpus = resolve_corpus(args.corpus) if hasattr(args, "corpus") else None
    resume = getattr(args, "resume", None)
    if not resume:
        session.new(corpus or resolve_corpus(corpus_from_args(args)), run_config_from_args(args))
        return session
    session.load(resume, corpus, given_settings(args))
    return session


class Output:
    """Progress lines on stdout, as text or JSON. An output that fails — a reader gone (`| head`), a full
    disk — stops the printing and the training, not the saving."""

    def __init__(self, as_json: bool, interrupt: Callable[[], None]):
        self.as_json, self.interrupt = as_json, interrupt
        self.gone = False  # nothing more can be printed
        self.failure: str | None = None  # why, when it was more than a reader going away

    def say(self, line: str, **fields) -> None:
        if self.gone:
            return
        try:
            print(json.dumps(fields, allow_nan=False) if self.as_json else line, flush=True)
        except OSError as error:
            self.gone = True
            self.interrupt()
            if not isinstance(error, BrokenPipeError):
                self.failure = f"cannot write the output: {error.strerror or error}"
                print(f"charlm-tui: error: {self.failure}", file=sys.stderr)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exiting flushes nowhere


def run_headless(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        session = _open(args)
        if hasattr(args, "save"):
            check_save_path(args.save, session.run.corpus.source)
    except (CorpusError, CheckpointError, SettingError, SessionError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    # From here a signal, or an output that fails, stops the run between two steps (and a sample between
    # two characters); the signals stay caught to the end, so a second one cannot cut a save short.
    stop = threading.Event()

    def interrupt(*_) -> None:
        stop.set()
        session.pause()

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    out = Output(args.json, interrupt)
    try:
        run = session.run
        trainer = run.trainer
        if args.json:  # what the text's first lines say, for scripts
            out.say("", event="start", corpus=run.corpus.name, characters=len(run.corpus),
                    vocabulary=len(run.corpus.vocab), train_examples=len(trainer.train_examples),
                    validation_examples=len(trainer.validation_examples or ()), items=run.items,
                    parameters=run.model.num_parameters(),
                    engine=run.model.engine, step=trainer.state.step, settings=run.config.to_json())
        else:
            out.say(f"corpus {run.corpus.name}: {len(run.corpus):,} characters, vocabulary {len(run.corpus.vocab)}, "
                    f"{len(trainer.train_examples):,} training / {len(trainer.validation_examples or ()):,} "
                    f"validation examples, {'a line at a time' if run.items == 'lines' else 'as a stream'}")
            if run.validation_note:
                out.say(run.validation_note)
            elif trainer.validation_examples:
                held_out = len(trainer.validation_examples)
                measured = min(held_out, run.config.eval_examples)
                out.say(f"validation every {run.config.eval_every:,} steps on "
                        + (f"all {held_out:,} held-out examples" if measured == held_out
                           else f"{measured:,} of the {held_out:,} held-out examples, evenly spaced (--eval-examples)"))
            out.say(f"model: {run.model.num_parameters():,} parameters ({run.model.engine} engine); "
                    f"starting at step {trainer.state.step:,}")
        error = None if stop.is_set() else _train(session, out, args.print_every, stop)
        saved = _save(session, getattr(args, "save", None), out, parser.prog)
        if session.history.error:  # said, not failed: the training and its checkpoint are what was asked for
            print(f"{parser.prog}: warning: {session.history.error} (charlm-tui runs will miss this run)",
                  file=sys.stderr)
        if args.sample > 0 and not stop.is_set():
            _sample(session, args, out, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if error or out.failure or not saved or session.phase is Phase.FAILED else 0


def progress_interval(steps: int | None) -> int:
    """Steps between two progress lines when --print-every is not given: about 100 lines for a run of
    `steps` (a round number, at least 50); a run without a step budget prints every 1,000."""
    if steps is None:
        return 1000
    return max(50, int(round(steps / 100, -1)))


def _train(session: Session, out: Output, print_every: int | None, stop: threading.Event) -> str | None:
    """Train to the end of the budget, a signal or a failure; what went wrong, if something did."""
    try:
        session.resume()
    except SessionError as error:  # nothing left to train: the checkpoint can still be sampled
        out.say(str(error), event="stopped", reason="finished", step=session.step, message=str(error))
        return None
    if stop.is_set():  # a signal, or an output that failed, between the check and the start
        session.pause()
    total = session.run.trainer.total_steps
    print_every = print_every or progress_interval(total and total - session.step)
    try:
        for event in session.train():
            if not (isinstance(event, StepEvent) and event.step % print_every and event.step != total):
                out.say(_line(event, total), **_fields(event))
    except Exception as error:  # MemoryError, say: the weights of the last whole step are kept and saved
        print(f"charlm-tui: error: training stopped: {type(error).__name__}: {error}", file=sys.stderr)
        return str(error)
    return None


def _save(session: Session, path: str | None, out: Output, prog: str) -> bool:
    """--save's checkpoint, or else the autosave when there is training to keep; False if it failed."""
    try:
        saved = session.save(path) if path else session.autosave()
    except (OSError, CheckpointError) as error:
        print(f"{prog}: error: could not save the checkpoint: {error}", file=sys.stderr)
        return False
    if saved is not None:
        note = f"checkpoint saved to {saved}" if path else f"training saved to {saved} (--save PATH chooses where)"
        out.say(note, event="saved", path=str(saved))
        if out.gone:
            print(note, file=sys.stderr)
    return True


def _sample(session: Session, args: argparse.Namespace, out: Output, stop: threading.Event) -> None:
    """A sample at each temperature, from the same weights, prompt and seed, each with how much of it is
    in the training text (makemore's split: names seen or new; for prose, words). Several temperatures are
    printed side by side, as the app's comparison shows them."""
    run = session.run
    weights = run.trainer.snapshot()
    prompt = prepare_prompt(args.prompt, run.corpus.vocab, run.model.context_length, run.items)
    if prompt.skipped and not out.as_json:  # JSON says it in each sample's event
        out.say(f"skipped {prompt.skipped!r} in the prompt: not in the vocabulary of {run.corpus.name}")
    novelty = novelty_index(run.corpus.text)
    samples = []
    temperatures = args.temperature or (TEMPERATURE.default,)
    for temperature in temperatures:
        sampler = Sampler(weights, run.corpus.vocab, seed=run.config.seed)
        text = prompt.text + "".join(sampler.stream(prompt, args.sample, temperature, args.top_k, stop,
                                                    top_p=args.top_p))
        samples.append((temperature, text, novelty.stats(text)))
        if out.as_json or len(temperatures) == 1:
            out.say(f"--- sample (temperature {temperature:g}) ---\n{text}\n--- {samples[-1][2].summary()}",
                    event="sample", temperature=temperature, text=text, skipped=prompt.skipped,
                    novelty=samples[-1][2].summary())
    if not out.as_json and len(samples) > 1:
        out.say("\n".join(side_by_side(samples, shutil.get_terminal_size((100, 24)).columns)))


COLUMN_GAP = 3
MIN_COLUMN_WIDTH = 16


def side_by_side(samples: list[tuple[float, str, NoveltyStats]], width: int) -> list[str]:
    """Samples in columns that share `width` (at least MIN_COLUMN_WIDTH each): a heading, the text wrapped,
    its novelty summary at the foot."""
    column = max(MIN_COLUMN_WIDTH, (width - COLUMN_GAP * (len(samples) - 1)) // len(samples))
    blocks = []
    for temperature, text, stats in samples:
        body = [piece for line in text.split("\n") for piece in (textwrap.wrap(line, column) or [""])]
        summary = stats.summary(compact=column < 60)
        blocks.append((f"--- temperature {temperature:g} ---"[:column], body, textwrap.wrap(summary, column)))
    rows = max(len(body) for _, body, _ in blocks)
    feet = max(len(foot) for _, _, foot in blocks)
    columns = [[heading, *body, *[""] * (rows - len(body)), "-" * min(column, 20), *foot, *[""] * (feet - len(foot))]
               for heading, body, foot in blocks]
    return [(" " * COLUMN_GAP).join(cell.ljust(column) for cell in row).rstrip() for row in zip(*columns)]


NEXT_ROWS = 10


def run_next(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """--next TEXT: the model's odds for the character after TEXT, likeliest first (as the app's Inside view
    shows them), at the first --temperature; nothing is trained or saved."""
    try:
        session = _open(args)
    except (CorpusError, CheckpointError, SettingError, SessionError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    run, temperature = session.run, args.temperature[0] if args.temperature else 1.0
    odds = next_char_odds(run.trainer.snapshot(), run.corpus.vocab, args.next, temperature, run.items)
    out = Output(args.json, lambda: None)
    if args.json:
        out.say("", event="next", text=args.next, context=odds.context, line_start=odds.line_start,
                skipped=odds.skipped, temperature=temperature,
                step=run.trainer.state.step, odds=[[char, p] for char, p in odds.odds])
        return 1 if out.failure else 0
    start = f", {LINE_START}" if odds.line_start else ""
    out.say(f"the next character after {args.next!r} (the model sees {odds.context!r}{start}) at step "
            f"{run.trainer.state.step:,}, temperature {temperature:g}:")
    if odds.skipped:
        out.say(f"skipped {odds.skipped!r}: not in the vocabulary of {run.corpus.name}")
    for char, p in odds.odds[:NEXT_ROWS]:
        out.say(f"  {shown(char)}  {p:6.1%}  {'█' * round(40 * p)}")
    if len(odds.odds) > NEXT_ROWS:
        out.say(f"  … {len(odds.odds) - NEXT_ROWS} more, {sum(p for _, p in odds.odds[NEXT_ROWS:]):.1%} in all")
    return 1 if out.failure else 0


def run_lr_find(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """--lr-find: sweep the learning rate on a new model's weights (with --resume, fresh weights of the checkpoint's
    settings), print the table and the suggestion (or every step as JSON), and exit; nothing is trained or saved."""
    try:
        session = _open(args)
    except (CorpusError, CheckpointError, SettingError, SessionError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    run, trained_step = session.run, session.run.trainer.state.step
    if getattr(args, "resume", None):
        run = Run.new(run.corpus, run.config)  # fresh weights of its settings: see core.lr_finder on trained ones
    out = Output(args.json, lambda: None)
    batch = run.config.batch_size
    if not args.json:
        out.say(f"corpus {run.corpus.name}: {len(run.corpus):,} characters, vocabulary {len(run.corpus.vocab)}, "
                f"{len(run.trainer.train_examples):,} training examples")
        start = (f"fresh weights of the checkpoint's settings, not the weights it has trained for {trained_step:,} "
                 "steps: the suggestion is an lr to train them from the start" if getattr(args, "resume", None)
                 else "a copy of its initial weights, which stay as they are")
        out.say(f"model: {run.model.num_parameters():,} parameters; the sweep trains {start}")
    try:
        result = find_lr(run, seed=run.config.seed)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    lowest, suggestion = result.lowest, result.suggestion
    if args.json:
        for row in result.rows:
            out.say("", event="lr_find", step=row.step, lr=row.lr, loss=row.loss, smoothed=row.smoothed)
        out.say("", event="lr_find_result", reason=result.stop, message=result.message, steps=len(result.rows),
                lr_min=result.lr_min, lr_max=result.lr_max, batch_size=batch, seed=result.seed, suggestion=suggestion,
                lowest_lr=lowest and lowest.lr, lowest_smoothed=lowest and lowest.smoothed, note=result.note)
    else:
        each = "one example" if batch == 1 else f"a batch of {batch}"
        out.say(f"lr sweep: {result.steps} steps from lr {result.lr_min:g} to {result.lr_max:g}, {each} a step, "
                f"in a random order (seed {result.seed}); smoothed = the loss's moving average over about 20 steps")
        out.say(result.table())
        out.say(result.message)
        if lowest is not None:
            out.say(f"lowest smoothed loss {lowest.smoothed:.4f} at lr {lowest.lr:.3g}")
        if result.note:
            out.say(f"note: {result.note}")
        if suggestion is not None:
            out.say(f"suggested lr: {suggestion:g} — set it with --lr {suggestion:g} "
                    "(a tenth of the lr of the lowest smoothed loss)")
    return 1 if suggestion is None or out.failure else 0
