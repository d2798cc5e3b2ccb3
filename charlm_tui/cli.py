"""`charlm-tui`: the app by default, or headless training with --headless.

Every hyperparameter flag is built from its declaration in `core.settings`: the same name, limits and
help as the app's form.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from charlm_tui import __version__
from core.checkpoint import CheckpointError
from core.corpora import DEFAULT_CORPUS
from core.lr_finder import LR_MAX, LR_MIN, STEPS as LR_STEPS
from core.places import data_home
from core.settings import BY_NAME, PRESETS, SAMPLING, SETTINGS, RunConfig, Setting, SettingError, parse_temperatures
from core.visible import VisibleStream, visible


PRINT_EVERY = Setting("print_every", "print every", "--print-every", int, "steps between progress lines",
                      {"default": None}, minimum=1, maximum=10**9, optional=True, empty="about 100 lines a run")


USAGE = (("charlm-tui [--headless] [OPTIONS]", "the app, or training without it"),
         ("charlm-tui runs [--json]", "the runs trained so far, for scripts too"),
         ("charlm-tui export CKPT --to PATH", "a checkpoint's model, for PyTorch"),
         ("charlm-tui serve [--host HOST]", "the app in web browsers"),
         ("charlm-tui COMMAND --help", "each one's options"))


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line saying what was wrong, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser_of(setting: Setting, read=None):
    """The argparse type of `setting`: its own parse, or `read` (several values, say)."""
    read = read or setting.parse

    def parse(text: str):
        try:
            return read(text)
        except SettingError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = setting.label  # argparse names the type in some messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="charlm-tui",
        usage="\n       ".join(f"{command:<38}{what}" for command, what in USAGE),
        description="Train a character-level language model on a pure-Python scalar autograd engine, "
        "live in the terminal (or headless with --headless).",
        argument_default=argparse.SUPPRESS,  # a flag not given is absent, so it is known what was given
    )
    parser.add_argument("--version", action="version", version=f"charlm-tui {__version__}")
    parser.add_argument("--headless", action="store_true", default=False, help="train without the TUI, printing progress lines")
    parser.add_argument("--corpus", help=f"a bundled corpus name or a path to a UTF-8 text file [the preset's: "
                        f"{DEFAULT_CORPUS}, or {PRESETS['course'].corpus} with --preset course; with --resume, the "
                        "checkpoint's own text]")
    parser.add_argument("--resume", metavar="CKPT", help="carry on from a checkpoint file (its model settings stay)")
    parser.add_argument("--preset", choices=list(PRESETS), help="starting hyperparameters: "
                        + "; ".join(f"{name}: {preset.about}" for name, preset in PRESETS.items()) + " [default]")
    groups = {"model": parser.add_argument_group("model (fixed when a run starts; defaults from the preset)"),
              "training": parser.add_argument_group("training (defaults from the preset)")}
    default = RunConfig.preset("default")
    for s in SETTINGS:
        shown = s.show(getattr(default, s.name)) or "off"
        groups[s.group].add_argument(s.flag, dest=s.name, type=None if s.choices else _parser_of(s), choices=s.choices or None,
                                     metavar=None if s.choices else s.label.upper().replace(" ", "_"),
                                     help=f"{s.help} ({s.requirement()}) [{shown}]")
    out = parser.add_argument_group("headless output")
    out.add_argument("--save", metavar="PATH", help="write a checkpoint here when training stops")
    out.add_argument("--json", action="store_true", default=False, help="print one JSON object per progress line")
    length = next(s for s in SAMPLING if s.name == "length")
    out.add_argument("--sample", type=_parser_of(replace(length, minimum=0)), default=200, metavar="N", help="characters to generate after training, 0 for none [%(default)s]")
    for s in (PRINT_EVERY, *SAMPLING):
        if s.name == "temperature":  # several, to compare: one sample each, from the same weights and seed
            out.add_argument(s.flag, dest=s.name, type=_parser_of(s, parse_temperatures), default=None, metavar="TEMP[,TEMP...]",
                             help=f"{s.help} ({s.requirement()}); several, comma-separated (0.5,1,1.5), give one "
                             f"sample each, with how much of it is in the training text [{s.show(s.default)}; "
                             "with --next, 1: the model's own odds]")
        elif s.name != "length":  # --sample N says how many
            out.add_argument(s.flag, dest=s.name, type=_parser_of(s), default=s.default,
                             metavar=s.label.upper().replace(" ", "_"),
                             help=f"{s.help} ({s.requirement()}) [{s.show(s.default) or s.empty}]")
    out.add_argument("--prompt", default="", help="text the sample starts from [empty]")
    out.add_argument("--next", metavar="TEXT", default=None,
                     help="train nothing: print the model's odds for the character after TEXT (of --resume's checkpoint, "
                     "or a new model's first weights), likeliest first, at --temperature, and exit (implies --headless)")
    out.add_argument("--lr-find", action="store_true", default=False,
                     help=f"train nothing: sweep the learning rate from {LR_MIN:g} to {LR_MAX:g} over {LR_STEPS} steps "
                     "on a new model's weights (with --resume, fresh weights of the checkpoint's settings), print "
                     "the losses and a suggested --lr, and exit (implies --headless; with --json, every step as a JSON "
                     "line)")
    return parser


def given_settings(args: argparse.Namespace) -> dict:
    """The settings given on the command line. --steps alone bounds a run by steps only, --epochs alone by epochs."""
    given = {s.name: getattr(args, s.name) for s in SETTINGS if hasattr(args, s.name)}
    for budget, other in (("max_steps", "epochs"), ("epochs", "max_steps")):
        if given.get(budget) is not None and other not in given:
            given[other] = None
    return given


def corpus_from_args(args: argparse.Namespace) -> str:
    """--corpus, else the preset's own text."""
    return getattr(args, "corpus", PRESETS[getattr(args, "preset", "default")].corpus)


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    """The preset, with every setting given on the command line put over it."""
    return RunConfig.preset(getattr(args, "preset", "default")).replace(**given_settings(args))


def check_resume_flags(args: argparse.Namespace) -> None:
    """A resumed run keeps its model and data split: flags that would change them are refused, not ignored."""
    if not getattr(args, "resume", None):
        return
    fixed = [BY_NAME[name].flag for name in given_settings(args) if BY_NAME[name].fixed]
    fixed += ["--preset"] if hasattr(args, "preset") else []
    if fixed:
        raise SettingError(f"{', '.join(fixed)} cannot change a resumed run (its model and data split are fixed "
                           f"when it starts): drop {'it' if len(fixed) == 1 else 'them'}, or start a new run without --resume")


# What an lr sweep leaves aside: it chooses its own learning rates and takes its own steps, and trains
# nothing to save. A flag it would ignore is refused, not ignored.
LR_FIND_IGNORES = ("learning_rate", "max_steps", "epochs", "lr_schedule", "lr_decay", "decay_at", "warmup_steps",
                   "eval_every", "eval_examples", "patience")


def check_lr_find_flags(args: argparse.Namespace) -> None:
    """--lr-find and --next train nothing: a flag about training is refused with them, not ignored."""
    mode = "--lr-find" if args.lr_find else "--next" if args.next is not None else None
    if mode is None:
        return
    if args.lr_find and args.next is not None:
        raise SettingError("--lr-find and --next are two different things: ask for one at a time")
    ignored = [BY_NAME[name].flag for name in LR_FIND_IGNORES if hasattr(args, name)]
    ignored += ["--save"] if hasattr(args, "save") else []
    if ignored:
        them = "it" if len(ignored) == 1 else "them"
        does = "sweeps the learning rate itself and trains nothing" if args.lr_find else "trains nothing"
        raise SettingError(f"{mode} {does}, so it has no use for {', '.join(ignored)}: drop {them}, or train "
                           f"without {mode}")


def _runs_table(runs, visitors: dict[str, str]) -> str:
    """The history as a table, a run a line, oldest first; a served visitor's runs say whose (`visitors`, by run)."""
    from core.history import local_time
    from core.metrics import short_number

    whose = ("visitor",) if visitors else ()
    rows = [("id", "started", "corpus", "steps", "best val", "ppl", "final val", "outcome", "settings", *whose)]
    for r in runs:
        s = r.settings
        settings = (f"ctx {s.get('context_length')} emb {s.get('embed_dim')} hid {s.get('hidden_dim')}×{s.get('n_hidden')} "
                    f"{s.get('activation')} lr {s.get('learning_rate')} batch {s.get('batch_size')}")
        rows.append((r.id[:8], local_time(r.started), visible(r.corpus["name"][:24]), f"{r.steps:,}",
                     short_number(r.best_loss), short_number(r.best_perplexity, 2), short_number(r.final_validation),
                     r.outcome(), visible(settings),
                     *([visitors.get(r.id, "-")] if visitors else [])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {3, 4, 5, 6}  # the numbers
    return "\n".join("  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                     for row in rows)


def runs_main(argv: list[str]) -> int:
    """`charlm-tui runs [--json]`: the run history, oldest first; damaged lines are warned of on stderr."""
    import json

    from core.history import RunLog, visitor_logs

    parser = OneLineParser(prog="charlm-tui runs", description="List the training runs recorded in the run history "
                           "(the app's and headless ones, and those of charlm-tui serve's visitors), oldest first.")
    parser.add_argument("--json", action="store_true", help="one JSON object per run (every field, the curves included)")
    args = parser.parse_args(argv)
    log = RunLog()
    runs, warnings = log.read()
    visitors = {}  # by run id: the served visitor whose run it is (the first 8 characters of their folder's name)
    for visitor, visitor_log in visitor_logs().items():
        theirs, said = visitor_log.read()
        runs, warnings = runs + theirs, warnings + said
        visitors.update((run.id, visitor[:8]) for run in theirs)
    runs.sort(key=lambda run: run.started)
    for warning in warnings:
        print(f"charlm-tui: warning: {warning}", file=sys.stderr)
    if not runs:
        print(f"no runs yet: every training run is recorded in {log.path}", file=sys.stderr if args.json else sys.stdout)
        return 0
    try:
        if args.json:
            for r in runs:
                visitor = {"visitor": visitors[r.id]} if r.id in visitors else {}
                print(json.dumps({**r.to_json(), "outcome": r.outcome(), **visitor}))  # ASCII: C1 escaped too
        else:
            print(_runs_table(runs, visitors))
        sys.stdout.flush()
    except BrokenPipeError:  # `charlm-tui runs | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def served_autosave_path() -> Path:
    """Each tab of `charlm-tui serve` runs an app of its own: each gets an autosave of its own in its visitor's
    folder, so a class closing its tabs keeps every learner's training (^O offers the newest)."""
    return data_home() / f"autosave-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"


def main(argv: list[str] | None = None) -> int:
    """Every way in: what it prints, on the command line or after the app, shows control characters drawn."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (VisibleStream(stream) if stream is not None else None  # None: closed (>&-)
                              for stream in streams)  # the app's screen is Textual's own
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str]) -> int:
    if argv[:1] == ["runs"]:
        return runs_main(argv[1:])
    if argv[:1] == ["export"]:
        from charlm_tui.export_cli import export_main  # here: it imports this module

        return export_main(argv[1:])
    if argv[:1] == ["serve"]:
        from charlm_tui.serve_cli import serve_main

        return serve_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_resume_flags(args)
        check_lr_find_flags(args)
        config = run_config_from_args(args)
    except SettingError as error:
        parser.error(str(error))
    if args.headless or args.lr_find or args.next is not None:
        from charlm_tui.headless import run_headless, run_lr_find, run_next

        try:
            if args.lr_find:
                return run_lr_find(args, parser)
            return run_next(args, parser) if args.next is not None else run_headless(args, parser)
        except KeyboardInterrupt:  # before training began (loading a large checkpoint, say): nothing to save
            print("charlm-tui: interrupted", file=sys.stderr)
            return 130
    served = "TEXTUAL_DRIVER" in os.environ  # textual-serve runs it over pipes, with a driver of its own
    if not served and not all(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stdout)):
        parser.exit(2, f"{parser.prog}: error: the app needs a terminal (for a remote one: ssh -t); "
                       "without one, train with --headless\n")
    from charlm_tui.app import CharLMApp

    app = CharLMApp(corpus=corpus_from_args(args), resume=getattr(args, "resume", None), config=config,
                    autosave_path=served_autosave_path() if served else None)
    try:
        app.run()
    finally:  # quitting autosaves; this is for the ways out that do not quit (an error in the app)
        app.session.pause()  # a training thread still running ends after its step
        try:
            saved = app.session.autosave()
        except (OSError, CheckpointError) as error:
            print(f"charlm-tui: error: unsaved training could not be autosaved: {error}", file=sys.stderr)
        else:
            if saved is not None:
                print(f"charlm-tui: unsaved training autosaved to {saved}", file=sys.stderr)
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
