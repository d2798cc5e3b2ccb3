"""The app's overhead: training speed inside the TUI vs headless, and key-to-screen latency while training.

1. Steps/s of the same run (default corpus and preset, fused engine) trained headless with the core
   `Trainer`, then inside the app (Textual headless driver, 80×24, F5), each over the same number of
   steps, one after the other in this process. Auto-sampling is off for the ratio (it is measured
   separately: it shares the CPU with training by design). Target: app ≥ 90 % of headless.
2. Key-to-screen latency while training: a key event (F10/F9, temperature up/down) goes in where a
   terminal driver puts it, and the clock stops at the first frame composed for the terminal after the
   temperature field shows the new value. Target: p95 ≤ 50 ms.

Run: .venv/bin/python benchmarks/bench_app.py [--steps N] [--json]
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
from textual.widgets import Input  # noqa: E402

from charlm_tui.app import CharLMApp  # noqa: E402
from core.corpora import resolve_corpus  # noqa: E402
from common import verdict  # noqa: E402
from core.run import PRESETS, Run  # noqa: E402


def headless_steps_per_sec(steps: int) -> float:
    run = Run.new(resolve_corpus("proverbs"), PRESETS["default"])
    run.trainer.run(max_steps=50)  # warm-up, as the app's first steps also are
    start = time.perf_counter()
    run.trainer.run(max_steps=steps)
    return steps / (time.perf_counter() - start)


async def in_app(steps: int, auto_every: int, presses: int) -> tuple[float, list[float]]:
    """Steps/s inside the app over `steps` steps, then `presses` key-to-screen latencies (seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = CharLMApp(autosave_path=Path(tmp) / "autosave.json", calibrate=False)
        async with app.run_test(size=(80, 24)) as pilot:
            app.query_one("#auto-every", Input).value = str(auto_every)
            app.query_one("#epochs", Input).value = "10000"  # long enough to outlast the measurements
            await pilot.press("f5")
            while app.run_ is None or app.run_.trainer.state.step < 50:
                await asyncio.sleep(0.01)
            first, start = app.run_.trainer.state.step, time.perf_counter()
            while app.run_.trainer.state.step < first + steps:
                await asyncio.sleep(0.25)  # rare polls: the measurement should not load the UI thread
            rate = (app.run_.trainer.state.step - first) / (time.perf_counter() - start)

            latencies = []
            frames: list[float] = []  # when each composed frame went to the (headless) terminal
            display = app._display

            def timed_display(screen, renderable):
                if renderable is not None:
                    frames.append(time.perf_counter())
                return display(screen, renderable)

            app._display = timed_display
            field = app.query_one("#temperature", Input)
            for i in range(presses):
                before = field.value
                t0 = time.perf_counter()
                # What a terminal driver does with a key press; Pilot.press would add its own idle waits.
                app._driver.send_message(events.Key("f10" if i % 2 == 0 else "f9", None))
                while field.value == before:
                    await asyncio.sleep(0.0005)
                changed = time.perf_counter()
                while not frames or frames[-1] < changed:
                    await asyncio.sleep(0.0005)
                latencies.append(frames[-1] - t0)
                await asyncio.sleep(0.1)
            app._display = display
            training = app.state == "running"
            await pilot.press("ctrl+q")
        if not training:
            raise RuntimeError("training had stopped before the latency measurements ended: use more epochs")
    return rate, latencies


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer steps and key presses")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.presses = 1000, 20

    headless = headless_steps_per_sec(args.steps)
    app_rate, latencies = asyncio.run(in_app(args.steps, 0, args.presses))
    app_rate_sampling, _ = asyncio.run(in_app(args.steps, 1000, 0))
    latencies_ms = sorted(1000 * x for x in latencies)
    p95 = latencies_ms[int(0.95 * (len(latencies_ms) - 1))]
    results = {
        "headless_steps_per_sec": headless,
        "app_steps_per_sec": app_rate,
        "app_over_headless": app_rate / headless,
        "app_steps_per_sec_with_auto_samples": app_rate_sampling,
        "key_latency_ms_median": statistics.median(latencies_ms),
        "key_latency_ms_p95": p95,
        "key_latency_ms_max": latencies_ms[-1],
    }
    results["figures"] = [
        {"name": "training in the app / headless", "value": 100 * app_rate / headless, "unit": "%",
         "target": "≥ 90 %", "met": app_rate / headless >= 0.9},
        {"name": "key-to-screen latency while training, p95", "value": p95, "unit": "ms",
         "target": "≤ 50 ms", "met": p95 <= 50},
    ]
    if args.json:
        print(json.dumps(results))
    else:
        print(f"headless training          {headless:8.0f} steps/s")
        print(f"inside the app             {app_rate:8.0f} steps/s   {100 * app_rate / headless:5.1f} % of headless"
              f"   (target ≥ 90 %: {verdict(app_rate / headless >= 0.9)})")
        print(f"  with auto-samples/1000   {app_rate_sampling:8.0f} steps/s")
        print(f"key-to-screen latency      median {results['key_latency_ms_median']:.1f} ms, p95 {p95:.1f} ms, "
              f"max {latencies_ms[-1]:.1f} ms over {len(latencies_ms)} presses   (target p95 ≤ 50 ms: {verdict(p95 <= 50)})")
    return results


if __name__ == "__main__":
    main()
