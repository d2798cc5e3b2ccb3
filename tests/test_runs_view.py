"""The Runs view (charlm_tui/screens/runs.py) and what it needs from core/history.py: a fixed history of five runs
(relu, tanh, a wider hidden layer, another corpus without validation, a faster lr left running), sorted, filtered,
marked and compared, loaded and closed; an empty history and a damaged line. Update the snapshots with:
pytest tests/test_runs_view.py --snapshot-update"""

import math
import time

import pytest
from rich.text import Text
from textual.app import App
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from charlm_tui.app import CharLMApp
from charlm_tui.screens.runs import RunsScreen, RunsViewChoices
from charlm_tui.widgets.runs_chart import RunsChart
from core.history import ORDERS, RunLog, RunRecord, differences, local_time
from core.metrics import short_number
from core.settings import RunConfig

NAMES = {"name": "names", "fingerprint": "n4m35", "path": None}
PROVERBS = {"name": "proverbs", "fingerprint": "pr0v", "path": None}


def history_record(number: int, corpus: dict, config: RunConfig, best: float, best_step: int, steps: int = 50_000,
                   validation: bool = True, stop_reason: str = "finished") -> RunRecord:
    """Run `number`, started on `number` March 2024 at 09:00 UTC: a training curve falling towards `best` - 0.1, and
    a validation curve every 2,000 steps falling to `best` at `best_step` and rising slowly after it."""
    curve = [[round(steps * (i + 1) / 128), round(best - 0.1 + 2.0 * math.exp(-steps * (i + 1) / 128 / 6000)
                                                  + 0.01 * math.sin(i), 5)] for i in range(128)]
    points = [[s, round(best + (1.8 * (math.exp(-s / 6000) - math.exp(-best_step / 6000)) if s <= best_step
                                else 0.08 * (s - best_step) / 10_000), 5)]
              for s in range(2000, steps + 1, 2000)] if validation else []
    started = f"2024-03-{number:02d}T09:00:00.000+00:00"
    return RunRecord(
        id=f"run{number}", started=started, updated=started, corpus=corpus, settings=config.to_json(),
        engine=config.engine, parameters=config.parameters(27), steps=steps, wall_seconds=60.0 * number + 5,
        curve=curve, validation=points,
        best_validation={"step": best_step, "loss": best} if validation else None,
        final_validation=points[-1][1] if points else None,
        perplexity=round(math.exp(points[-1][1] if points else curve[-1][1]), 5), stop_reason=stop_reason)


DEFAULT = RunConfig.preset("default")
HISTORY = [  # by start: #1 … #5
    history_record(1, NAMES, DEFAULT, best=2.20, best_step=40_000),
    history_record(2, NAMES, DEFAULT.replace(activation="tanh"), best=2.15, best_step=46_000),
    history_record(3, NAMES, DEFAULT.replace(hidden_dim=128), best=2.10, best_step=30_000),
    history_record(4, PROVERBS, RunConfig.preset("course"), best=1.5, best_step=0, steps=645, validation=False,
                   stop_reason="cancelled"),
    history_record(5, NAMES, DEFAULT.replace(learning_rate=0.03), best=2.35, best_step=12_000, steps=20_000,
                   stop_reason="running"),
]


def write_history(path, records=HISTORY) -> RunLog:
    log = RunLog(path, fsync=False)
    for record in records:
        log.record(record)
    return log


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Start times shown in UTC, whatever the machine's time zone: the snapshots stay the same."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- core: comparing, sorting, showing ---


def test_differences_name_the_corpus_and_each_setting_that_is_not_the_same_in_all():
    relu, tanh, wide = HISTORY[:3]
    found = differences([relu, tanh, wide])
    assert [(d.name, d.values) for d in found] == [("hidden_dim", ("64", "64", "128")),
                                                    ("activation", ("relu", "tanh", "relu"))]
    assert [str(d) for d in found] == ["hidden dim 64 | 64 | 128", "activation relu | tanh | relu"]
    assert differences([relu, relu]) == []
    on_proverbs = differences([relu, HISTORY[3]])
    assert on_proverbs[0].name == "corpus" and on_proverbs[0].values == ("names", "proverbs")
    assert "val frac 0.1 | 0" in [str(d) for d in on_proverbs]


def test_a_difference_says_what_sets_each_run_apart_in_a_word_or_two():
    hidden, activation = differences(HISTORY[:3])
    # the values most runs share are not what sets a run apart: #2 is the tanh one, #3 the wide one
    assert [activation.sets_apart(i) for i in range(3)] == [False, True, False]
    assert [hidden.sets_apart(i) for i in range(3)] == [False, False, True]
    # a word names itself, a number needs its label
    assert (activation.of(1), hidden.of(2)) == ("tanh", "hidden dim 128")
    # two runs, or no value shared by more runs than any other: every value sets its run apart
    (two,) = differences(HISTORY[:2])
    assert two.sets_apart(0) and two.sets_apart(1)


def test_a_setting_a_run_was_recorded_without_reads_as_its_default():
    record = history_record(1, NAMES, DEFAULT, best=2.2, best_step=2000)
    del record.settings["activation"]
    assert record.setting("activation") == "relu" and record.setting("hidden_dim") == 64


def test_orders_sort_both_ways_and_runs_without_a_value_go_last_either_way():
    by_best = ORDERS["best"]
    assert [r.id for r in by_best.sort(HISTORY, descending=False)] == ["run3", "run2", "run1", "run5", "run4"]
    assert [r.id for r in by_best.sort(HISTORY, descending=True)] == ["run5", "run1", "run2", "run3", "run4"]
    assert [r.id for r in ORDERS["started"].sort(HISTORY, True)] == ["run5", "run4", "run3", "run2", "run1"]
    assert [r.id for r in ORDERS["size"].sort(HISTORY, False)][-2:] == ["run3", "run4"]
    assert ORDERS["started"].descending and not ORDERS["best"].descending  # newest first, lowest loss first


def test_times_and_numbers_are_shown_short():
    assert local_time("2024-03-02T09:05:00.000+00:00") == "2024-03-02 09:05"
    assert local_time("2024-03-02T09:05:00.000+00:00", short=True) == "02 Mar 2024"  # another year: no time
    this_year = time.strftime("%Y-03-02T09:05:00+00:00")
    assert local_time(this_year, short=True) == "02 Mar 09:05"
    assert local_time("yesterday") == "yesterday"
    assert (short_number(2.21549), short_number(9.3449, 2), short_number(None), short_number(3e7)) == (
        "2.215", "9.34", "-", "3.00e+07")


# --- the screen ---


class Host(App):
    """Nothing but the Runs view, with the app's style sheet; what it was dismissed with in `results`."""

    CSS_PATH = CharLMApp.CSS_PATH

    def __init__(self, history: RunLog, corpus: str | None = "names"):
        super().__init__()
        self.history, self.corpus = history, corpus
        self.results: list = []
        self.choices = RunsViewChoices()  # as the main screen keeps them between openings

    def on_mount(self) -> None:
        self.open_runs()

    def open_runs(self) -> None:
        self.push_screen(RunsScreen(self.history, self.corpus, self.choices), self.results.append)


async def opened(pilot) -> RunsScreen:
    """The screen once it has read the history."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return pilot.app.screen


def numbers(screen: RunsScreen) -> list[int]:
    """The run numbers down the table."""
    table = screen.query_one(DataTable)
    return [int(table.get_cell_at((row, 1)).plain) for row in range(table.row_count)]


def text_of(screen: RunsScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_the_runs_come_newest_first_and_each_sort_key_sorts_then_reverses(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        assert numbers(screen) == [5, 4, 3, 2, 1]
        assert screen.sub_title == "5 runs, all corpora · newest first"
        await pilot.press("v")
        assert numbers(screen) == [3, 2, 1, 5, 4]  # lowest best validation first; #4 has none
        assert "lowest validation first" in screen.sub_title
        await pilot.press("v")
        assert numbers(screen) == [5, 1, 2, 3, 4]
        assert "highest validation first" in screen.sub_title
        await pilot.press("z")
        assert numbers(screen)[-2:] == [3, 4]  # 36,939 then 53,755 parameters
        assert "smallest model first" in screen.sub_title
        await pilot.press("t")
        assert numbers(screen) == [5, 4, 3, 2, 1]
        await pilot.press("t")
        assert numbers(screen) == [1, 2, 3, 4, 5]
        assert "oldest first" in screen.sub_title
        assert screen.cursor_run() is screen.shown[0]  # a new order puts the cursor on its first run


async def test_a_click_on_a_header_sorts_by_its_column(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        table = screen.query_one(DataTable)
        table.post_message(DataTable.HeaderSelected(table, ColumnKey("best"), 11, Text("best val")))
        await pilot.pause()
        assert numbers(screen) == [3, 2, 1, 5, 4]
        table.post_message(DataTable.HeaderSelected(table, ColumnKey("number"), 1, Text("#")))
        await pilot.pause()
        assert numbers(screen) == [5, 4, 3, 2, 1]


async def test_c_shows_the_runs_on_one_corpus_the_current_one_first_then_all_again(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"), corpus="proverbs")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        await pilot.press("c")
        assert numbers(screen) == [4]
        assert "1 of 5 runs, on proverbs" in screen.sub_title
        await pilot.press("c")
        assert numbers(screen) == [5, 3, 2, 1]
        await pilot.press("c")
        assert numbers(screen) == [5, 4, 3, 2, 1] and "all corpora" in screen.sub_title


async def test_marked_runs_are_overlaid_on_the_chart_with_what_sets_each_apart(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        chart = screen.query_one(RunsChart)
        assert [s.name for s in chart.series] == ["#5"]  # nothing marked: the cursor's run alone
        await pilot.press("down")
        assert [s.name for s in chart.series] == ["#4"]
        assert chart.what.startswith("train (smoothed)")  # #4 has no validation
        await pilot.press("down", "space", "down", "space", "down", "space")  # #3, #2, #1
        assert "3 marked" in screen.sub_title
        by_name = {s.name: s for s in chart.series}
        assert sorted(by_name) == ["#1", "#2", "#3"]
        for number in (1, 2, 3):
            record = HISTORY[number - 1]
            assert by_name[f"#{number}"].points == tuple(tuple(p) for p in record.validation)
            assert by_name[f"#{number}"].best == (record.best_validation["step"], record.best_validation["loss"])
        assert (by_name["#1"].detail, by_name["#2"].detail, by_name["#3"].detail) == ("", "tanh", "hidden dim 128")
        assert len({s.colour for s in chart.series}) == 3  # a colour each
        assert "#2 tanh" in chart.legend_text and "#3 hidden dim 128" in chart.legend_text
        assert chart.what == "validation"
        await pilot.press("up", "space")  # unmark #2: #3 against #1
        assert sorted(s.name for s in chart.series) == ["#1", "#3"]


async def test_a_second_click_on_a_row_marks_it(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        table = screen.query_one(DataTable)
        await pilot.click(table, offset=(10, 2))  # the header, #5, #4: the cursor goes to #4
        assert screen.cursor_run().id == "run4" and not screen.choices.marked
        await pilot.click(table, offset=(10, 2))
        assert list(screen.choices.marked) == ["run4"]


async def test_the_chart_compares_up_to_its_number_of_colours(tmp_path, monkeypatch):
    extra = history_record(6, NAMES, DEFAULT.replace(seed=1), best=2.2, best_step=40_000)
    app = Host(write_history(tmp_path / "runs.jsonl", [*HISTORY, extra]))
    said = []
    monkeypatch.setattr(app, "notify", lambda message, **options: said.append(message))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        for _ in range(RunsChart.COLOURS + 1):
            await pilot.press("space", "down")
        await pilot.pause()
        assert len(screen.choices.marked) == RunsChart.COLOURS == len(screen.query_one(RunsChart).series)
        assert sorted(screen.choices.marked.values()) == list(range(RunsChart.COLOURS))
        assert "run1" not in screen.choices.marked  # the sixth, refused with a word why
        assert said == ["The chart compares up to 5 runs: unmark one first (space)."]


async def test_g_charts_the_training_curves_instead(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        await pilot.press("space", "down", "down", "space", "g")
        chart = screen.query_one(RunsChart)
        assert {s.name: s.points for s in chart.series} == {
            "#5": tuple(tuple(p) for p in HISTORY[4].curve), "#3": tuple(tuple(p) for p in HISTORY[2].curve)}
        assert chart.what == "train (smoothed)" and all(s.best is None for s in chart.series)
        await pilot.press("g")
        assert chart.what == "validation"


async def test_what_differs_between_the_marked_runs_is_said_and_highlighted(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        assert "space marks runs" in text_of(screen, "#runs-differs")
        await pilot.press("down", "down", "down", "space", "down", "space")  # #2 and #1
        assert [d.name for d in screen.marked_differences()] == ["activation"]
        assert text_of(screen, "#runs-differs") == "#1 | #2 differ in: activation relu | tanh"
        table = screen.query_one(DataTable)
        assert table.get_cell("run2", "activation").style.bold
        assert table.get_cell("run1", "activation").style.bold
        assert not table.get_cell("run1", "layers").style  # the same in both
        assert not table.get_cell("run5", "activation").style  # not marked
        await pilot.press("up", "up", "space")  # and #3: relu, tanh, relu · 64, 64, 128
        assert text_of(screen, "#runs-differs") == (
            "#1 | #2 | #3 differ in: hidden dim 64 | 64 | 128 · activation relu | tanh | relu")
        assert table.get_cell("run2", "activation").style.bold and table.get_cell("run3", "layers").style.bold
        assert not table.get_cell("run1", "activation").style  # relu is what most have: it sets #1 apart no more
        await pilot.press("space")  # unmark #3
        assert not table.get_cell("run3", "layers").style


async def test_runs_marked_alike_say_so(tmp_path):
    twin = history_record(6, NAMES, DEFAULT, best=2.25, best_step=40_000)
    app = Host(write_history(tmp_path / "runs.jsonl", [HISTORY[0], twin]))
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("space", "down", "space")
        assert text_of(screen, "#runs-differs") == "#1 | #2: the same corpus and settings"


@pytest.mark.parametrize("key", ["enter", "l"])
async def test_enter_or_l_dismisses_the_screen_with_the_cursors_run(tmp_path, key):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("v", "down", key)  # the second best: #2
        await pilot.pause()
        assert [r.id for r in app.results] == ["run2"]
        assert app.results[0] == HISTORY[1]
        assert not isinstance(app.screen, RunsScreen)


async def test_escape_dismisses_it_with_nothing(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("space", "escape")
        await pilot.pause()
        assert app.results == [None]


async def test_marks_order_filter_and_curves_are_kept_for_the_next_opening(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("v", "v", "c", "space", "down", "space", "g")  # worst first, names only, two marked
        before = (numbers(screen), dict(screen.choices.marked), screen.sub_title, screen.query_one(RunsChart).what)
        assert len(before[1]) == 2 and before[3] != "validation"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RunsScreen)
        app.open_runs()
        screen = await opened(pilot)
        assert isinstance(screen, RunsScreen)
        after = (numbers(screen), dict(screen.choices.marked), screen.sub_title, screen.query_one(RunsChart).what)
        assert after == before
        assert sorted(s.name for s in screen.query_one(RunsChart).series) == sorted(
            f"#{n}" for n in before[0] if f"run{n}" in before[1])


async def test_an_empty_history_says_what_to_do_and_offers_only_escape_and_reload(tmp_path):
    log = RunLog(tmp_path / "runs.jsonl", fsync=False)
    app = Host(log)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        message = text_of(screen, "#runs-message")
        assert message == f"No runs yet: F5 trains one; every run is recorded in {log.path}"
        assert not screen.query_one(DataTable).display and not screen.query_one(RunsChart).display
        keys_offered = {b.binding.id for b in screen.active_bindings.values() if b.enabled}
        assert {key for key in keys_offered if key and key.startswith("runs.")} == {"runs.close", "runs.reload"}
        await pilot.press("enter", "space")
        assert app.results == [] and app.screen is screen
        write_history(log.path, HISTORY[:2])
        await pilot.press("r")
        await opened(pilot)
        assert numbers(screen) == [2, 1] and screen.query_one(DataTable).display


async def test_a_damaged_line_is_warned_of_and_the_rest_shown(tmp_path):
    log = write_history(tmp_path / "runs.jsonl", HISTORY[:2])
    with open(log.path, "ab") as f:
        f.write(b'{"id":"broken","started":3}\n')
    app = Host(log)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        warning = text_of(screen, "#runs-warnings")
        assert screen.query_one("#runs-warnings").display
        assert f"{log.path}:3: skipped a damaged line" in warning
        assert numbers(screen) == [2, 1]


async def test_marks_and_the_cursor_survive_a_reload(tmp_path):
    log = write_history(tmp_path / "runs.jsonl", HISTORY[:3])
    app = Host(log)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("space", "down", "space")  # #3 and #2; the cursor on #2
        log.record(HISTORY[3])
        await pilot.press("r")
        await opened(pilot)
        assert numbers(screen) == [4, 3, 2, 1]
        assert screen.cursor_run().id == "run2"
        assert sorted(s.name for s in screen.query_one(RunsChart).series) == ["#2", "#3"]


# --- snapshots ---


def keys(*pressed):
    async def run_before(pilot):
        await opened(pilot)
        await pilot.press(*pressed)
        await pilot.pause()
    return run_before


def test_three_runs_overlaid_at_160x48(snap_compare, tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    assert snap_compare(app, terminal_size=(160, 48), run_before=keys("down", "down", "space", "down", "space",
                                                                      "down", "space"))


def test_relu_against_tanh_at_80x24(snap_compare, tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=keys("down", "down", "down", "space", "down", "space"))


# --- a long history ---


async def test_reopened_it_reads_only_what_was_appended_meanwhile(tmp_path, monkeypatch):
    log = write_history(tmp_path / "runs.jsonl", HISTORY[:3])
    parsed = []
    real = RunRecord.from_line
    monkeypatch.setattr(RunRecord, "from_line", lambda line: parsed.append(line) or real(line))
    app = Host(log)
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        assert len(parsed) == 3
        await pilot.press("escape")
        log.record(HISTORY[3])
        app.open_runs()
        screen = await opened(pilot)
        assert numbers(screen) == [4, 3, 2, 1] and len(parsed) == 4  # the new line alone


async def test_one_run_is_a_run_and_its_perplexity_is_of_its_best_validation(tmp_path):
    app = Host(write_history(tmp_path / "runs.jsonl", HISTORY[2:3]))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await opened(pilot)
        assert screen.sub_title.startswith("1 run, all corpora")
        ppl = screen.query_one(DataTable).get_cell("run3", "perplexity").plain
        assert ppl == short_number(math.exp(HISTORY[2].best_loss), 2) == "8.17"  # not e^final (2.26: 9.58)
        await pilot.press("c")
        assert screen.sub_title.startswith("1 of 1 run, on names")
