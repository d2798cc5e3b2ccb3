"""Make the README's screenshot: the app at 80×24 after a first run on the defaults.

    .venv/bin/python docs/screenshot.py        # writes docs/screenshot.svg

The run is driven through the session's own API (a fixed number of steps, not seconds), so the picture
is the same on a fast machine and a slow one.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.widgets import Input  # noqa: E402

from charlm_tui.app import CharLMApp  # noqa: E402
from charlm_tui.widgets.generation_panel import GenerationPanel  # noqa: E402

STEPS = 12_000  # about 15 s of the app's training here: the names already look like names


async def main(path: Path) -> None:
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


if __name__ == "__main__":
    asyncio.run(main(ROOT / "docs" / "screenshot.svg"))
