"""Headless training: the same run as the app, reported as lines of text or JSON on stdout."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import replace

from core.checkpoint import CheckpointError, check_save_path, load_checkpoint
from core.corpora import resolve_corpus
from core.data import CorpusError
from core.run import Run, RunConfig
from core.sampling import Sampler, prepare_prompt
from core.training import EpochEvent, StepEvent, StoppedEvent, StopReason, TrainingEvent, ValidationEvent


def _resumed_train_config(args: argparse.Namespace, saved):
    """The checkpoint's training settings, with the ones given on the command line put over them."""
    given = {
        "learning_rate": args.lr, "epochs": args.epochs, "max_steps": args.steps, "clip_value": args.clip,
        "clip_norm": args.clip_norm, "seed": args.seed, "eval_every": args.eval_every,
    }
    config = replace(saved, **{k: v for k, v in given.items() if v is not None})
    if args.steps is not None and args.epochs is None:
        config = replace(config, epochs=None)
    return config


def _build_run(args: argparse.Namespace, config: RunConfig) -> Run:
    corpus = resolve_corpus(args.corpus)
    if args.resume:
        checkpoint = load_checkpoint(args.resume)
        return Run.resume(checkpoint, corpus, _resumed_train_config(args, checkpoint.config))
    return Run.new(corpus, config)


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


def run_headless(args: argparse.Namespace, config: RunConfig, parser: argparse.ArgumentParser) -> int:
    try:
        if args.save:
            check_save_path(args.save)
        run = _build_run(args, config)
    except (CorpusError, CheckpointError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    trainer = run.trainer
    out = sys.stdout
    if not args.json:
        print(f"corpus {run.corpus.name}: {len(run.corpus)} characters, vocabulary {len(run.corpus.vocab)}, "
              f"{len(trainer.train_examples)} training / {len(trainer.validation_examples or ())} validation examples", file=out)
        print(f"model: {run.model.num_parameters()} parameters ({run.model.engine} engine); "
              f"starting at step {trainer.state.step}", file=out)

    cancel = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: cancel.set()) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    total = trainer.total_steps
    try:
        for event in trainer.events(cancel):
            if isinstance(event, StepEvent) and event.step % args.print_every and event.step != total:
                continue
            print(_json(event) if args.json else _line(event, total), file=out, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    if args.save:
        try:
            path = run.save(args.save)
        except (OSError, CheckpointError) as error:
            print(f"{parser.prog}: error: could not save the checkpoint: {error}", file=sys.stderr)
            return 1
        print(json.dumps({"event": "saved", "path": str(path)}) if args.json else f"checkpoint saved to {path}", file=out)
    if args.sample > 0:
        sampler = Sampler(trainer.snapshot(), run.corpus.vocab, seed=trainer.config.seed)
        prompt = prepare_prompt(args.prompt, run.corpus.vocab, run.model.context_length)
        text = prompt.text + "".join(sampler.stream(prompt, args.sample, args.temperature))
        print(json.dumps({"event": "sample", "text": text, "skipped": prompt.skipped}) if args.json
              else f"--- sample (temperature {args.temperature}) ---\n{text}", file=out)
    return 1 if event.reason is StopReason.NON_FINITE else 0
