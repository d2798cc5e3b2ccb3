"""The run history: every training run, one JSON line per update, in `data_home() / "runs.jsonl"`.

A run is written when it starts, every few seconds while it trains, when it stops and when it is
saved; each write appends one whole line (a single `os.write` on a file opened with O_APPEND, under
an exclusive `flock` where there is one), so writers in several processes never mix their lines. An
update is a new line with the same id: the reader keeps each id's last readable line, so a run killed
mid-way is there as it was at its last update, its stop reason still "running". A damaged line (a
write cut short by a crash, say) is skipped with a warning, never an error.

It stays small and quick to read: a write that takes the file past twice its compacted size rewrites
it as each run's last line (under the same lock, atomically); a RunLog reads again only what was
appended since its last read; and a line's curves are decoded when first asked for.

    log = RunLog()                      # data_home() / "runs.jsonl"
    tracker = RunTracker(log)
    tracker.update(run)                 # as often as you like: it writes every `every` seconds at most
    tracker.update(run, StopReason.FINISHED)
    runs, warnings = log.read()
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import math
import os
import re
import socket
import stat
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from core.checkpoint import write_atomically
from core.metrics import best_point
from core.places import data_home, visitors_home, writable
from core.settings import BY_NAME, SETTINGS
from core.training import StopReason, perplexity

try:
    import fcntl
except ImportError:  # Windows: appends stay whole lines in practice, without the lock
    fcntl = None

POINTS = 128  # points kept of each curve
RUNNING = "running"  # the stop reason of a run still training, or killed while it trained
KILLED = "killed"  # what `RunRecord.outcome()` says of a "running" run whose process is gone
PAUSED = "paused"  # what it says of a "cancelled" one: paused, or quit (and autosaved), and can go on
STOPPED = "stopped"  # ended by the user (F6): raising its budget lets it go on


def history_path() -> Path:
    return data_home() / "runs.jsonl"


def visitor_logs() -> dict[str, RunLog]:
    """The run histories of `charlm-tui serve`'s visitors, by visitor id (the name of each one's folder)."""
    return {folder.name: RunLog(folder / "runs.jsonl") for folder in sorted(visitors_home().glob("*/"))
            if (folder / "runs.jsonl").exists()}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --- one run -----------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """What the history keeps of one run (a resumed checkpoint is a new run, `resumed_from` it)."""

    id: str  # first, so a reader finds it at the start of the line
    started: str  # ISO 8601, UTC
    updated: str
    corpus: dict  # {"name", "fingerprint", "path" (None for a bundled or pasted text)}
    settings: dict  # RunConfig.to_json()
    engine: str
    parameters: int
    steps: int  # steps taken in all (a resumed run counts its checkpoint's)
    wall_seconds: float  # time spent training in this run (pauses left out)
    curve: list  # [[step, smoothed training loss]], at most POINTS, the last one at `steps`
    validation: list  # [[step, validation loss]], at most POINTS, first and last kept
    best_validation: dict | None  # {"step", "loss"}
    final_validation: float | None  # the last validation loss
    perplexity: float | None  # e^final validation, else e^the last smoothed training loss
    stop_reason: str  # finished, stopped, cancelled, non_finite, early_stopped, error, or "running"
    checkpoint: str | None = None  # where it was last saved
    resumed_from: str | None = None  # the checkpoint it was loaded from
    pid: int | None = None  # the process training it, and its host: tells a killed run from a running one
    host: str | None = None
    final_training: float | None = None  # the smoothed training loss at the end (None in records before it was kept)

    def to_json(self) -> dict:
        return asdict(self)

    def to_line(self) -> bytes:
        return (json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, data) -> RunRecord:
        """A record from a parsed line; a ValueError names what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        for f in fields(cls):
            if f.name not in data:
                if f.default is MISSING:
                    raise ValueError(f"no {f.name!r}")
            elif not _SHAPES[f.name](data[f.name]):
                raise ValueError(f"{f.name!r} is {str(data[f.name])[:40]!r}")
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @classmethod
    def from_line(cls, line: bytes) -> RunRecord:
        """A record from a line of the history; a ValueError names what is wrong with it. The curves, most of a
        line, are read when first asked for (thousands of runs list in a blink): a line as `to_line` writes it
        is read without them, and a curve that turns out damaged then reads as none."""
        head = _without_curves(line)
        if head is None:
            return cls.from_json(json.loads(line))
        record = cls.from_json(json.loads(head))
        for name in CURVES:
            del record.__dict__[name]  # asked for, they come from __getattr__
        record._line = line
        return record

    def __getattr__(self, name: str):
        """A curve of a record read by `from_line`, read from its line when first asked for."""
        line = self.__dict__.get("_line")
        if name not in CURVES or line is None:
            raise AttributeError(name)
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            data = {}
        for curve in CURVES:
            self.__dict__[curve] = data[curve] if _points(data.get(curve)) else []
        return self.__dict__[name]

    @property
    def best_loss(self) -> float | None:
        """The lowest validation loss, None for a run without validation."""
        return self.best_validation["loss"] if self.best_validation else None

    def setting(self, name: str) -> Any:
        """The run's value of setting `name` (the setting's default for a run recorded before it existed)."""
        return self.settings.get(name, BY_NAME[name].default)

    @property
    def best_perplexity(self) -> float | None:
        """e^the best validation loss, the perplexity beside it in the tables; None for a run without validation."""
        return None if self.best_validation is None else perplexity(self.best_loss)

    @property
    def gap(self) -> float | None:
        """How far the final validation loss is above the smoothed training loss at the end (overfitting widens it);
        None for a run without validation."""
        if self.final_validation is None or self.final_training is None:
            return None
        return self.final_validation - self.final_training

    def outcome(self) -> str:
        """The stop reason, but "paused" for a cancelled run, and "killed" for one left "running" by a process
        that is gone (known only on this host; a reused process id reads as still running)."""
        if self.stop_reason == StopReason.CANCELLED.value:
            return PAUSED
        if self.stop_reason != RUNNING or self.pid is None or self.host != socket.gethostname() or os.name != "posix":
            return self.stop_reason
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return KILLED
        except OSError:  # someone else's process: it exists
            pass
        return RUNNING


BIGGEST_COUNT = 2**53  # steps, parameters: beyond it a count is not exact as a float, and no run gets near it
BIGGEST_LOSS = 1e12  # a cross-entropy no run records, even diverging (it goes non-finite first): damage


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < BIGGEST_COUNT


def _loss(x) -> bool:
    return _number(x) and 0 <= x < BIGGEST_LOSS


def _optional(check):
    return lambda x: x is None or check(x)


def _points(x) -> bool:
    """[[step ≥ 0, finite loss], ...], checked a column at a time (a read checks thousands of them)."""
    if not (type(x) is list and len(x) <= POINTS and {type(p) for p in x} <= {list} and {len(p) for p in x} <= {2}):
        return False
    steps, losses = [p[0] for p in x], [p[1] for p in x]
    return ({type(s) for s in steps} <= {int} and 0 <= min(steps, default=0) <= max(steps, default=0) < BIGGEST_COUNT
            and {type(v) for v in losses} <= {int, float} and math.isfinite(sum(losses))
            and 0 <= min(losses, default=0) <= max(losses, default=0) < BIGGEST_LOSS)


_SHAPES = {
    "id": lambda x: isinstance(x, str) and bool(x), "started": lambda x: isinstance(x, str),
    "updated": lambda x: isinstance(x, str),
    "corpus": lambda x: isinstance(x, dict) and isinstance(x.get("name"), str) and isinstance(x.get("fingerprint"), str)
    and _optional(lambda p: isinstance(p, str))(x.get("path")),
    "settings": lambda x: isinstance(x, dict), "engine": lambda x: isinstance(x, str), "parameters": _count,
    "steps": _count, "wall_seconds": lambda x: _number(x) and 0 <= x < BIGGEST_COUNT, "curve": _points,
    "validation": _points,
    "best_validation": _optional(lambda x: isinstance(x, dict) and _count(x.get("step")) and _loss(x.get("loss"))),
    "final_validation": _optional(_loss), "final_training": _optional(_loss), "perplexity": _optional(lambda x: _number(x) and x >= 1),
    "stop_reason": lambda x: isinstance(x, str),
    "checkpoint": _optional(lambda x: isinstance(x, str)), "resumed_from": _optional(lambda x: isinstance(x, str)),
    "pid": _optional(lambda x: _count(x) and x < 2**31), "host": _optional(lambda x: isinstance(x, str)),
}


# --- comparing runs ----------------------------------------------------------------------------


def local_time(iso: str, short: bool = False) -> str:
    """An ISO 8601 time in the local time zone: `2024-01-02 10:00`, or `02 Jan 10:00` short (`02 Jan 2023` short
    for an earlier year); an unreadable one as it is."""
    try:
        when = datetime.fromisoformat(iso).astimezone()
    except (ValueError, OverflowError):  # not a time, or one at the end of the calendar
        return iso[:16]
    if not short:
        return when.strftime("%Y-%m-%d %H:%M")
    return when.strftime("%d %b %H:%M" if when.year == datetime.now().year else "%d %b %Y")


@dataclass(frozen=True)
class Difference:
    """The corpus or a setting, not the same in all the runs compared: its values, shown, one per run."""

    name: str  # a setting's name, or "corpus"
    label: str  # as the form says it: "hidden dim"
    values: tuple[str, ...]
    self_explanatory: bool  # the values read on their own ("tanh"); numbers need their label ("lr 0.03")

    def __str__(self) -> str:
        return f"{self.label} {' | '.join(self.values)}"  # "activation relu | tanh"

    def of(self, index: int) -> str:
        """What run `index` has, in a word or two: "tanh", "lr 0.03"."""
        return self.values[index] if self.self_explanatory else f"{self.label} {self.values[index]}"

    def sets_apart(self, index: int) -> bool:
        """Whether run `index`'s value tells it from the others: any value but one that more runs share than any
        other ("relu" in relu, tanh, relu; neither of relu, tanh)."""
        (common, most), *others = Counter(self.values).most_common()
        return self.values[index] != common or others[0][1] == most  # others: a difference has two values at least


def differences(runs: Sequence[RunRecord]) -> list[Difference]:
    """What is not the same in all of `runs`: the corpus first, then the settings in their declared order."""
    found = []
    corpora = [r.corpus["name"] for r in runs]
    if len(set(corpora)) > 1:
        found.append(Difference("corpus", "corpus", tuple(corpora), self_explanatory=True))
    for s in SETTINGS:
        values = [r.setting(s.name) for r in runs]
        if any(v != values[0] for v in values):
            found.append(Difference(s.name, s.label, tuple(s.show(v) or "off" for v in values),
                                    self_explanatory=bool(s.choices)))
    return found


@dataclass(frozen=True)
class RunOrder:
    """A way to sort runs: by `key` (None for a run it cannot place, which goes last either way)."""

    key: Callable[[RunRecord], Any]
    words: tuple[str, str]  # the order ascending, then descending: ("oldest first", "newest first")
    descending: bool = False  # the order a first press of its key gives

    def sort(self, runs: Sequence[RunRecord], descending: bool) -> list[RunRecord]:
        placed = [r for r in runs if self.key(r) is not None]
        return sorted(placed, key=self.key, reverse=descending) + [r for r in runs if self.key(r) is None]


ORDERS = {
    "best": RunOrder(lambda r: r.best_loss, ("lowest validation first", "highest validation first")),
    "started": RunOrder(lambda r: r.started, ("oldest first", "newest first"), descending=True),
    "size": RunOrder(lambda r: r.parameters, ("smallest model first", "largest model first")),
}


# --- the file ----------------------------------------------------------------------------------


_ID = re.compile(rb'\{"id":"([^"\\]+)",')  # how to_line() starts
CURVES = ("curve", "validation")  # the fields a line read from the history decodes only when asked for
COMPACT_AT = 1_000_000  # bytes: a history smaller than this is read in a blink, whatever it holds
READ_CHUNK = 8 * 2**20  # bytes read at a time: a long history is never all in memory at once


def _without_curves(line: bytes) -> bytes | None:
    """`line` with its curves left empty, or None when it is not as `to_line` writes it (each curve's key once,
    then an array of [step, loss] pairs, whose first "]]" ends it)."""
    for name in CURVES:
        key = b',"' + name.encode() + b'":['
        start = line.find(key)
        if start < 0 or line.find(key, start + 1) >= 0:
            return None
        opening = start + len(key) - 1
        end = opening + 2 if line.startswith(b"[]", opening) else line.find(b"]]", opening) + 2
        if end < opening:
            return None
        line = line[:opening] + b"[]" + line[end:]
    return line


@dataclass
class _Parsed:
    """What has been read of a history file: its whole lines up to `offset`, to go on from when it grows."""

    identity: tuple[int, int] | None = None  # the file's device and inode: another file (compacted) is read anew
    offset: int = 0  # bytes read: whole lines
    lines: int = 0  # how many
    found: dict[str, tuple[int, RunRecord, bytes]] = field(default_factory=dict)  # id → (line number, record, line)
    warnings: list[str] = field(default_factory=list)  # about their damaged lines, in file order


class RunLog:
    """The history file: whole lines appended, read back as the last line of each run.

    It stays small: once a write takes it past twice its compacted size (and COMPACT_AT), as this process last
    worked it out, it is rewritten as one line a run, under the lock appends take. And it is read incrementally:
    a RunLog remembers what it read, and reads again only what was appended since (all of it when compacted)."""

    def __init__(self, path: str | Path | None = None, fsync: bool = True):
        self.path = Path(path) if path is not None else history_path()
        self.fsync = fsync  # so an update survives a power cut too, not only a killed process
        self._compact_at = COMPACT_AT  # the size at which this process next looks at compacting
        self._reading = threading.Lock()  # one read at a time: a second one waits, then reads only what is new
        self._parsed = _Parsed()

    def record(self, record: RunRecord) -> None:
        """Append `record` as one line, then compact the file if it is due (raises OSError if it cannot be written)."""
        line = record.to_line()
        with self._appending() as (fd, path):
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a line cut short by a crash: leave it on its own
                line = b"\n" + line
            written = os.write(fd, line)
            while written < len(line):  # only a full disk or a signal writes part of it
                written += os.write(fd, line[written:])
            if self.fsync:
                os.fsync(fd)
            if fcntl is not None and size + len(line) >= self._compact_at:  # without the lock it would lose lines
                try:
                    self._compact(fd, path)
                except OSError:  # the line is written; the file stays as it is, to compact once it has doubled
                    self._compact_at = 2 * (size + len(line))

    @contextlib.contextmanager
    def _appending(self):
        """The file opened to append, under its lock, and still the one at its path: a writer that waited for the
        lock while another compacted the file appends to the new file, not to the old one it had opened."""
        path = writable(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)  # read: the last byte, compacting
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):  # a pipe would block the trainer once full
                    raise OSError(errno.EINVAL, "not a regular file", str(self.path))
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
                    if not _is_file_at(fd, path):
                        continue
                yield fd, path
                return
            finally:
                os.close(fd)

    def _compact(self, fd: int, path: Path) -> None:
        """Rewrite the file (open as `fd`, locked) as each run's last readable line, in their order, when that
        halves it at least; damaged lines go. Atomic: readers see the old file or the new one."""
        parsed = _Parsed()
        tail = self._read_lines(fd, parsed)  # no writer is half-way through a line: they hold the lock to write
        last = sorted(parsed.found.values(), key=lambda found: found[0])
        kept = b"".join(line + b"\n" for _, _, line in last)
        if _readable(tail):
            kept += tail + b"\n"
        if len(kept) <= os.fstat(fd).st_size / 2:
            write_atomically(path, kept)
        self._compact_at = max(COMPACT_AT, 2 * len(kept))

    def read(self) -> tuple[list[RunRecord], list[str]]:
        """Every run, by start time, as its last readable line says; and a warning per damaged line.
        Never raises: a missing file is an empty history, an unreadable one a warning. Reads only what was
        appended since this RunLog's last read, and waits for a read under way rather than read the file twice."""
        with self._reading:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe would hang the open
            except FileNotFoundError:
                return [], []
            except OSError as error:
                return [], [f"cannot read the run history {self.path}: {error.strerror or error}"]
            collecting = gc.isenabled()
            gc.disable()  # the records' many small objects would set off collections that find nothing: 3× slower
            try:
                return self._read_from(fd)
            except OSError as error:
                return [], [f"cannot read the run history {self.path}: {error.strerror or error}"]
            finally:
                os.close(fd)
                if collecting:
                    gc.enable()

    def _read_from(self, fd: int) -> tuple[list[RunRecord], list[str]]:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # /dev/zero would never end
            return [], [f"cannot read the run history {self.path}: it is not a regular file"]
        parsed = self._parsed
        if (parsed.identity != (info.st_dev, info.st_ino) or info.st_size < parsed.offset
                or (parsed.offset and os.pread(fd, 1, parsed.offset - 1) != b"\n")):  # replaced, or rewritten
            parsed = self._parsed = _Parsed((info.st_dev, info.st_ino))
        tail = self._read_lines(fd, parsed)
        found, warnings = {id: found[:2] for id, found in parsed.found.items()}, list(parsed.warnings)
        if tail.strip():  # a line being written, or cut short by a crash: read again next time
            try:
                record = RunRecord.from_line(tail)
                found[record.id] = (parsed.lines, record)
            except (ValueError, RecursionError) as error:
                warnings.append(f"{self.path}:{parsed.lines + 1}: skipped a damaged line (cut short: a write "
                                f"interrupted by a crash?): {str(error)[:80]}")
        runs = sorted(found.values(), key=lambda item: (item[1].started, item[0]))
        return [record for _, record in runs], warnings

    def _read_lines(self, fd: int, parsed: _Parsed) -> bytes:
        """Read the whole lines after `parsed.offset` into `parsed`, a chunk at a time; the bytes after the last one."""
        os.lseek(fd, parsed.offset, os.SEEK_SET)
        rest = b""
        while chunk := os.read(fd, READ_CHUNK):
            block = rest + chunk
            end = block.rfind(b"\n") + 1
            rest = block[end:]
            if end:
                lines = block[:end].split(b"\n")[:-1]
                self._parse(lines, parsed)
                parsed.offset += end
                parsed.lines += len(lines)
        return rest

    def _parse(self, lines: list[bytes], parsed: _Parsed) -> None:
        """Read `lines`, the next whole lines of the file, into `parsed`: a run's last readable line wins."""
        newer: dict[str, tuple[int, RunRecord, bytes]] = {}
        warnings = []
        for i in range(len(lines) - 1, -1, -1):  # from the end: an id's last line wins, the rest are skipped
            line = lines[i]
            if not line.strip():
                continue
            known = _ID.match(line)
            if known and known.group(1).decode(errors="replace") in newer:
                continue
            try:
                record = RunRecord.from_line(line)
            except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                warnings.append(f"{self.path}:{parsed.lines + i + 1}: skipped a damaged line: {str(error)[:80]}")
                continue
            newer.setdefault(record.id, (parsed.lines + i, record, line))
        parsed.found.update(newer)
        parsed.warnings += warnings[::-1]


def _is_file_at(fd: int, path: Path) -> bool:
    """Whether the open file `fd` is the one at `path` still (not replaced by a compaction, nor removed)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (now.st_dev, now.st_ino)


def _readable(line: bytes) -> bool:
    try:
        RunRecord.from_line(line)
    except (ValueError, RecursionError):
        return False
    return True


# --- following a run ---------------------------------------------------------------------------


class RunTracker:
    """Writes a run's record as it trains. Call `update(run)` on every event (it costs a clock read until
    a write is due), `update(run, reason)` when training stops, `saved(run, path)` when it is saved.
    A different `Run` object starts a new record. A history that cannot be written never stops
    training: the error is kept in `self.error`."""

    def __init__(self, log: RunLog | None = None, every: float = 10.0, clock=time.monotonic):
        self.log = log if log is not None else RunLog()
        self.every, self.clock = every, clock
        self.error: str | None = None  # the last write's error, None once one succeeds
        self._lock = threading.Lock()  # a save from the UI thread while the worker trains
        self._run = None
        self._record: RunRecord | None = None

    def begin(self, run, resumed_from: str | Path | None = None) -> None:
        """Start recording `run` (update() does it for a run it has not seen). A run loaded from a checkpoint
        (`resumed_from`) carries on its record, when the history has it and it ended where the checkpoint
        is (an autosave at quitting, say): one row, one clock. From an earlier point it is a new run, a branch."""
        earlier = None
        if resumed_from is not None:
            earlier = next((r for r in self.log.read()[0] if r.id == run.id), None)
            if earlier is None or earlier.steps > run.trainer.state.step:
                earlier, run.id = None, uuid.uuid4().hex
        with self._lock:
            self._begin(run, resumed_from)
            if earlier is not None:
                self._record.started, self._record.checkpoint = earlier.started, earlier.checkpoint
                self._wall = earlier.wall_seconds

    def _begin(self, run, resumed_from=None) -> None:
        corpus = run.corpus
        self._run = run
        self._record = RunRecord(
            id=run.id, started=_now(), updated=_now(),
            corpus={"name": corpus.name, "fingerprint": corpus.fingerprint, "path": corpus.source},
            settings=run.config.to_json(), engine=run.config.engine, parameters=run.model.num_parameters(),
            steps=run.trainer.state.step, wall_seconds=0.0, curve=[], validation=[], best_validation=None,
            final_validation=None, perplexity=None, stop_reason="paused",
            resumed_from=str(Path(resumed_from).absolute()) if resumed_from else None,
            pid=os.getpid(), host=socket.gethostname())
        self._wall = 0.0  # training time before this stretch
        self._since: float | None = None  # when this stretch of training began (None: not training)
        self._written = 0.0  # when the last write was

    def update(self, run, reason: StopReason | str | None = None) -> bool:
        """`run` trains on (reason None), or stopped for `reason`; written when a stretch starts or stops
        and at most every `every` seconds (more seldom in a long run) between. True if written."""
        now = self.clock()
        if reason is None and run is self._run and self._since is not None:
            elapsed = self._wall + now - self._since
            if now - self._written < max(self.every, min(elapsed / 20, 60.0)):  # ≤ ~60 lines an hour
                return False
        with self._lock:
            if run is not self._run:
                self._begin(run)
            if self._since is None and reason is None:
                self._since = now
            if reason is not None:
                self._stop(now, reason)
            return self._write(now)

    def saved(self, run, path: str | Path) -> bool:
        """`run` was saved to `path` (a checkpoint or an autosave)."""
        with self._lock:
            if run is not self._run:
                self._begin(run)
            self._record.checkpoint = str(Path(path).absolute())
            return self._write(self.clock())

    def _stop(self, now: float, reason) -> None:
        if self._since is not None:
            self._wall += now - self._since
            self._since = None
        self._record.stop_reason = reason.value if isinstance(reason, Enum) else str(reason)

    def _write(self, now: float) -> bool:
        record, state = self._record, self._run.trainer.state
        series = state.loss_curve
        record.settings = self._run.config.to_json()  # the last ones: a resume may change the lr, the budget…
        record.steps = state.step
        record.wall_seconds = round(self._wall + (now - self._since if self._since is not None else 0.0), 3)
        record.curve = [[round(p), _kept(v)] for p, v in _thin(list(zip(series.positions(), series.values())), POINTS)
                        if _kept(v) is not None]
        current = series.current
        if record.curve and current is not None and _kept(current) is not None:
            record.curve[-1] = [state.step, _kept(current)]  # end where the run is
        validation = [(step, loss) for step, loss in state.validation if _kept(loss) is not None]
        if validation:
            step, loss = best_point(validation)
            record.best_validation = {"step": step, "loss": _kept(loss)}
        record.final_validation = _kept(state.validation[-1][1]) if state.validation else None
        record.final_training = None if current is None else _kept(current)
        record.validation = [[s, _kept(v)] for s, v in _thin(validation, POINTS)]
        last = record.final_validation if state.validation else current
        record.perplexity = _kept(perplexity(last)) if last is not None and _kept(last) is not None else None
        if self._since is not None:
            record.stop_reason = RUNNING
        record.updated = _now()
        self._written = now
        try:
            self.log.record(record)
        except (OSError, ValueError) as error:  # ValueError: a number JSON cannot hold
            self.error = f"the run history could not be written: {error}"
            return False
        self.error = None
        return True


def _kept(x: float) -> float | None:
    """A loss or a perplexity as the history keeps it: rounded, or None when it is not a number worth keeping
    (a diverged run's nan, inf or astronomic values), so that what is written always reads back."""
    return round(x, 5) if math.isfinite(x) and 0 <= x < BIGGEST_LOSS else None


def _thin(points: list, n: int) -> list:
    """At most `n` of `points`, evenly spaced, the first and last kept."""
    if len(points) <= n:
        return points
    return [points[round(i * (len(points) - 1) / (n - 1))] for i in range(n)]

