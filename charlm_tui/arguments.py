"""The main command's arguments, built from the settings' declarations, and how they become a run's configuration:
shared by the command line's entry (`charlm_tui.cli`), headless training, `export` and `serve`.

Every hyperparameter flag is built from its declaration in `core.settings`: the same name, limits and help as the
app's form.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from charlm_tui import __version__
from core.corpora import DEFAULT_CORPUS
from core.lr_finder import LR_MAX, LR_MIN, STEPS as LR_STEPS
from core.settings import BY_NAME, PRESETS, SAMPLING, SETTINGS, RunConfig, Setting, SettingError, parse_temperatures


PRINT_EVERY = Setting("print_every", "print every", "--print-every", int, "steps between progress lines",
                      {"default": None}, minimum=1, maximum=10**9, optional=True, empty="about 100 lines a run")


USAGE = (("charlm-tui [--headless] [OPTIONS]", "the app, or training without it"),
         ("charlm-tui runs [--csv|--json]", "the runs trained so far, for scripts too"),
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
    """The settings given on the command line. A budget given alone is the run's only one: --steps bounds it by
    steps only, --epochs by epochs, --minutes by time (the preset's other budgets are dropped)."""
    given = {s.name: getattr(args, s.name) for s in SETTINGS if hasattr(args, s.name)}
    budgets = ("max_steps", "epochs", "minutes")
    if any(given.get(budget) is not None for budget in budgets):
        given.update({budget: None for budget in budgets if budget not in given})
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
