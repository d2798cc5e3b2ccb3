"""The run history stays small and quick to read (issue 22): compacted to a line a run under the appends' lock,
never losing a line another process appends meanwhile; read incrementally, and a read under way is waited for,
not done twice. (How fast: benchmarks/bench_data.py.)"""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import core.history
from core.history import RunLog, RunRecord
from tests.test_history import record

ROOT = Path(__file__).resolve().parent.parent


def update(id: str, steps: int, points: int = 64) -> RunRecord:
    return record(id, steps=steps, points=points, stop_reason="running")


def write(log: RunLog, updates: int, runs: int = 5) -> None:
    for step in range(1, updates + 1):
        for run in range(runs):
            log.record(update(f"run{run}", step))


def test_a_growing_history_is_compacted_to_the_last_line_of_each_run(tmp_path, monkeypatch):
    monkeypatch.setattr(core.history, "COMPACT_AT", 50_000)
    compacted, kept_whole = RunLog(tmp_path / "runs.jsonl", fsync=False), RunLog(tmp_path / "whole.jsonl", fsync=False)
    monkeypatch.setattr(kept_whole, "_compact_at", float("inf"))
    for log in (compacted, kept_whole):
        write(log, updates=40)
    assert compacted.path.stat().st_size < 2 * 50_000 < kept_whole.path.stat().st_size / 2
    for log in (compacted, kept_whole):
        with open(log.path, "ab") as f:  # run0's last update, damaged by a crash: its update before stands
            f.write(update("run0", 41).to_line()[:-30] + b"\n")
    monkeypatch.setattr(compacted, "_compact_at", 0)  # the next write compacts
    for log in (compacted, kept_whole):
        log.record(update("run1", 41))
    assert len(compacted.path.read_bytes().splitlines()) == 5  # a line a run; the damaged line is gone
    assert compacted.read() == (kept_whole.read()[0], [])  # the same runs, as their last readable lines say
    assert {r.id: r.steps for r in compacted.read()[0]} == {"run0": 40, "run1": 41, "run2": 40, "run3": 40, "run4": 40}


def test_compaction_keeps_the_lines_as_they_were_written(tmp_path, monkeypatch):
    """A newer charlm-tui's fields are kept: a line is copied, not written again."""
    monkeypatch.setattr(core.history, "COMPACT_AT", 20_000)
    log = RunLog(tmp_path / "runs.jsonl", fsync=False)
    newer = json.loads(update("newer", 1).to_line()) | {"future_field": [1, 2]}
    with open(log.path, "wb") as f:
        f.write(json.dumps(newer, separators=(",", ":")).encode() + b"\n")
    write(log, updates=30, runs=1)
    lines = log.path.read_bytes().splitlines()
    assert json.loads(lines[0]) == newer and len(lines) < 10


WRITER = textwrap.dedent("""
    import sys
    import core.history
    from tests.test_growth_history import update
    core.history.COMPACT_AT = 30_000  # each writer compacts the file many times
    log, name = core.history.RunLog(sys.argv[1], fsync=False), sys.argv[2]
    for step in range(1, 151):
        log.record(update(f"{name}{step}", 1, points=16))  # a run of its own: each line must stay
        for _ in range(3):
            log.record(update(f"{name}-busy", step, points=16))  # lines to compact away
""")


@pytest.mark.skipif(core.history.fcntl is None, reason="compaction needs the appends' lock")
def test_lines_appended_by_other_processes_while_one_compacts_are_never_lost(tmp_path):
    path = tmp_path / "runs.jsonl"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], cwd=ROOT, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True) for name in "pqr"]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    runs, warnings = RunLog(path).read()
    expected = {f"{n}{step}": 1 for n in "pqr" for step in range(1, 151)} | {f"{n}-busy": 150 for n in "pqr"}
    assert warnings == [] and {r.id: r.steps for r in runs} == expected
    assert len(path.read_bytes().splitlines()) < 3 * len(expected) < 3 * 150 * 4  # compacted as it grew


def test_a_second_read_reads_only_what_was_appended(tmp_path, monkeypatch):
    log = RunLog(tmp_path / "runs.jsonl", fsync=False)
    write(log, updates=3)
    parsed = []
    real = RunRecord.from_line
    monkeypatch.setattr(RunRecord, "from_line", lambda line: parsed.append(line) or real(line))
    first, _ = log.read()
    assert len(first) == 5 and len(parsed) == 5  # the last line of each run only
    parsed.clear()
    log.record(update("run2", 4))
    again, _ = log.read()
    assert parsed == [update("run2", 4).to_line()[:-1]]
    assert {r.id: r.steps for r in again} == {"run0": 3, "run1": 3, "run2": 4, "run3": 3, "run4": 3}


def test_a_read_under_way_is_waited_for_not_done_twice(tmp_path, monkeypatch):
    log = RunLog(tmp_path / "runs.jsonl", fsync=False)
    write(log, updates=2)
    parsed, reading = [], threading.Event()
    real = RunRecord.from_line

    def slow(line):
        reading.set()
        time.sleep(0.05)
        parsed.append(line)
        return real(line)

    monkeypatch.setattr(RunRecord, "from_line", slow)
    results = []
    first = threading.Thread(target=lambda: results.append(log.read()))
    first.start()
    assert reading.wait(10)
    second = log.read()  # while the first is parsing
    first.join(10)
    assert results == [second] and len(second[0]) == 5 and len(parsed) == 5


def test_a_compacted_file_is_read_anew(tmp_path, monkeypatch):
    log = RunLog(tmp_path / "runs.jsonl", fsync=False)
    write(log, updates=20)
    reader = RunLog(log.path)
    assert [r.steps for r in reader.read()[0]] == [20] * 5
    monkeypatch.setattr(core.history, "COMPACT_AT", 1)
    writer = RunLog(log.path, fsync=False)  # another process's: it compacts
    writer.record(update("run9", 1))
    assert len(log.path.read_bytes().splitlines()) == 6
    runs, warnings = reader.read()
    assert warnings == [] and [(r.id, r.steps) for r in runs] == [(f"run{i}", 20) for i in range(5)] + [("run9", 1)]


def test_a_damaged_curve_leaves_its_run_listed_without_it(tmp_path):
    """Curves are read when asked for (a long history lists in a blink): one that turns out damaged reads as none."""
    log = RunLog(tmp_path / "runs.jsonl", fsync=False)
    line = record("bad", points=3).to_line().replace(b'"curve":[[1,3.0]', b'"curve":[[1,-3.0]')
    log.path.write_bytes(line + record("good").to_line())
    (bad, good), warnings = log.read()
    assert warnings == [] and bad.curve == [] and bad.validation == [[10, 2.5]] and bad.steps == 10
    assert good == record("good")
