"""`charlm-tui serve`: the app in web browsers, one app process per tab (an optional extra: textual-serve's page
script, and aiohttp). What a visitor may do and what the server guards against: `charlm_tui.server`."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import re
import secrets
import signal
import socket
import sys
from pathlib import Path

from charlm_tui.arguments import OneLineParser
from core.places import visitors_home

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9._~-]+")  # what an address carries as it is


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: a whole number from 1 to 65535")
    return port


def _host(text: str) -> str:
    if not text.strip():  # aiohttp would take it for every address: open to all, said nowhere
        raise argparse.ArgumentTypeError("is empty: 127.0.0.1 serves this machine only, 0.0.0.0 everyone")
    return text.strip()


def _whole(least: int):
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = least - 1
        if number < least:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {least}")
        return number
    return parse


def _minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        minutes = 0
    if not 0 < minutes < 10**6:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes above 0")
    return minutes


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{1,4})\s*[x×]\s*(\d{1,4})\s*", text)
    if not match or int(match[1]) < 78 or int(match[2]) < 22:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size of at least 78x22 (COLUMNSxROWS, e.g. 240x80)")
    return int(match[1]), int(match[2])


def _folder(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return Path(os.path.realpath(path))


def _token(text: str) -> str:
    if len(text) < 16 or not TOKEN_CHARACTERS.fullmatch(text):
        raise argparse.ArgumentTypeError("a token is at least 16 letters, digits or . _ ~ - (leave it out and one is "
                                         "made for you)")
    return text


def cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, or None: said before it starts, not after its banner."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        return f"--host {host} is not a known address ({getattr(error, 'strerror', None) or error}): " \
               "127.0.0.1 serves this machine only, 0.0.0.0 everyone"
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            probe.bind(address)
    except OSError as error:
        hint = "not one of this machine's addresses: another --host?" if error.errno == errno.EADDRNOTAVAIL \
            else "another --port?"
        return f"cannot listen on {host}:{port}: {error.strerror or error} ({hint})"
    return None


def build_parser(limits) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="charlm-tui serve",
        description="Serve the app to web browsers: each tab gets an app of its own, run as you. Only a browser "
                    "given the token (in the address printed at start) gets in; each visitor's app reads only the "
                    "bundled texts and the --corpora folders, and writes only in a folder of that visitor's own.")
    parser.add_argument("--host", type=_host, default="127.0.0.1",
                        help="the address to listen on [127.0.0.1: this machine only; 0.0.0.0: every address, "
                             "for a class (the token still guards it)]")
    parser.add_argument("--port", type=_port, default=8000, help="the port to listen on [8000]")
    parser.add_argument("--token", type=_token, default=None,
                        help="the secret a browser needs, at least 16 characters [$CHARLM_TUI_TOKEN, else a new random "
                             "one each start; the environment keeps it out of `ps`]")
    parser.add_argument("--corpora", metavar="DIR", type=_folder, action="append", default=[],
                        help="a folder of texts visitors may open, read-only; its .txt files are in their corpus list "
                             "(repeatable) [none: the bundled texts only]")
    parser.add_argument("--allow-host", metavar="NAME", action="append", default=[],
                        help="a name browsers may use for this machine besides its own names and addresses (a DNS "
                             "name, a proxy's) (repeatable)")
    parser.add_argument("--max-visitors", type=_whole(1), default=limits.visitors, metavar="N",
                        help=f"browsers with an app at once; the next one is told the class is full [{limits.visitors}]")
    parser.add_argument("--max-tabs", type=_whole(1), default=limits.tabs, metavar="N",
                        help=f"apps (browser tabs) at once per visitor [{limits.tabs}]")
    parser.add_argument("--max-size", type=_size, default=(limits.columns, limits.rows), metavar="COLSxROWS",
                        help="the largest terminal a page gets, in characters (a bigger window shows the app in its "
                             f"top left) [{limits.columns}x{limits.rows}]")
    parser.add_argument("--idle", type=_minutes, default=limits.idle_minutes, metavar="MINUTES",
                        help="minutes without a key after which a visitor's app autosaves and ends "
                             f"[{limits.idle_minutes:g}]")
    parser.add_argument("--keep-autosaves", type=_whole(1), default=limits.autosaves, metavar="N",
                        help=f"autosaves kept per visitor, the newest; older ones are removed [{limits.autosaves}]")
    parser.add_argument("--max-disk", type=_whole(1), default=limits.disk_mb, metavar="MB",
                        help=f"the most a visitor's folder may hold; beyond it nothing more is saved [{limits.disk_mb}]")
    return parser


def network_address() -> str | None:
    """This machine's address on its network, where it has one (the interface a packet out would take)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent, a route is only looked up
            return probe.getsockname()[0]
        except OSError:
            return None


def banner(args, token: str, limits) -> str:
    every_address = args.host in ("0.0.0.0", "::")
    shown = "localhost" if args.host in LOCAL_HOSTS else socket.gethostname() if every_address else args.host
    address = f"http://{shown}:{args.port}/?token={token}"
    if args.host in LOCAL_HOSTS:
        where = (f"open {address} in a browser on this machine (from another: ssh -L {args.port}:localhost:{args.port} "
                 "THIS-HOST, then the same address there)")
    elif every_address:
        numeric = network_address()
        where = f"serving on every address of this machine: {address}" + \
            (f"\n  (or by its address: http://{numeric}:{args.port}/?token={token})" if numeric else "")
    else:
        where = f"serving at {address}"
    texts = "".join(f", {folder}" for folder in args.corpora)
    return (f"charlm-tui: {where}\n"
            f"  Whoever has this address gets in, nobody else. Each visitor's app reads only the bundled texts{texts},\n"
            f"  and saves only in a folder of its own under {visitors_home()} (charlm-tui runs lists every run).\n"
            f"  At most {limits.visitors} visitors at once, {limits.tabs} tabs each, {limits.columns}x{limits.rows} "
            f"characters; {limits.idle_minutes:g} idle minutes end an app, {limits.autosaves} autosaves and "
            f"{limits.disk_mb} MB kept each.\n"
            "  Ctrl+C stops the server; every app autosaves first.")


async def serve(classroom, host: str, port: int, static: Path, ready) -> None:
    """Listen until SIGINT, SIGTERM or SIGHUP; then every app quits (and autosaves) before the server ends."""
    from aiohttp import web

    from charlm_tui.server import listen

    runner = web.AppRunner(classroom.web_app(static), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        listening = await listen(runner, host, port)
        ready()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        classroom.say("charlm-tui: stopping: every app autosaves and ends")
        listening.close()
    finally:
        await runner.cleanup()


def more_open_files() -> None:
    """As many open files as this user may have (each visitor's app holds three pipes, each browser a socket)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 65536), hard))
    except (ImportError, ValueError, OSError):
        pass


def serve_main(argv: list[str]) -> int:
    try:  # the serve extra: textual-serve's page script, and aiohttp
        import textual_serve

        from charlm_tui.server import TOKEN_ENV, Classroom, Limits, quiet_aiohttp
    except ImportError:
        print("charlm-tui serve: error: it needs textual-serve: pip install 'charlm-tui[serve]' (make serve does it)",
              file=sys.stderr)
        return 2
    parser = build_parser(Limits)
    args = parser.parse_args(argv)
    token = args.token
    if token is None and os.environ.get(TOKEN_ENV):
        try:
            token = _token(os.environ[TOKEN_ENV])
        except argparse.ArgumentTypeError as error:
            parser.error(f"${TOKEN_ENV}: {error}")
    token = token or secrets.token_urlsafe(24)
    if (problem := cannot_listen(args.host, args.port)) is not None:
        print(f"charlm-tui serve: error: {problem}", file=sys.stderr)
        return 2
    limits = Limits(visitors=args.max_visitors, tabs=args.max_tabs, columns=args.max_size[0], rows=args.max_size[1],
                    idle_minutes=args.idle, autosaves=args.keep_autosaves, disk_mb=args.max_disk)
    say = lambda line: print(line, flush=True)  # noqa: E731
    # -P: the folder serve was started from is not put first on the import path (a `core/` there would shadow ours)
    classroom = Classroom([sys.executable, "-P", "-m", "charlm_tui.cli"], token, args.port, tuple(args.corpora),
                          limits, frozenset(args.allow_host), say)
    static = Path(textual_serve.__file__).with_name("static")
    quiet_aiohttp(say)
    more_open_files()
    try:
        asyncio.run(serve(classroom, args.host, args.port, static, lambda: say(banner(args, token, limits))))
    except OSError as error:
        print(f"charlm-tui serve: error: cannot listen on {args.host}:{args.port}: {error.strerror or error} "
              "(another --port?)", file=sys.stderr)
        return 2
    return 0
