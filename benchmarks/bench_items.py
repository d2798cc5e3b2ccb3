"""How a name starts (issue 25): the names model's odds for an empty context against the file's first letters.

    .venv/bin/python benchmarks/bench_items.py [--quick] [--json]

The default settings on names, 20,000 steps, trained a line at a time (`--items lines`, the default for names)
and as a stream (the course's way); then each model's odds for the character after an empty prompt, against
the share of each first letter in names.txt, as a total-variation distance (half the sum of the differences:
0 is the same distribution, 1 none in common). Target: lines within 0.15.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import verdict  # noqa: E402
from core.corpora import resolve_corpus  # noqa: E402
from core.inside import next_char_odds  # noqa: E402
from core.run import Run  # noqa: E402
from core.settings import RunConfig  # noqa: E402

STEPS = 20_000
TARGET = 0.15


def first_letters(text: str) -> dict[str, float]:
    counts = Counter(line[0] for line in text.split("\n") if line)
    total = sum(counts.values())
    return {char: n / total for char, n in counts.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{STEPS // 4:,} steps instead of {STEPS:,}")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    steps = STEPS // 4 if args.quick else STEPS
    corpus = resolve_corpus("names")
    truth = first_letters(corpus.text)
    results = {}
    for items in ("lines", "stream"):
        run = Run.new(corpus, RunConfig().replace(items=items, max_steps=steps))
        run.trainer.run(max_steps=steps)
        odds = dict(next_char_odds(run.trainer.snapshot(), corpus.vocab, "", items=items).odds)
        distance = 0.5 * sum(abs(odds.get(c, 0.0) - truth.get(c, 0.0)) for c in corpus.vocab.chars)
        top = sorted(odds.items(), key=lambda pair: -pair[1])[:5]
        results[items] = {"distance": distance, "top": top}
        print(f"{items:<7} after {steps:,} steps: total variation {distance:.3f} from the file's first letters; "
              f"likeliest {', '.join(f'{c} {p:.1%}' for c, p in top)}", flush=True)
    truth_top = sorted(truth.items(), key=lambda pair: -pair[1])[:5]
    print(f"the file: {', '.join(f'{c} {p:.1%}' for c, p in truth_top)}")
    figures = [{"name": f"names, empty context, items lines ({steps:,} steps): total variation from the first letters",
                "value": results["lines"]["distance"], "unit": "", "target": f"≤ {TARGET}",
                "met": results["lines"]["distance"] <= TARGET}]
    print(f"lines: {results['lines']['distance']:.3f} (target ≤ {TARGET}: {verdict(figures[0]['met'])}); "
          f"stream: {results['stream']['distance']:.3f}")
    out = {"steps": steps, "results": results, "figures": figures}
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
