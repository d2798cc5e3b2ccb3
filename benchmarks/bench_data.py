"""Loading a large corpus, and memory over a long training run.

Each measurement runs in a fresh interpreter (this script, started again with a hidden flag).

(a) Load: a ~5 MB corpus (tiny Shakespeare repeated, cut at 5,000,000 bytes) is written to a temp
    dir; then `load_corpus(path)` + `corpus.split(8, 0.1)` + touching the example views (their
    lengths and a few random examples) is timed, and its memory measured two ways:
    - RSS: the process's peak resident size (VmHWM in /proc/self/status, reset just before through
      /proc/self/clear_refs) minus the resident size before, and what stays resident afterwards;
    - tracemalloc: the peak of Python allocations during a second, traced load.
    Both against the file size (target ≤ 10× it); the wall time target is ≤ 2 s.

(b) Flatness: 10,000 SGD steps on proverbs (the course's text) with the default preset's small
    fused model (context 8, embed 16, hidden 64). RSS and tracemalloc's current size are read after
    step 1,000 and after step 10,000 (after a gc.collect()). The trainer keeps the latest 1,024 losses
    in `state.losses` and the evaluations in `state.validation` (thinned beyond 1,024): bounded, and
    counted apart; the growth net of them should stay under ~1 MB. tracemalloc slows training ~9×, so
    RSS comes from one untraced run and tracemalloc from a second, traced run (skipped with --quick).

(c) Reading a run history of 10,000 lines (1,000 runs updated 10 times, full curves: ~33 MB), as the
    Runs view and `charlm-tui runs` do (target ≤ 0.5 s); building the novelty index of tiny Shakespeare,
    which the temperature columns and the generation panel need before their first summary (≤ 2 s).

(d) A history of 10,000 runs, a line each as compaction leaves it, full curves (~45 MB): `charlm-tui
    runs` in a fresh process, start-up included (target ≤ 2 s); the Runs view (Textual's headless
    driver, 160×48) from its opening to its table showing the first runs under its heading (≤ 2 s),
    then until every row is in (the rest is added a batch at a time, keys answered meanwhile: a key's
    round trip is timed then), and opened again once another run is appended (it reads that line only).

(e) Checkpoint size against steps: the default preset's model with the trainer's state of 10,000 and of
    1,000,000 steps (an evaluation every 500), made through the trainer's own records (add_loss,
    add_validation) rather than by training; the growth per step between them (target < 1 byte).

    .venv/bin/python benchmarks/bench_data.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.checkpoint import load_checkpoint  # noqa: E402
from core.corpora import resolve_corpus  # noqa: E402
from core.data import load_corpus  # noqa: E402
from core.history import RunLog, RunRecord  # noqa: E402
from core.novelty import NoveltyIndex  # noqa: E402
from core.run import Run  # noqa: E402
from core.settings import RunConfig  # noqa: E402
from common import verdict  # noqa: E402

CORPUS_BYTES = 5_000_000
LOAD_SECONDS_TARGET = 2.0
MEMORY_FACTOR_TARGET = 10.0
FLAT_BYTES_TARGET = 1_000_000
MB = 1_000_000
HISTORY_SECONDS_TARGET = 0.5
NOVELTY_SECONDS_TARGET = 2.0
LONG_HISTORY_RUNS = 10_000
LONG_HISTORY_SECONDS_TARGET = 2.0
CHECKPOINT_BYTES_PER_STEP_TARGET = 1.0


def status_kb(field: str) -> int | None:
    """A field of /proc/self/status, in kB (None where there is no /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def make_corpus(folder: Path) -> Path:
    source = (ROOT / "sample_texts" / "tinyshakespeare.txt").read_bytes()
    copies, rest = divmod(CORPUS_BYTES, len(source))
    blob = source * copies + source[:rest]
    while blob and blob[-1] & 0xC0 == 0x80:  # never cut a UTF-8 character in half
        blob = blob[:-1]
    path = folder / "big.txt"
    path.write_bytes(blob)
    return path


def load_and_touch(path: Path):
    corpus = load_corpus(path)
    split = corpus.split(8, 0.1)
    rng = random.Random(0)
    for view in (split.train, split.validation):
        n = len(view)
        for _ in range(5):
            context, target = view[rng.randrange(n)]
            assert len(context) == 8 and 0 <= target < len(corpus.vocab)
    return corpus, split


def in_fresh_interpreter(*args: str):
    """Run this script with `args` in a new Python and return the JSON it prints.

    Memory is measured in a fresh process, so that memory freed by earlier work in this one (which the
    C allocator keeps and hands out again) neither hides growth nor shows up as shrinkage.
    """
    child = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(child.stdout)


def measure_load(path: Path) -> dict:
    size = path.stat().st_size
    gc.collect()
    rss_before = status_kb("VmRSS")
    peak_ok = reset_peak_rss()
    start = time.perf_counter()
    corpus, split = load_and_touch(path)
    seconds = time.perf_counter() - start
    rss_peak, rss_after = status_kb("VmHWM"), status_kb("VmRSS")
    examples = len(split.train) + len(split.validation)
    del corpus, split
    gc.collect()

    tracemalloc.start()
    corpus, split = load_and_touch(path)
    traced_held, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    result = {"file_bytes": size, "examples": examples, "seconds": seconds, "traced_peak_bytes": traced_peak,
              "traced_peak_factor": traced_peak / size, "traced_held_bytes": traced_held}
    if rss_before is not None:
        result["rss_retained_bytes"] = (rss_after - rss_before) * 1024
        if peak_ok:
            result["rss_peak_growth_bytes"] = (rss_peak - rss_before) * 1024
            result["rss_peak_factor"] = result["rss_peak_growth_bytes"] / size
    return result


def history_bytes(state) -> int:
    """What the trainer's by-design histories hold: the loss list and the validation list, with their contents."""
    total = sys.getsizeof(state.losses) + sum(sys.getsizeof(x) for x in state.losses)
    total += sys.getsizeof(state.validation) + sum(sys.getsizeof(p) + sys.getsizeof(p[0]) + sys.getsizeof(p[1]) for p in state.validation)
    return total


def bench_flatness(traced: bool, checkpoints=(1_000, 10_000)) -> list[dict]:
    """Train the default preset, reading memory after each checkpoint step (after a gc.collect())."""
    # the default preset's model and learning rate; its epoch budget replaced by the steps wanted
    config = RunConfig.preset("default").replace(epochs=None, max_steps=max(checkpoints))
    trainer = Run.new(load_corpus(ROOT / "sample_texts" / "proverbs.txt"), config).trainer
    if traced:
        tracemalloc.start()
    readings = []
    for target in checkpoints:
        stopped = trainer.run(max_steps=target - trainer.state.step)
        assert trainer.state.step == target, stopped.message
        gc.collect()
        state = trainer.state
        readings.append({"step": target, "rss_bytes": (status_kb("VmRSS") or 0) * 1024,
                         "traced_bytes": tracemalloc.get_traced_memory()[0] if traced else None,
                         "history_bytes": history_bytes(state), "blocks": sys.getallocatedblocks(),
                         "history_objects": len(state.losses) + 3 * len(state.validation)})
    tracemalloc.stop()
    return readings


def measure_history_read(folder: Path) -> tuple[float, int]:
    """Seconds to read 1,000 runs written 10 times each with full curves, and the file's size."""
    log = RunLog(folder / "runs.jsonl")
    with open(log.path, "wb") as f:
        for i in range(1000):
            stamp = f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000+00:00"
            record = RunRecord(id=f"{i:032x}", started=stamp, updated=stamp,
                               corpus={"name": "names", "fingerprint": "f00d", "path": None},
                               settings=RunConfig().to_json(), engine="fused", parameters=14_603, steps=50_000,
                               wall_seconds=60.0, curve=[[s * 390, 3.0 - s / 100] for s in range(1, 129)],
                               validation=[[s * 1500, 2.0 + s / 1e4] for s in range(1, 33)],
                               best_validation={"step": 48_000, "loss": 2.0}, final_validation=2.003,
                               perplexity=7.41, stop_reason="finished")
            f.write(record.to_line() * 10)
    start = time.perf_counter()
    runs, warnings = log.read()
    elapsed = time.perf_counter() - start
    assert len(runs) == 1000 and not warnings
    return elapsed, log.path.stat().st_size


def write_long_history(path: Path) -> int:
    """LONG_HISTORY_RUNS runs of the default preset's kind, a line each with full curves; the file's size."""
    corpora = [{"name": name, "fingerprint": f"{i:016x}", "path": None} for i, name in enumerate(("names", "proverbs",
                                                                                                  "shakespeare"))]
    rng = random.Random(0)
    with open(path, "wb") as f:
        for i in range(LONG_HISTORY_RUNS):
            best = round(2.0 + rng.random(), 5)
            stamp = f"2024-{i // 2800 + 1:02d}-{i // 100 % 28 + 1:02d}T{i % 100 // 5:02d}:{i % 5 * 11:02d}:00.000+00:00"
            config = RunConfig(hidden_dim=rng.choice((64, 128)), activation=rng.choice(("relu", "tanh")))
            f.write(RunRecord(
                id=f"{i:08d}{rng.getrandbits(96):024x}", started=stamp, updated=stamp, corpus=corpora[i % 3],
                settings=config.to_json(), engine="fused", parameters=14_603, steps=50_000, wall_seconds=60.0,
                curve=[[s * 390, round(best + 1.5 / s + rng.random() / 100, 5)] for s in range(1, 129)],
                validation=[[s * 500, round(best + 1.0 / s + rng.random() / 100, 5)] for s in range(1, 101)],
                best_validation={"step": 48_000, "loss": best}, final_validation=round(best + 0.01, 5),
                perplexity=round(math.exp(best + 0.01), 5), stop_reason="finished").to_line())
    return path.stat().st_size


def time_runs_command(data_home: Path) -> float:
    """Seconds `charlm-tui runs` takes in a fresh process, start-up included, its table sent to /dev/null."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from charlm_tui.cli import main; sys.exit(main(['runs']))"],
                   cwd=ROOT, env={**os.environ, "XDG_DATA_HOME": str(data_home)}, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def measure_runs_view(path: Path) -> dict:
    """Seconds the Runs view takes over the history at `path`: to its first rows, to all of them, a key's round trip
    meanwhile, and to its first rows when opened again after another run was appended."""
    import asyncio

    from textual import events
    from textual.app import App
    from textual.widgets import DataTable

    from charlm_tui.app import CharLMApp
    from charlm_tui.screens.runs import RunsScreen

    class Host(App):
        CSS_PATH = CharLMApp.CSS_PATH

    async def until(condition) -> None:
        while not condition():
            await asyncio.sleep(0.002)

    async def opened(app, log: RunLog) -> tuple[float, RunsScreen]:
        start = time.perf_counter()
        screen = RunsScreen(log, "names")
        app.push_screen(screen)
        await until(lambda: screen.sub_title and not screen.sub_title.startswith("reading"))  # set as rows are added
        return time.perf_counter() - start, screen

    async def measure() -> dict:
        log, app = RunLog(path), Host()
        async with app.run_test(size=(160, 48)):
            first, screen = await opened(app, log)
            table, start = screen.query_one(DataTable), time.perf_counter()
            app.post_message(events.Key("down", None))  # as a terminal sends it: to its effect, not to an idle app
            await until(lambda: table.cursor_row == 1)
            key = time.perf_counter() - start
            await until(lambda: table.row_count == LONG_HISTORY_RUNS)
            every_row = first + time.perf_counter() - start
            app.pop_screen()
            stamp = "2025-01-01T00:00:00.000+00:00"
            RunLog(path, fsync=False).record(RunRecord(
                id="appended", started=stamp, updated=stamp, corpus={"name": "names", "fingerprint": "0", "path": None},
                settings=RunConfig().to_json(), engine="fused", parameters=14_603, steps=10, wall_seconds=1.0, curve=[],
                validation=[], best_validation=None, final_validation=None, perplexity=None, stop_reason="finished"))
            again, _ = await opened(app, log)
        return {"first_rows": first, "every_row": every_row, "key": key, "again": again}

    return asyncio.run(measure())


def measure_checkpoint_growth(folder: Path) -> dict:
    """Bytes of a checkpoint of the default preset's model with the state of 10,000 and of 1,000,000 steps."""
    run = Run.new(resolve_corpus("names"), RunConfig.preset("default"))
    state, rng, sizes = run.trainer.state, random.Random(0), {}
    for steps in (10_000, 1_000_000):
        for step in range(state.step + 1, steps + 1):
            state.add_loss(2.0 + rng.random())
            if step % run.config.eval_every == 0:
                state.add_validation(step, 2.5 - step / 1e7 + rng.random() / 10)
        state.step = steps
        path = run.save(folder / f"{steps}.json")
        load_checkpoint(path)  # what the app writes it opens
        sizes[steps] = path.stat().st_size
    return sizes


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the traced training run (tracemalloc makes it ~9× slower)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure at the end")
    parser.add_argument("--measure-load", metavar="PATH", help=argparse.SUPPRESS)  # the fresh interpreters' tasks
    parser.add_argument("--measure-flatness", choices=("plain", "traced"), help=argparse.SUPPRESS)
    parser.add_argument("--measure-runs-view", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_load or args.measure_flatness or args.measure_runs_view:
        print(json.dumps(measure_load(Path(args.measure_load)) if args.measure_load
                         else measure_runs_view(Path(args.measure_runs_view)) if args.measure_runs_view
                         else bench_flatness(args.measure_flatness == "traced")))
        return {}
    figures = []

    def figure(name, value, unit, target, met, line):
        figures.append({"name": name, "value": value, "unit": unit, "target": target, "met": met})
        print(f"{line}   target {target}: {verdict(met)}")

    with tempfile.TemporaryDirectory() as folder:
        load = in_fresh_interpreter("--measure-load", str(make_corpus(Path(folder))))
    size = load["file_bytes"]
    print(f"(a) Loading a {size / MB:.1f} MB corpus ({load['examples']:,} examples at context 8)")
    figure("5 MB corpus: load + split + touch", load["seconds"], "s", f"≤ {LOAD_SECONDS_TARGET:.0f} s",
           load["seconds"] <= LOAD_SECONDS_TARGET, f"  load_corpus + split + touch: {load['seconds']:.3f} s")
    factor = load["traced_peak_factor"]
    figure("5 MB corpus: tracemalloc peak", factor, "× file", f"≤ {MEMORY_FACTOR_TARGET:.0f}×", factor <= MEMORY_FACTOR_TARGET,
           f"  tracemalloc peak:  {load['traced_peak_bytes'] / MB:5.1f} MB = {factor:.1f}× the file")
    if "rss_peak_factor" in load:
        factor = load["rss_peak_factor"]
        figure("5 MB corpus: RSS peak growth", factor, "× file", f"≤ {MEMORY_FACTOR_TARGET:.0f}×", factor <= MEMORY_FACTOR_TARGET,
               f"  RSS peak growth:   {load['rss_peak_growth_bytes'] / MB:5.1f} MB = {factor:.1f}× the file")
    if "rss_retained_bytes" in load:
        print(f"  held afterwards: RSS +{load['rss_retained_bytes'] / MB:.1f} MB, of which live Python objects "
              f"{load['traced_held_bytes'] / MB:.1f} MB (the text, and its encoding at one byte per character)")

    m = RunConfig.preset("default")
    print(f"(b) Memory over 10,000 training steps (proverbs, context {m.context_length}, embed {m.embed_dim}, "
          f"hidden {m.hidden_dim} × {m.n_hidden}, {m.engine}, lr {m.learning_rate})")
    plain = in_fresh_interpreter("--measure-flatness", "plain")
    traced = None if args.quick else in_fresh_interpreter("--measure-flatness", "traced")
    for i, r in enumerate(plain):
        extra = f"   tracemalloc current {traced[i]['traced_bytes'] / MB:6.3f} MB" if traced else ""
        print(f"  after step {r['step']:>6,}: RSS {r['rss_bytes'] / MB:7.2f} MB{extra}")
    (a, b), steps = plain, plain[1]["step"] - plain[0]["step"]
    history = b["history_bytes"] - a["history_bytes"]
    print(f"  loss + validation history grew {history / 1000:.0f} KB ({history / steps:.1f} B/step: the latest 1,024 "
          "losses are kept, and the evaluations)")
    rss_net = b["rss_bytes"] - a["rss_bytes"] - history
    figure(f"RSS growth, steps {a['step']:,}→{b['step']:,}, net of history", rss_net / 1000, "KB",
           f"< {FLAT_BYTES_TARGET / 1000:,.0f} KB", rss_net < FLAT_BYTES_TARGET, f"  RSS growth net of the history:         {rss_net / 1000:+7.0f} KB")
    if traced:
        traced_net = traced[1]["traced_bytes"] - traced[0]["traced_bytes"] - (traced[1]["history_bytes"] - traced[0]["history_bytes"])
        figure(f"tracemalloc growth, steps {a['step']:,}→{b['step']:,}, net", traced_net / 1000, "KB",
               f"< {FLAT_BYTES_TARGET / 1000:,.0f} KB", traced_net < FLAT_BYTES_TARGET,
               f"  tracemalloc growth net of the history: {traced_net / 1000:+7.0f} KB")
    else:
        print("  (tracemalloc run skipped: --quick)")
    blocks_net = b["blocks"] - a["blocks"] - (b["history_objects"] - a["history_objects"])
    print(f"  live Python memory blocks, net of the history's objects: {blocks_net:+,}")

    print("(c) Reading the run history; the novelty index")
    with tempfile.TemporaryDirectory() as folder:
        seconds, size = measure_history_read(Path(folder))
    figure("run history, 10,000 lines: read", seconds, "s", f"≤ {HISTORY_SECONDS_TARGET} s",
           seconds <= HISTORY_SECONDS_TARGET, f"  {size / MB:.0f} MB, 1,000 runs: read in {seconds:.2f} s")
    text = resolve_corpus("tinyshakespeare").text
    start = time.perf_counter()
    NoveltyIndex(text)
    seconds = time.perf_counter() - start
    figure("novelty index of tiny Shakespeare: build", seconds, "s", f"≤ {NOVELTY_SECONDS_TARGET} s",
           seconds <= NOVELTY_SECONDS_TARGET, f"  novelty index of tiny Shakespeare built in {seconds:.2f} s")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "charlm-tui" / "runs.jsonl"
        path.parent.mkdir()
        size = write_long_history(path)
        print(f"(d) A history of {LONG_HISTORY_RUNS:,} runs, a line each ({size / MB:.0f} MB)")
        target = f"≤ {LONG_HISTORY_SECONDS_TARGET:.0f} s"
        seconds = time_runs_command(Path(folder))
        figure(f"charlm-tui runs, {LONG_HISTORY_RUNS:,} runs", seconds, "s", target,
               seconds <= LONG_HISTORY_SECONDS_TARGET, f"  charlm-tui runs (a fresh process): {seconds:.2f} s")
        view = in_fresh_interpreter("--measure-runs-view", str(path))
    figure(f"Runs view, {LONG_HISTORY_RUNS:,} runs: first rows", view["first_rows"], "s", target,
           view["first_rows"] <= LONG_HISTORY_SECONDS_TARGET,
           f"  Runs view: its first rows in {view['first_rows']:.2f} s")
    print(f"  every row in after {view['every_row']:.1f} s; a key answered meanwhile in {view['key'] * 1000:.0f} ms")
    figure("Runs view reopened after one more run", view["again"], "s", target,
           view["again"] <= LONG_HISTORY_SECONDS_TARGET,
           f"  opened again after one more run was appended: {view['again']:.2f} s")

    with tempfile.TemporaryDirectory() as folder:
        sizes = measure_checkpoint_growth(Path(folder))
    (few, small), (many, large) = sizes.items()
    growth = (large - small) / (many - few)
    print(f"(e) A checkpoint of the default model: {small / 1000:,.0f} KB after {few:,} steps, {large / 1000:,.0f} KB "
          f"after {many:,}")
    figure("checkpoint growth, 10,000 → 1,000,000 steps", growth, "B/step",
           f"< {CHECKPOINT_BYTES_PER_STEP_TARGET:.0f} B/step", growth < CHECKPOINT_BYTES_PER_STEP_TARGET,
           f"  growth: {growth:.4f} bytes a step")

    results = {"load": load, "flatness": {"plain": plain, "traced": traced}, "figures": figures}
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    return results


if __name__ == "__main__":
    main()
