"""`charlm-tui serve` (issue 15): the app served over HTTP and a websocket by textual-serve, a visitor an app."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from charlm_tui.cli import main
from core.checkpoint import load_checkpoint
from core.history import RunLog

pytest.importorskip("textual_serve", reason="textual-serve is not installed: pip install 'charlm-tui[serve]'")
aiohttp = pytest.importorskip("aiohttp", reason="aiohttp comes with textual-serve")

from chromium import Browser, find_chromium  # noqa: E402  (needs aiohttp)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    yield from serving(tmp_path)


def serving(tmp_path, *args: str, cwd=None):
    """`charlm-tui serve` on a free port, with its data in tmp_path: yields the port and the page. Started as the
    `charlm-tui` script starts it: without the current folder first on the import path (-P)."""
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    process = subprocess.Popen([sys.executable, "-P", "-m", "charlm_tui.cli", "serve", "--port", str(port), *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                page = response.read().decode()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the server did not answer: {process.communicate()[0]}")
            time.sleep(0.2)
    yield port, page
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


async def screen_text(port: int, words: str, timeout: float = 40) -> str:
    """Connect as a browser does, and collect what the visitor's app writes until `words` are in it."""
    seen = ""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{port}/ws?width=100&height=30") as ws:
            await ws.send_json(["resize", {"width": 100, "height": 30}])
            deadline = time.monotonic() + timeout
            while words not in seen and time.monotonic() < deadline:
                try:
                    message = await ws.receive(timeout=deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
                if message.type == aiohttp.WSMsgType.BINARY:
                    seen += message.data.decode("utf-8", errors="replace")
                elif message.type == aiohttp.WSMsgType.TEXT:
                    seen += message.data
                else:
                    break
    return seen


async def test_the_page_is_served_on_localhost_and_each_visitor_gets_the_app(server):
    port, page = server
    assert "charlm-tui" in page and f"ws://127.0.0.1:{port}/ws" in page  # the address the page was fetched from
    first, second = await asyncio.wait_for(asyncio.gather(screen_text(port, "Corpus"), screen_text(port, "Corpus")), 60)
    assert "Corpus" in first and "Corpus" in second  # two visitors, two apps drawing their first screen


async def train_then_leave(port: int) -> None:
    """A visitor who starts training (F5), waits for the first steps and closes the tab."""
    seen = ""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{port}/ws?width=100&height=30") as ws:
            await ws.send_json(["resize", {"width": 100, "height": 30}])
            pressed = None  # where the screen was when F5 went
            while pressed is None or "step " not in seen[pressed:]:
                message = await ws.receive(timeout=40)
                assert message.type == aiohttp.WSMsgType.BINARY, message
                seen += message.data.decode("utf-8", errors="replace")
                if pressed is None and "Corpus" in seen:
                    await ws.send_json(["stdin", "\x1b[15~"])  # F5, as xterm.js sends it
                    pressed = len(seen)


async def test_each_visitor_who_leaves_keeps_their_training(server, tmp_path):
    port, _ = server
    await asyncio.wait_for(asyncio.gather(train_then_leave(port), train_then_leave(port)), 90)
    served = tmp_path / "data" / "charlm-tui" / "served"
    deadline = time.monotonic() + 30  # the server ends a tab's app once its socket has closed
    while len(list(served.glob("autosave-*.json"))) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    saved = sorted(served.glob("autosave-*.json"))
    assert len(saved) == 2, saved  # one each, in the serving user's data folder: neither overwrote the other
    checkpoints = [load_checkpoint(path) for path in saved]
    assert all(c.state.step > 0 for c in checkpoints) and checkpoints[0].run_id != checkpoints[1].run_id
    runs, _ = RunLog(tmp_path / "data" / "charlm-tui" / "runs.jsonl").read()
    assert {str(path) for path in saved} <= {run.checkpoint for run in runs}  # the Runs view finds them


async def test_a_real_browser_shows_the_app_in_its_terminal(server):
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium here (`make test` installs it with apt-get where it can): the browser test did not run")
    port, _ = server
    async with Browser(executable, 1280, 800) as browser:
        await browser.open(f"http://localhost:{port}/")
        rows = await browser.wait_for_screen("Corpus")
        assert rows and "charlm-tui" in rows[0], rows  # the app's title, in the header on its top row
        assert any("Hyperparameters" in row for row in rows)
        rows = await browser.wait_for_screen("f5 Train", timeout=10)  # before any key or click: the keys, in the footer
        assert "f1 Help" in rows[-1], rows[-1]
        await browser.press("F5")  # keys typed in the page reach the app
        rows = await browser.wait_for_screen("step ")
        assert "training" in rows[0], rows


def this_machines_address() -> str:
    """An address of this machine other than loopback, where it has one (as another machine would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


async def test_served_on_every_address_the_page_works_from_the_address_the_browser_used(tmp_path):
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium here (`make test` installs it with apt-get where it can): the browser test did not run")
    folder = tmp_path / "elsewhere"  # packages named like ours where serve is started must not shadow them
    for package in ("core", "charlm_tui"):
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text("raise ImportError('the wrong package')\n")
    serve = serving(tmp_path, "--host", "0.0.0.0", cwd=folder)
    port, page = next(serve)
    try:
        address = this_machines_address()
        async with Browser(executable, 1280, 800) as browser:
            await browser.open(f"http://{address}:{port}/")
            rows = await browser.wait_for_screen("Corpus")
            assert rows and "charlm-tui" in rows[0], (address, rows)
    finally:
        next(serve, None)


@pytest.mark.parametrize("argv, words", [(["--port", "0"], "not a port"), (["--port", "http"], "not a port")])
def test_a_bad_port_is_refused(capsys, argv, words):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", *argv])
    assert exit_.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.parametrize("host, words", [("", "is empty"), ("  ", "is empty"), ("999.1.1.1", "not a known address"),
                                         ("no-such-host.invalid", "not a known address"),
                                         ("192.0.2.1", "not one of this machine's addresses")])  # TEST-NET-1
def test_a_host_it_cannot_listen_on_is_said_before_it_starts(capsys, host, words):
    try:
        code = main(["serve", "--host", host, "--port", str(free_port())])
    except SystemExit as exit_:  # argparse's refusal
        code = exit_.code
    said = capsys.readouterr()
    assert code == 2 and words in said.err, said.err
    assert "Serving" not in said.out  # said before textual-serve's banner, not after it


def test_a_port_in_use_is_said(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
    assert "cannot listen on" in capsys.readouterr().err
