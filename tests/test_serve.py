"""`charlm-tui serve` (issues 15 and 20): a real server, real websockets, real app processes; a real browser too.

Who gets in (the token, this machine's names, the page's own origin), what a visitor may do (a folder of their
own, found again), and what a class may take (visitors at once, tabs, the window size, idle time, autosaves).
"""

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from charlm_tui.cli import main
from charlm_tui.serve_cli import network_address
from core.checkpoint import load_checkpoint
from core.history import RunLog

pytest.importorskip("textual_serve", reason="textual-serve is not installed: pip install 'charlm-tui[serve]'")
aiohttp = pytest.importorskip("aiohttp", reason="aiohttp comes with textual-serve")

from charlm_tui.server import KEYS_AT_ONCE, AppProcess, keep_newest_autosaves  # noqa: E402  (needs aiohttp)
from chromium import Browser, find_chromium  # noqa: E402

F4, F5 = "\x1bOS", "\x1b[15~"  # as xterm.js sends them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    address: str  # the one it printed, token and all
    data: Path  # its XDG_DATA_HOME
    said: list[str] = field(default_factory=list)

    @property
    def visitors(self) -> Path:
        return self.data / "charlm-tui" / "visitors"

    def apps(self) -> list[int]:
        """The server's app processes (its children), from /proc."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    async def until_no_apps(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.apps():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True


def serving(tmp_path: Path, *args: str, cwd=None, env=None):
    """`charlm-tui serve` on a free port with its data in tmp_path, as the `charlm-tui` script starts it (-P):
    yields the Server once it has printed its address."""
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           **(env or {})}
    process = subprocess.Popen([sys.executable, "-P", "-m", "charlm_tui.cli", "serve", "--port", str(port), *args],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)
    server = Server(process, port, "", tmp_path / "data")
    printed = threading.Event()

    def read() -> None:  # all along: its log must not fill the pipe
        for line in process.stdout:
            server.said.append(line)
            if not server.address and (match := re.search(r"http://\S+\?token=\S+", line)):
                server.address = match.group(0)
                printed.set()
        printed.set()

    threading.Thread(target=read, daemon=True).start()
    if not printed.wait(30) or not server.address:
        process.kill()
        pytest.fail(f"the server printed no address: {''.join(server.said)}")
    try:
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def server(tmp_path):
    yield from serving(tmp_path)


class Visitor:
    """A browser as textual-serve's page is one: cookies of its own, a websocket from the page's origin."""

    def __init__(self, server: Server):
        self.server = server
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.base = f"http://localhost:{server.port}"

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.http.close()

    async def enter(self) -> str:
        """Open the printed address: the token is traded for a cookie, and the page comes back."""
        async with self.http.get(self.server.address) as response:
            assert response.status == 200, await response.text()
            return await response.text()

    def websocket(self, width: int = 100, height: int = 30, origin: str | None = None, **kwargs):
        return self.http.ws_connect(f"{self.base.replace('http', 'ws')}/ws?width={width}&height={height}",
                                    headers={"Origin": origin or self.base, **kwargs.pop("headers", {})}, **kwargs)

    async def refused(self, status: int, **kwargs) -> None:
        """The websocket is refused with `status` before any app starts: not a byte of one is sent."""
        with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
            async with self.websocket(**kwargs):
                pass
        assert refusal.value.status == status


async def read_until(ws, words: str, timeout: float = 60, seen: str = "") -> str:
    """What the app draws until `words` are in it (after what was `seen` already)."""
    deadline = time.monotonic() + timeout
    start = len(seen)
    while words not in seen[start:]:
        message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        assert message.type == aiohttp.WSMsgType.BINARY, (message, seen[-500:])
        seen += message.data.decode("utf-8", errors="replace")
    return seen


@contextlib.asynccontextmanager
async def training(visitor: Visitor):
    """A tab that has opened the page, pressed F5 once the app drew, and seen the first steps: its websocket."""
    await visitor.enter()
    async with visitor.websocket() as ws:
        seen = await read_until(ws, "Corpus")
        await ws.send_json(["stdin", F5])
        await read_until(ws, "step ", seen=seen)
        yield ws


async def train_then_leave(visitor: Visitor) -> None:
    async with training(visitor):
        pass  # and the tab is closed


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie no longer does: a container's init may be slow to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def visitor_folders(server: Server) -> list[Path]:
    return sorted(server.visitors.iterdir()) if server.visitors.exists() else []


# --- who gets in ------------------------------------------------------------------------------------


async def test_without_the_token_every_route_is_refused_and_no_app_starts(server):
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/ws", "/static/js/textual.js", "/static/", "/download/x", "/?token=not-the-token-at-all"):
            async with http.get(f"http://localhost:{server.port}{path}") as response:
                assert response.status == 403, path
                assert "charlm-tui needs its token" in await response.text() or "token" in path
    async with Visitor(server) as stranger:
        await stranger.refused(403)
    assert server.apps() == [] and visitor_folders(server) == []


async def test_the_printed_address_opens_the_page_and_the_app(server):
    assert server.address.startswith(f"http://localhost:{server.port}/?token=")
    async with Visitor(server) as visitor:
        async with visitor.http.get(server.address, allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/"  # the token leaves the address bar
            cookie = response.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        page = await visitor.enter()
        assert f'data-session-websocket-url="ws://localhost:{server.port}/ws"' in page
        assert re.findall(r"\w+://[^\"']*", page) == [f"ws://localhost:{server.port}/ws"]  # nothing from elsewhere
        async with visitor.http.get(f"{visitor.base}/") as response:
            assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
        async with visitor.websocket() as ws:
            assert "Corpus" in await read_until(ws, "Corpus")


async def test_a_page_of_another_site_cannot_drive_the_app_even_with_the_cookie(server):
    async with Visitor(server) as visitor:
        await visitor.enter()  # the cookie is there: a browser sends it with a cross-site websocket too
        for origin in ("http://evil.example", f"http://evil.example:{server.port}", "null",
                       f"http://localhost:{server.port + 1}", f"http://127.0.0.1:{server.port}"):
            await visitor.refused(403, origin=origin)
    assert server.apps() == [] and any("a websocket from" in line for line in server.said)


async def test_a_dns_rebinding_host_is_refused_even_with_the_cookie(server):
    async with Visitor(server) as visitor:
        await visitor.enter()
        evil = f"evil.example:{server.port}"
        async with visitor.http.get(f"{visitor.base}/", headers={"Host": evil}) as response:
            assert response.status == 403 and "does not answer to that name" in await response.text()
        await visitor.refused(403, origin=f"http://{evil}", headers={"Host": evil})
    assert server.apps() == []


# --- a folder of one's own ------------------------------------------------------------------------------


@pytest.fixture
def keeping_one_autosave(tmp_path):
    yield from serving(tmp_path, "--keep-autosaves", "1")


async def test_each_visitor_keeps_their_own_runs_and_autosave_and_finds_them_again(keeping_one_autosave, tmp_path):
    server = keeping_one_autosave
    async with Visitor(server) as first, Visitor(server) as second:
        await asyncio.wait_for(asyncio.gather(train_then_leave(first), train_then_leave(second)), 120)
        assert await server.until_no_apps(30)
        folders = visitor_folders(server)
        assert len(folders) == 2  # one each, by the id in their cookie
        for folder in folders:
            (autosave,) = folder.glob("autosave-*.json")
            runs, warnings = RunLog(folder / "runs.jsonl").read()
            assert len(runs) == 1 and not warnings  # their own run, not the other's
            assert runs[0].checkpoint == str(autosave) and load_checkpoint(autosave).run_id == runs[0].id
        first_id = next(cookie.value for cookie in first.http.cookie_jar if cookie.key == "charlm-tui-visitor")
        (first_folder,) = [folder for folder in folders if folder.name == first_id]
        first_autosave = next(first_folder.glob("autosave-*.json"))

        await first.enter()  # back again: their app offers their autosave, and a second one replaces the first
        async with first.websocket() as ws:
            seen = await read_until(ws, "autosaved model is at")  # in their folder: ^O offers it
            await ws.send_json(["stdin", F4])  # the Runs view: their one run, not the other visitor's
            seen = await read_until(ws, " runs", seen=seen)
            assert re.search(r"\D1 (of 1 )?runs?,", seen), seen[-3000:]  # the heading: "1 runs, all corpora"
            await ws.send_json(["stdin", "\x1b"])
            await ws.send_json(["stdin", F5])
            await read_until(ws, "step ", seen=seen)
        assert await server.until_no_apps(30)
        (kept,) = first_folder.glob("autosave-*.json")  # --keep-autosaves 1: the older one removed
        assert kept != first_autosave and not first_autosave.exists()

    listed = subprocess.run([sys.executable, "-m", "charlm_tui.cli", "runs"], capture_output=True, text=True,
                            env={**os.environ, "XDG_DATA_HOME": str(server.data)}, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert sum(folder.name[:8] in listed.stdout for folder in folders) == 2  # the person serving sees every run
    assert len([line for line in listed.stdout.splitlines()[1:] if line.strip()]) == 3


def test_autosaves_beyond_the_cap_are_removed_oldest_first(tmp_path):
    for age in range(5):
        path = tmp_path / f"autosave-{age}.json"
        path.write_text("{}")
        os.utime(path, (1000 - age, 1000 - age))  # autosave-0 the newest
    (tmp_path / "checkpoints.json").write_text("{}")  # not an autosave: kept
    removed = keep_newest_autosaves(tmp_path, 2)
    assert sorted(p.name for p in removed) == ["autosave-2.json", "autosave-3.json", "autosave-4.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autosave-0.json", "autosave-1.json", "checkpoints.json"]


# --- limits ---------------------------------------------------------------------------------------------


@pytest.fixture
def two_at_once(tmp_path):
    yield from serving(tmp_path, "--max-visitors", "2", "--max-tabs", "1")


async def test_with_room_for_two_the_third_visitor_is_told_the_class_is_full(two_at_once):
    server = two_at_once
    async with Visitor(server) as first, Visitor(server) as second, Visitor(server) as third:
        await first.enter()
        await second.enter()
        async with first.websocket() as one, second.websocket() as two:
            await read_until(one, "Corpus")
            await read_until(two, "Corpus")
            async with third.http.get(server.address) as response:
                assert response.status == 503 and "The class is full" in await response.text()
            await first.refused(503)  # a second tab of the first visitor: one each
            await second.refused(503)
        assert await server.until_no_apps(30)
        await third.enter()  # room again
        async with third.websocket() as ws:
            await read_until(ws, "Corpus")


async def test_a_visitor_asking_for_a_huge_window_gets_the_largest_allowed_and_leaves_no_process(server):
    async with Visitor(server) as visitor:
        await visitor.enter()
        async with visitor.websocket(width=3000, height=1500) as ws:
            await read_until(ws, "Corpus")
            (app,) = server.apps()
            environment = Path(f"/proc/{app}/environ").read_bytes().split(b"\0")
            assert b"COLUMNS=240" in environment and b"ROWS=80" in environment
            await ws.send_json(["resize", {"width": 3000, "height": 1500}])
            await ws.send_json(["resize", {"width": "wide", "height": None}])  # nonsense is dropped, not fatal
            await ws.send_json(["stdin", F5])
            await read_until(ws, "step ")
        assert await server.until_no_apps(5), "an app outlived its visitor by 5 s"


async def test_an_app_that_ignores_sigterm_is_killed_after_its_grace(tmp_path):
    ignores = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"
    app = AppProcess([sys.executable, "-c", ignores], dict(os.environ), tmp_path, grace=0.5)
    await app.start(80, 24)
    assert await app.process.stdout.readline() == b"ready\n"
    await asyncio.wait_for(app.stop(), 30)
    assert app.process.returncode == -signal.SIGKILL


@pytest.fixture
def idle_after_3s(tmp_path):
    yield from serving(tmp_path, "--idle", "0.05")


async def test_an_idle_visitors_app_autosaves_and_ends(idle_after_3s):
    server = idle_after_3s
    async with Visitor(server) as visitor:
        async with training(visitor) as ws:
            while (await ws.receive(timeout=60)).type == aiohttp.WSMsgType.BINARY:  # then nothing more is typed
                pass
        assert await server.until_no_apps(30)
    (folder,) = visitor_folders(server)
    assert load_checkpoint(next(folder.glob("autosave-*.json"))).state.step > 0


async def test_stopping_the_server_or_killing_it_ends_every_app_with_its_work_saved(tmp_path):
    for how in (signal.SIGINT, signal.SIGKILL):
        serve = serving(tmp_path / how.name)
        server = next(serve)
        try:
            async with Visitor(server) as visitor:
                async with training(visitor):
                    (app,) = server.apps()
                    server.process.send_signal(how)  # SIGKILL: the app learns of it from the kernel (PDEATHSIG)
                    server.process.wait(timeout=30)
            deadline = time.monotonic() + 30
            while alive(app) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert not alive(app), how
            (folder,) = visitor_folders(server)
            assert load_checkpoint(next(folder.glob("autosave-*.json"))).state.step > 0, how
        finally:
            next(serve, None)


# --- a real browser ---------------------------------------------------------------------------------------


@pytest.fixture
def chromium() -> str:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium here (`make test` installs it with apt-get where it can): the browser test did not run")
    return executable


async def test_a_real_browser_trains_through_the_printed_address_and_fetches_nothing_elsewhere(server, chromium):
    async with Browser(chromium, 1280, 800) as browser:
        await browser.open(server.address)
        rows = await browser.wait_for_screen("Corpus")
        assert rows and "charlm-tui" in rows[0], rows  # the app's title, in the header on its top row
        assert any("Hyperparameters" in row for row in rows)
        rows = await browser.wait_for_screen("f5 Train", timeout=10)  # before any key or click: the keys, in the footer
        assert "f1 Help" in rows[-1], rows[-1]
        await browser.press("F5")  # keys typed in the page reach the app
        rows = await browser.wait_for_screen("step ")
        assert "training" in rows[0], rows
        fetched = await browser.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert fetched and all(url.startswith(f"http://localhost:{server.port}/") or
                               url.startswith(f"ws://localhost:{server.port}/") for url in fetched), fetched
        assert await browser.evaluate("location.search") == ""  # the token is not left in the address bar


async def test_served_on_every_address_a_browser_elsewhere_gets_in_with_the_token(tmp_path, chromium):
    folder = tmp_path / "elsewhere"  # packages named like ours where serve is started must not shadow them
    for package in ("core", "charlm_tui"):
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text("raise ImportError('the wrong package')\n")
    serve = serving(tmp_path, "--host", "0.0.0.0", cwd=folder, env={"CHARLM_TUI_TOKEN": "a-token-for-the-class-2026"})
    server = next(serve)
    try:
        assert server.address.endswith("/?token=a-token-for-the-class-2026")
        address = network_address() or "127.0.0.1"  # as another machine would come
        printed = "".join(server.said)
        assert address == "127.0.0.1" or f"http://{address}:{server.port}/?token=a-token-for-the-class-2026" in printed
        async with Browser(chromium, 1280, 800) as browser:
            await browser.open(f"http://{address}:{server.port}/?token=a-token-for-the-class-2026")
            rows = await browser.wait_for_screen("Corpus")
            assert rows and "charlm-tui" in rows[0], (address, rows)
    finally:
        next(serve, None)


# --- its command line --------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, words", [(["--port", "0"], "not a port"), (["--port", "http"], "not a port"),
                                         (["--token", "short"], "at least 16"), (["--token", "a token with spaces!!"],
                                                                                 "at least 16"),
                                         (["--max-visitors", "0"], "at least 1"), (["--max-size", "20x10"], "78x22"),
                                         (["--idle", "-1"], "minutes above 0"), (["--corpora", "/no/such"], "not a folder")])
def test_a_bad_option_is_refused(capsys, argv, words):
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
    assert "token=" not in said.out  # said before the banner, not after it


def test_a_port_in_use_is_said(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
    assert "cannot listen on" in capsys.readouterr().err


# --- what a hostile visitor or neighbour tried (a campaign against the first version) -----------------------------


async def test_a_flood_of_keys_is_cut_to_what_a_person_types_and_the_app_still_ends_with_its_tab(server):
    async with Visitor(server) as visitor:
        await visitor.enter()
        async with visitor.websocket() as ws:
            await read_until(ws, "Corpus")
            for _ in range(16):  # 1 MB of "~" in messages the size of a paste: each key would be an event
                await ws.send_json(["stdin", "~" * 60_000])
        assert await server.until_no_apps(15), "an app kept busy by a flood of keys outlived its tab"
    async with Visitor(server) as visitor:  # and a message bigger than a paste closes the connection
        await visitor.enter()
        async with visitor.websocket() as ws:
            await read_until(ws, "Corpus")
            await ws.send_json(["stdin", "~" * 100_000])
            while (await ws.receive(timeout=30)).type == aiohttp.WSMsgType.BINARY:
                pass
        assert await server.until_no_apps(15)


async def test_input_beyond_a_persons_pace_is_dropped(tmp_path, monkeypatch):
    app, sent = AppProcess([sys.executable], {}, tmp_path, grace=1), []

    async def send(data: bytes) -> None:
        sent.append(len(data) - 5)  # the packet's kind and length

    monkeypatch.setattr(app, "_send", send)
    for _ in range(20):
        await app.keys("x" * 10_000)
    assert KEYS_AT_ONCE <= sum(sent) < KEYS_AT_ONCE + 2_000  # what came at once, and what came while it did
    await app.keys("y")  # a person typing on afterwards is not locked out for long
    await asyncio.sleep(0.01)
    await app.keys("z")
    assert sent[-1] == 1


async def test_the_token_address_leads_only_to_the_page(server):
    token = server.address.partition("token=")[2]
    async with aiohttp.ClientSession() as http:
        for path in (f"//evil.example/x?token={token}", f"/\\evil.example/x?token={token}",
                     f"/static/js/textual.js?fontsize=20&token={token}"):
            async with http.get(f"http://localhost:{server.port}{path}", allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"] in ("/", "/?fontsize=20"), path


@pytest.mark.parametrize("host", ["localhost:anything", "localhost:{port}, evil.example", "[::1]evil.example",
                                  'localhost:{port}"><img src=x>', "127.0.0.1%25eth0"])
async def test_a_host_header_that_is_not_a_name_and_a_port_is_refused(server, host):
    async with Visitor(server) as visitor:
        await visitor.enter()
        async with visitor.http.get(f"{visitor.base}/", headers={"Host": host.format(port=server.port)}) as response:
            assert response.status == 403 and "<img" not in await response.text()


async def test_nonsense_from_the_page_is_dropped_and_the_app_goes_on(server):
    async with Visitor(server) as visitor:
        await visitor.enter()
        async with visitor.websocket() as ws:
            seen = await read_until(ws, "Corpus")
            await ws.send_json(["resize", {"width": 1e999, "height": float("inf")}])  # JSON's Infinity
            await ws.send_str("[" * 30_000 + "]" * 30_000)  # deeper than json.loads goes, smaller than a paste
            await ws.send_str('["resize", {"width": 120, "height": 40}]')
            await ws.send_json(["stdin", F5])
            await read_until(ws, "step ", seen=seen)  # the same app, still listening
    assert not any("Traceback" in line for line in server.said)


async def test_half_sent_requests_are_closed_and_cannot_take_every_socket(monkeypatch):
    """A few hundred connections that never finish their request head (no token needed) held every socket."""
    from aiohttp import web

    from charlm_tui import server as served

    monkeypatch.setattr(served, "FIRST_REQUEST_SECONDS", 1.0)
    monkeypatch.setattr(served, "MOST_CONNECTIONS", 20)
    app = web.Application()
    async def page(request):
        return web.Response(text="the page")

    app.add_routes([web.get("/", page)])
    runner = web.AppRunner(app)
    await runner.setup()
    listening = await served.listen(runner, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        held = []
        for _ in range(30):  # more than it admits at once
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: local")
            held.append((reader, writer))
        closed = await asyncio.gather(*(asyncio.wait_for(reader.read(), 10) for reader, _ in held))
        assert all(data == b"" for data in closed)  # every one closed: at once beyond 20, the rest after 1 s
        async with aiohttp.ClientSession() as http:  # and the next visitor is answered
            async with http.get(f"http://127.0.0.1:{port}/") as response:
                assert await response.text() == "the page"
        for _, writer in held:
            writer.close()
    finally:
        listening.close()
        await runner.cleanup()
