"""How well the model learns: the `makemore` preset on the full names corpus, against a published result.

Andrej Karpathy's "Zero to Hero" makemore part 2 trains this architecture (context 3, embed 10, one tanh
hidden layer of 200) on the same 32,033 names, batches of 32, lr 0.1 then 0.01, for 200,000 updates
(6.4 million examples), and reaches a dev loss of 2.17, measured per name with the end marker. Names train a
line at a time here (`items` lines, the default for them): every name starts from a padded context and ends by
predicting the line break, so the validation loss is that same measure, on 10 % of the names drawn by seed.

The preset trains on its own budget; this script follows it as `charlm-tui --headless --preset makemore --json`
would, and reports (1) what such a run had printed once 600 s of training were spent — its latest validation
event (the preset's evenly spaced sample of the held-out set) and the whole held-out set measured then — and
(2) the whole held-out set at the end of the budget. Run it with nothing else on the machine: the budget is time.
Targets: ≤ 2.30 after 600 s (aim: Zero to Hero's 2.17), ≤ 2.20 at the end.

Run: .venv/bin/python benchmarks/bench_quality.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import verdict  # noqa: E402
from core.corpora import resolve_corpus  # noqa: E402
from core.run import Run  # noqa: E402
from core.settings import RunConfig  # noqa: E402
from core.training import StepEvent, ValidationEvent  # noqa: E402

INTERRUPTED_AFTER = 600.0  # seconds of training
ZERO_TO_HERO_DEV_LOSS = 2.17
TARGET_INTERRUPTED = 2.30
TARGET_FULL = 2.20


def whole_validation(run: Run) -> float:
    """The loss on every held-out example (the run's own evaluations take an evenly spaced sample)."""
    trainer, config = run.trainer, run.config
    trainer.config = config.replace(eval_examples=len(trainer.validation_examples))
    try:
        return trainer.validation_loss()
    finally:
        trainer.config = config


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    config = RunConfig.preset("makemore")
    run = Run.new(resolve_corpus("names"), config)
    trainer = run.trainer
    print(f"makemore preset on names ({len(trainer.train_examples):,} training / {len(trainer.validation_examples):,} "
          f"validation examples, {run.items}): {config.optimizer} at lr {config.learning_rate:g} ({config.lr_schedule}), "
          f"batches of {config.batch_size}, budget {config.minutes or '-'} min / {config.max_steps or '-'} steps",
          flush=True)
    start = time.perf_counter()
    printed, at_600 = None, None
    for event in trainer.events():
        if isinstance(event, ValidationEvent):
            printed = event
            print(f"  step {event.step:,}: validation {event.loss:.3f} ({trainer.state.seconds:.0f} s of training)",
                  flush=True)
        if isinstance(event, StepEvent) and at_600 is None and trainer.state.seconds >= INTERRUPTED_AFTER:
            at_600 = {"step": event.step, "printed": printed.loss if printed else None,
                      "printed_at": printed.step if printed else None, "whole": whole_validation(run)}
            said = f"{printed.loss:.3f} (step {printed.step:,})" if printed else "none yet"
            print(f"  after {INTERRUPTED_AFTER:.0f} s of training (step {event.step:,}): the latest validation printed "
                  f"{said}; the whole held-out set {at_600['whole']:.3f}", flush=True)
    full = whole_validation(run)
    seconds = time.perf_counter() - start
    results = {"updates": trainer.state.step, "training_seconds": trainer.state.seconds, "seconds": seconds,
               "after_600s": at_600, "full_budget": full, "zero_to_hero_dev_loss": ZERO_TO_HERO_DEV_LOSS}
    printed_600 = at_600["printed"] if at_600 and at_600["printed"] is not None else float("nan")
    results["figures"] = [
        {"name": f"makemore preset after {INTERRUPTED_AFTER:.0f} s of training: the validation printed",
         "value": printed_600, "unit": "", "target": f"≤ {TARGET_INTERRUPTED:.2f} (aim {ZERO_TO_HERO_DEV_LOSS})",
         "met": printed_600 <= TARGET_INTERRUPTED},
        {"name": "makemore preset, full budget: the whole held-out set", "value": full, "unit": "",
         "target": f"≤ {TARGET_FULL:.2f}", "met": full <= TARGET_FULL},
    ]
    if args.json:
        print(json.dumps(results))
    else:
        print(f"after {INTERRUPTED_AFTER:.0f} s: {printed_600:.3f} printed (target ≤ {TARGET_INTERRUPTED:.2f}: "
              f"{verdict(printed_600 <= TARGET_INTERRUPTED)}); full budget ({trainer.state.step:,} updates, "
              f"{seconds / 60:.1f} min): {full:.3f} on the whole held-out set (target ≤ {TARGET_FULL:.2f}: "
              f"{verdict(full <= TARGET_FULL)}; Zero to Hero's dev loss {ZERO_TO_HERO_DEV_LOSS})")
    return results


if __name__ == "__main__":
    main()
