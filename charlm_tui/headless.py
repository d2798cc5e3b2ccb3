"""Headless training: the same session as the app, reported as lines of text or JSON on stdout."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from core.checkpoint import CheckpointError, check_save_path
from core.corpora import DEFAULT_CORPUS, resolve_corpus
from core.data import CorpusError
from core.sampling import Sampler, prepare_prompt
from core.session import Phase, Session, SessionError
from core.settings import SettingError
from core.training import EpochEvent, StepEvent, StoppedEvent, StopReason, TrainingEvent, ValidationEvent
from charlm_tui.cli import given_settings, run_config_from_args


def _line(event: TrainingEvent, total: int | None) -> str:
    if isinstance(event, StepEvent):
        of = f"/{total}" if total else ""
        return (f"step {event.step}{of}  epoch {event.epoch}  loss {event.loss:.4f}  avg {event.avg_loss:.4f}  "
                f"ppl {event.perplexity:.2f}  {event.steps_per_sec:.0f} steps/s")
    if isinstance(event, EpochEvent):
        return f"epoch {event.epoch} complete  loss {event.avg_loss:.4f}  perplexity {event.perplexity:.2f}"
    if isinstance(event, ValidationEvent):
        return f"validation at step {event.step}  loss {event.loss:.4f}  perplexity {event.perplexity:.2f}"
    return event.message


def _json(event: TrainingEvent) -> str:
    kind = {StepEvent: "step", EpochEvent: "epoch", ValidationEvent: "validation", StoppedEvent: "stopped"}[type(event)]
    fields = {k: (v.value if isinstance(v, StopReason) else v) for k, v in event.__dict__.items()}
    if hasattr(event, "perplexity"):
        fields["perplexity"] = event.perplexity
    return json.dumps({"event": kind, **fields})


def _open(args: argparse.Namespace) -> Session:
    """A session holding the run to train: resumed from --resume, or new."""
    session = Session()
    corpus = resolve_corpus(args.corpus) if hasattr(args, "corpus") else None
    resume = getattr(args, "resume", None)
    if not resume:
        session.new(corpus or resolve_corpus(DEFAULT_CORPUS), run_config_from_args(args))
        return session
    session.load(resume, corpus, given_settings(args))
    return session


def run_headless(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        if hasattr(args, "save"):
            check_save_path(args.save)
        session = _open(args)
    except (CorpusError, CheckpointError, SettingError, SessionError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    run = session.run
    trainer = run.trainer
    out = sys.stdout
    if not args.json:
        print(f"corpus {run.corpus.name}: {len(run.corpus)} characters, vocabulary {len(run.corpus.vocab)}, "
              f"{len(trainer.train_examples)} training / {len(trainer.validation_examples or ())} validation examples", file=out)
        print(f"model: {run.model.num_parameters()} parameters ({run.model.engine} engine); "
              f"starting at step {trainer.state.step}", file=out)

    failed = False
    try:
        session.resume()
    except SessionError as error:  # nothing left to train: the checkpoint can still be sampled
        print(json.dumps({"event": "stopped", "reason": "finished", "step": session.step, "message": str(error)})
              if args.json else str(error), file=out)
    else:
        previous = {sig: signal.signal(sig, lambda *_: session.pause()) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        total = trainer.total_steps
        try:
            for event in session.train():
                if isinstance(event, StepEvent) and event.step % args.print_every and event.step != total:
                    continue
                print(_json(event) if args.json else _line(event, total), file=out, flush=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        failed = session.phase is Phase.FAILED

    if hasattr(args, "save"):
        try:
            path = session.save(args.save)
        except (OSError, CheckpointError) as error:
            print(f"{parser.prog}: error: could not save the checkpoint: {error}", file=sys.stderr)
            return 1
        print(json.dumps({"event": "saved", "path": str(path)}) if args.json else f"checkpoint saved to {path}", file=out)
    if args.sample > 0:
        sampler = Sampler(trainer.snapshot(), run.corpus.vocab, seed=run.config.seed)
        prompt = prepare_prompt(args.prompt, run.corpus.vocab, run.model.context_length)
        text = prompt.text + "".join(sampler.stream(prompt, args.sample, args.temperature, args.top_k))
        print(json.dumps({"event": "sample", "text": text, "skipped": prompt.skipped}) if args.json
              else f"--- sample (temperature {args.temperature:g}) ---\n{text}", file=out)
    return 1 if failed else 0
