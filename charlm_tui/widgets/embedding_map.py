"""EmbeddingMap: the characters drawn as themselves where their embeddings fall in 2-D (see core.inside.embedding_map),
styled by kind, with a faint cross through the centre and a legend on the last row.

It draws its own cells rather than a PlotWidget scatter: there a character landing on another's cell hides it,
and every character must stay visible, so a crowded one moves to the nearest free cell instead."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from core.inside import MapPoint, shown

KINDS = {  # kind → (a sample glyph, its name in the legend), in the legend's order
    "vowel": ("a", "vowel"), "consonant": ("b", "consonant"), "digit": ("7", "digit"),
    "punctuation": (",", "punctuation"), "space": ("␣", "space, newline"), "other": ("€", "other"),
}
NUDGE_RADIUS = 4  # how far (in rows) a crowded character may move to a free cell; beyond, it is left out
ASPECT = 2  # a cell is about twice as tall as it is wide: a row away is as far as two columns


def _nearby(radius: int) -> list[tuple[int, int]]:
    """(row, column) offsets within `radius` rows, nearest first (on screen, by ASPECT)."""
    offsets = [(dr, dc) for dr in range(-radius, radius + 1) for dc in range(-ASPECT * radius, ASPECT * radius + 1)]
    return sorted(offsets, key=lambda o: ((ASPECT * o[0]) ** 2 + o[1] ** 2, o))


NEARBY = _nearby(NUDGE_RADIUS)


def _cell(value: float, low: float, high: float, cells: int) -> int:
    """Which of `cells` cells, low to high, `value` falls in."""
    if high <= low:
        return cells // 2
    return max(0, min(cells - 1, int((value - low) / (high - low) * cells)))


def grid_of(points: Sequence[MapPoint], columns: int, rows: int) -> Callable[[float, float], tuple[int, int]]:
    """(x, y) → (row, column) in a grid of `columns` × `rows` cells spanning the points, row 0 at the top (y grows
    upwards)."""
    xs, ys = [p.x for p in points], [p.y for p in points]
    x_low, x_high, y_low, y_high = min(xs), max(xs), min(ys), max(ys)
    return lambda x, y: (rows - 1 - _cell(y, y_low, y_high, rows), _cell(x, x_low, x_high, columns))


def place(points: Sequence[MapPoint], columns: int, rows: int) -> dict[tuple[int, int], MapPoint]:
    """Each point's (row, column) in a grid (see `grid_of`); a point whose cell is taken goes to the nearest free one
    (left out if none is within NUDGE_RADIUS)."""
    if not points or columns < 1 or rows < 1:
        return {}
    cell_of = grid_of(points, columns, rows)
    cells: dict[tuple[int, int], MapPoint] = {}
    for point in points:
        row, column = cell_of(point.x, point.y)
        free = ((row + dr, column + dc) for dr, dc in NEARBY)
        spot = next((cell for cell in free if 0 <= cell[0] < rows and 0 <= cell[1] < columns and cell not in cells),
                    None)
        if spot is not None:
            cells[spot] = point
    return cells


class EmbeddingMap(Widget):
    """A labelled scatter of `MapPoint`s: each character drawn as itself (␣ ⏎ for space and newline)."""

    COMPONENT_CLASSES = {*(f"embedding-map--{kind}" for kind in KINDS), "embedding-map--axis"}
    DEFAULT_CSS = """
    EmbeddingMap {
        height: 1fr;
        & > .embedding-map--vowel { color: $text-accent; text-style: bold; }
        & > .embedding-map--consonant { color: $text-primary; }
        & > .embedding-map--digit { color: $text-success; text-style: bold; }
        & > .embedding-map--punctuation { color: $text-warning; text-style: bold; }
        & > .embedding-map--space { color: $text-error; text-style: bold; }
        & > .embedding-map--other { color: $foreground 70%; }
        & > .embedding-map--axis { color: $foreground 20%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: tuple[MapPoint, ...] = ()

    def show(self, points: Sequence[MapPoint]) -> None:
        self.points = tuple(points)
        self.refresh()

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"embedding-map--{name}", partial=True)

    def render(self) -> RenderResult:
        width, height = self.content_size
        rows = max(height - 1, 0)  # the last row is the legend's
        grid = [[(" ", Style())] * width for _ in range(rows)]
        self._draw_cross(grid)
        for (row, column), point in place(self.points, width, rows).items():
            grid[row][column] = (shown(point.char), self._style(point.kind))
        lines = [Text.assemble(*cells) for cells in grid]
        lines.append(self._legend())
        return Text("\n").join(lines)

    def _draw_cross(self, grid: list[list[tuple[str, Style]]]) -> None:
        """Faint lines through the centre (0, 0): the embeddings' mean, which PCA puts at the origin."""
        rows, columns = len(grid), len(grid[0]) if grid else 0
        if not self.points or not rows or not columns:
            return
        row, column = grid_of(self.points, columns, rows)(0.0, 0.0)
        axis = self._style("axis")
        grid[row] = [("─", axis)] * columns
        for cells in grid:
            cells[column] = ("│", axis)
        grid[row][column] = ("┼", axis)

    def _legend(self) -> Text:
        """What each style means, for the kinds of character there are."""
        present = {p.kind for p in self.points}
        legend = Text()
        for kind, (glyph, name) in KINDS.items():
            if kind in present:
                legend.append("  " if legend.plain else "")
                legend.append(glyph, self._style(kind))
                legend.append(f" {name}")
        return legend
