"""The web server of `charlm-tui serve`: each visitor's browser tab drives an app process of its own.

Who may connect: whoever holds the server's token. It comes once in the address (`/?token=…`, as Jupyter
does) and is traded for an HttpOnly cookie; every route answers 403 without one, before any app starts. A
request must name this machine in its Host header (DNS rebinding names another), and the websocket's Origin
must be the page's own (a page on another site may not drive the app).

What a visitor gets: an app confined to a folder of its own (`core.places`: it reads the bundled texts, the
served folders and that folder, and writes only there), found again on a return visit through a second
cookie. How much: a limit on visitors at once and on tabs each, on the terminal size a page may ask for, an
idle time after which the app autosaves and ends, and a number of autosaves kept per visitor.

The page is ours and loads nothing from elsewhere: textual-serve's script, style and font are served from
here, and a Content-Security-Policy keeps the browser from reaching any other address. The app speaks
Textual's web-driver protocol over its stdin and stdout: packets of a kind byte (D data, M meta as JSON,
P packed), a 4-byte big-endian length and the payload, after a `__GANGLION__` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Awaitable, Callable

from aiohttp import WSMsgType, web
from yarl import URL

from core.places import SERVED_CORPORA, VISITOR_HOME, VISITOR_QUOTA, visitors_home
from core.visible import visible

TOKEN_ENV = "CHARLM_TUI_TOKEN"
MIN_TOKEN_LENGTH = 16
VISITOR_COOKIE = "charlm-tui-visitor"
VISITOR_ID = re.compile(r"[0-9a-f]{32}")
VISITOR_COOKIE_AGE = 365 * 24 * 3600  # a returning visitor finds their runs for a year
MAX_MESSAGE = 64 * 1024  # bytes a page may send in one message (a paste)
KEYS_PER_SECOND, KEYS_AT_ONCE = 2_000, 16_384  # characters of input an app takes: typing and pasting, never a flood
HOST = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?")  # a name or an address, and a port
FIRST_REQUEST_SECONDS = 10  # a connection that has not sent a whole request head by then is closed
MOST_CONNECTIONS = 256  # at once: well under the open-file limit, so that the server can always accept
PAGE = Template((Path(__file__).with_name("page.html")).read_text(encoding="utf-8"))
SECURITY_HEADERS = {
    # the page, its script and its websocket come from here, and nothing else may be fetched, framed or posted
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "font-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Limits:
    """What a class may take of the machine; each is a flag of `charlm-tui serve`."""

    visitors: int = 10  # browsers with an app at once; the next gets a page saying the class is full
    tabs: int = 2  # apps (browser tabs) at once per visitor
    columns: int = 240  # the largest terminal a page may ask for: a huge one costs the app memory and time
    rows: int = 80
    idle_minutes: float = 30  # no key or resize for this long: the app autosaves and ends
    autosaves: int = 5  # autosaves kept per visitor, the newest; older ones are removed
    disk_mb: int = 200  # the most a visitor's folder may hold: beyond it nothing more is saved
    grace: float = 3.0  # seconds an app has to autosave and end before it is killed

    def clamp(self, width, height) -> tuple[int, int]:
        """The terminal size an app gets for what a page asked (numbers or not)."""
        def whole(value, default: int, most: int) -> int:
            try:
                return max(1, min(int(value), most))
            except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999
                return default
        return whole(width, 80, self.columns), whole(height, 24, self.rows)


def packet(kind: bytes, payload: bytes) -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


def _die_with_parent() -> None:
    """In the app's process before it runs (Linux): SIGTERM, and so an autosave, if the server dies first."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class AppProcess:
    """One tab's app: `charlm-tui` in a process group of its own, fed the tab's keys and feeding its screen."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, grace: float):
        self.command, self.env, self.cwd, self.grace = command, env, cwd, grace
        self.process: asyncio.subprocess.Process | None = None
        self.last_input = time.monotonic()
        self.allowance, self.allowed_at = float(KEYS_AT_ONCE), time.monotonic()  # a token bucket of characters
        self.stderr = b""

    async def start(self, width: int, height: int) -> None:
        env = {**self.env, "COLUMNS": str(width), "ROWS": str(height)}
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=self.cwd, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        asyncio.get_running_loop().create_task(self._collect_stderr())

    async def _collect_stderr(self) -> None:
        while chunk := await self.process.stderr.read(4096):
            self.stderr = (self.stderr + chunk)[-4096:]  # the end says what went wrong, if anything did

    async def _send(self, data: bytes) -> None:
        try:
            self.process.stdin.write(data)
            await self.process.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass  # the app has ended: its output loop ends the connection

    async def keys(self, text: str) -> None:
        """Keys typed or pasted in the page: as many as a person sends. Beyond that they are dropped: each one
        becomes an event in the app, and a megabyte of them kept an app busy, and growing, for minutes."""
        now = self.last_input = time.monotonic()
        self.allowance = min(KEYS_AT_ONCE, self.allowance + (now - self.allowed_at) * KEYS_PER_SECOND)
        self.allowed_at = now
        text = text[:int(self.allowance)]
        self.allowance -= len(text)
        if text:
            await self._send(packet(b"D", text.encode("utf-8", "replace")))

    async def meta(self, message: dict, by_visitor: bool = True) -> None:
        if by_visitor:
            self.last_input = time.monotonic()
        await self._send(packet(b"M", json.dumps(message).encode()))

    async def screen(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Pass the app's screen to `send` until the app ends (or says it is ending)."""
        stdout = self.process.stdout
        try:
            for _ in range(10):  # what a Python prints before the driver starts, then the driver's own line
                if await stdout.readline() in (b"__GANGLION__\n", b""):
                    break
            while True:
                kind = await stdout.readexactly(1)
                payload = await stdout.readexactly(int.from_bytes(await stdout.readexactly(4), "big"))
                if kind == b"D":
                    await send(payload)
                elif kind == b"M" and json.loads(payload).get("type") == "exit":
                    return
                elif kind not in (b"M", b"P"):  # not the protocol: the app is printing on its way out
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> None:
        """SIGTERM (the app quits as on ^Q: training stops, unsaved work is autosaved); SIGKILL to its whole
        group if it has not ended `grace` seconds later."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            if self.running:
                self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), self.grace)
        except asyncio.TimeoutError:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # and anything it started
        await self.process.wait()


def keep_newest_autosaves(folder: Path, keep: int) -> list[Path]:
    """Remove a visitor's autosaves beyond the newest `keep`, oldest first; the paths removed."""
    dated = []
    for path in folder.glob("autosave-*.json"):
        with contextlib.suppress(OSError):
            dated.append((path.stat().st_mtime, path))
    removed = []
    for _, path in sorted(dated, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def machine_names() -> set[str]:
    """The names this machine answers to (its Host header may be any of them, or an address it listens on)."""
    names = {"localhost", socket.gethostname().lower()}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn().lower())
    return names


def host_name(host: str) -> str | None:
    """The name or address of a Host header, without its port (an IPv6 address without its brackets); None when it
    is not a name or an address and a port (what is allowed here is written into the page)."""
    match = HOST.fullmatch(host.strip())
    return match[1].strip("[]").lower() if match else None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    return address.ipv4_mapped or address if isinstance(address, ipaddress.IPv6Address) else address


@dataclass
class Classroom:
    """The server's state: its token, its rules and limits, and the apps running for each visitor."""

    command: list[str]
    token: str
    port: int
    corpora: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: frozenset[str] = frozenset()  # names beyond this machine's (a DNS name, a proxy's)
    say: Callable[[str], None] = print
    apps: dict[str, set[AppProcess]] = field(default_factory=dict)  # by visitor id: the running ones

    def __post_init__(self):
        self.names = machine_names() | {host_name(h) or h for h in self.allowed_hosts}
        self.auth_cookie = f"charlm-tui-{self.port}"  # cookies are per host, not port: two servers keep two
        self.auth_value = hmac.new(self.token.encode(), b"charlm-tui visitor", hashlib.sha256).hexdigest()

    # --- who may come in ---

    def host_allowed(self, request: web.Request) -> bool:
        """The Host header names this machine: one of its names, or the address the request came in on (a
        DNS-rebinding page names its own site, which resolves here only for the attacker's purpose)."""
        name = host_name(request.host or "")
        if name is None:
            return False
        if name in self.names:
            return True
        asked, arrived = _address(name), None
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if sockname:
            arrived = _address(sockname[0])
        return asked is not None and arrived is not None and (asked == arrived or asked.is_loopback and arrived.is_loopback)

    def origin_allowed(self, request: web.Request) -> bool:
        """A websocket's Origin is the page's own address (the same host and port the request names)."""
        origin = request.headers.get("Origin", "")
        return origin in (f"http://{request.host}", f"https://{request.host}")

    def authorised(self, request: web.Request) -> bool:
        return hmac.compare_digest(request.cookies.get(self.auth_cookie, ""), self.auth_value)

    def visitor_of(self, request: web.Request) -> str | None:
        visitor = request.cookies.get(VISITOR_COOKIE, "")
        return visitor if VISITOR_ID.fullmatch(visitor) else None

    @web.middleware
    async def guard(self, request: web.Request, handler):
        """Every route: this machine's name, then the token (given once in the address, then a cookie)."""
        where = visible(request.remote or "?")
        if not self.host_allowed(request):
            self.say(f"refused {where}: Host {visible(request.host or '')!r} is not this machine's")
            return refusal(403, "This server does not answer to that name: use the address it printed.")
        if "token" in request.query:
            if not hmac.compare_digest(request.query["token"].encode(), self.token.encode()):
                self.say(f"refused {where}: a wrong token")
                return refusal(403, "That token is not this server's: use the address it printed.")
            query = {k: v for k, v in request.query.items() if k != "token"}  # the token leaves the address bar
            # to the page, whatever the path: a Location made of it (//elsewhere) would lead off to another site
            response = web.Response(status=303, headers={"Location": str(URL("/").with_query(query))})
            response.set_cookie(self.auth_cookie, self.auth_value, httponly=True, samesite="Lax", path="/")
            return response
        if not self.authorised(request):
            self.say(f"refused {where}: no token ({visible(request.path)})")
            return refusal(403, "This charlm-tui needs its token: open the address the server printed, "
                                "the one with ?token= in it.")
        response = await handler(request)
        if not response.prepared:  # the websocket's is, by now
            response.headers.update(SECURITY_HEADERS)
        return response

    def full(self, visitor: str | None) -> str | None:
        """Why one more app cannot start for `visitor` (None: a new one) now, or None."""
        limits = self.limits
        if visitor is not None and len(self.apps.get(visitor, ())) >= limits.tabs:
            return f"You have {limits.tabs} tabs of charlm-tui open, the most each visitor may: close one, then reload."
        if visitor not in self.apps and len(self.apps) >= limits.visitors:
            return f"The class is full: {limits.visitors} visitors are working. Try again in a few minutes."
        return None

    # --- the routes ---

    async def page(self, request: web.Request) -> web.StreamResponse:
        visitor = self.visitor_of(request)
        if reason := self.full(visitor):
            return refusal(503, reason)
        scheme = "wss" if request.headers.get("X-Forwarded-Proto") == "https" else "ws"
        font_size = request.query.get("fontsize", "16")
        font_size = min(max(int(font_size), 8), 40) if font_size.isdigit() else 16
        websocket = html.escape(f"{scheme}://{request.host}/ws")  # a Host that passed host_allowed: a name and a port
        response = web.Response(text=PAGE.substitute(websocket=websocket, font_size=font_size),
                                content_type="text/html")
        if visitor is None:
            response.set_cookie(VISITOR_COOKIE, secrets.token_hex(16), max_age=VISITOR_COOKIE_AGE, httponly=True,
                                samesite="Lax", path="/")
        return response

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.origin_allowed(request):
            self.say(f"refused {visible(request.remote or '?')}: a websocket from "
                     f"{visible(request.headers.get('Origin', 'no Origin'))!r}")
            return refusal(403, "A page of another site may not drive this app.")
        visitor = self.visitor_of(request)
        if visitor is None:
            return refusal(403, "Open the page first: it gives this browser a folder of its own.")
        if reason := self.full(visitor):
            return refusal(503, reason)
        home = visitors_home() / visitor
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        app = AppProcess(self.command, self.app_environment(home), home, self.limits.grace)
        tabs = self.apps.setdefault(visitor, set())
        tabs.add(app)  # counted from here: no await between the check and this
        self.say(f"visitor {visitor[:8]} joined ({len(self.apps)} of {self.limits.visitors} at once)")
        socket_ = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_MESSAGE)
        try:
            await socket_.prepare(request)
            await app.start(*self.limits.clamp(request.query.get("width"), request.query.get("height")))
            screen = asyncio.ensure_future(app.screen(socket_.send_bytes))
            screen.add_done_callback(lambda _: asyncio.ensure_future(socket_.close()))
            idle = asyncio.ensure_future(self._end_when_idle(app, socket_))
            try:
                async for message in socket_:
                    if message.type == WSMsgType.TEXT:
                        await self._from_page(message.data, app, socket_)
            finally:
                screen.cancel()
                idle.cancel()
        finally:
            tabs.discard(app)
            if not tabs:
                self.apps.pop(visitor, None)
            await app.stop()
            await socket_.close()
            removed = keep_newest_autosaves(home, self.limits.autosaves)
            gone = f", {len(removed)} old autosave(s) removed" if removed else ""
            self.say(f"visitor {visitor[:8]} left; their app has ended{gone}")
        return socket_

    async def _from_page(self, data: str, app: AppProcess, socket_: web.WebSocketResponse) -> None:
        """One message of textual-serve's page: keys, a resize, a ping, focus or blur. Anything else is dropped."""
        try:
            kind, *rest = json.loads(data)
        except (ValueError, TypeError, RecursionError):  # RecursionError: [[[[…]]]]
            return
        if kind == "stdin" and rest and isinstance(rest[0], str):
            await app.keys(rest[0])
        elif kind == "resize" and rest and isinstance(rest[0], dict):
            width, height = self.limits.clamp(rest[0].get("width"), rest[0].get("height"))
            await app.meta({"type": "resize", "width": width, "height": height})
        elif kind in ("focus", "blur"):
            await app.meta({"type": kind})
        elif kind == "ping" and rest and isinstance(rest[0], str):
            await socket_.send_json(["pong", rest[0][:64]])

    async def _end_when_idle(self, app: AppProcess, socket_: web.WebSocketResponse) -> None:
        idle = self.limits.idle_minutes * 60
        while True:
            await asyncio.sleep(max(0.0, app.last_input + idle - time.monotonic()) + 0.1)
            if time.monotonic() - app.last_input >= idle:
                await socket_.close()  # the handler then ends the app, which autosaves
                return

    def app_environment(self, home: Path) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if name != TOKEN_ENV}
        env.update({"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver", "TEXTUAL_FPS": "60",
                    "TEXTUAL_COLOR_SYSTEM": "truecolor", "TERM_PROGRAM": "textual",
                    VISITOR_HOME: str(home), SERVED_CORPORA: os.pathsep.join(map(str, self.corpora)),
                    VISITOR_QUOTA: str(self.limits.disk_mb)})
        return env

    async def stop_every_app(self, _app: web.Application | None = None) -> None:
        """At shutdown: every app quits (and autosaves) at once."""
        await asyncio.gather(*(app.stop() for tabs in list(self.apps.values()) for app in list(tabs)))

    def web_app(self, static: Path) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.add_routes([web.get("/", self.page), web.get("/ws", self.websocket),
                        web.static("/static", static, show_index=False, follow_symlinks=False)])
        app.on_shutdown.append(self.stop_every_app)
        return app


class Connection:
    """One connection's protocol, aiohttp's inside it. It is closed when its first request head has not come in
    FIRST_REQUEST_SECONDS, and at once while MOST_CONNECTIONS are open: aiohttp waits for a head for ever, and a
    few hundred half-sent requests (no token needed) held every socket, the teacher's too."""

    def __init__(self, inner, connections: set):
        self.inner, self.connections = inner, connections
        self.deadline: asyncio.TimerHandle | None = None
        self.head = b""  # the end of what came so far, until a head is complete
        self.admitted = False

    def connection_made(self, transport) -> None:
        if len(self.connections) >= MOST_CONNECTIONS:
            transport.abort()
            return
        self.admitted = True
        self.connections.add(self)
        self.deadline = asyncio.get_running_loop().call_later(FIRST_REQUEST_SECONDS, transport.abort)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.deadline is not None:
            self.head = self.head[-3:] + data[:4096]  # a head ends in a blank line, maybe split between two reads
            if b"\r\n\r\n" in self.head:
                self.deadline.cancel()
                self.deadline = None
        self.inner.data_received(data)

    def eof_received(self):
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, error: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        if self.admitted:
            self.connections.discard(self)
            self.inner.connection_lost(error)


async def listen(runner: web.AppRunner, host: str, port: int) -> asyncio.AbstractServer:
    """Serve `runner`'s app on host:port, each connection guarded (see Connection)."""
    connections: set[Connection] = set()
    return await asyncio.get_running_loop().create_server(lambda: Connection(runner.server(), connections), host, port)


class OneLine(logging.Handler):
    """aiohttp's own complaints (a malformed request, a reset connection) as one line, at most one a second: anyone
    can send those, and a traceback each would bury the server's own lines."""

    def __init__(self, say: Callable[[str], None]):
        super().__init__(logging.WARNING)
        self.say, self.said_at = say, 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if time.monotonic() - self.said_at >= 1:
            self.said_at = time.monotonic()
            error = f" ({type(record.exc_info[1]).__name__})" if record.exc_info and record.exc_info[1] else ""
            self.say(f"charlm-tui serve: {visible(record.getMessage())[:200]}{error}")


def quiet_aiohttp(say: Callable[[str], None]) -> None:
    logger = logging.getLogger("aiohttp")
    logger.addHandler(OneLine(say))
    logger.propagate = False


def refusal(status: int, message: str) -> web.Response:
    """A short page saying why not; no app is started and nothing of one is sent."""
    text = message.replace("&", "&amp;").replace("<", "&lt;")
    body = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>charlm-tui</title></head>"
            f"<body style=\"background:#0c181f;color:#eee;font-family:monospace;padding:2em\"><p>{text}</p></body></html>")
    return web.Response(status=status, text=body, content_type="text/html", headers=SECURITY_HEADERS)
