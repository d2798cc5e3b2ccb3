"""The course's third question on the `overfit` preset: how far validation ends above training, and what narrows it.

    .venv/bin/python benchmarks/bench_overfit.py [--json]      (about 8 minutes: five runs, two at a time)

Each run is `charlm-tui --headless --preset overfit --json` with one change (none, --dropout 0.2, --weight-decay 0.1,
a smaller model, --patience 4), read from what it prints: the step events' `loss` (every 10 steps; their mean over
the last 500 steps stands for the smoothed training loss) and the `validation` events. For each: where validation
was lowest (the step, and the seconds of training to get there), its best and final validation, and the gap
(final validation − training). Targets (issue 23): the plain preset turns upward within ~2 minutes and ends ≥ 0.3
above training; dropout 0.2 and weight decay 0.1 each narrow that gap by at least a third *and* lower the best
validation. The timing is the base run's alone, before the others start (they run two at a time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import verdict  # noqa: E402

VARIANTS = {
    "overfit": [],
    "--dropout 0.2": ["--dropout", "0.2"],
    "--weight-decay 0.1": ["--weight-decay", "0.1"],
    "--hidden 32": ["--hidden", "32"],
    "--patience 4": ["--patience", "4"],
}
TRAINING_WINDOW = 500  # steps whose losses stand for the smoothed training loss at the end
UPTURN_SECONDS = 120
LEAST_GAP = 0.3
NARROWED = 1 / 3


def run(extra: list[str], data: str) -> dict:
    """One headless run of the preset with `extra` flags: its curves as it printed them."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "charlm_tui.cli", "--headless", "--preset", "overfit", "--json",
                             "--print-every", "10", "--sample", "0", *extra], capture_output=True, text=True, check=True,
                            cwd=data, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": data,
                                           "XDG_CONFIG_HOME": data, "HOME": data})
    events = [json.loads(line) for line in result.stdout.splitlines()]
    steps = [(e["step"], e["loss"]) for e in events if e["event"] == "step"]
    validation = [(e["step"], e["loss"]) for e in events if e["event"] == "validation"]
    last = steps[-1][0]
    recent = [loss for step, loss in steps if step > last - TRAINING_WINDOW]
    training = sum(recent) / len(recent)
    best_step, best = min(validation, key=lambda point: point[1])
    final = validation[-1][1]
    return {"steps": last, "seconds": time.perf_counter() - start, "best": best, "best_step": best_step,
            "final": final, "training": training, "gap": final - training, "validation": validation}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data:
        base = run([], data)  # alone: its time is the one the target is about
        with ThreadPoolExecutor(2) as pool:
            others = dict(zip(list(VARIANTS)[1:], pool.map(lambda extra: run(extra, data), list(VARIANTS.values())[1:])))
    results = {"overfit": base, **others}
    upturn_seconds = base["seconds"] * base["best_step"] / base["steps"]  # training's share of the run's time
    for name, r in results.items():
        print(f"{name:<20} best val {r['best']:.3f} at step {r['best_step']:>5,}   final val {r['final']:.3f}   "
              f"training {r['training']:.3f}   gap {r['gap']:+.3f}   ({r['steps']:,} steps, {r['seconds']:.0f} s)")
    figures = [
        {"name": "overfit preset: validation turns upward after (seconds)", "value": upturn_seconds, "unit": "s",
         "target": f"≤ ~{UPTURN_SECONDS}", "met": upturn_seconds <= UPTURN_SECONDS * 1.1},
        {"name": "overfit preset: final gap above training", "value": base["gap"], "unit": "",
         "target": f"≥ {LEAST_GAP}", "met": base["gap"] >= LEAST_GAP},
    ]
    for name in ("--dropout 0.2", "--weight-decay 0.1"):
        r = results[name]
        narrowed = 1 - r["gap"] / base["gap"]
        figures.append({"name": f"overfit {name}: gap narrowed by (best val {r['best']:.3f} vs {base['best']:.3f})",
                        "value": narrowed, "unit": "", "target": f"≥ {NARROWED:.2f} and a lower best",
                        "met": narrowed >= NARROWED and r["best"] < base["best"]})
    for f in figures:
        print(f"{f['name']}: {f['value']:.2f} (target {f['target']}: {verdict(f['met'])})")
    out = {"runs": results, "figures": figures}
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
