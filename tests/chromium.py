"""Drive a headless Chromium over the DevTools protocol: open a page, read the terminal it draws, press keys.

textual-serve's page draws the terminal with xterm.js on a canvas, so there is no text in the DOM to read.
The text is read from xterm.js's own screen buffer instead, the one its renderer draws from: the DevTools
protocol's `Runtime.queryObjects` lists the page's objects and the terminal is the one with a screen buffer.
Nothing in the page is patched. Used by tests/test_serve.py and docs/screenshot.py (the README's picture).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import aiohttp

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

READ_SCREEN = """function () {
    const terminal = this.find(o => { try { return typeof o.buffer.active.getLine === 'function'; } catch (e) { return false; } });
    if (!terminal) return null;
    const lines = [];
    for (let y = 0; y < terminal.rows; y++) lines.push(terminal.buffer.active.getLine(y).translateToString(true));
    return lines;
}"""

KEY_CODES = {"F5": 116, "F3": 114, "F2": 113, "Tab": 9, "Enter": 13}


def find_chromium() -> str | None:
    return next(filter(None, map(shutil.which, NAMES)), None)


class Browser:
    """One headless Chromium with one page; `async with Browser(path, width, height) as browser:`."""

    def __init__(self, executable: str, width: int = 1280, height: int = 800):
        self.executable, self.width, self.height = executable, width, height
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory()
        self._process = await asyncio.create_subprocess_exec(
            self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--no-first-run", f"--window-size={self.width},{self.height}",
            "--remote-debugging-port=0", f"--user-data-dir={self._profile.name}", "about:blank",
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        said = []
        while True:
            line = (await asyncio.wait_for(self._process.stderr.readline(), 30)).decode(errors="replace")
            if not line:
                raise RuntimeError(f"{self.executable} ended before it listened:\n{''.join(said[-20:])}")
            said.append(line)
            if match := re.search(r"DevTools listening on ws://[^/]+:(\d+)/", line):
                break
        self._drain = asyncio.create_task(self._process.stderr.read())  # its chatter must not fill the pipe
        self._http = aiohttp.ClientSession()
        async with self._http.get(f"http://127.0.0.1:{match.group(1)}/json/list") as response:
            page = next(target for target in await response.json() if target["type"] == "page")
        self._ws = await self._http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._ws.close()
        await self._http.close()
        self._process.terminate()
        await self._process.wait()
        self._drain.cancel()
        self._profile.cleanup()

    async def call(self, method: str, **params) -> dict:
        """One DevTools command; events that arrive before its answer are not needed here and are dropped."""
        number = next(self._ids)
        await self._ws.send_json({"id": number, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json()
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def screen(self) -> list[str]:
        """The terminal's rows as text ([] before the page has made its terminal)."""
        prototype = await self.call("Runtime.evaluate", expression="Object.prototype", objectGroup="screen")
        objects = await self.call("Runtime.queryObjects", prototypeObjectId=prototype["result"]["objectId"],
                                  objectGroup="screen")
        result = await self.call("Runtime.callFunctionOn", objectId=objects["objects"]["objectId"],
                                 functionDeclaration=READ_SCREEN, returnByValue=True)
        await self.call("Runtime.releaseObjectGroup", objectGroup="screen")
        return result["result"].get("value") or []

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for_screen(self, words: str, timeout: float = 60) -> list[str]:
        """The terminal's rows once `words` are on them; the last rows seen if `timeout` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            rows = await self.screen()
            if any(words in row for row in rows) or loop.time() > deadline:
                return rows
            await asyncio.sleep(0.25)

    async def press(self, key: str) -> None:
        await self.call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
        code = KEY_CODES[key]
        for kind in ("rawKeyDown", "keyUp"):
            await self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code,
                            nativeVirtualKeyCode=code)

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
