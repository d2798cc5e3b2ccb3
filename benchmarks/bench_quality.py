"""How well the model learns: the `makemore` preset on the full names corpus, against a published result.

Andrej Karpathy's "Zero to Hero" makemore part 2 trains this architecture (context 3, embed 10, one tanh
hidden layer of 200) on the same 32,033 names, batches of 32, lr 0.1 then 0.01, for 200,000 updates
(6.4 million examples), and reaches a dev loss of 2.17. Here the same preset trains headless for a fixed
budget of EXAMPLES (about 10 minutes on this project's 2-core machine) and the validation loss is
measured on the whole held-out set (10 % of the names, drawn by seed from all through the file), exactly.
Target ≤ 2.30; aim ≤ 2.17.

Run: .venv/bin/python benchmarks/bench_quality.py [--examples N] [--json]
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
from core.training import StepEvent  # noqa: E402

EXAMPLES = 480_000  # the budget: the preset's 60,000 updates of 8
ZERO_TO_HERO_DEV_LOSS = 2.17
TARGET = 2.30


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=EXAMPLES, help="training examples in all [%(default)s]")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    preset = RunConfig.preset("makemore")
    config = preset.replace(max_steps=args.examples // preset.batch_size, eval_every=10**7)
    corpus = resolve_corpus("names")
    run = Run.new(corpus, config)
    trainer = run.trainer
    print(f"makemore preset on names ({len(trainer.train_examples):,} training / {len(trainer.validation_examples):,} "
          f"validation examples): {config.max_steps:,} updates of {config.batch_size} = {args.examples:,} examples, "
          f"lr {config.learning_rate:g} ({config.lr_schedule}, × {config.lr_decay:g} at {config.decay_at:.0%})",
          flush=True)
    start = time.perf_counter()
    every = max(1, config.max_steps // 10)
    for event in trainer.events():
        if isinstance(event, StepEvent) and event.step % every == 0:
            recent = trainer.state.losses[-500:]
            print(f"  update {event.step:,}: training loss (mean of the last {len(recent)} updates) "
                  f"{sum(recent) / len(recent):.3f}, lr {event.learning_rate:g}, {time.perf_counter() - start:.0f} s",
                  flush=True)
    seconds = time.perf_counter() - start
    run.trainer.config = run.config = config.replace(eval_examples=len(trainer.validation_examples))  # all of it
    validation = trainer.validation_loss()
    results = {
        "examples": args.examples, "updates": trainer.state.step, "seconds": seconds,
        "validation_loss": validation, "zero_to_hero_dev_loss": ZERO_TO_HERO_DEV_LOSS,
        "figures": [{"name": "makemore preset, validation loss (names, whole held-out set)", "value": validation,
                     "unit": "", "target": f"≤ {TARGET:.2f} (aim ≤ {ZERO_TO_HERO_DEV_LOSS})", "met": validation <= TARGET}],
    }
    if args.json:
        print(json.dumps(results))
    else:
        print(f"validation loss {validation:.3f} after {args.examples:,} examples in {seconds / 60:.1f} min   "
              f"(Zero to Hero's dev loss: {ZERO_TO_HERO_DEV_LOSS}; target ≤ {TARGET:.2f}: {verdict(validation <= TARGET)})")
    return results


if __name__ == "__main__":
    main()
