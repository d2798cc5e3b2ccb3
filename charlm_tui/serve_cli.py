"""`charlm-tui serve`: the app in a web browser, through textual-serve (an optional extra).

Each visitor's browser tab gets an app process of its own (textual-serve starts one per connection), run as
the user who serves: checkpoints and the run history stay in that user's data folder.
"""

from __future__ import annotations

import argparse
import errno
import shlex
import socket
import sys

from charlm_tui.cli import OneLineParser

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


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


def page_follows_the_browser(server: type) -> type:
    """textual-serve's Server, its page pointing its scripts and websocket at the address the browser used.

    textual-serve writes one public URL into every page: with --host 0.0.0.0 that is an address no other machine
    can open, and behind `ssh -L 9000:localhost:8000` a port the visitor's machine does not have."""

    class Server(server):
        async def handle_index(self, request):
            self.public_url = f"{request.scheme}://{request.host}"  # read by the page's template, before any await
            return await super().handle_index(request)

    return Server


def serve_main(argv: list[str]) -> int:
    parser = OneLineParser(prog="charlm-tui serve", description="Serve the app to web browsers (textual-serve): "
                           "each visitor gets an app of their own, run as you, with your data folder.")
    parser.add_argument("--host", type=_host, default="127.0.0.1",
                        help="the address to listen on [127.0.0.1: this machine only; 0.0.0.0 lets others in]")
    parser.add_argument("--port", type=_port, default=8000, help="the port to listen on [8000]")
    args = parser.parse_args(argv)
    try:
        from textual_serve.server import Server
    except ImportError:
        print("charlm-tui serve: error: it needs textual-serve: pip install 'charlm-tui[serve]' (make serve does it)",
              file=sys.stderr)
        return 2
    if (problem := cannot_listen(args.host, args.port)) is not None:
        print(f"charlm-tui serve: error: {problem}", file=sys.stderr)
        return 2
    every_address = args.host in ("0.0.0.0", "::")
    shown_host = "localhost" if args.host in LOCAL_HOSTS else socket.gethostname() if every_address else args.host
    url = f"http://{shown_host}:{args.port}"
    if args.host in LOCAL_HOSTS:
        print(f"charlm-tui: open {url} in a browser on this machine. To let others in: --host 0.0.0.0 (anyone who can "
              f"reach this port gets the app, as you), or from their machine: ssh -L {args.port}:localhost:{args.port} "
              "THIS-HOST, then open the same address there.", flush=True)
    else:
        where = f"on every address of this machine, e.g. {url}" if every_address else f"at {url}"
        print(f"charlm-tui: serving {where}, to anyone who can reach this port: each visitor runs the app as you, "
              "with your files. Ctrl+C stops it.", flush=True)
    # -P: the folder serve was started from is not put first on the import path (a `core/` there would shadow ours)
    command = shlex.join([sys.executable, "-P", "-m", "charlm_tui.cli"])
    try:
        page_follows_the_browser(Server)(command, host=args.host, port=args.port, title="charlm-tui",
                                         public_url=url).serve()
    except OSError as error:
        print(f"charlm-tui serve: error: cannot listen on {args.host}:{args.port}: {error.strerror or error} "
              "(another --port?)", file=sys.stderr)
        return 2
    return 0
