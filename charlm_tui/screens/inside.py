"""The Inside view (issue 14): one step taken apart, the next character's odds, the embedding map, layer health and the
computation graph, all read off snapshots of the weights between steps, so it works while training runs.

The maths runs in one thread worker of the screen (group "inside"): every few seconds while the weights move it takes
one snapshot and works out from it what the visible parts need (`Reader`), and `s` takes a single step there. The CPU
a reading takes is taken from training (they share the GIL), so readings come REFRESH_INTERVAL apart, or further when
they cost more than READING_SHARE of the time. Typing a context recomputes only the odds, on the UI thread, from the
last snapshot (a tenth of a millisecond). A small terminal shows one part at a time on tabs (ctrl+pageup and
ctrl+pagedown switch them from anywhere, the context field too); from GRID_MIN_SIZE all five share a grid.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.events import Key, Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static, Tab, Tabs
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState, get_current_worker

from charlm_tui.keymap import INSIDE_BINDINGS, SCREEN_BINDINGS
from charlm_tui.widgets.embedding_map import EmbeddingMap
from charlm_tui.widgets.ordered_input import OrderedInput
from core.inside import (LINE_START, Gradient, LayerHealth, LayerStep, MapPoint, StepReport, embedding_map, evenly_spaced,
                         fused_graph, hidden_activations, inspect_step, layer_health, mean_gradient_steps,
                         blown_up, next_char_odds, reference_op_counts, shown)
from core.metrics import short_number
from core.optim import OPTIMIZERS
from core.run import Run
from core.sampling import FrozenModel
from core.session import Phase, Session, SessionError
from core.settings import SAMPLING

REFRESH_INTERVAL = 2.0  # seconds at least between two readings of the weights while training, and more when…
READING_SHARE = 0.025  # …a reading's CPU time would exceed this share of the time: it is taken from training (GIL)
TICK = 0.5  # seconds between two looks at the session's phase and step, and at whether a reading is due
BLOWN_UP_EXAMPLES = 8  # evenly spaced training examples whose logits tell whether the weights have diverged
ACTIVATION_EXAMPLES = 200  # evenly spaced training examples whose activations judge the layers' health
GRADIENT_EXAMPLES = 32  # evenly spaced training examples whose mean gradient the health and graph parts show
TOP_ODDS = 10  # characters in the odds' bars
TEMPERATURE = next(s for s in SAMPLING if s.name == "temperature")
TEMPERATURE_STEP = 0.1  # per key press, as the main screen's F9 and F10
GRID_MIN_SIZE = (140, 40)  # at least this many columns and rows: every part at once, as the main screen's grid
HEALTHY_RATIO = -3.0  # log10 update/data around which training moves at a healthy pace (makemore part 3)


# --- what one snapshot tells ----------------------------------------------------------------------


Example = tuple[list[int], int]  # (context indices, target index)


@dataclass(frozen=True)
class Readings:
    """What one snapshot of a run told the parts; a field left None was not asked for (its part was hidden)."""

    run: Run
    step: int  # the training step the weights are from
    learning_rate: float  # of the next update, on the schedule
    weights: FrozenModel
    example: Example  # the graph's: the last single step's, else the first training example
    points: list[MapPoint] | None = None
    health: list[LayerHealth] | None = None
    gradient: list[LayerStep] | None = None  # of the mean loss of GRADIENT_EXAMPLES, at the next update's lr
    op_counts: Counter | None = None  # the course's graph of `example`, by operation
    blown_up: bool = False  # the weights have diverged: nothing else was read (see core.inside.blown_up)


class Reader:
    """Works out, from one snapshot of a run, what the visible parts need (in the screen's worker thread)."""

    def __init__(self) -> None:
        # The course's graph takes a quarter of a second to build and its counts depend only on the model (the run)
        # and on how many distinct characters the context has: each is built once.
        self._op_counts: dict[tuple[str, int], Counter] = {}

    def read(self, run: Run, needs: frozenset[str], example: Example, cancelled: Callable[[], bool]) -> Readings | None:
        """The readings `needs` names (fields of Readings), or None once `cancelled()`."""
        trainer = run.trainer
        with trainer.lock:  # the step and the weights of the same moment
            step, lr, weights = trainer.state.step, trainer.learning_rate, FrozenModel.from_model(trainer.model)
            optimizer_state = trainer.optimizer.state_dict()
        if blown_up(weights, [context for context, _ in evenly_spaced(trainer.train_examples, BLOWN_UP_EXAMPLES)]):
            return Readings(run, step, lr, weights, example, blown_up=True)
        found: dict = {}
        if "points" in needs:
            found["points"] = embedding_map(weights, run.corpus.vocab)
        if "health" in needs:
            contexts = [context for context, _ in evenly_spaced(trainer.train_examples, ACTIVATION_EXAMPLES)]
            found["health"] = layer_health(hidden_activations(weights, contexts), weights.activation)
        if cancelled():
            return None
        if "gradient" in needs:
            examples = evenly_spaced(trainer.train_examples, GRADIENT_EXAMPLES)
            found["gradient"] = mean_gradient_steps(weights, examples, lr, run.config, optimizer_state)
        if "op_counts" in needs:
            key = (run.id, len(set(example[0])))
            if key not in self._op_counts:
                if cancelled():
                    return None
                self._op_counts[key] = reference_op_counts(weights, *example)
            found["op_counts"] = self._op_counts[key]
        return Readings(run, step, lr, weights, example, **found)


@dataclass
class ModelRead(Message):
    """The worker's readings, after the step it took if it took one."""

    readings: Readings
    report: StepReport | None
    seconds: float  # the reading's CPU time


@dataclass
class StepRefused(Message):
    reason: str


def optimizer_words(config) -> str:
    """The optimiser in words, with what shapes its update: "adamw, weight decay 0.1, dropout 0.2"."""
    words = [config.optimizer, *(f"{name} {getattr(config, name):g}" for name in OPTIMIZERS[config.optimizer].SETTINGS)]
    if config.weight_decay:
        words.append(f"weight decay {config.weight_decay:g}")
    if config.clip_value is not None or config.clip_norm is not None:
        words.append("clipped")
    return ", ".join(words)


# --- small drawings --------------------------------------------------------------------------------


EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A bar `fraction` of `width` cells long (to an eighth of a cell), padded with spaces to `width`."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def track(width: int, low: float, high: float, at: float, span: tuple[float, float] | None = None,
          tick: float | None = None) -> Text:
    """A slider-like line over [low, high]: ● at `at`, ━ over `span`, ┊ at `tick`."""
    def cell(value: float) -> int:
        return round((max(low, min(high, value)) - low) / (high - low) * (width - 1))

    cells = ["─"] * width
    if span is not None:
        for i in range(cell(span[0]), cell(span[1]) + 1):
            cells[i] = "━"
    if tick is not None:
        cells[cell(tick)] = "┊"
    cells[cell(at)] = "●"
    text = Text("".join(cells), style="dim")
    text.stylize("not dim bold", cell(at), cell(at) + 1)
    return text


def meter(fraction: float, width: int, style: str | Style) -> Text:
    """`bar` on a dim track."""
    filled = bar(fraction, width).rstrip()
    return Text.assemble((filled, style), ("░" * (width - len(filled)), "dim"))


def gradient_meter(norm: float) -> Text:
    """A gradient's norm and a bar of it on a log scale from 1e-4 to 10."""
    scale = (math.log10(norm) + 4) / 5 if norm > 0 else 0.0
    return meter(scale, 4, "bold").append(f" {norm:.2g}")


def quoted(text: str) -> str:
    return f"“{shown(text)}”"


def weight_name(gradient: Gradient, run: Run) -> str:
    """E[c][i]: number i of character c's embedding; W[j,i]: the weight from input i to unit j; b[j]: unit j's bias."""
    if gradient.table == "embedding":
        return f"E[{shown(run.corpus.vocab.idx_to_char[gradient.row])}][{gradient.column}]"
    if gradient.table == "weight":
        return f"W[{gradient.row},{gradient.column}]"
    return f"b[{gradient.column}]"


def ratio_words(layer: LayerStep) -> str:
    ratio = layer.log10_update_ratio
    return f"{ratio:+.1f}" if math.isfinite(ratio) else "none"


# --- the parts -------------------------------------------------------------------------------------


class Part(Vertical):
    """One part of the view: a bordered panel with its tab's name, shown from readings."""

    NAME = ""  # its tab's id
    TITLE = ""
    NEEDS: frozenset[str] = frozenset()  # the fields of Readings it shows

    def __init__(self) -> None:
        super().__init__(id=f"{self.NAME}-part", classes="part")
        self.border_title = self.TITLE

    def show(self, readings: Readings) -> None:
        """Show what `readings` holds of what this part needs (it may hold none of it)."""


class StepPart(Part):
    """One SGD step taken apart: its example(s), the odds before and after, per layer the gradient and the update."""

    NAME, TITLE = "step", "One step"
    DEFAULT_CSS = """
    StepPart #step-report { height: auto; }
    StepPart #step-words { color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.report: StepReport | None = None
        self.run: Run | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="step-words")
        yield Static("", id="step-report")

    def say(self, words: str) -> None:
        self.query_one("#step-words", Static).update(Text(words))  # not markup: a refusal may quote anything

    def show_report(self, report: StepReport, run: Run, step: int) -> None:
        self.report, self.run = report, run
        dropout = (f"; dropout {run.config.dropout:g}: about {run.config.dropout:.0%} of the hidden units were off for "
                   "this step, so its loss is higher than the odds below, taken with every unit on"
                   if run.config.dropout else "")
        self.say(f"step {step:,} taken by {optimizer_words(run.config)} at lr {report.learning_rate:.3g}: its "
                 f"example{'s' if len(report.examples) > 1 else ''}, then per layer what the update did{dropout}")
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        report, run = self.report, self.run
        if report is None:
            return
        lines = [Text.assemble(f"{quoted(e.context)} → {quoted(e.target)}  ", "p ", (f"{e.p_before:.3f}", "bold"),
                               " → ", (f"{e.p_after:.3f}", "bold"), f"  loss {e.loss_before:.3f} → {e.loss_after:.3f}")
                 for e in report.examples[:3]]
        if len(report.examples) > 3:
            lines.append(Text(f"… {len(report.examples) - 3} more examples", style="dim"))
        if len(report.examples) > 1:
            lines.append(Text(f"mean loss {report.loss_before:.3f} → {report.loss_after:.3f}"))
        lines.append(Text(f"{'layer':<10} {'‖grad‖':>8}  {'log₁₀ Δ/W':>9}  largest gradients", style="bold"))
        width = self.content_size.width
        for layer in report.layers:
            row = f"{layer.name:<10} {layer.grad_norm:>8.2g}  {ratio_words(layer):>9}  "
            for gradient in layer.largest:
                item = f"{weight_name(gradient, run)} {gradient.value:+.2g}  "
                if len(row) + len(item.rstrip()) > width:
                    break
                row += item
            lines.append(Text(row.rstrip()))
        lines.append(Text(f"log₁₀ Δ/W: how far the update moved the layer, next to its size (≈ {HEALTHY_RATIO:g} is a "
                          "healthy pace) · E[c][i]: number i of c's embedding · W[j,i]: input i to unit j · b[j]: "
                          "unit j's bias", style="dim"))
        self.query_one("#step-report", Static).update(Text("\n").join(lines))


class OddsPart(Part):
    """The model's odds for the next character after any context, as bars, at a temperature you can change."""

    NAME, TITLE = "odds", "Next-character odds"
    DEFAULT_CSS = """
    OddsPart #context-row { height: 1; }
    OddsPart #context-row Label { padding-right: 1; }
    OddsPart #context { width: 24; }
    OddsPart #seen { padding-left: 2; color: $text-muted; }
    OddsPart #bars { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.temperature = 1.0  # the model's own odds
        self.readings: Readings | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="context-row"):
            yield Label("context")
            yield OrderedInput(placeholder="type any text", id="context", compact=True, select_on_focus=False,
                               tooltip="The odds are for the character after this text (Esc leaves the field)")
            yield Static("", id="seen")
        yield Static("", id="temperature")
        yield Static("", id="bars")

    @property
    def context(self) -> str:
        return self.query_one("#context", Input).value

    def show(self, readings: Readings) -> None:
        self.readings = readings
        self._draw()

    def nudge(self, delta: float) -> None:
        self.temperature = round(min(TEMPERATURE.maximum, max(TEMPERATURE.minimum, self.temperature + delta)), 2)
        self._draw()

    @on(Input.Changed, "#context")
    def _context_changed(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """The odds of the last snapshot for the context typed, at the temperature set (0.1 ms: done at once)."""
        readings = self.readings
        if readings is None or readings.blown_up:
            return
        odds = next_char_odds(readings.weights, readings.run.corpus.vocab, self.context, self.temperature,
                              readings.run.items)
        seen = f"the model sees {quoted(odds.context)}" + (f": {LINE_START}" if odds.line_start else "")
        if odds.skipped:
            seen += f" · skipped {quoted(odds.skipped)}: not in the vocabulary"
        self.query_one("#seen", Static).update(Text(seen))  # not markup: the context is the user's
        greedy = " (greedy: all on the likeliest)" if self.temperature == 0 else ""
        keys = f"{self.app.key_label('sample.cooler')} cooler · {self.app.key_label('sample.warmer')} hotter"
        self.query_one("#temperature", Static).update(Text.assemble(
            "temperature ", (f"{TEMPERATURE.show(self.temperature):<4}", "bold"), " 0 ",
            track(25, TEMPERATURE.minimum, TEMPERATURE.maximum, self.temperature), f" {TEMPERATURE.maximum:g}  ",
            (keys + greedy, "dim")))
        width, height = self.query_one("#bars", Static).content_size
        rows = min(TOP_ODDS, len(odds.odds), max(height - 1, 1))
        lines = [Text.assemble(f" {shown(char)} {p:6.1%} ", (bar(p, width - 10), "bold"))
                 for char, p in odds.odds[:rows]]
        rest = odds.odds[rows:]
        if rest:
            lines.append(Text(f" … {len(rest)} more, {sum(p for _, p in rest):.1%} in all", style="dim"))
        self.query_one("#bars", Static).update(Text("\n").join(lines))


class MapPart(Part):
    """The characters' embeddings projected to 2-D, each drawn as itself: similar characters end up close."""

    NAME, TITLE = "map", "Embedding map"
    NEEDS = frozenset({"points"})
    DEFAULT_CSS = """
    MapPart #map-about { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="map-about")
        yield EmbeddingMap(id="map")

    def show(self, readings: Readings) -> None:
        if readings.points is None:
            return
        weights = readings.weights
        self.query_one("#map-about", Static).update(
            f"step {readings.step:,} · each character's {len(weights.embedding[0])} embedding numbers, projected on "
            "the two directions they vary most (PCA)")
        self.query_one(EmbeddingMap).show(readings.points)


class HealthPart(Part):
    """Per layer: stuck units, the activations' mean and spread, the gradient and the update-to-data ratio."""

    NAME, TITLE = "health", "Layer health"
    NEEDS = frozenset({"health", "gradient"})
    COMPONENT_CLASSES = {"health-part--stuck"}
    DEFAULT_CSS = """
    HealthPart > .health-part--stuck { color: $text-warning; text-style: bold; }
    HealthPart #health-about { color: $text-muted; }
    HealthPart #health-warnings { color: $text-warning; text-style: bold; margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="health-about")
        yield Static("", id="health-table")
        yield Static("", id="health-warnings")

    def show(self, readings: Readings) -> None:
        if readings.health is None or readings.gradient is None:
            return
        activation = readings.weights.activation
        self.query_one("#health-about", Static).update(
            f"step {readings.step:,} · {activation} activations of {ACTIVATION_EXAMPLES} training examples · gradient "
            f"of the mean loss of {GRADIENT_EXAMPLES} and the update {optimizer_words(readings.run.config)} would make "
            f"of it at lr {readings.learning_rate:.3g}")
        table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
        for heading in ("layer", readings.health[0].stuck_as, "activations", "‖grad‖", "log₁₀ Δ/W"):
            table.add_column(heading, no_wrap=True)
        health = {h.name: h for h in readings.health}
        low, high = (0.0, 2.0) if activation == "relu" else (-1.0, 1.0)
        stuck_style = self.get_component_rich_style("health-part--stuck", partial=True)
        for layer in readings.gradient:
            h = health.get(layer.name)  # None for the embedding and the output: no activation
            stuck = activations = Text("")
            if h is not None:
                stuck = meter(h.stuck_share, 5, stuck_style if h.warning else "bold")
                stuck.append(f" {h.stuck_share:>4.0%}")
                activations = track(7, low, high, h.mean, (h.mean - h.std, h.mean + h.std))
                activations.append(f" {short_number(h.mean, 2)}±{short_number(h.std, 2)}")
            ratio = track(13, -6.0, 0.0, max(layer.log10_update_ratio, -6.0), tick=HEALTHY_RATIO)
            ratio.append(f" {ratio_words(layer)}")
            table.add_row(layer.name, stuck, activations, gradient_meter(layer.grad_norm), ratio)
        self.query_one("#health-table", Static).update(Group(table, Text(
            f"log₁₀ Δ/W: how far an update moves the layer, next to its size, from -6 to 0: about "
            f"{HEALTHY_RATIO:g} (┊) is a healthy pace; far below, the layer learns slowly; far above, unstably",
            style="dim")))
        warnings = [f"⚠ {h.warning}" for h in readings.health if h.warning]
        self.query_one("#health-warnings", Static).update(Text("\n".join(warnings)))


class GraphPart(Part):
    """One example's graph as the fused engine builds it, and how many nodes the course's engine would build."""

    NAME, TITLE = "graph", "Graph"
    NEEDS = frozenset({"gradient", "op_counts"})
    DEFAULT_CSS = """
    GraphPart #graph-about, GraphPart #graph-counts { color: $text-muted; }
    GraphPart #graph-counts { margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="graph-about")
        yield Static("", id="graph")
        yield Static("", id="graph-counts")

    def show(self, readings: Readings) -> None:
        if readings.gradient is None or readings.op_counts is None:
            return
        weights, vocab = readings.weights, readings.run.corpus.vocab
        context, target = readings.example
        nodes = fused_graph(weights)
        self.query_one("#graph-about", Static).update(
            f"one example's graph as the fused engine builds it: a node per layer, its weights in tables beside the "
            f"graph · ‖∇W‖: the norm of their gradient, the mean over {GRADIENT_EXAMPLES} examples at step "
            f"{readings.step:,}")
        table = Table(box=None, padding=(0, 1), pad_edge=False, show_header=False)
        for _ in range(4):
            table.add_column(no_wrap=True)
        table.add_row(Text(f"{quoted(vocab.decode(context))} → {quoted(vocab.idx_to_char[target])}", style="bold"),
                      "", f"{len(context)} characters", "")
        for node, gradient in zip(nodes, [*readings.gradient, None]):
            shapes = node.shape
            if gradient is None:  # the loss node
                out, grad = f"→ loss {weights.loss(context, target):.3f}", Text("")
            else:
                out, grad = f"→ {node.outputs:,} values", Text("‖∇W‖ ").append_text(gradient_meter(gradient.grad_norm))
            table.add_row(Text.assemble(" ↓ ", (node.op, "bold")), shapes, out, grad)
        self.query_one("#graph", Static).update(table)
        counts = readings.op_counts
        names = {"*": "×", "weight": "weights", "constant": "constants"}
        parts = ", ".join(f"{n:,} {names.get(op, op)}" for op, n in counts.most_common())
        self.query_one("#graph-counts", Static).update(
            f"The course's engine would build {sum(counts.values()):,} nodes for this one example, a Value per "
            f"number: {parts}.")


PARTS = (StepPart, OddsPart, MapPart, HealthPart, GraphPart)


# --- the screen ------------------------------------------------------------------------------------


PHASE_WORDS = {  # what the status line says in each phase, and what the keys do then
    Phase.RUNNING: ("training", "{toggle} pauses, then s takes one step at a time"),
    Phase.PAUSED: ("paused", "s takes one step · {toggle} trains on"),
    Phase.STOPPED: ("stopped", "s takes one step · {toggle} trains on"),
    Phase.FINISHED: ("finished", "its budget is used up: raise it in the Setup view to step on"),
    Phase.FAILED: ("stopped by a problem", "s takes one step from the last good weights"),
}


TEMPERATURE_KEYS = Binding.Group("Temp")  # one place in the footer for both: with the part keys, it fits 80 columns


class InsideScreen(Screen):
    """Inside `session`'s model (which must exist): one step taken apart, the next character's odds, the embedding
    map, layer health and the graph. Esc closes (from the context field: leaves it first, as the footer says)."""

    BINDINGS = [
        *INSIDE_BINDINGS,  # first in the footer, where it shows them anyway while the context field has the focus
        Binding("s", "step", "One step", tooltip="Take exactly one training step of the paused model, taken apart"),
        Binding("f5", "toggle_training", "Train", tooltip="Start, pause or resume training", id="train.toggle"),
        Binding("f9", "temperature(-1)", "Cooler", tooltip="The odds' temperature down: sharper", id="sample.cooler",
                group=TEMPERATURE_KEYS),
        Binding("f10", "temperature(1)", "Hotter", tooltip="The odds' temperature up: flatter", id="sample.warmer",
                group=TEMPERATURE_KEYS),
        # Esc leaves the context field first (the footer says so there), then closes the view
        Binding("escape", "leave_field", "Leave field", tooltip="Out of the context field: ← → then choose a part"),
        Binding("escape", "close", "Close", tooltip="Back to training"),
        # the main screen's view keys (its tab bar names them) leave this view for theirs, under the same ids
        *(Binding(b.key, f"leave({b.action!r})", b.description, show=False, tooltip=b.tooltip, id=b.id)
          for b in SCREEN_BINDINGS if b.id in ("view.setup", "view.train", "runs.show", "sample.start")),
    ]
    AUTO_FOCUS = None  # not the context field: s would type there (on tabs, the tabs take the focus)
    DEFAULT_CSS = """
    InsideScreen #status { height: 1; padding: 0 1; }
    InsideScreen #part-tabs { height: 2; }
    InsideScreen #parts { height: 1fr; }
    InsideScreen .part {
        height: 1fr;
        overflow-y: auto;  /* a deep model's layers, a batch's examples */
        scrollbar-size-vertical: 1;
        border: round $primary 50%;
        border-title-color: $text-accent;
        padding: 0 1;
    }
    InsideScreen .part:focus-within { border: round $primary; }
    InsideScreen.-grid #part-tabs { display: none; }
    InsideScreen.-grid #parts {
        layout: grid;
        grid-size: 2 3;
        grid-columns: 1fr 1fr;
        grid-rows: 1fr 1fr 1fr;
    }
    InsideScreen.-grid MapPart { row-span: 2; }
    InsideScreen #blown-up { display: none; padding: 1 2; }
    InsideScreen.-blown-up #blown-up { display: block; }
    InsideScreen.-blown-up #parts, InsideScreen.-blown-up #part-tabs { display: none; }
    """

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.reader = Reader()
        self.readings: Readings | None = None
        context, target = session.run.trainer.train_examples[0]
        self.example: Example = (list(context), target)  # the graph's, until a step gives one
        self._worker: Worker | None = None
        self._stepping = False  # the running worker takes a step (a refresh must not cancel it)
        self._status = Text()
        self._next_reading = 0.0  # time.monotonic() when the next reading is due
        self.sub_title = "inside the model"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="status")
        yield Static("", id="blown-up", classes="error")
        yield Tabs(*(Tab(part.NAME.capitalize(), id=part.NAME) for part in PARTS), id="part-tabs")
        with Container(id="parts"):
            for part in PARTS:
                yield part()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(StepPart).say(self._step_hint())
        self._show_status()
        self.set_interval(TICK, self._tick)

    def _tick(self) -> None:
        self._show_status()
        if time.monotonic() >= self._next_reading:
            self._refresh()

    @property
    def parts(self) -> list[Part]:
        return list(self.query(Part))

    # --- layout ---

    def on_resize(self, event: Resize) -> None:
        grid = event.size.width >= GRID_MIN_SIZE[0] and event.size.height >= GRID_MIN_SIZE[1]
        self.set_class(grid, "-grid")
        tabs = self.query_one("#part-tabs", Tabs)
        if not grid and self.focused is None:
            tabs.focus()  # ← → choose a part
        elif grid and tabs.has_focus:
            self.set_focus(None)  # the tabs are hidden: no focus, so that s and the other keys reach the screen
        self._show_parts()

    @on(Tabs.TabActivated, "#part-tabs")
    def _tab_activated(self) -> None:
        self._show_parts()

    def _show_parts(self) -> None:
        """On tabs, the active one's part; in the grid, all of them. A part shown gets its readings at once."""
        active = self.query_one("#part-tabs", Tabs).active
        for part in self.parts:
            part.display = self.has_class("-grid") or part.NAME == active
        self.refresh_bindings()  # the keys offered depend on the parts shown (check_action)
        self._refresh(at_once=True)

    def _reveal(self, name: str) -> None:
        """Bring a part into view before a key changes it (on tabs: its tab; the grid shows them all)."""
        if not self.has_class("-grid"):
            self.query_one("#part-tabs", Tabs).active = name

    @property
    def visible_parts(self) -> list[Part]:
        return [part for part in self.parts if part.display]

    # --- keys ---

    @property
    def _on_odds_tab(self) -> bool:
        return not self.has_class("-grid") and self.query_one(OddsPart).display

    def on_key(self, event: Key) -> None:
        """On the Odds tab, typing goes into the context field wherever the focus is."""
        field = self.query_one("#context", Input)
        if event.is_printable and not field.has_focus and self._on_odds_tab:
            event.stop()
            field.focus()
            field.insert_text_at_cursor(event.character)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers s where it steps (Textual leaves it out while the context field has the focus)."""
        if action == "step":
            return not self._on_odds_tab  # s is typed into the context field there
        if action == "part":
            return not self.has_class("-grid")  # the grid shows every part
        if action in ("leave_field", "close"):
            return (action == "leave_field") == self.query_one("#context", Input).has_focus
        return True

    def action_part(self, direction: int) -> None:
        """The next or previous part's tab, and the focus on the tabs (from the context field: ← → choose again)."""
        tabs = self.query_one("#part-tabs", Tabs)
        tabs.focus()
        if direction > 0:
            tabs.action_next_tab()
        else:
            tabs.action_previous_tab()

    def action_step(self) -> None:
        self._reveal(StepPart.NAME)
        if self._stepping:
            return  # one at a time: the key repeats faster than a reference-engine step
        if self.session.phase is Phase.RUNNING:
            self.query_one(StepPart).say(f"Training is running: {self._key('train.toggle')} pauses it, then s takes "
                                         "one step.")
            return
        self._stepping = True
        self._start(step=True)

    def action_toggle_training(self) -> None:
        if self._stepping:
            self.notify("A step is being taken: a moment.", severity="warning", timeout=3)
            return
        self.app.main.action_toggle_training()  # the main screen owns the training worker
        self._show_status()

    def action_temperature(self, direction: int) -> None:
        self._reveal(OddsPart.NAME)
        self.query_one(OddsPart).nudge(direction * TEMPERATURE_STEP)

    async def action_leave(self, action: str) -> None:
        """Close this view, then do what the main screen's key does there (F2 Setup, F3 Watch, F4 Runs, F7 Sample)."""
        await self.action_close()
        await self.app.main.attempt(action)

    def action_leave_field(self) -> None:
        """Out of the context field, back to the screen's keys; on tabs, to the tabs: ← → choose a part."""
        self.set_focus(None if self.has_class("-grid") else self.query_one("#part-tabs", Tabs))

    async def action_close(self) -> None:
        if self._stepping and self._worker is not None:
            try:
                await self._worker.wait()  # the step goes on in its thread: let the main screen see it
            except (WorkerFailed, WorkerCancelled):
                pass  # already said (on_worker_state_changed)
            self._show_on_main()
        self.dismiss()

    def _key(self, binding_id: str) -> str:
        return self.app.key_label(binding_id)

    # --- the worker ---

    def _refresh(self, at_once: bool = False) -> None:
        """New readings for the visible parts, unless the last ones hold them and the weights have not moved since.
        A reading under way is left to finish, unless `at_once` (parts were shown that it does not read for); a
        step under way always is."""
        if self._worker is not None and not self._worker.is_finished and (self._stepping or not at_once):
            return
        run = self.session.run
        last = self.readings
        needs = self._needs()
        if last is not None and last.run is run and last.step == run.trainer.state.step and \
                last.example == self.example and all(getattr(last, need) is not None for need in needs):
            return
        self._start(step=False)

    def _needs(self) -> frozenset[str]:
        return frozenset().union(*(part.NEEDS for part in self.visible_parts))

    def _start(self, step: bool) -> None:
        self._worker = self._work(self.session.run, self._needs(), self.example, step)

    @work(thread=True, exclusive=True, group="inside", exit_on_error=False)
    def _work(self, run: Run, needs: frozenset[str], example: Example, step: bool) -> None:
        """Take a step if asked, then read what `needs` names off one snapshot. Textual cancels this worker when
        the screen closes (and a step's cancels a refresh's): the reading checks between its parts."""
        worker = get_current_worker()
        report = None
        if step:
            try:
                report = inspect_step(run.trainer, run.corpus.vocab, take_step=self.session.single_step)
            except (SessionError, ValueError) as error:
                self.post_message(StepRefused(str(error)))
                return
            first = report.examples[0]
            example = (list(run.corpus.vocab.encode(first.context)), run.corpus.vocab.char_to_idx[first.target])
        start = time.thread_time()
        readings = self.reader.read(run, needs, example, lambda: worker.is_cancelled)
        if readings is not None:
            self.post_message(ModelRead(readings, report, time.thread_time() - start))

    @on(ModelRead)
    def _model_read(self, message: ModelRead) -> None:
        readings, report = message.readings, message.report
        self.readings = readings
        self.example = readings.example
        self._next_reading = time.monotonic() + max(REFRESH_INTERVAL, message.seconds / READING_SHARE)
        if report is not None:
            self._stepping = False
            self.query_one(StepPart).show_report(report, readings.run, readings.step)
            self._show_on_main()
        self._show_blown_up(readings)
        if not readings.blown_up:
            for part in self.parts:
                part.show(readings)
        self._show_status()

    def _show_blown_up(self, readings: Readings) -> None:
        """Diverged weights show no odds (every one nan) and no health (60-digit numbers): a sentence instead."""
        self.query_one("#blown-up", Static).update(
            f"The weights are not finite any more: training diverged (a learning rate far too high). Nothing inside "
            f"this model can be read. {self._key('train.toggle')} offers a new model: lower lr first (0.01 is "
            "safe), or turn on clipping." if readings.blown_up else "")
        self.set_class(readings.blown_up, "-blown-up")

    @on(StepRefused)
    def _step_refused(self, message: StepRefused) -> None:
        self._stepping = False
        self.query_one(StepPart).say(message.reason)
        self._show_on_main()  # a step that met a non-finite loss failed the run
        self._show_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self._stepping = False
            error = event.worker.error
            self.notify(f"{type(error).__name__}: {error}", severity="error", title="Inside failed")

    def _show_on_main(self) -> None:
        """The main screen shows the run where the steps taken here left it (it owns the training panel)."""
        main = self.app.main
        main.query_one("TrainingPanel").show_run(self.session)
        main.follow_session()

    # --- the status line ---

    def _step_hint(self) -> str:
        return (f"With training paused ({self._key('train.toggle')}), s takes exactly one training step and takes it "
                "apart here: the example, the probability of its target and the loss before and after, and per layer "
                "the gradient and how far the update moved it. The run goes on as if it had trained normally.")

    def _show_status(self) -> None:
        session = self.session
        phase_words, hint = PHASE_WORDS[session.phase]
        status = Text.assemble((phase_words, "bold"), f" at step {session.step:,} · ",
                               hint.format(toggle=self._key("train.toggle")))
        if status != self._status:  # looked at twice a second: repainted only when it changed
            self._status = status
            self.query_one("#status", Static).update(status)
