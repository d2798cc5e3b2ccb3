"""Draw the README's pictures from the code: the app at 80×24 after a first run on the defaults, the Runs view
comparing relu and tanh (course exercise 3) from four recorded runs, and the app in a browser.

    make docs                                      # docs/screenshot.svg and docs/runs.svg, as the code draws them now
    .venv/bin/python docs/screenshot.py --to DIR   # the same pictures in DIR
    .venv/bin/python docs/screenshot.py --record   # first trains the four runs again into docs/runs.jsonl (~2 min)
    .venv/bin/python docs/screenshot.py browser    # docs/browser.png: `charlm-tui serve` in headless Chromium

The training is driven through the session's own API (a fixed number of steps, not seconds) and the Runs view
reads a committed history, so the pictures are the same on a fast machine and a slow one, and
tests/test_docs.py fails when a committed picture is not what the code draws now.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from textual.widgets import Input  # noqa: E402

from charlm_tui.app import CharLMApp  # noqa: E402
from charlm_tui.widgets.generation_panel import GenerationPanel  # noqa: E402
from core.corpora import DEFAULT_CORPUS, resolve_corpus  # noqa: E402
from core.session import Session  # noqa: E402
from core.settings import RunConfig  # noqa: E402

STEPS = 12_000  # about 15 s of the app's training here: the names already look like names
RUN_STEPS = 20_000
RUNS = {"hidden dim 128": {"hidden_dim": 128}, "context 4": {"context_length": 4}, "relu": {},
        "tanh": {"activation": "tanh"}}  # the last two, newest, are the first rows of the Runs view
HISTORY = ROOT / "docs" / "runs.jsonl"  # those runs, recorded: the Runs view's picture is drawn from it
PICTURES = {"screenshot.svg": "watch", "runs.svg": "runs_view"}  # docs/NAME: the function drawing it


async def watch(path: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        app = CharLMApp(autosave_path=Path(scratch) / "autosave.json", calibrate=False)
        async with app.run_test(size=(80, 24)) as pilot:
            screen, session = app.main, app.session
            session.new(screen.corpus, screen.settings)
            session.start()
            for event in session.train():
                if session.step >= STEPS:
                    session.pause()
            screen.query_one(GenerationPanel).clear(f"sample at step {session.step:,}")
            screen.query_one("TrainingPanel").show_run(session)
            screen.follow_session()
            await pilot.press("f7")
            while screen.query_one(GenerationPanel).sampling:
                await pilot.pause(0.05)
            for field in app.query(Input):
                field.cursor_blink = False
            await pilot.pause()
            app.save_screenshot(path.name, str(path.parent))
            session.saved_step = session.step  # nothing to autosave
    print(f"wrote {path}")


def record_runs(history: Path) -> None:
    """Train the Runs view's four runs and keep their records in `history` (dated in a past year, so that the
    view writes their dates the same way whatever the year now)."""
    from core.history import RunLog

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["XDG_DATA_HOME"] = scratch  # a history of these runs only
        corpus = resolve_corpus(DEFAULT_CORPUS)
        for name, changes in RUNS.items():
            session = Session(Path(scratch) / "autosave.json")
            session.new(corpus, RunConfig.preset("default").replace(max_steps=RUN_STEPS, **changes))
            session.start()
            for _ in session.train():
                pass
            print(f"trained {name}: best validation {min(loss for _, loss in session.run.trainer.state.validation):.3f}")
        runs, _ = RunLog().read()
    lines = []
    for k, run in enumerate(runs):
        run.started = run.updated = f"2025-03-0{k + 1}T10:00:00.000+00:00"
        run.checkpoint, run.pid, run.host = None, None, None
        lines.append(run.to_line().decode())
    history.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {history}")


async def runs_view(path: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        from core.history import history_path

        history_path().parent.mkdir(parents=True)
        history_path().write_bytes(HISTORY.read_bytes())
        app = CharLMApp(autosave_path=Path(scratch) / "autosave.json", calibrate=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f4")
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("space", "down", "space")  # mark tanh and relu
            await pilot.pause()
            app.save_screenshot(path.name, str(path.parent))
    print(f"wrote {path}")


async def in_a_browser(path: Path) -> None:
    from chromium import Browser, find_chromium

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "XDG_DATA_HOME": scratch, "XDG_CONFIG_HOME": scratch}
        server = subprocess.Popen([sys.executable, "-m", "charlm_tui.cli", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await asyncio.sleep(3)
            async with Browser(find_chromium(), 1200, 720) as browser:
                await browser.open(f"http://localhost:{port}/")
                await browser.wait_for_screen("Corpus")
                await browser.press("F5")
                while True:  # a fixed number of steps, then the next auto sample
                    rows = await browser.wait_for_screen("step ")
                    steps = [int(n.replace(",", "")) for n in re.findall(r"step ([\d,]+)", "\n".join(rows))]
                    if steps and max(steps) >= 12_000:
                        break
                    await asyncio.sleep(1)
                await asyncio.sleep(3)
                await browser.screenshot(path)
        finally:
            server.terminate()
            server.wait()
    print(f"wrote {path}")


def draw(name: str, folder: Path) -> Path:
    """Draw docs/`name` into `folder`; its path. In UTC and with data and settings folders of its own: the same
    picture in any time zone, whatever theme the user chose, and no run added to their history."""
    os.environ["TZ"] = "UTC"
    time.tzset()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["XDG_DATA_HOME"], os.environ["XDG_CONFIG_HOME"] = f"{scratch}/data", f"{scratch}/config"
        asyncio.run(globals()[PICTURES[name]](folder / name))
    return folder / name


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments == ["browser"]:
        asyncio.run(in_a_browser(ROOT / "docs" / "browser.png"))
        sys.exit()
    if arguments == ["--record"]:
        record_runs(HISTORY)
    folder = Path(arguments[1]) if arguments[:1] == ["--to"] else ROOT / "docs"  # --to DIR: elsewhere (the test)
    for name in PICTURES:
        draw(name, folder)
