"""`charlm-tui`: the app by default, or headless training with --headless; `runs`, `export` and `serve` (their
arguments: `charlm_tui.arguments`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from charlm_tui.arguments import (OneLineParser, build_parser, check_lr_find_flags, check_resume_flags,
                                  corpus_from_args, run_config_from_args)
from core.checkpoint import CheckpointError
from core.places import data_home
from core.settings import SettingError
from core.visible import VisibleStream, visible


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


SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell starting so is a formula to Excel or LibreOffice


def _cell(value) -> object:
    """A CSV cell: numbers as they are; text that a spreadsheet would run as a formula (a corpus named
    "=HYPERLINK(…)") with a quote in front, as spreadsheets themselves mark text."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA):
        return "'" + value
    return "" if value is None else value


def _runs_csv(runs, visitors: dict[str, str]) -> None:
    """The history as CSV on stdout: the table's columns (numbers unrounded), then one column per setting."""
    import csv

    from core.settings import SETTINGS

    known = [s.name for s in SETTINGS]
    others = sorted({name for r in runs for name in r.settings} - set(known))  # settings of later versions
    settings = [name for name in known if any(name in r.settings for r in runs)] + others
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["id", "started", "corpus", "steps", "best_val", "best_step", "ppl", "final_val", "final_train",
                     "gap", "outcome", "seconds", "parameters", "visitor", *settings])
    for r in runs:
        best_step = r.best_validation["step"] if r.best_validation else None
        writer.writerow([_cell(x) for x in (
            r.id, r.started, r.corpus["name"], r.steps, r.best_validation and r.best_loss, best_step,
            r.best_perplexity, r.final_validation, r.final_training, r.gap, r.outcome(), r.wall_seconds,
            r.parameters, visitors.get(r.id), *(r.settings.get(name) for name in settings))])


def runs_main(argv: list[str]) -> int:
    """`charlm-tui runs [--json | --jsonl | --csv]`: the run history, oldest first; damaged lines are warned of on
    stderr."""
    import json

    from core.history import RunLog, visitor_logs

    parser = OneLineParser(prog="charlm-tui runs", description="List the training runs recorded in the run history "
                           "(the app's and headless ones, and those of charlm-tui serve's visitors), oldest first.")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON array, an object per run (every field, the "
                      "curves included)")
    form.add_argument("--jsonl", action="store_true", help="JSON Lines: the same objects, one a line")
    form.add_argument("--csv", action="store_true", help="CSV for a spreadsheet or pandas: a header, then a row per "
                      "run with the table's columns and every setting")
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
    machine = args.json or args.jsonl or args.csv
    if not runs:
        print(f"no runs yet: every training run is recorded in {log.path}", file=sys.stderr if machine else sys.stdout)
    objects = [{**r.to_json(), "outcome": r.outcome(), **({"visitor": visitors[r.id]} if r.id in visitors else {})}
               for r in runs] if args.json or args.jsonl else []
    try:
        if args.json:
            print(json.dumps(objects, indent=1))  # ASCII: C1 escaped too
        elif args.jsonl:
            for o in objects:
                print(json.dumps(o))
        elif args.csv:
            _runs_csv(runs, visitors)
        elif runs:
            print(_runs_table(runs, visitors))
        sys.stdout.flush()
    except BrokenPipeError:  # `charlm-tui runs | head`
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
