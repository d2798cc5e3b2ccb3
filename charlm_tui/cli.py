"""`charlm-tui`: the app by default, or headless training with --headless."""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import replace

from core.corpora import DEFAULT_CORPUS
from core.model import ENGINES
from core.fused import ACTIVATIONS
from core.run import PRESETS, ModelConfig, RunConfig


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line saying what was wrong, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _number(kind: type, accept, requirement: str):
    """An argparse type: `text` as `kind` (int or float), which `accept` must approve."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "at least 1")
_positive_float = _number(float, lambda v: v > 0, "a positive number")
_fraction = _number(float, lambda v: 0.0 <= v < 1.0, "at least 0 and below 1")
_non_negative_float = _number(float, lambda v: v >= 0, "0 or more")


def build_parser() -> argparse.ArgumentParser:
    d = PRESETS["default"]
    parser = OneLineParser(
        prog="charlm-tui",
        description="Train a character-level language model on a pure-Python scalar autograd engine, "
        "live in the terminal (or headless with --headless).",
    )
    parser.add_argument("--headless", action="store_true", help="train without the TUI, printing progress lines")
    parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="a bundled corpus name or a path to a UTF-8 text file [%(default)s]")
    parser.add_argument("--resume", metavar="CKPT", help="carry on from a checkpoint file")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="starting hyperparameters; 'course' is the course's own configuration [%(default)s]")
    model = parser.add_argument_group("model (defaults from the preset)")
    model.add_argument("--context", type=_positive_int, help=f"context length in characters [{d.model.context_length}]")
    model.add_argument("--embed", type=_positive_int, help=f"embedding dimension [{d.model.embed_dim}]")
    model.add_argument("--hidden", type=_positive_int, help=f"hidden layer width [{d.model.hidden_dim}]")
    model.add_argument("--layers", type=_positive_int, help=f"number of hidden layers [{d.model.n_hidden}]")
    model.add_argument("--activation", choices=ACTIVATIONS, help=f"hidden activation [{d.model.activation}]")
    model.add_argument("--engine", choices=ENGINES, help=f"autograd engine [{d.model.engine}]")
    train = parser.add_argument_group("training (defaults from the preset)")
    train.add_argument("--lr", type=_positive_float, help=f"learning rate [{d.train.learning_rate}]")
    train.add_argument("--epochs", type=_positive_int, help=f"passes over the training examples [{d.train.epochs}]")
    train.add_argument("--steps", type=_positive_int, help="total step budget (stops at whichever of epochs/steps comes first)")
    train.add_argument("--clip", type=_positive_float, help="clip each gradient to [-CLIP, CLIP] (the course's clip)")
    train.add_argument("--clip-norm", type=_positive_float, help="scale gradients to a global L2 norm of at most this")
    train.add_argument("--val-fraction", type=_fraction, help=f"share of examples held out for validation [{d.validation_fraction}]")
    train.add_argument("--seed", type=int, help=f"random seed for weights and shuffling [{d.train.seed}]")
    train.add_argument("--eval-every", type=_positive_int, help=f"steps between validation passes [{d.train.eval_every}]")
    out = parser.add_argument_group("headless output")
    out.add_argument("--save", metavar="PATH", help="write a checkpoint here when training stops")
    out.add_argument("--json", action="store_true", help="print one JSON object per progress line")
    out.add_argument("--print-every", type=_positive_int, default=50, help="steps between progress lines [%(default)s]")
    out.add_argument("--sample", type=int, default=200, metavar="N", help="characters to generate after training, 0 for none [%(default)s]")
    out.add_argument("--temperature", type=_non_negative_float, default=0.8, help="sampling temperature, 0 for greedy [%(default)s]")
    out.add_argument("--prompt", default="", help="text the sample starts from [empty]")
    return parser


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    """The preset, with every hyperparameter given on the command line put over it."""
    preset = PRESETS[args.preset]
    m = preset.model
    model = ModelConfig(
        context_length=args.context or m.context_length,
        embed_dim=args.embed or m.embed_dim,
        hidden_dim=args.hidden or m.hidden_dim,
        n_hidden=args.layers or m.n_hidden,
        activation=args.activation or m.activation,
        engine=args.engine or m.engine,
    )
    train = replace(
        preset.train,
        learning_rate=args.lr or preset.train.learning_rate,
        epochs=args.epochs if args.epochs else (None if args.steps else preset.train.epochs),
        max_steps=args.steps,
        clip_value=args.clip,
        clip_norm=args.clip_norm,
        seed=preset.train.seed if args.seed is None else args.seed,
        eval_every=args.eval_every or preset.train.eval_every,
    )
    fraction = preset.validation_fraction if args.val_fraction is None else args.val_fraction
    return RunConfig(model, train, fraction)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.headless:
        from charlm_tui.headless import run_headless

        try:
            return run_headless(args, run_config_from_args(args), parser)
        except BrokenPipeError:  # the reader went away (`| head`): not an error worth a traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    from charlm_tui.app import CharLMApp

    app = CharLMApp(corpus=args.corpus, resume=args.resume, config=run_config_from_args(args), preset=args.preset)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
