"""Training and sampling speed on the course's configuration, reference engine beside fused engine.

Configuration: the proverbs text (vocabulary 32), context 8, embedding 32, hidden 128, 2 hidden
ReLU layers, learning rate 0.01, seed 0, no validation split — what the course trains.

Training: for each engine a fresh `Run` (same seed, so the same weights and the same shuffled
example order) takes one warm-up step, then a timed block of `Trainer.step()` calls: a few for the
reference engine (about a second each), a few hundred for the fused one. The two engines take turns
in this process, three times; each keeps its best block.

Sampling: `Sampler.stream` on a `FrozenModel` of the fused model streams 2,000 characters at
temperature 0.8 (best of 3). For comparison, the course's way — forward through the reference
model's Value graph, softmax of Values, draw a character — is timed for a handful of characters.

    .venv/bin/python benchmarks/bench_engine.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.data import load_corpus  # noqa: E402
from core.model import softmax  # noqa: E402
from core.run import ModelConfig, Run, RunConfig  # noqa: E402
from core.sampling import FrozenModel, Sampler, prepare_prompt  # noqa: E402
from core.training import TrainConfig  # noqa: E402
from common import verdict  # noqa: E402

COURSE_SECONDS_PER_STEP = 2.6  # the course's own engine, on the issue author's machine
COURSE_SECONDS_PER_CHAR = 2.4  # the course's generate(), same machine
SPEEDUP_TARGET, SPEEDUP_AIM = 100.0, 200.0
CHARS_PER_SEC_TARGET = 420.0  # 1,000× the course's generate (1000 / 2.4 s ≈ 417), rounded up


def course_run(engine: str) -> Run:
    corpus = load_corpus(ROOT / "sample_texts" / "proverbs.txt")
    config = RunConfig(ModelConfig(8, 32, 128, 2, "relu", engine), TrainConfig(learning_rate=0.01, epochs=10_000, seed=0), 0.0)
    return Run.new(corpus, config)


def seconds_per_step(engine: str, steps: int) -> float:
    """A fresh run, one warm-up step, then the mean time of `steps` steps."""
    trainer = course_run(engine).trainer
    trainer.step()  # warm-up (builds parameter views, draws the first epoch's order)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return (time.perf_counter() - start) / steps


def frozen_chars_per_sec(run: Run, length: int, repeats: int) -> float:
    frozen = FrozenModel.from_model(run.model)
    prompt = prepare_prompt("A ", run.corpus.vocab, frozen.context_length)
    best = float("inf")
    for seed in range(repeats):
        sampler = Sampler(frozen, run.corpus.vocab, seed=seed)
        start = time.perf_counter()
        text = "".join(sampler.stream(prompt, length, temperature=0.8))
        best = min(best, time.perf_counter() - start)
        assert len(text) == length
    return length / best


def graph_chars_per_sec(run: Run, length: int, temperature: float = 0.8) -> float:
    """The course's generate loop: Value-graph forward and softmax per character, then a draw."""
    model, vocab, rng = run.model, run.corpus.vocab, random.Random(0)
    context = prepare_prompt("A ", vocab, model.context_length).context
    model.forward(context)  # warm-up: builds the Parameter views of every weight once
    start = time.perf_counter()
    for _ in range(length):
        logits = model.forward(context)
        probs = softmax([z / temperature for z in logits])
        idx = rng.choices(range(len(probs)), weights=[p.data for p in probs])[0]
        context = context[1:] + [idx]
    return length / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat and fewer steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure at the end")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    ref_steps, fused_steps = (2, 100) if args.quick else (5, 300)

    print("Training on the course's configuration (proverbs, vocab 32, context 8, embed 32, hidden 128 × 2, relu, lr 0.01)")
    ref = fus = float("inf")
    for _ in range(repeats):  # alternate the engines, so a burst of load elsewhere does not hit only one
        ref = min(ref, seconds_per_step("reference", ref_steps))
        fus = min(fus, seconds_per_step("fused", fused_steps))
    print(f"  reference engine: {ref:8.4f} s/step  {1 / ref:8.2f} steps/s   (best of {repeats} × {ref_steps} steps)")
    print(f"  fused engine:     {fus:8.4f} s/step  {1 / fus:8.2f} steps/s   (best of {repeats} × {fused_steps} steps)")
    speedup = ref / fus
    print(f"  fused / reference: {speedup:.0f}×   target ≥ {SPEEDUP_TARGET:.0f}× (aim {SPEEDUP_AIM:.0f}×): {verdict(speedup >= SPEEDUP_TARGET)}")
    print(f"  (the course's own engine: {COURSE_SECONDS_PER_STEP} s/step = {1 / COURSE_SECONDS_PER_STEP:.3f} steps/s on the issue "
          f"author's machine; fused here is {COURSE_SECONDS_PER_STEP / fus:.0f}× that figure, machines differ)")

    print("Sampling (course configuration, temperature 0.8)")
    fused_run, ref_run = course_run("fused"), course_run("reference")  # same seed: the same weights
    length, graph_length = (500, 3) if args.quick else (2000, 5)
    cps = frozen_chars_per_sec(fused_run, length, repeats)
    print(f"  FrozenModel + Sampler.stream: {cps:8.0f} chars/s   ({length} chars, best of {repeats})   "
          f"target ≥ {CHARS_PER_SEC_TARGET:.0f} chars/s: {verdict(cps >= CHARS_PER_SEC_TARGET)}")
    graph_cps = graph_chars_per_sec(ref_run, graph_length)
    print(f"  reference Value graph per char: {graph_cps:8.2f} chars/s ({1 / graph_cps:.3f} s/char, {graph_length} chars)")
    print(f"  frozen / graph: {cps / graph_cps:.0f}×   (the course's generate: {COURSE_SECONDS_PER_CHAR} s/char; "
          f"frozen here is {cps * COURSE_SECONDS_PER_CHAR:.0f}× that figure)")

    results = {
        "reference_seconds_per_step": ref, "reference_steps_per_sec": 1 / ref,
        "fused_seconds_per_step": fus, "fused_steps_per_sec": 1 / fus,
        "fused_over_reference": speedup, "frozen_chars_per_sec": cps,
        "graph_chars_per_sec": graph_cps, "frozen_over_graph": cps / graph_cps,
        "figures": [
            {"name": "fused / reference training speed", "value": speedup, "unit": "×",
             "target": f"≥ {SPEEDUP_TARGET:.0f}× (aim {SPEEDUP_AIM:.0f}×)", "met": speedup >= SPEEDUP_TARGET},
            {"name": "fused training", "value": 1 / fus, "unit": "steps/s", "target": "(info)", "met": None},
            {"name": "reference training", "value": 1 / ref, "unit": "steps/s", "target": "(info)", "met": None},
            {"name": "generation (FrozenModel)", "value": cps, "unit": "chars/s",
             "target": f"≥ {CHARS_PER_SEC_TARGET:.0f} chars/s", "met": cps >= CHARS_PER_SEC_TARGET},
            {"name": "frozen / graph generation", "value": cps / graph_cps, "unit": "×", "target": "(info)", "met": None},
        ],
    }
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    return results


if __name__ == "__main__":
    main()
