"""Training and sampling speed on the course's configuration, reference engine beside fused engine.

Configuration: the proverbs text (vocabulary 32), context 8, embedding 32, hidden 128, 2 hidden
ReLU layers, learning rate 0.01, seed 0, no validation split — what the course trains.

Training: for each engine a fresh `Run` (same seed, so the same weights and the same shuffled
example order) takes one warm-up step, then a timed block of `Trainer.step()` calls: a few for the
reference engine (about a second each), a few hundred for the fused one. Beside them, the course's
own training loop, one Value at a time over `model.parameters()` of a fresh fused model (the same
weights; the training examples in their order):

    loss = model.loss(context, target)
    for p in params: p.grad = 0.0
    loss.backward()
    for p in params: p.data -= lr * p.grad

The three take turns in this process, three times; each keeps its best block.

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
from core.run import Run  # noqa: E402
from core.settings import RunConfig  # noqa: E402
from core.sampling import FrozenModel, Sampler, prepare_prompt  # noqa: E402
from common import verdict  # noqa: E402

COURSE_SECONDS_PER_STEP = 2.6  # the course's own engine, on the issue author's machine
COURSE_SECONDS_PER_CHAR = 2.4  # the course's generate(), same machine
SPEEDUP_TARGET, SPEEDUP_AIM = 100.0, 200.0
LOOP_SPEEDUP_TARGET = 100.0  # the course's per-Value loop on the fused engine, against the reference engine
CHARS_PER_SEC_TARGET = 420.0  # 1,000× the course's generate (1000 / 2.4 s ≈ 417), rounded up


def course_run(engine: str) -> Run:
    corpus = load_corpus(ROOT / "sample_texts" / "proverbs.txt")
    config = RunConfig.preset("course").replace(engine=engine, epochs=10_000, seed=0)
    return Run.new(corpus, config)


def seconds_per_step(engine: str, steps: int) -> float:
    """A fresh run, one warm-up step, then the mean time of `steps` steps."""
    trainer = course_run(engine).trainer
    trainer.step()  # warm-up (builds parameter views, draws the first epoch's order)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return (time.perf_counter() - start) / steps


def seconds_per_course_loop_step(steps: int) -> float:
    """The course's training loop on a fresh fused model: one warm-up step, then the mean time of `steps` steps."""
    run = course_run("fused")
    model, examples, lr = run.model, run.trainer.train_examples, run.trainer.config.learning_rate
    params = model.parameters()

    def step(i: int) -> None:
        context, target = examples[i % len(examples)]
        loss = model.loss(context, target)
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= lr * p.grad

    step(0)  # warm-up
    start = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
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
    model.forward(context)  # warm-up: the first forward makes the weights into Values
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
    ref_steps, fused_steps, loop_steps = (2, 100, 100) if args.quick else (5, 300, 200)

    print("Training on the course's configuration (proverbs, vocab 32, context 8, embed 32, hidden 128 × 2, relu, lr 0.01)")
    ref = fus = loop = float("inf")
    for _ in range(repeats):  # alternate, so a burst of load elsewhere does not hit only one
        ref = min(ref, seconds_per_step("reference", ref_steps))
        fus = min(fus, seconds_per_step("fused", fused_steps))
        loop = min(loop, seconds_per_course_loop_step(loop_steps))
    print(f"  reference engine: {ref:8.4f} s/step  {1 / ref:8.2f} steps/s   (best of {repeats} × {ref_steps} steps)")
    print(f"  fused engine:     {fus:8.4f} s/step  {1 / fus:8.2f} steps/s   (best of {repeats} × {fused_steps} steps)")
    print(f"  course loop, per Value, fused engine: {loop:8.4f} s/step  {1 / loop:8.2f} steps/s   (best of {repeats} × {loop_steps} steps)")
    speedup = ref / fus
    print(f"  fused / reference: {speedup:.0f}×   target ≥ {SPEEDUP_TARGET:.0f}× (aim {SPEEDUP_AIM:.0f}×): {verdict(speedup >= SPEEDUP_TARGET)}")
    loop_speedup = ref / loop
    print(f"  course loop / reference: {loop_speedup:.0f}×   target ≥ {LOOP_SPEEDUP_TARGET:.0f}×: "
          f"{verdict(loop_speedup >= LOOP_SPEEDUP_TARGET)}")
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
        "fused_over_reference": speedup, "course_loop_seconds_per_step": loop, "course_loop_steps_per_sec": 1 / loop,
        "course_loop_over_reference": loop_speedup, "frozen_chars_per_sec": cps,
        "graph_chars_per_sec": graph_cps, "frozen_over_graph": cps / graph_cps,
        "figures": [
            {"name": "fused / reference training speed", "value": speedup, "unit": "×",
             "target": f"≥ {SPEEDUP_TARGET:.0f}× (aim {SPEEDUP_AIM:.0f}×)", "met": speedup >= SPEEDUP_TARGET},
            {"name": "fused training", "value": 1 / fus, "unit": "steps/s", "target": "(info)", "met": None},
            {"name": "reference training", "value": 1 / ref, "unit": "steps/s", "target": "(info)", "met": None},
            {"name": "course loop (per Value) / reference", "value": loop_speedup, "unit": "×",
             "target": f"≥ {LOOP_SPEEDUP_TARGET:.0f}× reference", "met": loop_speedup >= LOOP_SPEEDUP_TARGET},
            {"name": "course loop (per Value) training", "value": 1 / loop, "unit": "steps/s", "target": "(info)", "met": None},
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
