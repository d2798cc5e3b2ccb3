"""The optimisers' cost (issue 23): AdamW with weight decay against plain SGD on the makemore preset, side by side.

    .venv/bin/python benchmarks/bench_optim.py [--quick]

Plain SGD without decay takes the tables' sparse path (a step touches only what the batch moved); momentum, Adam
and any weight decay move every weight at every step, row by row. Runs alternate, so that a burst of load elsewhere
hits both, and each figure is the median of its rounds. Target: AdamW + decay at ≥ 2/3 of SGD's steps/s on the
makemore preset; batch 1 is reported too (there a dense update is a larger share of a step).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import verdict  # noqa: E402
from core.corpora import resolve_corpus  # noqa: E402
from core.run import Run  # noqa: E402
from core.settings import RunConfig  # noqa: E402

TARGET = 2 / 3
OPTIMIZERS = {"sgd": dict(optimizer="sgd"),
              "adamw + decay": dict(optimizer="adamw", learning_rate=1e-3, weight_decay=0.01)}


def steps_per_second(config: RunConfig, steps: int) -> float:
    run = Run.new(resolve_corpus("names"), config)
    run.trainer.run(max_steps=5)  # warm: the first steps build the epoch's order
    start = time.perf_counter()
    run.trainer.run(max_steps=steps)
    return steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    args = parser.parse_args(argv)
    rounds, examples = (3, 1200) if args.quick else (7, 3200)  # a round trains as many examples at any batch size
    figures = []
    for batch in (None, 1):
        base = RunConfig.preset("makemore").replace(max_steps=10**6, eval_every=10**6)
        base = base if batch is None else base.replace(batch_size=batch)
        label = f"makemore preset (batch {base.batch_size})"
        speeds = {name: [] for name in OPTIMIZERS}
        for _ in range(rounds):
            for name, changes in OPTIMIZERS.items():
                speeds[name].append(steps_per_second(base.replace(**changes), max(1, examples // base.batch_size)))
        medians = {name: statistics.median(values) for name, values in speeds.items()}
        ratio = medians["adamw + decay"] / medians["sgd"]
        print(f"{label}: sgd {medians['sgd']:.1f} steps/s, adamw + decay {medians['adamw + decay']:.1f} steps/s "
              f"= {ratio:.0%} of sgd (median of {rounds} alternating rounds)"
              + (f"   target ≥ {TARGET:.0%}: {verdict(ratio >= TARGET)}" if batch is None else "   (reported)"))
        figures.append({"name": f"adamw + decay / sgd, {label}", "value": 100 * ratio, "unit": "%",
                        "target": f"≥ {TARGET:.0%}" if batch is None else "(reported)",
                        "met": ratio >= TARGET if batch is None else None})
    return {"figures": figures}


if __name__ == "__main__":
    main()
