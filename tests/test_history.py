"""The run history: one JSON line per update, the last line of each run wins, damage skipped, whole lines
from concurrent writers, a killed run kept as it last was, and `charlm-tui runs`."""

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from charlm_tui.cli import main
from core.data import Corpus
from core.history import POINTS, RunLog, RunRecord, RunTracker, history_path, local_time
from core.run import Run
from core.places import data_home
from core.settings import RunConfig
from core.training import StopReason

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the quick brown fox jumps over the lazy dog.\n" * 50


def tiny_run(**settings) -> Run:
    config = dict(context_length=3, embed_dim=4, hidden_dim=8, max_steps=10**9, epochs=None, eval_every=20)
    return Run.new(Corpus(TEXT, "fox"), RunConfig(**{**config, **settings}))


def record(id="a", started="2024-01-01T00:00:00.000+00:00", steps=10, points=3, **changes) -> RunRecord:
    fields = dict(id=id, started=started, updated=started, corpus={"name": "fox", "fingerprint": "f00d", "path": None},
                  settings=RunConfig().to_json(), engine="fused", parameters=553, steps=steps, wall_seconds=1.5,
                  curve=[[i + 1, 3.0 - i / 100] for i in range(points)], validation=[[steps, 2.5]],
                  best_validation={"step": steps, "loss": 2.5}, final_validation=2.5, perplexity=12.18,
                  stop_reason="finished")
    return RunRecord(**{**fields, **changes})


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_history_lives_in_the_data_folder():
    assert history_path() == data_home() / "runs.jsonl"
    assert RunLog().path == data_home() / "runs.jsonl"
    assert str(data_home()).startswith(os.environ["XDG_DATA_HOME"])  # conftest's private folder


def test_a_record_round_trips_the_last_line_of_a_run_wins_and_runs_come_by_start(tmp_path):
    log = RunLog(tmp_path / "deep" / "runs.jsonl")  # its folder is made
    assert log.read() == ([], [])  # no file: an empty history
    later = record("b", started="2024-01-02T00:00:00.000+00:00", steps=5, stop_reason="running")
    log.record(later)
    log.record(record("a", steps=1, stop_reason="running"))
    log.record(record("b", started=later.started, steps=50, checkpoint="/x/b.json"))
    log.record(record("a", steps=20))
    assert len(log.path.read_text().splitlines()) == 4  # one line a call
    runs, warnings = log.read()
    assert warnings == []
    assert [r.id for r in runs] == ["a", "b"]  # by start, not by last write
    assert runs[0] == record("a", steps=20)
    assert (runs[1].steps, runs[1].checkpoint, runs[1].stop_reason) == (50, "/x/b.json", "finished")


def test_damaged_lines_are_skipped_with_a_warning_and_the_rest_read(tmp_path):
    log = RunLog(tmp_path / "runs.jsonl")
    log.record(record("a"))
    with open(log.path, "ab") as f:
        f.write(b"not json at all\n")
        f.write(json.dumps({"id": "x", "steps": "many"}).encode() + b"\n")  # JSON, but not a run
        f.write(b"\xff\xfe{}\n")  # not UTF-8
    log.record(record("b", started="2024-01-02T00:00:00.000+00:00", stop_reason="running", steps=7))
    line = record("b", started="2024-01-02T00:00:00.000+00:00", steps=9).to_line()
    with open(log.path, "ab") as f:
        f.write(line[: len(line) // 2])  # a crash in the middle of b's next update
    runs, warnings = log.read()
    assert [(r.id, r.steps) for r in runs] == [("a", 10), ("b", 7)]  # b as its last whole line says
    assert len(warnings) == 4, warnings
    assert [w.split(":")[1] for w in warnings] == ["2", "3", "4", "6"]  # line numbers, in file order
    assert "cut short" in warnings[-1] and all("cut short" not in w for w in warnings[:-1])

    log.record(record("c", started="2024-01-03T00:00:00.000+00:00"))  # the next write starts a line of its own
    runs, warnings = log.read()
    assert [r.id for r in runs] == ["a", "b", "c"] and len(warnings) == 4


@pytest.mark.parametrize("change", [
    {"pid": 10**20, "stop_reason": "running", "host": socket.gethostname()},  # os.kill could not take it
    {"steps": 10**400}, {"parameters": -1}, {"best_validation": {"step": 10, "loss": -1e308}},
    {"best_validation": {"step": 10**30, "loss": 2.0}}, {"validation": [[10**30, 2.5]]}, {"curve": [[1, -3.0]]},
    {"final_validation": 1e300}, {"wall_seconds": 1e300}, {"perplexity": 0.5}])
def test_absurd_numbers_are_damage_not_a_run(tmp_path, change):
    """Each passed the old checks (finite numbers) and then crashed the Runs view's chart or `charlm-tui runs`."""
    log = RunLog(tmp_path / "runs.jsonl")
    log.record(record("good"))
    with open(log.path, "ab") as f:
        f.write(json.dumps(json.loads(record("bad").to_line()) | change).encode() + b"\n")
    runs, warnings = log.read()
    assert [r.id for r in runs] == ["good"] and len(warnings) == 1, warnings


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_at_the_end_of_the_calendar_is_shown_as_it_is(when):
    assert local_time(when) == when[:16] and local_time(when, short=True) == when[:16]


def test_a_history_that_is_not_a_regular_file_is_said_not_read_and_not_written(tmp_path):
    fifo = tmp_path / "runs.jsonl"
    os.mkfifo(fifo)  # reading would wait for a writer for ever
    runs, warnings = RunLog(fifo).read()
    assert runs == [] and "not a regular file" in warnings[0]
    with pytest.raises(OSError, match="not a regular file"):
        RunLog(fifo).record(record("a"))  # writing would block once the pipe is full
    assert RunLog(Path("/dev/zero")).read()[1] == ["cannot read the run history /dev/zero: it is not a regular file"]


WRITER = textwrap.dedent("""
    import os, sys, time
    from core.history import RunLog
    from tests.test_history import record
    log, name, go = RunLog(sys.argv[1]), sys.argv[2], sys.argv[3]
    while not os.path.exists(go):  # both writers start together
        time.sleep(0.001)
    for i in range(300):  # full curves: each line is bigger than a pipe's atomic write
        log.record(record(f"{name}{i}", steps=i, points=128, validation=[[s * 1000, 2 + s / 7] for s in range(128)]))
""")


def test_two_writer_processes_never_mix_their_lines(tmp_path):
    path, go = tmp_path / "runs.jsonl", tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(go)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
               for name in ("p", "q")]
    time.sleep(0.3)  # let both start
    go.touch()
    for writer in writers:
        assert writer.wait(timeout=60) == 0, writer.stderr.read()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 601
    assert all(len(line) > 4096 for line in lines[:-1])
    parsed = [RunRecord.from_json(json.loads(line)) for line in lines[:-1]]  # every line whole
    assert sorted(r.id for r in parsed) == sorted(f"{n}{i}" for n in "pq" for i in range(300))
    runs, warnings = RunLog(path).read()
    assert len(runs) == 600 and warnings == []


KILLED_RUN = textwrap.dedent("""
    from core.data import Corpus
    from core.history import RunTracker
    from core.run import Run
    from core.settings import RunConfig
    run = Run.new(Corpus("the quick brown fox jumps over the lazy dog.\\n" * 50, "t"),
                  RunConfig(context_length=3, embed_dim=4, hidden_dim=8, max_steps=10**9, epochs=None, eval_every=50))
    tracker = RunTracker(every=0.2)
    for event in run.trainer.events():
        tracker.update(run)
""")


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_run_killed_mid_way_is_there_as_it_last_was():
    log = RunLog()
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and child.poll() is None:  # a few progress lines, then the kill
            if log.path.exists() and len(log.path.read_bytes().splitlines()) >= 4:
                break
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    lines = log.path.read_bytes().splitlines()
    assert len(lines) >= 4
    runs, warnings = log.read()
    assert warnings == [] and len(runs) == 1
    run = runs[0]
    assert run == RunRecord.from_json(json.loads(lines[-1]))  # its last line
    assert run.stop_reason == "running" and run.outcome() == "killed"  # it never stopped cleanly
    assert run.steps > 0 and run.curve[-1][0] == run.steps  # with its last point
    assert 0 < len(run.curve) <= POINTS and run.validation and run.final_validation == run.validation[-1][1]
    assert run.wall_seconds > 0.5 and run.perplexity > 1
    assert run.pid == child.pid and run.corpus["name"] == "t" and run.settings["hidden_dim"] == 8


def test_the_tracker_writes_at_start_every_few_seconds_and_at_stop():
    clock, log = Clock(), RunLog()
    tracker, run = RunTracker(log, every=10, clock=clock), tiny_run()
    lines = lambda: len(log.path.read_text().splitlines()) if log.path.exists() else 0  # noqa: E731
    assert tracker.update(run) and lines() == 1  # a run shows as soon as it starts
    for _ in range(24):
        run.trainer.step()
        clock.now += 0.125
        tracker.update(run)
    assert lines() == 1  # 3 s: not due yet
    clock.now += 7
    assert tracker.update(run) and lines() == 2
    (first,), _ = log.read()
    assert (first.stop_reason, first.steps, first.wall_seconds) == ("running", 24, 10.0)
    assert tracker.update(run, StopReason.CANCELLED) and lines() == 3  # a stop is written at once
    clock.now += 1000  # paused: not training time
    assert tracker.update(run) and lines() == 4  # going on again is written at once too
    run.trainer.step()
    clock.now += 2
    tracker.update(run, "finished")
    tracker.saved(run, "ckpt.json")
    (last,), warnings = log.read()
    assert warnings == [] and last.id == first.id and last.started == first.started
    assert (last.stop_reason, last.steps, last.wall_seconds) == ("finished", 25, 12.0)
    assert last.checkpoint == str(Path("ckpt.json").absolute()) and last.outcome() == "finished"
    assert last.curve[-1][0] == 25 and last.validation == [[20, last.validation[0][1]]]
    assert last.settings == run.config.to_json() and last.parameters == run.model.num_parameters()
    assert last.corpus == {"name": "fox", "fingerprint": run.corpus.fingerprint, "path": None}

    other = tiny_run(hidden_dim=9)
    tracker.begin(other, resumed_from="ckpt.json")  # another run is another record
    tracker.update(other)
    runs, _ = log.read()
    assert len(runs) == 2 and runs[1].id != last.id and runs[1].resumed_from.endswith("ckpt.json")


def test_long_runs_are_downsampled_and_best_final_and_perplexity_follow_the_state():
    run, log = tiny_run(), RunLog()
    state = run.trainer.state
    state.step = 100_000
    state.loss_curve.extend(3.0 - i / 50_000 for i in range(100_000))
    state.validation = [(s, 2.5 - s / 1e6 + (0.3 if s > 60_000 else 0)) for s in range(200, 100_001, 200)]  # 500
    tracker = RunTracker(log)
    tracker.update(run, StopReason.EARLY_STOPPED)
    (r,), _ = log.read()
    assert len(r.curve) <= POINTS and len(r.validation) == POINTS
    assert r.curve[0][0] < 1000 and r.curve[-1] == [100_000, pytest.approx(1.0, abs=0.02)]
    assert r.validation[0] == [200, pytest.approx(2.4998)] and r.validation[-1][0] == 100_000
    assert r.best_validation == {"step": 60_000, "loss": pytest.approx(2.44)}
    assert r.final_validation == pytest.approx(2.7) and r.perplexity == pytest.approx(2.718281828 ** 2.7, rel=1e-4)
    assert r.stop_reason == "early_stopped"

    run = tiny_run()  # no validation yet: the perplexity of the smoothed training loss
    run.trainer.step()
    tracker.update(run, "cancelled")
    r = log.read()[0][-1]
    assert r.final_validation is None and r.best_validation is None and r.validation == []
    assert r.perplexity == pytest.approx(2.718281828 ** r.curve[-1][1], rel=1e-4)


def test_a_history_that_cannot_be_written_never_stops_training(tmp_path):
    (tmp_path / "runs.jsonl").mkdir()  # a folder where the file should be
    tracker, run = RunTracker(RunLog(tmp_path / "runs.jsonl")), tiny_run()
    assert tracker.update(run) is False
    assert "could not be written" in tracker.error


def test_reading_10000_lines_keeps_each_run_once(tmp_path):
    """A run written 10 times is read as its last line (how fast: benchmarks/bench_data.py)."""
    log = RunLog(tmp_path / "runs.jsonl")
    with open(log.path, "wb") as f:  # 1,000 runs of 10 updates, full curves: ~33 MB
        for i in range(1000):
            line = record(f"{i:032x}", started=f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000+00:00", points=128,
                          validation=[[s, 2.0 + s / 1e4] for s in range(32)]).to_line()
            f.write(line * 10)
    runs, warnings = log.read()
    assert len(runs) == 1000 and warnings == []


# --- charlm-tui runs ---------------------------------------------------------------------------


def test_runs_with_no_history_says_so(capsys):
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("no runs yet: ") and str(data_home() / "runs.jsonl") in out and err == ""
    for form, empty in (("--json", "[]\n"), ("--jsonl", ""), ("--csv", None)):
        assert main(["runs", form]) == 0
        out, err = capsys.readouterr()
        assert err.startswith("no runs yet: ")  # a script reads no runs
        assert out == empty if empty is not None else out.startswith("id,started,corpus,") and out.count("\n") == 1


def test_runs_lists_the_history_as_a_table_or_json_lines(capsys):
    log = RunLog()
    log.record(record("1111aaaa" * 4, stop_reason="running", pid=None))
    log.record(record("2222bbbb" * 4, started="2024-01-02T00:00:00.000+00:00", steps=1234,
                      settings={**RunConfig().to_json(), "hidden_dim": 77, "learning_rate": 0.05}))
    log.record(record("1111aaaa" * 4, steps=42, stop_reason="cancelled", validation=[], best_validation=None,
                      final_validation=None, perplexity=20.09))  # without validation: the training loss's
    with open(log.path, "ab") as f:
        f.write(b'{"id":"cut')
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    header, first, second = out.splitlines()
    assert header.split()[:4] == ["id", "started", "corpus", "steps"]
    assert first.startswith("1111aaaa ") and " 42 " in first and "paused" in first  # a pause, or a quit
    assert "20.09" not in first  # the ppl column is of validation, as in the Runs view
    assert second.startswith("2222bbbb ") and "1,234" in second and "finished" in second
    assert "hid 77×2" in second and "lr 0.05" in second and "2.500" in second and "12.18" in second
    assert "skipped a damaged line" in err and len(err.splitlines()) == 1

    assert main(["runs", "--json"]) == 0
    out, err = capsys.readouterr()
    objects = json.loads(out)  # one document
    assert [(o["id"][:8], o["steps"], o["outcome"]) for o in objects] == [("1111aaaa", 42, "paused"),
                                                                         ("2222bbbb", 1234, "finished")]
    assert objects[1]["settings"]["hidden_dim"] == 77 and objects[1]["curve"] == [[1, 3.0], [2, 2.99], [3, 2.98]]
    assert "skipped a damaged line" in err
    assert main(["runs", "--jsonl"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == objects


def test_runs_as_csv_has_the_tables_columns_and_every_setting(capsys):
    log = RunLog()
    log.record(record("1111aaaa" * 4, steps=42, stop_reason="cancelled"))
    log.record(record("2222bbbb" * 4, started="2024-01-02T00:00:00.000+00:00", steps=1234, final_training=2.25,
                      settings={**RunConfig().to_json(), "hidden_dim": 77, "learning_rate": 0.05},
                      corpus={"name": "=HYPERLINK(\"http://x\")", "fingerprint": "f00d", "path": None}))
    assert main(["runs", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["id"], r["steps"], r["outcome"]) for r in rows] == [("1111aaaa" * 4, "42", "paused"),
                                                                  ("2222bbbb" * 4, "1234", "finished")]
    second = rows[1]
    assert float(second["best_val"]) == 2.5 and float(second["final_train"]) == 2.25
    assert float(second["gap"]) == pytest.approx(float(second["final_val"]) - 2.25)
    assert second["hidden_dim"] == "77" and second["learning_rate"] == "0.05" and second["optimizer"] == "sgd"
    assert set(RunConfig().to_json()) <= set(second)
    assert second["corpus"] == "'=HYPERLINK(\"http://x\")"  # text, not a formula a spreadsheet would follow
    assert rows[0]["final_train"] == "" and rows[0]["gap"] == ""  # a record from before the field: empty


def test_runs_shows_the_perplexity_of_the_best_validation_beside_it(capsys):
    """Not e^(final validation) beside the best (2.410 beside 11.45)."""
    RunLog().record(record("3333cccc" * 4, best_validation={"step": 8, "loss": 2.41}, final_validation=2.438,
                           perplexity=11.45, validation=[[8, 2.41], [10, 2.438]]))
    assert main(["runs"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[4:8] == ["best", "val", "ppl", "final"]
    assert row.split()[5:8] == ["2.410", "11.13", "2.438"]  # e^2.41 = 11.13


def test_runs_refuses_unknown_flags_in_one_line_and_the_main_flags_still_parse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "--steps", "3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "charlm-tui runs: error: unrecognized arguments: --steps 3" in err
    with pytest.raises(SystemExit) as exit_info:  # "runs" is only a command in first place
        main(["--headless", "runs"])
    assert exit_info.value.code == 2


def test_a_history_that_cannot_be_written_is_said_and_training_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    history_path().mkdir(parents=True)  # a folder where the file should be
    assert main(["--headless", "--corpus", "names", "--steps", "20"]) == 0
    said = capsys.readouterr()
    assert "training finished after 20 steps" in said.out
    assert "warning: the run history could not be written" in said.err and "Is a directory" in said.err


LOSSES = st.floats(allow_nan=True, allow_infinity=True) | st.floats(min_value=0, max_value=20)


@settings(max_examples=60, deadline=None)
@given(losses=st.lists(LOSSES, min_size=1, max_size=300), validation=st.lists(LOSSES, max_size=40),
       reason=st.sampled_from(list(StopReason)))
def test_any_record_the_history_writes_reads_back(tmp_path_factory, losses, validation, reason):
    """A run that diverged (nan, inf, 4.56e231 in its curves) is recorded as it ended, never as damage."""
    run, log = tiny_run(), RunLog(tmp_path_factory.mktemp("history") / "runs.jsonl")
    state = run.trainer.state
    state.step = len(losses)
    state.loss_curve.extend(losses)
    state.validation = [(20 * (i + 1), loss) for i, loss in enumerate(validation)]
    RunTracker(log).update(run, reason)
    (back,), warnings = log.read()
    assert warnings == [] and back.steps == len(losses) and back.outcome() == reason.value.replace("cancelled", "paused")
    assert all(0 <= loss < 1e12 for _, loss in back.curve + back.validation)
    assert back.perplexity is None or 1 <= back.perplexity < 1e12


def test_a_diverged_headless_run_is_recorded_as_non_finite_and_reads_back(capsys):
    code = main(["--headless", "--lr", "10", "--steps", "500", "--sample", "0"])  # nan at step 10
    out, err = capsys.readouterr()
    assert code == 1 and "not applied" in out, out + err  # it failed, and says why
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "non_finite" in out, out + err


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_text_a_spreadsheet_would_run_is_quoted_in_the_csv(start, capsys):
    RunLog().record(record("4444dddd" * 4, corpus={"name": f"{start}cmd|' /C calc'!A0", "fingerprint": "f00d",
                                                   "path": None}))
    assert main(["runs", "--csv"]) == 0
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["corpus"].startswith("'") and not row["corpus"].startswith(start)
