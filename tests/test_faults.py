"""Faults and hostile input (issue 10): nothing crashes, nothing hangs, nothing trained is lost.

The campaign as tables of cases. Each case says what must be said (text the message must contain), the
exit code (for processes), and that nothing on disk was lost or clobbered: corpus files unchanged,
checkpoints unchanged or replaced whole with their mode, no `.*.tmp` file left, trained steps saved.

Signals go to real processes: the headless command line, and the app under a pseudo-terminal. Every
process has a timeout and is killed in a `finally`; a case that would block on a FIFO has a guard that
opens the FIFO's other end after a few seconds, so the case fails on time instead of hanging the suite.
The app is also driven with Pilot, as in test_app.py, for what it says (its notifications).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import resource
import select
import shlex
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.widgets import Input

from charlm_tui.app import CharLMApp
from charlm_tui.cli import main
from charlm_tui.screens.dialogs import PathScreen
from core.corpora import DEFAULT_CORPUS
from core.checkpoint import CheckpointError, load_checkpoint
from core.session import Phase, Session
from core.settings import RunConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--context", "3", "--embed", "4", "--hidden", "8"]  # thousands of steps a second
BIG = ["--context", "16", "--embed", "32", "--hidden", "256"]  # 206,368 parameters: a save takes ~0.1-0.2 s
TINY_CONFIG = RunConfig(context_length=3, embed_dim=4, hidden_dim=8, epochs=10_000)
TEXT = "the quick brown fox jumps over the lazy dog. " * 8
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


# --- helpers: the disk ------------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def data_dir() -> Path:
    """Where the autosaves go (a private XDG_DATA_HOME per test, from conftest.py)."""
    return Path(os.environ["XDG_DATA_HOME"]) / "charlm-tui"


def saved_files() -> list[Path]:
    """What was saved in the data folder: checkpoints and autosaves (the run history is not one)."""
    return [p for p in data_dir().iterdir() if p.name != "runs.jsonl"] if data_dir().exists() else []


def temp_files(*folders: Path) -> list[str]:
    """Temporary files a save left behind (`.name.pid.random.tmp`)."""
    return sorted(str(p) for folder in folders if Path(folder).is_dir() for p in Path(folder).glob(".*.tmp"))


def state_of(path: Path):
    """What is at `path`, to compare before and after: its kind, and for a file its bytes and mode."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISREG(info.st_mode):
        content = hashlib.sha256(Path(path).read_bytes()).hexdigest() if info.st_size < 2**24 else info.st_mtime_ns
        return "file", info.st_size, content, stat.S_IMODE(info.st_mode)
    return stat.S_IFMT(info.st_mode), info.st_ino


def device_node(tmp_path: Path) -> Path:
    """A character device to save to. As root, saving over the real /dev/null would replace the system's
    if the check ever broke, so root gets a private twin of it (same major/minor) in tmp_path."""
    if os.geteuid() != 0:
        return Path("/dev/null")
    twin = tmp_path / "null-device"
    try:
        os.mknod(twin, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError:
        pytest.skip("cannot make a device node here, and saving over /dev/null as root is not safe to try")
    return twin


def make_socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    return path


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@contextmanager
def fifo_guard(*fifos: Path, after: float = 2.0):
    """If the code under test blocks opening one of `fifos` for reading, open its other end after `after`
    seconds so the reader wakes up; yields a function telling whether it had to (assert it did not). A fact,
    not a duration: a loaded machine makes the code slow, never makes it open a FIFO. Only a real FIFO is
    opened: opening a regular file for writing succeeds, and read as a reader woken, a slow load failed."""
    stop, woke = threading.Event(), threading.Event()

    def unblock():
        if stop.wait(after):
            return
        while not stop.is_set():
            for fifo in fifos:
                try:
                    if not stat.S_ISFIFO(os.stat(fifo).st_mode):
                        continue
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO while nobody reads
                except OSError:
                    pass
                else:
                    woke.set()
            stop.wait(0.05)

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield woke.is_set
    finally:
        stop.set()
        thread.join(2)


def strict_json(text: str):
    """json.loads, refusing NaN, Infinity and -Infinity (Python's extensions to JSON)."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def step_of(path: Path) -> int:
    return load_checkpoint(path).state.step


def saved_path(output: str) -> Path:
    """The checkpoint a headless run says it wrote (--save or the autosave)."""
    found = re.findall(r"saved to (\S+\.json)", output) or re.findall(r'"path": "([^"]+)"', output)
    assert found, f"the output names no saved checkpoint:\n{output[-1500:]}"
    return Path(found[-1])


def stopped_at(output: str) -> int:
    found = re.findall(r"stopped after ([\d,]+) steps", output)
    assert found, f"the output does not say where training stopped:\n{output[-1500:]}"
    return int(found[-1].replace(",", ""))


def says(text: str, message: str | tuple[str, ...]) -> bool:
    """Whether `text` holds the message (or one of several acceptable wordings)."""
    return any(m in text for m in ((message,) if isinstance(message, str) else message))


def case_ids(rows) -> list[str]:
    """Each row's first value (its case name), for plain tuples and pytest.param rows alike."""
    return [row.values[0] if hasattr(row, "marks") else row[0] for row in rows]


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]


# --- helpers: processes ----------------------------------------------------------------------


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The command line, in this process: (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def run_cli(*args: str, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
    """The command line as a process (killed if it runs past `timeout`)."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "charlm_tui.cli", *args], cwd=ROOT, env=child_env(), text=True,
                          timeout=timeout, **kwargs)


class Proc:
    """A headless run as a process; its output is read by threads, so waiting on it never blocks."""

    def __init__(self, *args: str, stdout=subprocess.PIPE):
        self.popen = subprocess.Popen([sys.executable, "-m", "charlm_tui.cli", *args], cwd=ROOT, env=child_env(),
                                      stdout=stdout, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self.threads = []
        for stream, lines in ((self.popen.stdout, self.out), (self.popen.stderr, self.err)):
            if stream is not None:
                thread = threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                thread.start()
                self.threads.append(thread)

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        try:
            for line in stream:
                lines.append(line)
        except (OSError, ValueError):
            pass

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.stdout, re.M)
            if found:
                return found
            if self.popen.poll() is not None:
                time.sleep(0.1)  # the last lines
                found = re.search(pattern, self.stdout, re.M)
                if found:
                    return found
                break
            time.sleep(0.005)
        raise AssertionError(f"no {pattern!r} in the output (exit {self.popen.poll()}):\n{self.stdout[-1500:]}\n"
                             f"{self.stderr[-1500:]}")

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit code; an AssertionError if it is still running after `timeout` seconds."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {timeout} s later:\n{self.stdout[-1000:]}\n{self.stderr[-1000:]}") from None
        for thread in self.threads:
            thread.join(5)
        return code

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)
        for thread in self.threads:
            thread.join(2)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def headless(*args: str, **kwargs):
    proc = Proc("--headless", *args, **kwargs)
    try:
        yield proc
    finally:
        proc.close()


ANSI = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|P[^\x1b]*\x1b\\|[()][0-9A-Za-z]|[=>78])")
F5 = b"\x1b[15~"
CTRL_Q = b"\x11"


class Tui:
    """The app in a pseudo-terminal of 80×24, as a user's terminal runs it."""

    def __init__(self, *args: str, columns: int = 80, lines: int = 24):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = child_env(TERM="xterm-256color", COLUMNS=str(columns), LINES=str(lines))
        env.pop("NO_COLOR", None)
        try:
            self.popen = subprocess.Popen([sys.executable, "-m", "charlm_tui.cli", *args], cwd=ROOT, env=env,
                                          stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        finally:
            os.close(slave)
        self.master = master
        self.raw = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the app has exited and the terminal is closed
                return
            if not data:
                return
            self.raw.extend(data)

    @property
    def text(self) -> str:
        return ANSI.sub(b"", bytes(self.raw)).decode("utf-8", "replace")

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.text:
                return True
            if self.popen.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def steps_shown(self) -> int:
        found = re.findall(r"step ([\d,]+)", self.text)
        return int(found[-1].replace(",", "")) if found else 0

    def press(self, data: bytes) -> None:
        os.write(self.master, data)

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def exit_code(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)
        self.reader.join(3)
        os.close(self.master)


@contextmanager
def tui(*args: str):
    app = Tui(*args)
    try:
        yield app
    finally:
        app.close()


def start_training(app: Tui, steps: int = 100) -> None:
    assert app.wait_for("Help", 20), f"the app did not draw its footer:\n{app.text[-2000:]}"
    time.sleep(0.3)
    app.press(F5)
    if not app.wait_for("steps/s", 10) and not app.steps_shown():
        app.press(F5)  # a key sent before the app listened (a second F5 to a training app would pause it)
        assert app.wait_for("steps/s", 20), f"training did not start:\n{app.text[-2000:]}"
    deadline = time.monotonic() + 30
    while app.steps_shown() < steps and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app.steps_shown() >= steps


# --- helpers: the app under Pilot ---------------------------------------------------------------


class RecordingApp(CharLMApp):
    """The app, keeping what it tells the user (through `notify`, Textual's public API)."""

    def __init__(self, **kwargs):
        super().__init__(calibrate=False, **kwargs)
        self.said: list[str] = []

    def notify(self, message, **kwargs):
        self.said.append(f"{kwargs.get('title', '')}: {message}")
        return super().notify(message, **kwargs)

    def said_that(self, text: str) -> bool:
        return any(text in said for said in self.said)


def text_of(widget) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def make_app(tmp_path: Path, config: RunConfig = TINY_CONFIG, **kwargs) -> RecordingApp:
    return RecordingApp(config=config, autosave_path=tmp_path / "autosave.json", **kwargs)


async def wait_until(pilot, condition, timeout: float = 15.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the app said {pilot.app.said}")
        await pilot.pause(0.05)


async def type_into(pilot, selector: str, value: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    await pilot.pause()
    field.value = value
    field.cursor_position = len(value)
    await pilot.pause()


async def key(pilot, name: str) -> None:
    """A key as the terminal sends it. (Pilot's `press` waits for the screen to settle, which takes it
    two seconds once training runs: too slow for a table of cases.)"""
    pilot.app._driver.send_message(events.Key(name, None))
    await pilot.pause(0.05)


async def train_a_little(pilot, steps: int = 50) -> None:
    await key(pilot, "f5")
    await wait_until(pilot, lambda: pilot.app.session.step >= steps, what=f"{steps} steps")
    await pilot.press("f5")
    await wait_until(pilot, lambda: pilot.app.main.phase is Phase.PAUSED, what="the pause")


async def path_field(pilot) -> Input:
    """The path dialog's field, once the dialog is up (pushed is not yet composed)."""
    def ready() -> bool:
        return isinstance(pilot.app.screen, PathScreen) and bool(pilot.app.screen.query("#path"))

    await wait_until(pilot, ready, what="the path dialog")
    return pilot.app.screen.query_one("#path", Input)


async def enter_path(pilot, name: str, path: Path | str) -> None:
    """^S or ^O, then the path, then Enter."""
    await key(pilot, name)
    field = await path_field(pilot)
    field.value = str(path)
    field.cursor_position = len(field.value)
    await key(pilot, "enter")
    await pilot.pause(0.05)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path, monkeypatch):
    """The processes' temporary folder (a fallback autosave may go there) is this test's too."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    path.chmod(0o644)
    return path


@pytest.fixture
def checkpoint(tmp_path, capsys) -> Path:
    """A small trained checkpoint on the bundled proverbs: 30 steps, mid-epoch (220 examples an epoch)."""
    path = tmp_path / "base.json"
    code, _, err = cli(capsys, "--headless", "--corpus", "proverbs", *TINY, "--steps", "30", "--sample", "0",
                       "--save", str(path))
    assert code == 0, err
    return path


# ===============================================================================================
# 1. Corpus files that are not plain UTF-8 text files
# ===============================================================================================

BAD_CORPORA = {  # name: (make the path in tmp_path, text the message must contain)
    "a FIFO": (lambda d: make_fifo(d / "fifo.txt"), "not a regular file"),
    "/dev/zero": (lambda d: Path("/dev/zero"), "not a regular file"),
    "/dev/urandom": (lambda d: Path("/dev/urandom"), "not a regular file"),
    "a socket": (lambda d: make_socket(d / "sock.txt"), "not a regular file"),
    "a symlink to a FIFO": (lambda d: (d / "link.txt").symlink_to(make_fifo(d / "f2")) or d / "link.txt", "not a regular file"),
    "a directory": (lambda d: (d / "folder").mkdir() or d / "folder", "directory"),
    "a missing file": (lambda d: d / "nope.txt", "no such"),
    "a binary file": (lambda d: (d / "b.bin").write_bytes(b"\x7fELF\x00\x01\x02" * 50) and d / "b.bin", "binary"),
    "latin-1": (lambda d: (d / "l.txt").write_bytes("café crème brûlée\n".encode("latin-1") * 10) and d / "l.txt", "not UTF-8"),
    "UTF-16": (lambda d: (d / "u16.txt").write_bytes(TEXT.encode("utf-16")) and d / "u16.txt", "binary"),
    "empty": (lambda d: (d / "e.txt").write_bytes(b"") or d / "e.txt", "empty"),
    "only a BOM": (lambda d: (d / "bom-only.txt").write_bytes(b"\xef\xbb\xbf") and d / "bom-only.txt", "empty"),
    "too short": (lambda d: (d / "s.txt").write_text("ab") and d / "s.txt", "too few"),
    "over the size limit (sparse)": (lambda d: _sparse(d / "huge.txt", 65 * 2**20), "limit"),
}


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as file:
        file.truncate(size)
    return path


@pytest.mark.parametrize("kind", BAD_CORPORA)
def test_a_bad_corpus_is_refused_at_once_by_the_command_line(tmp_path, kind):
    make, message = BAD_CORPORA[kind]
    path = make(tmp_path)
    before = state_of(path)
    with fifo_guard(*tmp_path.glob("f*")) as blocked:
        result = run_cli("--headless", *TINY, "--steps", "5", "--sample", "0", "--corpus", str(path), timeout=20)
    assert not blocked(), "it hung on the FIFO (the guard opened the other end)"
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    no_traceback(result.stderr)
    assert state_of(path) == before
    assert not saved_files()  # nothing trained, nothing saved


async def test_bad_corpora_typed_in_the_app_are_refused_and_the_app_stays(tmp_path):
    """The app's corpus panel, every row of BAD_CORPORA in one session (a FIFO must not freeze it)."""
    paths = {kind: make(tmp_path) for kind, (make, _) in BAD_CORPORA.items()}
    app = make_app(tmp_path)
    failures = []
    async with app.run_test(size=(80, 24)) as pilot:
        for kind, path in paths.items():
            with fifo_guard(*tmp_path.glob("f*")) as blocked:
                await type_into(pilot, "#corpus-path", str(path))
                await pilot.press("enter")
                await pilot.pause()
            error = app.query_one("#corpus-error")
            shown = text_of(error) if error.display else ""
            if blocked() or BAD_CORPORA[kind][1] not in shown or app.main.corpus.name != DEFAULT_CORPUS:
                failures.append(f"{kind}: {'froze on a FIFO, ' if blocked() else ''}corpus {app.main.corpus.name}, "
                                f"said {shown!r}")
        assert app.return_code is None
    assert not failures, "\n".join(failures)


GOOD_ODD_CORPORA = {  # name: (bytes, characters that must not be in the vocabulary)
    "UTF-8 with a BOM": (b"\xef\xbb\xbf" + TEXT.encode(), "\ufeff"),
    "CRLF line ends": (TEXT.replace(". ", ".\r\n").encode(), "\r"),
    "BOM and CRLF": (b"\xef\xbb\xbf" + TEXT.replace(". ", ".\r\n").encode(), "\ufeff\r"),
}


@pytest.mark.parametrize("kind", GOOD_ODD_CORPORA)
def test_bom_and_crlf_never_reach_the_vocabulary(tmp_path, capsys, kind):
    content, unwanted = GOOD_ODD_CORPORA[kind]
    path = tmp_path / "odd.txt"
    path.write_bytes(content)
    ckpt = tmp_path / "odd.json"
    code, out, err = cli(capsys, "--headless", *TINY, "--steps", "20", "--sample", "50", "--corpus", str(path),
                         "--save", str(ckpt))
    assert code == 0, err
    vocab = json.loads(ckpt.read_text())["vocab"]
    assert not set(unwanted) & set(vocab), repr(vocab)
    assert not set(unwanted) & set(out.split("--- sample", 1)[1])
    assert path.read_bytes() == content  # the file itself is not rewritten
    # and the same checkpoint resumes on the same file (its fingerprint is of the text as read)
    code, out, err = cli(capsys, "--headless", "--resume", str(ckpt), "--steps", "30", "--sample", "0")
    assert code == 0 and "starting at step 20" in out, err


async def test_a_bom_file_opened_in_the_app_has_no_bom_in_its_vocabulary(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + TEXT.replace(". ", ".\r\n").encode())
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, "#corpus-path", str(path))
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.corpus.name == "bom.txt"
        assert "\ufeff" not in app.main.corpus.vocab.chars and "\r" not in app.main.corpus.vocab.chars


# ===============================================================================================
# 2. Where --save may write
# ===============================================================================================

BAD_SAVE_PATHS = {  # name: (make the path from (tmp_path, corpus file), text the message must contain)
    "the corpus file": (lambda d, corpus: corpus, "is the corpus"),
    "a symlink to the corpus": (lambda d, corpus: (d / "link.json").symlink_to(corpus) or d / "link.json", "is the corpus"),
    "a hard link to the corpus": (lambda d, corpus: os.link(corpus, d / "hard.json") or d / "hard.json", "is the corpus"),
    "a directory": (lambda d, corpus: (d / "out").mkdir() or d / "out", "directory"),
    "a device (/dev/null)": (lambda d, corpus: device_node(d), "not a regular file"),
    "a FIFO": (lambda d, corpus: make_fifo(d / "pipe.json"), "not a regular file"),
    "a socket": (lambda d, corpus: make_socket(d / "sock.json"), "not a regular file"),
    "a missing folder": (lambda d, corpus: d / "missing" / "x.json", "does not exist"),
}


@pytest.mark.parametrize("kind", BAD_SAVE_PATHS)
def test_save_to_a_bad_path_is_refused_before_training(tmp_path, corpus_file, kind):
    make, message = BAD_SAVE_PATHS[kind]
    target = make(tmp_path, corpus_file)
    before = {p: state_of(p) for p in (target, corpus_file)}
    with fifo_guard(*tmp_path.glob("pipe*")) as blocked:
        result = run_cli("--headless", *TINY, "--steps", "100000", "--sample", "0", "--corpus", str(corpus_file),
                         "--save", str(target), timeout=20)
    assert not blocked(), "it hung on a FIFO"
    assert result.returncode == 2, result.stdout[-500:] + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "step" not in result.stdout  # refused before training, not after 100,000 steps
    assert {p: state_of(p) for p in before} == before
    assert not temp_files(tmp_path, target.parent)


async def test_save_to_a_bad_path_in_the_app_says_why_and_keeps_everything(tmp_path, corpus_file):
    """^S with every row of BAD_SAVE_PATHS, in one session on a corpus file."""
    targets = {kind: make(tmp_path, corpus_file) for kind, (make, _) in BAD_SAVE_PATHS.items()}
    before = {p: state_of(p) for p in [corpus_file, *targets.values()]}
    app = make_app(tmp_path, corpus=str(corpus_file))
    failures = []
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.main.corpus.name == "corpus.txt"
        await train_a_little(pilot)
        for kind, target in targets.items():
            app.said.clear()
            with fifo_guard(*tmp_path.glob("pipe*")) as blocked:
                await enter_path(pilot, "ctrl+s", target)
            if blocked() or not app.said_that(BAD_SAVE_PATHS[kind][1]) or not app.said_that("Not saved"):
                failures.append(f"{kind}: {'froze on a FIFO, ' if blocked() else ''}said {app.said}")
            if isinstance(app.screen, PathScreen):
                await pilot.press("escape")
        assert app.return_code is None and app.session.unsaved_steps > 0
    assert not failures, "\n".join(failures)
    assert {p: state_of(p) for p in before} == before
    assert not temp_files(tmp_path)


AN_EARLIER_CHECKPOINT = '{"format":"charlm-tui-checkpoint","version":3}'  # how a checkpoint's bytes begin: enough


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640])
def test_saving_over_an_earlier_checkpoint_keeps_its_mode(tmp_path, capsys, mode):
    target = tmp_path / "model.json"
    target.write_text(AN_EARLIER_CHECKPOINT)
    target.chmod(mode)
    code, _, err = cli(capsys, "--headless", *TINY, "--steps", "10", "--sample", "0", "--save", str(target))
    assert code == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert step_of(target) == 10
    assert not temp_files(tmp_path)


def test_a_new_checkpoint_gets_the_usual_mode(tmp_path, capsys):
    umask = os.umask(0o022)
    try:
        code, _, err = cli(capsys, "--headless", *TINY, "--steps", "10", "--sample", "0", "--save", str(tmp_path / "new.json"))
    finally:
        os.umask(umask)
    assert code == 0, err
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_a_full_disk_keeps_the_old_checkpoint_and_says_so(tmp_path, checkpoint):
    """RLIMIT_FSIZE makes every write past 64 KB fail (EFBIG), as a full disk would."""
    before = state_of(checkpoint)
    code = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); "
            f"sys.argv = ['charlm-tui', '--headless', '--steps', '40', '--sample', '0', '--save', {str(checkpoint)!r}]; "
            "runpy.run_module('charlm_tui.cli', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1, result.stderr
    assert "could not save" in result.stderr and "File too large" in result.stderr, result.stderr
    no_traceback(result.stderr)
    assert state_of(checkpoint) == before
    assert not temp_files(tmp_path)


UNUSABLE_AUTOSAVES = {  # name: how the autosave's place is taken
    "its file's place is a folder": lambda: [(data_dir() / name).mkdir(parents=True, exist_ok=True)
                                             for name in ("headless-autosave.json", "autosave.json")],
    "its folder is a file": lambda: data_dir().parent.mkdir(parents=True) or data_dir().write_text("not a folder"),
}


@pytest.mark.parametrize("kind", UNUSABLE_AUTOSAVES)
def test_an_unusable_autosave_location_saves_elsewhere_or_says_so(tmp_path, kind):
    UNUSABLE_AUTOSAVES[kind]()
    result = run_cli("--headless", *TINY, "--steps", "50", "--sample", "0")
    no_traceback(result.stderr)
    if result.returncode == 0:  # saved somewhere else: it says where, and the 50 steps are there
        assert step_of(saved_path(result.stdout + result.stderr)) == 50
    else:
        assert result.returncode == 1 and "could not save" in result.stderr, result.stdout + result.stderr


# ===============================================================================================
# 3. Non-finite numbers: strict JSON, and the work still saved
# ===============================================================================================

NAN_LR = ["--context", "3", "--embed", "4", "--hidden", "64", "--lr", "10", "--eval-every", "1"]  # NaN by step ~9


@pytest.mark.parametrize("save", [True, False], ids=["--save", "autosave"])
def test_a_nan_validation_loss_gives_strict_json_and_a_saved_checkpoint(tmp_path, save):
    args = [*NAN_LR, "--steps", "300", "--json", "--print-every", "1", "--sample", "20"]
    if save:
        args += ["--save", str(tmp_path / "nan.json")]
    result = run_cli("--headless", *args)
    assert result.returncode == 1, result.stderr  # training failed: not a success
    no_traceback(result.stderr)
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    events = [strict_json(line) for line in result.stdout.splitlines()]
    stopped = [e for e in events if e["event"] == "stopped"]
    assert stopped and stopped[-1]["reason"] == "non_finite", events[-3:]
    assert "Lower the learning rate" in stopped[-1]["message"]
    path = saved_path(result.stdout)
    assert (path == tmp_path / "nan.json") if save else (path.parent == data_dir())
    strict_json(path.read_text())  # the checkpoint too is strict JSON
    saved = load_checkpoint(path)
    assert saved.state.step == stopped[-1]["step"] > 0
    assert all(abs(loss) < float("inf") for _, loss in saved.state.validation)


def test_a_nan_validation_loss_in_text_mode_says_what_to_do(tmp_path):
    result = run_cli("--headless", *NAN_LR, "--steps", "300", "--print-every", "1", "--sample", "0",
                     "--save", str(tmp_path / "nan.json"))
    assert result.returncode == 1, result.stderr
    no_traceback(result.stderr)
    failed_at = re.search(r"validation loss became \S+ after step ([\d,]+)", result.stdout)
    assert failed_at and "Lower the learning rate" in result.stdout, result.stdout[-1000:]
    assert step_of(tmp_path / "nan.json") == int(failed_at.group(1).replace(",", ""))


def test_huge_weights_in_a_checkpoint_stop_training_cleanly(tmp_path, checkpoint):
    data = json.loads(checkpoint.read_text())
    data["weights"][0][0][0] = 1e308  # finite, but overflows at the first step
    checkpoint.write_text(json.dumps(data))
    before = state_of(checkpoint)
    result = run_cli("--headless", "--resume", str(checkpoint), "--steps", "40", "--json", "--sample", "5")
    assert result.returncode == 1, result.stderr
    no_traceback(result.stderr)
    events = [strict_json(line) for line in result.stdout.splitlines()]
    assert any(e["event"] == "stopped" and e["reason"] == "non_finite" for e in events)
    assert state_of(checkpoint) == before  # the checkpoint resumed from is not written over
    strict_json(saved_path(result.stdout).read_text())


async def test_a_nan_validation_loss_in_the_app_stops_training_and_the_app_lives(tmp_path):
    config = RunConfig(context_length=3, embed_dim=4, hidden_dim=64, learning_rate=10.0, eval_every=1, epochs=100)
    app = make_app(tmp_path, config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await key(pilot, "f5")
        await wait_until(pilot, lambda: app.main.phase is Phase.FAILED, what="the non-finite stop")
        await pilot.pause(0.3)  # the curves repaint
        assert app.return_code is None
        assert app.said_that("validation loss became nan")
        step = app.session.step
        await key(pilot, "ctrl+q")
        await wait_until(pilot, lambda: app.return_code is not None, what="the exit")
    text = (tmp_path / "autosave.json").read_text()
    strict_json(text)
    assert step_of(tmp_path / "autosave.json") == step > 0


# ===============================================================================================
# 4. Hand-edited checkpoints: refused at load, with the problem named
# ===============================================================================================

NAN = float("nan")


def _index_beyond_the_epoch(d):  # the proverbs at context 3 have 220 training examples an epoch (all of them)
    d["trainer"].update(step=300, index=250, losses=[3.0] * 300)


def _raw(content: bytes):
    return lambda path: path.write_bytes(content)


CHECKPOINT_EDITS = [  # (case, edit of the JSON data, text the message must contain)
    ("trainer.step negative", lambda d: d["trainer"].update(step=-1), "trainer.step"),
    ("trainer.step a string", lambda d: d["trainer"].update(step="30"), "trainer.step"),
    ("trainer.step beyond its losses", lambda d: d["trainer"].update(step=31), "losses"),
    ("trainer.epoch negative", lambda d: d["trainer"].update(epoch=-1), "trainer.epoch"),
    ("trainer.epoch fractional", lambda d: d["trainer"].update(epoch=1.5), "trainer.epoch"),
    ("trainer.epoch beyond the steps taken", lambda d: d["trainer"].update(epoch=10**9), "trainer.epoch"),
    ("trainer.index beyond the steps", lambda d: d["trainer"].update(index=10**6), "trainer.index"),
    ("trainer.index beyond the epoch", _index_beyond_the_epoch, "beyond"),
    ("trainer.epoch_loss_sum NaN", lambda d: d["trainer"].update(epoch_loss_sum=NAN), "epoch_loss_sum"),
    ("trainer.epoch_loss_sum Infinity", lambda d: d["trainer"].update(epoch_loss_sum=float("inf")), "epoch_loss_sum"),
    ("trainer.epoch_loss_sum negative", lambda d: d["trainer"].update(epoch_loss_sum=-5.0), "epoch_loss_sum"),
    ("trainer.losses with NaN", lambda d: d["trainer"]["losses"].__setitem__(3, NAN), "losses"),
    ("trainer.losses wrong length", lambda d: d["trainer"]["losses"].pop(), "losses"),
    ("trainer.losses a string", lambda d: d["trainer"].update(losses="abc"), "losses"),
    ("trainer.validation a string", lambda d: d["trainer"].update(validation="x"), "validation"),
    ("trainer.validation triples", lambda d: d["trainer"].update(validation=[[1, 2.0, 3]]), "validation"),
    ("trainer.validation step in the future", lambda d: d["trainer"].update(validation=[[999, 2.0]]), "validation"),
    ("trainer.validation NaN", lambda d: d["trainer"].update(validation=[[10, NAN]]), "validation"),
    ("trainer.rng_state garbage", lambda d: d["trainer"].update(rng_state=[1, 2, 3]), "rng_state"),
    ("trainer.rng_state a string", lambda d: d["trainer"].update(rng_state="xyz"), "rng_state"),
    ("trainer.rng_state word out of range", lambda d: d["trainer"]["rng_state"][1].__setitem__(0, -1), "rng_state"),
    ("trainer.epoch_key garbage", lambda d: d["trainer"].update(epoch_key="abc"), "epoch_key"),
    ("trainer.epoch_key negative", lambda d: d["trainer"].update(epoch_key=-1), "epoch_key"),
    ("trainer.epoch_key over 64 bits", lambda d: d["trainer"].update(epoch_key=2**64), "epoch_key"),
    ("trainer.epoch_key missing mid-epoch", lambda d: d["trainer"].update(epoch_key=None), "epoch_key"),
    ("trainer an unknown field", lambda d: d["trainer"].update(extra=1), "trainer"),
    ("trainer not an object", lambda d: d.update(trainer=[]), "trainer"),
    ("settings.hidden_dim 100000", lambda d: d["settings"].update(hidden_dim=100_000), "hidden dim"),
    ("settings an unknown setting", lambda d: d["settings"].update(bogus=1), "unknown setting bogus"),
    ("settings.engine gpu", lambda d: d["settings"].update(engine="gpu"), "engine"),
    ("settings.learning_rate NaN", lambda d: d["settings"].update(learning_rate=NAN), "lr"),
    ("settings.learning_rate Infinity", lambda d: d["settings"].update(learning_rate=float("inf")), "lr"),
    ("settings.seed negative", lambda d: d["settings"].update(seed=-1), "seed"),
    ("settings.seed true", lambda d: d["settings"].update(seed=True), "seed"),
    ("settings too big a model", lambda d: d["settings"].update(n_hidden=6, hidden_dim=1024, context_length=64, embed_dim=256),
     "weight table"),  # the shapes are checked before anything is allocated
    ("settings not an object", lambda d: d.update(settings=[1]), "settings"),
    ("weights wrong shape", lambda d: d["weights"][1].pop(), "weight table 1"),
    ("weights a row short", lambda d: d["weights"][1][0].pop(), "weight table 1"),
    ("weights NaN", lambda d: d["weights"][0][0].__setitem__(0, NAN), "finite"),
    ("weights Infinity", lambda d: d["weights"][2][0].__setitem__(0, float("-inf")), "finite"),
    ("weights true", lambda d: d["weights"][0][0].__setitem__(0, True), "finite"),
    ("weights not a list", lambda d: d.update(weights="x"), "weight tables"),
    ("vocab not a string", lambda d: d.update(vocab=5), "vocabulary"),
    ("vocab a list", lambda d: d.update(vocab=list(d["vocab"])), "vocabulary"),
    ("vocab empty", lambda d: d.update(vocab=""), "vocabulary"),
    ("vocab a repeated character", lambda d: d.update(vocab=d["vocab"][:-1] + d["vocab"][0]), "vocabulary"),
    ("vocab longer than the weights", lambda d: d.update(vocab=d["vocab"] + "é"), "weight table 0"),
    ("corpus not an object", lambda d: d.update(corpus=[1]), "corpus"),
    ("corpus a string", lambda d: d.update(corpus="proverbs"), "corpus"),
    ("corpus.path not a string", lambda d: d["corpus"].update(path=5, bundled=False), "corpus"),
    ("corpus.name not a string", lambda d: d["corpus"].update(name=5), "corpus"),  # the app's ^S made a Path of it
    ("corpus.bundled a string", lambda d: d["corpus"].update(bundled="yes"), "corpus"),
    ("corpus.fingerprint a number", lambda d: d["corpus"].update(fingerprint=5), "corpus"),
    ("format missing", lambda d: d.pop("format"), "not a charlm-tui checkpoint"),
    ("version a string", lambda d: d.update(version="2"), "version"),
    ("version true", lambda d: d.update(version=True), "version"),  # True == 1 in Python: it read as version 1
    ("version 99", lambda d: d.update(version=99), "format version 99"),
]
CHECKPOINT_FILES = [  # (case, write the file at a path / or give another path, text the message must contain)
    ("a 0-byte file", _raw(b""), "not valid JSON"),
    ("a JSON array", _raw(b"[]"), "not a charlm-tui checkpoint"),
    ("JSON null", _raw(b"null"), "not a charlm-tui checkpoint"),
    ("a bare NaN", _raw(b"NaN"), "not a charlm-tui checkpoint"),
    ("deeply nested arrays", _raw(b"[" * 100_000 + b"]" * 100_000), "not valid JSON"),
    ("deeply nested objects", _raw(b'{"a":' * 50_000 + b"1" + b"}" * 50_000), "not valid JSON"),
    ("truncated", None, "not valid JSON"),
    ("not UTF-8", _raw(b'{"format": "charlm-tui-checkpoint", "\xff": 1}'), "not UTF-8"),
    ("binary", _raw(b"PK\x03\x04\x00\x00" * 100), "binary"),
    ("a 5,000-digit number", _raw(b'{"format": "charlm-tui-checkpoint", "version": ' + b"9" * 5000 + b"}"),
     ("not valid JSON", "digits", "number", "version")),
    ("over the size limit (sparse)", lambda path: _sparse(path, 257 * 2**20), "limit"),
    ("a FIFO", lambda path: path.unlink() or make_fifo(path), "not a regular file"),
    ("a socket", lambda path: path.unlink() or make_socket(path), "not a regular file"),
    ("a directory", lambda path: path.unlink() or path.mkdir(), "directory"),
    ("missing", lambda path: path.unlink(), "no such"),
]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _check_refused(tmp_path, capsys, path: Path, message: str) -> None:
    """Refused by the session (the app's ^O, headless --resume) and by the command line, nothing written."""
    before = state_of(path)
    with fifo_guard(path) as blocked:
        with pytest.raises(CheckpointError) as refused:
            Session(tmp_path / "session-autosave.json").load(path)
        assert says(str(refused.value), message), str(refused.value)
        code, out, err = cli(capsys, "--headless", "--resume", str(path), "--steps", "40", "--sample", "0")
    assert not blocked(), "it hung on a FIFO"
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and says(lines[0], message), err
    assert "step" not in out
    assert state_of(path) == before
    assert not saved_files()


@pytest.mark.parametrize("case,edit,message", CHECKPOINT_EDITS, ids=case_ids(CHECKPOINT_EDITS))
def test_a_hand_edited_checkpoint_is_refused_with_the_field_named(tmp_path, capsys, checkpoint, case, edit, message):
    data = json.loads(checkpoint.read_text())
    edit(data)
    checkpoint.write_text(json.dumps(data))  # NaN and Infinity as Python writes them: a hand edit would too
    _check_refused(tmp_path, capsys, checkpoint, message)


@pytest.mark.parametrize("case,write,message", CHECKPOINT_FILES, ids=case_ids(CHECKPOINT_FILES))
def test_a_file_that_is_no_checkpoint_is_refused(tmp_path, capsys, checkpoint, case, write, message):
    (write or _truncate)(checkpoint)
    _check_refused(tmp_path, capsys, checkpoint, message)


def test_dev_zero_as_a_checkpoint_is_refused(tmp_path, capsys):
    _check_refused(tmp_path, capsys, Path("/dev/zero"), "not a regular file")


def test_a_checkpoint_with_a_bom_still_loads(tmp_path, capsys, checkpoint):
    checkpoint.write_bytes(b"\xef\xbb\xbf" + checkpoint.read_bytes())  # as some editors save it
    assert load_checkpoint(checkpoint).state.step == 30
    code, out, err = cli(capsys, "--headless", "--resume", str(checkpoint), "--steps", "40", "--sample", "0")
    assert code == 0 and "starting at step 30" in out, err


APP_LOADS = [  # (case, make the file from the good checkpoint, text the app must say)
    ("a FIFO", lambda p: p.unlink() or make_fifo(p), "not a regular file"),
    ("a 0-byte file", _raw(b""), "not valid JSON"),
    ("deeply nested", _raw(b"[" * 100_000 + b"]" * 100_000), "not valid JSON"),
    ("losses with NaN", lambda p: _edit(p, lambda d: d["trainer"]["losses"].__setitem__(0, NAN)), "losses"),
    ("index beyond the epoch", lambda p: _edit(p, _index_beyond_the_epoch), "beyond"),
    ("corpus.path not a string", lambda p: _edit(p, lambda d: d["corpus"].update(path=5, bundled=False)), "corpus"),
]


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("case,write,message", APP_LOADS, ids=case_ids(APP_LOADS))
async def test_loading_a_bad_checkpoint_in_the_app_says_why(tmp_path, checkpoint, case, write, message):
    write(checkpoint)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        with fifo_guard(checkpoint) as blocked:
            await enter_path(pilot, "ctrl+o", checkpoint)
        assert not blocked(), "the app froze on a FIFO"
        await pilot.pause()
        assert app.return_code is None and app.session.run is None
        assert app.said_that("Not loaded") and app.said_that(message), app.said


# ===============================================================================================
# 5. Models too big, and flags a resumed run cannot take
# ===============================================================================================

TOO_BIG = {  # name: (flags, text the message must contain)
    "--hidden 100000": (["--hidden", "100000"], "hidden dim must be a whole number from 1 to 1,024"),
    "--embed 100000": (["--embed", "100000"], "embed dim"),
    "--layers 100": (["--layers", "100"], "layers"),
    "the largest of every dimension": (["--layers", "6", "--hidden", "1024", "--context", "64", "--embed", "256"],
                                       "parameters (≈"),
    "hidden 1024 × 2 at context 64": (["--hidden", "1024", "--context", "64", "--embed", "256"], "MB"),
    "the reference engine, too slow": (["--engine", "reference", "--hidden", "600", "--context", "16", "--embed", "32"],
                                       "s a step"),
}


@pytest.mark.parametrize("kind", TOO_BIG)
def test_a_model_too_big_is_refused_at_once_with_the_estimate(kind):
    flags, message = TOO_BIG[kind]
    result = run_cli("--headless", *flags, "--steps", "3", "--sample", "0", timeout=60,
                     preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2**28, 2**28)))  # 256 MB: refused before allocating
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


async def test_the_form_refuses_a_model_too_big_with_the_estimate(tmp_path):
    huge = RunConfig(n_hidden=6, hidden_dim=1024, context_length=64, embed_dim=256, epochs=1)
    app = make_app(tmp_path, config=huge)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        assert app.session.run is None
        assert app.said_that("Cannot start") and app.said_that("parameters"), app.said


RESUME_FLAGS = [["--hidden", "16"], ["--context", "5"], ["--engine", "reference"], ["--preset", "course"],
                ["--embed", "6"], ["--layers", "3"], ["--activation", "tanh"], ["--seed", "3"],
                ["--val-fraction", "0.2"], ["--hidden", "16", "--context", "5"]]


@pytest.mark.parametrize("flags", RESUME_FLAGS, ids=" ".join)
def test_resume_refuses_flags_that_would_change_the_model(capsys, checkpoint, flags):
    before = state_of(checkpoint)
    code, out, err = cli(capsys, "--headless", "--resume", str(checkpoint), *flags, "--steps", "40", "--save", str(checkpoint))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{flags[0]}" in lines[0] and "cannot change a resumed run" in lines[0], err
    assert state_of(checkpoint) == before


def test_resume_on_a_text_with_other_characters_is_refused(capsys, checkpoint):
    before = state_of(checkpoint)
    code, out, err = cli(capsys, "--headless", "--resume", str(checkpoint), "--corpus", "names", "--steps", "40")
    assert code == 2 and "not the same" in err and len(err.strip().splitlines()) == 1, err
    assert state_of(checkpoint) == before


# ===============================================================================================
# 6. Signals to the headless command line
# ===============================================================================================


@pytest.mark.parametrize("save", [True, False], ids=["--save", "autosave"])
@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_mid_training_stops_and_saves_the_steps(tmp_path, name, save):
    sig = SIGNALS[name]
    target = tmp_path / "run.json"
    args = [*TINY, "--steps", "10000000", "--print-every", "200", "--sample", "50"] + (["--save", str(target)] if save else [])
    with headless(*args) as proc:
        seen = int(proc.wait_for(r"^step ([\d,]+)").group(1).replace(",", ""))
        proc.signal(sig)
        code = proc.wait(30)  # stopped between two steps: its 10,000,000 would take hours
        assert code in (0, 128 + sig), proc.stderr
        no_traceback(proc.stderr)
        steps = stopped_at(proc.stdout)
        path = saved_path(proc.stdout)
        assert (path == target) if save else (path.parent == data_dir())
        assert step_of(path) == steps >= seen
        assert "--- sample" not in proc.stdout  # a signal means stop: no sampling after it
        assert not temp_files(path.parent)


SAVE_INTERRUPTS = [  # (first signal, second signal, seconds after the first, --save or the autosave)
    ("SIGINT", "SIGINT", 0.03, True),
    ("SIGINT", "SIGTERM", 0.03, True),
    ("SIGTERM", "SIGHUP", 0.03, True),
    ("SIGHUP", "SIGINT", "writing", True),
    ("SIGINT", "SIGINT", "writing", False),
]


@pytest.mark.parametrize("first,second,when,save", SAVE_INTERRUPTS,
                         ids=[f"{a}-then-{b}-{w if isinstance(w, str) else 'serialising'}-{'save' if s else 'autosave'}"
                              for a, b, w, s in SAVE_INTERRUPTS])
def test_a_second_signal_during_the_save_lets_it_finish(tmp_path, first, second, when, save):
    """A big model, so that the save takes a while; the second signal lands while it serialises the
    weights, or (`writing`) once its temporary file exists."""
    target = tmp_path / "big.json"
    folder = tmp_path if save else data_dir()
    if save:
        target.write_text(AN_EARLIER_CHECKPOINT)
        target.chmod(0o644)
    args = [*BIG, "--steps", "100000", "--print-every", "5", "--sample", "0"] + (["--save", str(target)] if save else [])
    with headless(*args) as proc:
        proc.wait_for(r"^step 5/")
        proc.signal(SIGNALS[first])
        if when == "writing":
            deadline = time.monotonic() + 3
            while not temp_files(folder) and proc.popen.poll() is None and time.monotonic() < deadline:
                time.sleep(0.0005)
        else:
            time.sleep(when)
        proc.signal(SIGNALS[second])
        code = proc.wait(10)
        assert code in (0, 128 + SIGNALS[first], 128 + SIGNALS[second]), proc.stderr
        no_traceback(proc.stderr)
        path = saved_path(proc.stdout)
        assert step_of(path) == stopped_at(proc.stdout)
        assert not temp_files(folder)
        if save:
            assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_sigkill_during_a_save_leaves_the_old_checkpoint_or_the_new_one(tmp_path, capsys):
    target = tmp_path / "big.json"
    code, _, err = cli(capsys, "--headless", *BIG, "--steps", "3", "--sample", "0", "--save", str(target))
    assert code == 0, err
    old = target.read_bytes()
    with headless(*BIG, "--steps", "100000", "--print-every", "5", "--sample", "0", "--save", str(target)) as proc:
        proc.wait_for(r"^step 5/")
        proc.signal(signal.SIGINT)
        deadline = time.monotonic() + 3
        while not temp_files(tmp_path) and proc.popen.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        proc.signal(signal.SIGKILL)
        proc.wait(10)
    assert target.read_bytes() == old or step_of(target) > 3


def test_a_large_corpus_trains_and_answers_sigint(tmp_path):
    """60 MB (the limit is 64): it trains, stops on SIGINT and saves, and the corpus is left as it was."""
    corpus = tmp_path / "large.txt"
    corpus.write_bytes(b"the quick brown fox jumps over the lazy dog\n" * (60 * 2**20 // 44))
    before = state_of(corpus)
    with headless("--corpus", str(corpus), *TINY, "--steps", "10000000", "--print-every", "100", "--sample", "0",
                  "--save", str(tmp_path / "large.json")) as proc:
        proc.wait_for(r"^step 100/", timeout=60)  # how fast: benchmarks/bench_data.py (a 5 MB corpus)
        proc.signal(signal.SIGINT)
        assert proc.wait(30) in (0, 130)
        no_traceback(proc.stderr)
        assert step_of(tmp_path / "large.json") == stopped_at(proc.stdout) >= 100
    assert state_of(corpus) == before


def test_sigint_while_loading_a_checkpoint_exits_quietly(tmp_path, checkpoint):
    """A checkpoint with 4 million losses takes ~1 s to parse; SIGINT arrives once the file has been read."""
    n = 4_000_000
    data = json.loads(checkpoint.read_text())
    data["trainer"]["step"] = n
    checkpoint.write_text(json.dumps(data).replace('"losses": [', '"losses": [' + "3.5," * (n - 30), 1))
    before, size = state_of(checkpoint), checkpoint.stat().st_size
    with headless("--resume", str(checkpoint), "--steps", str(n + 1000), "--sample", "0") as proc:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.popen.poll() is None:  # bytes read so far, by /proc
            counters = Path(f"/proc/{proc.pid}/io").read_text()
            if int(re.search(r"rchar: (\d+)", counters).group(1)) >= size:
                break
            time.sleep(0.001)
        proc.signal(signal.SIGINT)
        code = proc.wait(5)
        no_traceback(proc.stderr)
        assert code != 0
    assert state_of(checkpoint) == before


def test_sigint_while_sampling_stops_it(tmp_path):
    with headless("--context", "3", "--embed", "4", "--hidden", "128", "--steps", "5", "--sample", "100000",
                  "--save", str(tmp_path / "s.json")) as proc:  # 100,000 characters: about a minute
        proc.wait_for(r"saved to")
        time.sleep(0.3)
        proc.signal(signal.SIGINT)
        code = proc.wait(20)  # the whole sample would take a minute
        assert code in (0, 130)
        no_traceback(proc.stderr)
    assert step_of(tmp_path / "s.json") == 5


def test_sigint_answers_within_a_step_at_any_size_allowed(tmp_path):
    """The largest model allowed takes about a second a step: SIGINT ends the run after the step it is in."""
    with headless("--engine", "reference", "--context", "16", "--embed", "32", "--hidden", "192", "--steps", "100",
                  "--sample", "0", "--print-every", "1") as proc:
        deadline = time.monotonic() + 20
        while "model: " not in proc.stdout and proc.popen.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.popen.poll() is not None:  # refused at once with its estimate: the size is not allowed, fine
            assert proc.wait(5) == 2 and "s a step" in proc.stderr, proc.stderr
            return
        time.sleep(0.2)  # inside the first step
        steps = re.findall(r"^step (\d+)/", proc.stdout, re.M)
        proc.signal(signal.SIGINT)
        code = proc.wait(60)
        no_traceback(proc.stderr)
        assert code in (0, 130)
        assert stopped_at(proc.stdout) <= (int(steps[-1]) if steps else 0) + 1, proc.stdout[-500:]


# ===============================================================================================
# 7. A reader that goes away, an output that fails
# ===============================================================================================


READERS_GONE = [  # (when the reader goes away, --json, --save)
    ("after the first progress line", False, True),  # `| head -1` once training runs
    ("after the first progress line", True, False),
    ("before any output", False, True),  # `| true`, or `| head -1` by a hair: the header's print fails
    ("before any output", True, False),  # the start event's print fails
]


@pytest.mark.parametrize("when,as_json,save", READERS_GONE, ids=[
    f"{when}-{'json' if as_json else 'text'}-{'save' if save else 'autosave'}"
    for when, as_json, save in READERS_GONE])
def test_a_reader_that_goes_away_stops_the_run_and_its_work_is_saved(tmp_path, when, as_json, save):
    args = ["--headless", *TINY, "--steps", "10000000", "--print-every", "100", "--sample", "50"]
    args += ["--json"] if as_json else []
    args += ["--save", str(tmp_path / "h.json")] if save else []
    proc = subprocess.Popen([sys.executable, "-m", "charlm_tui.cli", *args], cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if when != "before any output":
            line = b""
            while not re.match(rb'(step|\{"event": "step")', line):  # `head -1` of the progress lines
                ready, _, _ = select.select([proc.stdout], [], [], 15)
                assert ready, "no output"
                line = proc.stdout.readline()
                assert line, "the output ended"
        proc.stdout.close()
        try:
            _, err = proc.communicate(timeout=20)  # its 10,000,000 steps would take hours
        except subprocess.TimeoutExpired:
            raise AssertionError("still training 20 s after its reader went away") from None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    err = err.decode()
    assert proc.returncode in (0, 141), err  # 141: 128 + SIGPIPE, as `head` users know it
    no_traceback(err)
    if save or "saved to" in err:
        path = saved_path(err)  # stdout is gone: stderr says where the work went
        assert (path == tmp_path / "h.json") if save else (path.parent == data_dir())
        assert step_of(path) > 0 or when == "before any output"
        assert not temp_files(path.parent)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_stdout_on_a_full_disk_is_an_error_message_not_a_traceback(tmp_path, as_json):
    target = tmp_path / "full.json"
    with open("/dev/full", "w") as full:
        result = run_cli("--headless", *TINY, "--steps", "50", "--print-every", "10", "--sample", "0", "--save", str(target),
                         *(["--json"] if as_json else []), stdout=full)
    no_traceback(result.stderr)
    assert result.returncode != 0
    assert "No space left" in result.stderr, result.stderr
    assert not target.exists() or step_of(target) == 0  # its first line failed, before training: nothing to lose


def test_no_stdout_at_all_still_trains_and_saves(tmp_path):
    code = f"exec {sys.executable} -m charlm_tui.cli --headless {' '.join(TINY)} --steps 50 --sample 5 --save {tmp_path / 'n.json'} >&-"
    result = subprocess.run(["sh", "-c", code], cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    no_traceback(result.stderr)
    assert step_of(tmp_path / "n.json") == 50


# ===============================================================================================
# 8. keys.toml
# ===============================================================================================

KEYMAPS = {  # name: (keys.toml bytes, text the app must say)
    "keys = 5": (b"keys = 5\n", "keys.toml"),
    "[[keys]]": (b"[[keys]]\n", "keys.toml"),
    "an empty key name": (b'[keys]\n"train.toggle" = ""\n', "not a key"),
    "an unknown key name": (b'[keys]\n"train.toggle" = "notakey"\n', "notakey"),
    "a trailing comma": (b'[keys]\n"train.toggle" = "f4,"\n', "not a key"),
    "a clash": (b'[keys]\n"train.toggle" = "f6"\n', "two things"),
    "a clash with quit": (b'[keys]\n"train.toggle" = "ctrl+q"\n', "two things"),
    "an unknown binding id": (b'[keys]\n"train.go" = "f4"\n', "train.go"),
    "a number for a key": (b'[keys]\n"train.toggle" = 4\n', "keys.toml"),
    "not TOML": (b"[keys\n", "keys.toml"),
    "not UTF-8": (b'[keys]\n"train.toggle" = "\xe9"\n', "keys.toml"),
    "a directory": (None, "keys.toml"),
}


@pytest.mark.parametrize("kind", KEYMAPS)
async def test_a_bad_keymap_is_ignored_with_a_message_and_the_keys_work(tmp_path, kind):
    content, message = KEYMAPS[kind]
    keys = Path(os.environ["XDG_CONFIG_HOME"]) / "charlm-tui" / "keys.toml"
    keys.parent.mkdir(parents=True)
    keys.mkdir() if content is None else keys.write_bytes(content)
    before = state_of(keys)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        assert app.said_that("Ignoring") and app.said_that(message), app.said
        assert "press F5 to start training" in text_of(app.query_one("#train-state"))  # the default keys apply
        assert app.return_code is None
    assert state_of(keys) == before  # the user's file is left as it is


def test_a_fifo_keymap_does_not_hang_the_app(tmp_path):
    keys = Path(os.environ["XDG_CONFIG_HOME"]) / "charlm-tui" / "keys.toml"
    keys.parent.mkdir(parents=True)
    make_fifo(keys)
    script = ("import asyncio\nfrom charlm_tui.app import CharLMApp\n"
              "class App(CharLMApp):\n"
              "    def notify(self, message, **kwargs):\n"
              "        print('SAID', message, flush=True)\n"
              "        return super().notify(message, **kwargs)\n"
              "async def main():\n"
              "    async with App(calibrate=False).run_test(size=(80, 24)) as pilot:\n"
              "        await pilot.pause()\n"
              "        print('STARTED', flush=True)\n"
              "asyncio.run(main())\n")
    with fifo_guard(keys) as blocked:
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                                timeout=60)
    assert not blocked(), "the app hung at start-up, reading the FIFO"
    assert "STARTED" in result.stdout and "keys.toml" in result.stdout, result.stdout + result.stderr


# ===============================================================================================
# 9. Dialogs
# ===============================================================================================


@pytest.mark.parametrize("key", ["ctrl+s", "ctrl+o"])
async def test_enter_twice_in_the_path_dialog_does_not_crash(tmp_path, key):
    target = tmp_path / "twice.json"
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_a_little(pilot)
        if key == "ctrl+o":
            app.session.save(target)  # something to load; nothing unsaved, so ^O asks for the path at once
        await pilot.press(key)
        (await path_field(pilot)).value = str(target)
        for _ in range(2):  # as a terminal delivers two quick presses: both queued before either is handled
            app._driver.send_message(events.Key("enter", "\r"))
        await pilot.pause()
        await app.workers.wait_for_complete()  # the save or load runs in a thread: wait for it, not for a clock
        await pilot.pause()
        assert app.return_code is None, app.said
        assert not isinstance(app.screen, PathScreen)
        steps = app.session.step
        assert step_of(target) == steps > 0
        assert app.said_that("Saved" if key == "ctrl+s" else "Loaded"), app.said
    assert not temp_files(tmp_path)


# ===============================================================================================
# 10. The app in a terminal: signals and ^Q
# ===============================================================================================

def test_a_second_signal_while_the_app_autosaves_a_big_model_lets_the_save_finish():
    with tui(*BIG, "--epochs", "100000") as app:
        start_training(app, steps=20)
        shown = app.steps_shown()
        app.signal(signal.SIGTERM)
        time.sleep(0.05)  # the autosave of 4 MB is under way
        app.signal(signal.SIGINT)
        code = app.exit_code(10)
        assert code in (0, 128 + signal.SIGTERM, 128 + signal.SIGINT), app.text[-1500:]
        no_traceback(app.text)
    assert step_of(data_dir() / "autosave.json") >= shown
    assert not temp_files(data_dir())


NO_TERMINALS = [  # (case, stdin, stdout): each "null", "closed", "pty" or "pipe"
    ("stdin from /dev/null (ssh host charlm-tui, cron)", "null", "pipe"),
    ("stdin closed (charlm-tui <&-)", "closed", "pipe"),
    ("stdout closed", "null", "closed"),
    ("stdout into a pipe (charlm-tui | tee log)", "pty", "pipe"),
]


@pytest.mark.parametrize("case,stdin_kind,stdout_kind", NO_TERMINALS, ids=case_ids(NO_TERMINALS))
def test_the_app_without_a_terminal_says_to_use_headless(case, stdin_kind, stdout_kind):
    master = slave = None
    stdin = subprocess.DEVNULL
    if stdin_kind == "pty":
        master, slave = os.openpty()
        stdin = slave
    redirections = {"closed": "<&-"}.get(stdin_kind, "") + " " + {"closed": ">&-"}.get(stdout_kind, "")
    command = f"exec {shlex.quote(sys.executable)} -m charlm_tui.cli {' '.join(TINY)} {redirections}"
    try:
        result = subprocess.run(["sh", "-c", command], cwd=ROOT, env=child_env(), stdin=stdin, capture_output=True,
                                text=True, timeout=30)  # a hang would wait for a key forever
    except subprocess.TimeoutExpired:
        raise AssertionError("it is still running with nobody to press a key") from None
    finally:
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)
    no_traceback(result.stderr)
    assert result.returncode == 2, result.stderr
    assert "--headless" in result.stderr, result.stderr


ENDINGS = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "SIGINT": signal.SIGINT, "^Q": None}


@pytest.mark.parametrize("ending", ENDINGS)
def test_the_app_mid_training_autosaves_and_exits(ending):
    with tui(*TINY, "--epochs", "100000") as app:
        start_training(app)
        shown = app.steps_shown()
        if ENDINGS[ending] is None:
            app.press(CTRL_Q)
        else:
            app.signal(ENDINGS[ending])
        code = app.exit_code(8)
        assert code is not None, f"still running after {ending}:\n{app.text[-1500:]}"
        assert code in ({0, 128 + ENDINGS[ending]} if ENDINGS[ending] else {0}), app.text[-1500:]
        no_traceback(app.text)
    autosave = data_dir() / "autosave.json"
    assert step_of(autosave) >= shown >= 100
    assert not temp_files(data_dir())


def test_the_app_says_where_it_autosaved():
    with tui(*TINY, "--epochs", "100000") as app:
        start_training(app)
        app.press(CTRL_Q)
        assert app.exit_code(8) is not None
        time.sleep(0.2)
        said = "".join(app.text.split())  # the terminal wraps a long path
        assert str(data_dir() / "autosave.json") in said, app.text[-1000:]


def test_a_hangup_when_the_autosave_cannot_be_written_still_ends_the_app():
    (data_dir() / "autosave.json").mkdir(parents=True)  # the autosave's place is taken
    with tui(*TINY, "--epochs", "100000") as app:
        start_training(app)
        app.signal(signal.SIGHUP)
        code = app.exit_code(15)  # training would go on for hours
        assert code is not None, "the terminal is gone but the app is still running"
        time.sleep(0.2)
        said = "".join(app.text.split())  # the terminal wraps a long path
        elsewhere = re.findall(r"autosavedto(/.+?\.json)", said)
        assert code != 0 or (elsewhere and step_of(Path(elsewhere[-1])) > 0), f"exit 0, and where are the steps?\n{said[-500:]}"
