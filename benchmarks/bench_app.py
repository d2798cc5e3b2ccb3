"""The app's overhead: training speed inside the TUI vs headless, and key-to-screen latency while training.

1. Steps/s of the same run (default corpus and preset, fused engine) inside the app (Textual headless
   driver, 80×24, F5) and headless (the core `Trainer` in the main thread, the app paused and its event
   loop blocked), in alternating rounds of the same number of steps in one session. The figure is the
   median of the rounds' ratios, so a burst of load from a neighbour on a shared machine spoils one
   round, not the result. Auto-sampling is off for the ratio (it is measured separately: it shares the
   CPU with training by design). Target: app ≥ 90 % of headless.
   A third arm, in the same rounds: the app with the Inside view open (its refreshes share the CPU with
   training). Target: it costs at most 5 % of headless speed (median over rounds of (app − app with the
   view) / headless).
2. Key-to-screen latency while training: a key event (F10/F9, temperature up/down) goes in where a
   terminal driver puts it, and the clock stops at the first frame composed for the terminal after the
   temperature field shows the new value. Target: p95 ≤ 50 ms.

Run: .venv/bin/python benchmarks/bench_app.py [--steps N] [--rounds R] [--presses P] [--json] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from textual import events  # noqa: E402
from textual.widgets import Input, Tabs  # noqa: E402

from charlm_tui.app import CharLMApp  # noqa: E402
from core.corpora import DEFAULT_CORPUS, resolve_corpus  # noqa: E402
from common import verdict  # noqa: E402
from core.run import Run  # noqa: E402
from core.session import Phase  # noqa: E402
from core.settings import RunConfig  # noqa: E402


EPOCHS = 10_000  # long enough to outlast the measurements
OPENING = 1.0  # seconds for a screen to lay itself out (the Inside view: its first reading); "while open" starts after


class HeadlessRun:
    """The same run as the app's, trained in this (main) thread: the event loop is blocked meanwhile,
    so nothing else competes with it — that is what headless means."""

    def __init__(self):
        self.run = Run.new(resolve_corpus(DEFAULT_CORPUS), RunConfig.preset("default").replace(epochs=EPOCHS,
                                                                                                max_steps=None))
        self.run.trainer.run(max_steps=50)  # warm-up, as the app's first steps also are

    def steps_per_sec(self, steps: int) -> float:
        start = time.perf_counter()
        self.run.trainer.run(max_steps=steps)
        return steps / (time.perf_counter() - start)


async def wait_until(condition, poll: float, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        await asyncio.sleep(poll)


async def app_steps_per_sec(app: CharLMApp, steps: int) -> float:
    first, start = app.session.step, time.perf_counter()
    # rare polls: the measurement should not load the UI thread
    await wait_until(lambda: app.session.step >= first + steps, 0.25, f"{steps} steps in the app")
    return (app.session.step - first) / (time.perf_counter() - start)


async def key_latencies(app: CharLMApp, presses: int) -> list[float]:
    """Seconds from a key event (F10/F9, temperature up/down) to the first frame showing its effect."""
    field = app.query_one("#temperature", Input)
    frames: list[tuple[float, str]] = []  # when each frame went to the (headless) terminal, and what it showed
    display = app._display

    def timed_display(screen, renderable):
        if renderable is not None:
            frames.append((time.perf_counter(), field.value))
        return display(screen, renderable)

    def shown(value: str, since: float) -> float | None:
        return next((t for t, v in frames if t >= since and v != value), None)

    latencies = []
    app._display = timed_display
    for i in range(presses):
        before = field.value
        t0 = time.perf_counter()
        # What a terminal driver does with a key press; Pilot.press would add its own idle waits.
        app._driver.send_message(events.Key("f10" if i % 2 == 0 else "f9", None))
        # no polling meanwhile: it would compete with the app for the GIL
        await asyncio.sleep(0.2)
        await wait_until(lambda: shown(before, t0) is not None, 0.01, "the key's effect on the screen")
        latencies.append(shown(before, t0) - t0)
    app._display = display
    return latencies


async def in_app(steps: int, rounds: int, auto_every: int, presses: int):
    """`rounds` of (steps/s in the app, steps/s headless, steps/s in the app with the Inside view open),
    alternating in one session, then `presses` key-to-screen latencies (seconds) while training."""
    from charlm_tui.screens.inside import InsideScreen

    rates: list[tuple[float, float, float]] = []
    headless = HeadlessRun() if rounds else None
    with tempfile.TemporaryDirectory() as tmp:
        app = CharLMApp(autosave_path=Path(tmp) / "autosave.json", calibrate=False)
        async with app.run_test(size=(80, 24)) as pilot:
            app.query_one("#auto-every", Input).value = str(auto_every)
            app.query_one("#epochs", Input).value = str(EPOCHS)
            app.query_one("#max_steps", Input).value = ""
            await pilot.press("f5")
            await wait_until(lambda: app.session.step >= 50, 0.01, "training")
            for _ in range(rounds):
                in_the_app = await app_steps_per_sec(app, steps)
                await pilot.press("f5")
                await wait_until(lambda: app.main.phase is Phase.PAUSED, 0.01, "pause")
                alone = headless.steps_per_sec(steps)
                await pilot.press("f5")
                await wait_until(lambda: app.main.phase is Phase.RUNNING, 0.01, "resume")
                await app.push_screen(InsideScreen(app.session))
                app.screen.query_one("#part-tabs", Tabs).active = "health"  # at 80×24 the part that reads the most
                await asyncio.sleep(OPENING)
                with_the_view = await app_steps_per_sec(app, steps)
                app.pop_screen()
                await asyncio.sleep(OPENING)  # the main screen repaints whole once back: not a cost of training there
                rates.append((in_the_app, alone, with_the_view))
            sampling_rate = None if rounds else await app_steps_per_sec(app, steps)
            latencies = await key_latencies(app, presses)
            training = app.main.phase is Phase.RUNNING
            await pilot.press("ctrl+q")
        if not training:
            raise RuntimeError("training had stopped before the measurements ended: use more epochs")
    return rates, sampling_rate, latencies


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=21, help="alternating app/headless rounds")
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer steps and key presses")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.presses = 300, 7, 20

    rates, _, latencies = asyncio.run(in_app(args.steps, args.rounds, 0, args.presses))
    ratios = [app / headless for app, headless, _ in rates]
    ratio = statistics.median(ratios)
    view_costs = [(app - viewed) / headless for app, headless, viewed in rates]
    view_cost = statistics.median(view_costs)
    app_rate, headless, viewed_rate = (statistics.median(r) for r in zip(*rates))
    _, app_rate_sampling, _ = asyncio.run(in_app(args.steps, 0, 1000, 0))
    latencies_ms = sorted(1000 * x for x in latencies)
    p95 = latencies_ms[int(0.95 * (len(latencies_ms) - 1))]
    results = {
        "headless_steps_per_sec": headless,
        "app_steps_per_sec": app_rate,
        "app_over_headless": ratio,
        "app_over_headless_rounds": ratios,
        "app_steps_per_sec_with_auto_samples": app_rate_sampling,
        "app_steps_per_sec_with_the_inside_view": viewed_rate,
        "inside_view_cost_of_headless": view_cost,
        "inside_view_cost_rounds": view_costs,
        "key_latency_ms_median": statistics.median(latencies_ms),
        "key_latency_ms_p95": p95,
        "key_latency_ms_max": latencies_ms[-1],
    }
    results["figures"] = [
        {"name": "training in the app / headless", "value": 100 * ratio, "unit": "%",
         "target": "≥ 90 %", "met": ratio >= 0.9},
        {"name": "the Inside view's cost to training, of headless speed", "value": 100 * view_cost, "unit": "%",
         "target": "≤ 5 %", "met": view_cost <= 0.05},
        {"name": "key-to-screen latency while training, p95", "value": p95, "unit": "ms",
         "target": "≤ 50 ms", "met": p95 <= 50},
    ]
    if args.json:
        print(json.dumps(results))
    else:
        print(f"headless training          {headless:8.0f} steps/s   (median of {args.rounds} rounds)")
        print(f"inside the app             {app_rate:8.0f} steps/s   {100 * ratio:5.1f} % of headless, median of "
              f"{', '.join(f'{100 * r:.0f}' for r in ratios)} %   (target ≥ 90 %: {verdict(ratio >= 0.9)})")
        print(f"  with auto-samples/1000   {app_rate_sampling:8.0f} steps/s")
        print(f"  with the Inside view     {viewed_rate:8.0f} steps/s   costs {100 * view_cost:5.1f} % of headless, median of "
              f"{', '.join(f'{100 * c:.0f}' for c in view_costs)} %   (target ≤ 5 %: {verdict(view_cost <= 0.05)})")
        print(f"key-to-screen latency      median {results['key_latency_ms_median']:.1f} ms, p95 {p95:.1f} ms, "
              f"max {latencies_ms[-1]:.1f} ms over {len(latencies_ms)} presses   (target p95 ≤ 50 ms: {verdict(p95 <= 50)})")
    return results


if __name__ == "__main__":
    main()
