"""The Runs view: every run in the history in a table, to sort, filter by corpus, compare and load.

Marked runs (space) are overlaid on one chart, a colour each, and what differs between them is said in a line and
highlighted in the table, so that "tanh vs relu" reads at a glance. Enter loads the cursor's run: the screen is
dismissed with its RunRecord, and whoever pushed it loads the settings and the checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from charlm_tui.widgets.hyper_panel import format_duration
from charlm_tui.widgets.runs_chart import RunsChart, Series
from core.history import ORDERS, Difference, RunLog, RunRecord, differences, local_time
from core.metrics import short_number
from core.settings import BY_NAME

SORT_KEYS = Binding.Group("sort")  # v t z: one footer entry


class Column(NamedTuple):
    """A column of the table showing something of a run."""

    key: str
    header: str
    cell: Callable[[RunRecord], str]
    compares: tuple[str, ...] = ()  # the settings (or "corpus") it shows: highlighted where the marked runs differ
    order: str | None = None  # the ORDERS entry a click on its header sorts by
    number: bool = False  # right-aligned


def _setting(name: str) -> Callable[[RunRecord], str]:
    return lambda r: BY_NAME[name].show(r.setting(name)) or "off"


COLUMNS = (  # what matters first: 80 columns show the settings, the best validation, steps and outcome; the rest scrolls
    Column("corpus", "corpus", lambda r: r.corpus["name"][:16], ("corpus",)),
    Column("activation", "act", _setting("activation"), ("activation",)),
    Column("layers", "layers", lambda r: f"{r.setting('n_hidden')}×{r.setting('hidden_dim')}",
           ("n_hidden", "hidden_dim")),
    Column("embed", "emb", _setting("embed_dim"), ("embed_dim",), number=True),
    Column("context", "ctx", _setting("context_length"), ("context_length",), number=True),
    Column("lr", "lr", _setting("learning_rate"), ("learning_rate",), number=True),
    Column("batch", "batch", _setting("batch_size"), ("batch_size",), number=True),
    Column("best", "best val", lambda r: short_number(r.best_loss), order="best", number=True),
    Column("steps", "steps", lambda r: f"{r.steps:,}", number=True),
    Column("outcome", "outcome", lambda r: r.outcome()),
    Column("gap", "gap", lambda r: short_number(r.gap, 2), number=True),  # final val − smoothed training loss
    Column("optimizer", "opt", _setting("optimizer"), ("optimizer",)),
    Column("dropout", "drop", _setting("dropout"), ("dropout",), number=True),
    Column("weight_decay", "wd", _setting("weight_decay"), ("weight_decay",), number=True),
    Column("perplexity", "ppl", lambda r: short_number(r.best_perplexity, 2), number=True),  # e^best val
    Column("time", "time", lambda r: format_duration(r.wall_seconds), number=True),
    Column("parameters", "params", lambda r: f"{r.parameters:,}", order="size", number=True),
    Column("started", "started", lambda r: local_time(r.started, short=True), order="started"),
)
HEADER_ORDERS = {"number": "started", **{c.key: c.order for c in COLUMNS if c.order}}  # what a header click sorts by
CURVES = ("validation", "train (smoothed)")
ROWS_AT_ONCE = 200  # rows added in one go: a screenful at once, a long history's others a batch at a time after
NEEDS_RUNS = {"load", "mark", "sort", "next_corpus", "toggle_curves", "log_scale"}  # off the footer with no runs


@dataclass
class RunsViewChoices:
    """What the view keeps from one opening to the next (the main screen holds it): marks, order, filter, curves."""

    marked: dict[str, int] = field(default_factory=dict)  # run id → its colour on the chart
    order: str = "started"
    descending: bool = ORDERS["started"].descending  # newest first
    corpus_filter: str | None = None  # None: every corpus
    curves: str = CURVES[0]  # what the chart plots when the runs have it


class RunsScreen(Screen[RunRecord | None]):
    """Dismissed with the cursor's RunRecord on enter (or l), None on escape. `corpus`, the corpus chosen in the
    main screen, is the first one the corpus filter (c) offers."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", tooltip="Back, loading nothing", id="runs.close"),
        # priority: else the focused table takes enter (to select its row)
        Binding("enter,l", "load", "Load", priority=True, tooltip="Load the run's settings and checkpoint",
                id="runs.load"),
        Binding("space", "mark", "Mark", tooltip="Mark or unmark the run: marked runs are compared on the chart",
                id="runs.mark"),
        Binding("v", "sort('best')", "Best", tooltip="Sort by best validation (again: reversed)", id="runs.sort.best",
                group=SORT_KEYS),
        Binding("t", "sort('started')", "Time", tooltip="Sort by start time (again: reversed)", id="runs.sort.started",
                group=SORT_KEYS),
        Binding("z", "sort('size')", "Size", tooltip="Sort by parameters (again: reversed)", id="runs.sort.size",
                group=SORT_KEYS),
        Binding("c", "next_corpus", "Corpus", tooltip="Show the runs on one corpus, the next, … or all",
                id="runs.corpus"),
        Binding("g", "toggle_curves", "Train/val", tooltip="Chart the validation or the smoothed training curves",
                id="runs.curves"),
        Binding("ctrl+l", "log_scale", "Log y", show=False, tooltip="The chart's loss axis: log or linear",
                id="runs.log"),
        Binding("r", "reload", "Reload", tooltip="Read the run history again", id="runs.reload"),
    ]

    COMPONENT_CLASSES = {"runs-screen--differs"}

    DEFAULT_CSS = """
    RunsScreen {
        & > #runs-warnings { height: auto; max-height: 2; padding: 0 1; color: $text-warning; display: none; }
        & > #runs-message { height: auto; padding: 1 2; display: none; }
        & > DataTable { height: auto; max-height: 45%; }
        & > #runs-differs { height: auto; max-height: 3; padding: 0 1; background: $panel; }
        & > RunsChart { min-height: 5; }  /* LossChart.MIN_ROWS: below it a chart is unreadable */
        & > .runs-screen--differs { color: $text-warning; text-style: bold; }
    }
    """

    def __init__(self, log: RunLog | None = None, corpus: str | None = None, choices: RunsViewChoices | None = None):
        super().__init__()
        self.run_log = log if log is not None else RunLog()
        self.corpus = corpus
        self.runs: list[RunRecord] = []  # the whole history, oldest first
        self.numbers: dict[str, int] = {}  # run id → its number, #1 the oldest
        self.choices = choices if choices is not None else RunsViewChoices()
        self.shown: list[RunRecord] = []  # the table's runs, in its order (its rows, once all are added)
        self._adding = False  # more rows of `shown` are to be added after the next refresh

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="runs-warnings", markup=False)
        yield Static(id="runs-message", markup=False)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="runs-differs")
        yield RunsChart(id="runs-chart")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.title, self.sub_title = "Runs", "reading the run history…"
        table = self.query_one(DataTable)
        table.add_column(" ", key="mark")
        table.add_column(Text("#", justify="right"), key="number")
        for column in COLUMNS:
            table.add_column(Text(column.header, justify="right" if column.number else "left"), key=column.key)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle(set(self.choices.marked)))
        self._read()

    # --- reading the history -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="runs-read", exit_on_error=False)
    def _read(self) -> None:
        runs, warnings = self.run_log.read()  # a large history takes a while: not on the UI thread
        self.app.call_from_thread(self._loaded, runs, warnings)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # read() only warns: this would be a bug, said rather than raised
            self._say_warnings([f"cannot read the run history: {type(event.worker.error).__name__}: "
                                f"{event.worker.error}"])

    def _loaded(self, runs: list[RunRecord], warnings: list[str]) -> None:
        if not self.is_attached:  # closed while it read
            return
        self.runs = runs
        self.numbers = {r.id: n for n, r in enumerate(runs, 1)}
        self.choices.marked = {id: colour for id, colour in self.choices.marked.items() if id in self.numbers}
        if self.choices.corpus_filter not in self._corpora():
            self.choices.corpus_filter = None
        self._say_warnings(warnings)
        empty = not runs
        self.query_one("#runs-message", Static).update(
            f"No runs yet: F5 trains one; every run is recorded in {self.run_log.path}" if empty else "")
        self.query_one("#runs-message").display = empty
        for widget in self.query("DataTable, #runs-differs, RunsChart"):
            widget.display = not empty
        self._fill(keep_cursor=True)
        self.refresh_bindings()

    def _say_warnings(self, warnings: list[str]) -> None:
        line = self.query_one("#runs-warnings", Static)
        more = f" (and {len(warnings) - 1:,} more)" if len(warnings) > 1 else ""
        line.update(f"⚠ {warnings[0]}{more}" if warnings else "")
        line.display = bool(warnings)

    # --- the table -----------------------------------------------------------------------------

    def _corpora(self) -> list[str | None]:
        """What the corpus filter cycles through: all (None), the main screen's corpus, the others by name."""
        names = sorted({r.corpus["name"] for r in self.runs}, key=lambda name: (name != self.corpus, name))
        return [None, *names]

    def _fill(self, keep_cursor: bool) -> None:
        """The table again, filtered and sorted, the cursor on the same run (`keep_cursor`) or the first."""
        table = self.query_one(DataTable)
        current = self.cursor_run() if keep_cursor else None
        runs = [r for r in self.runs if self.choices.corpus_filter in (None, r.corpus["name"])]
        self.shown = ORDERS[self.choices.order].sort(runs, self.choices.descending)
        table.clear()
        cursor = self.shown.index(current) if current in self.shown else 0
        self._add_rows(cursor + ROWS_AT_ONCE)
        if current in self.shown:
            table.move_cursor(row=cursor, scroll=True)
        self._say_heading()
        self._compare()

    def _add_rows(self, upto: int) -> None:
        """The rows of `shown` up to `upto` that the table has not yet; then the others, a batch after each refresh,
        so that keys are answered meanwhile (a DataTable takes seconds over 10,000 rows)."""
        table = self.query_one(DataTable)
        highlighted, emphasis = self._highlighted(), self.get_component_rich_style("runs-screen--differs", partial=True)
        for record in self.shown[table.row_count:upto]:
            table.add_row(*self._cells(record, highlighted, emphasis), key=record.id)
        if table.row_count < len(self.shown) and not self._adding:
            self._adding = True
            self.call_after_refresh(self._add_more)

    def _add_more(self) -> None:
        self._adding = False
        if self.is_attached:
            self._add_rows(self.query_one(DataTable).row_count + ROWS_AT_ONCE)

    def _cells(self, record: RunRecord, highlighted: set[tuple[str, str]], emphasis: Style) -> list[Text]:
        colour = self.choices.marked.get(record.id)
        mark = Text("●", self.query_one(RunsChart).colour_style(colour)) if colour is not None else Text("")
        cells = [mark, Text(str(self.numbers[record.id]), justify="right")]
        for column in COLUMNS:
            differs = highlighted and any((record.id, name) in highlighted for name in column.compares)
            style = emphasis if differs else ""
            cells.append(Text(column.cell(record), style, justify="right" if column.number else "left"))
        return cells

    def _restyle(self, ids: set[str]) -> None:
        """Draw these runs' rows again (their marks and highlights)."""
        table = self.query_one(DataTable)
        highlighted, emphasis = self._highlighted(), self.get_component_rich_style("runs-screen--differs", partial=True)
        keys = ["mark", "number", *(c.key for c in COLUMNS)]
        for record in self.shown[:table.row_count]:  # a row still to be added will be drawn as it is then
            if record.id in ids:
                for key, cell in zip(keys, self._cells(record, highlighted, emphasis)):
                    table.update_cell(record.id, key, cell)

    def _say_heading(self) -> None:
        choices = self.choices
        runs = f"{len(self.runs):,} run{'' if len(self.runs) == 1 else 's'}"
        shown = f"{len(self.shown):,} of {runs}, on {choices.corpus_filter}" if choices.corpus_filter \
            else f"{runs}, all corpora"
        marked = f" · {len(choices.marked)} marked" if choices.marked else ""
        self.sub_title = f"{shown} · {ORDERS[choices.order].words[choices.descending]}{marked}"

    def cursor_run(self) -> RunRecord | None:
        """The run under the table's cursor."""
        row = self.query_one(DataTable).cursor_row
        return self.shown[row] if 0 <= row < len(self.shown) else None

    def marked_runs(self) -> list[RunRecord]:
        """The marked runs the table shows, by number."""
        return sorted((r for r in self.shown if r.id in self.choices.marked), key=lambda r: self.numbers[r.id])

    # --- comparing -----------------------------------------------------------------------------

    def marked_differences(self) -> list[Difference]:
        """What differs between the marked runs shown (nothing with fewer than two)."""
        marked = self.marked_runs()
        return differences(marked) if len(marked) > 1 else []

    def _highlighted(self) -> set[tuple[str, str]]:
        """(run id, setting) of the values that set a marked run apart, highlighted in the table."""
        marked = self.marked_runs()
        return {(r.id, d.name) for d in self.marked_differences() for i, r in enumerate(marked) if d.sets_apart(i)}

    def _compare(self) -> None:
        """The chart and the "differs" line, for the marked runs or else the cursor's run."""
        marked, found = self.marked_runs(), self.marked_differences()
        line = self.query_one("#runs-differs", Static)
        names = " | ".join(f"#{self.numbers[r.id]}" for r in marked)
        if len(marked) < 2:
            line.update("[b]space[/] marks runs to compare their curves and settings")
        elif found:
            emphasis = self.get_component_rich_style("runs-screen--differs", partial=True)
            parts = [f"{names} differ in: "]
            for i, difference in enumerate(found):
                parts += [" · " if i else "", (str(difference), emphasis)]
            line.update(Text.assemble(*parts))
        else:
            line.update(f"{names}: the same corpus and settings")
        runs = marked if len(marked) > 1 else [r for r in [self.cursor_run()] if r is not None]
        self._chart(runs, found)

    def _chart(self, runs: list[RunRecord], found: list[Difference]) -> None:
        """Their validation curves; their smoothed training curves when asked (g) or when one of them has none."""
        missing = [f"#{self.numbers[r.id]}" for r in runs if not r.validation]
        validation = self.choices.curves == CURVES[0] and not missing
        what = self.choices.curves if validation or self.choices.curves == CURVES[1] else (
            f"{CURVES[1]}, no validation in {', '.join(missing)}")
        series = []
        for i, record in enumerate(runs):
            best = record.best_validation if validation else None
            series.append(Series(
                f"#{self.numbers[record.id]}", ", ".join(d.of(i) for d in found if d.sets_apart(i)),
                tuple(map(tuple, record.validation if validation else record.curve)),
                self.choices.marked.get(record.id, 0),
                (best["step"], best["loss"]) if best else None))
        self.query_one(RunsChart).show(series, what)

    def on_data_table_row_highlighted(self) -> None:
        if len(self.marked_runs()) < 2:  # the chart follows the cursor
            self._compare()

    def on_data_table_row_selected(self) -> None:
        self.action_mark()  # a click on the cursor's row (enter is the screen's: it loads)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        order = HEADER_ORDERS.get(event.column_key.value)
        if order is None:
            self.notify("Sort by best validation (v), start time (t) or size (z): click their headers.")
        else:
            self.action_sort(order)

    # --- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """With no runs only escape and r apply: the footer says so, and the screen what to do."""
        return bool(self.shown) or action not in NEEDS_RUNS

    def action_mark(self) -> None:
        record = self.cursor_run()
        if record is None:
            return
        before = set(self.choices.marked)
        if record.id in self.choices.marked:
            del self.choices.marked[record.id]
        elif len(self.choices.marked) >= RunsChart.COLOURS:
            self.notify(f"The chart compares up to {RunsChart.COLOURS} runs: unmark one first (space).",
                        severity="warning")
            return
        else:
            self.choices.marked[record.id] = min(set(range(RunsChart.COLOURS)) - set(self.choices.marked.values()))
        self._restyle(before | set(self.choices.marked))
        self._say_heading()
        self._compare()

    def action_sort(self, order: str) -> None:
        """Sort by `order`; again: the other way round. The cursor goes to the top: the best, the newest…"""
        choices = self.choices
        choices.descending = not choices.descending if order == choices.order else ORDERS[order].descending
        choices.order = order
        self._fill(keep_cursor=False)

    def action_next_corpus(self) -> None:
        corpora = self._corpora()
        self.choices.corpus_filter = corpora[(corpora.index(self.choices.corpus_filter) + 1) % len(corpora)]
        self._fill(keep_cursor=True)

    def action_toggle_curves(self) -> None:
        self.choices.curves = CURVES[1] if self.choices.curves == CURVES[0] else CURVES[0]
        self._compare()

    def action_log_scale(self) -> None:
        chart = self.query_one(RunsChart)
        chart.log_y = not chart.log_y

    def action_reload(self) -> None:
        self.sub_title = "reading the run history…"
        self._read()

    def action_load(self) -> None:
        record = self.cursor_run()
        if record is not None:
            self.dismiss(record)
