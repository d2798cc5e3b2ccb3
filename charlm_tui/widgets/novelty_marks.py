"""makemore's split made visible as text streams in: for a text of one item a line (names), each finished
line of a sample is shown bold when it is new and dim when the training set has it."""

from __future__ import annotations

from rich.text import Text

from core.novelty import NoveltyIndex

NEW_STYLE = "bold"
KNOWN_STYLE = "dim"
LEGEND = "bold: a new line · dim: one from the training set"


def mark_lines(text: Text, start: int, index: NoveltyIndex) -> int:
    """Style the lines of `text` finished since offset `start` (where a line begins) and return the offset
    where the unfinished last line begins: the next call's `start`. Prose (an index of words) is left as it is."""
    end = text.plain.rfind("\n", start) + 1
    if end <= start:
        return start
    if index.unit == "line":
        position = start
        for line in text.plain[start:end - 1].split("\n"):
            if line.strip():
                text.stylize(KNOWN_STYLE if index.is_known_line(line) else NEW_STYLE, position, position + len(line))
            position += len(line) + 1
    return end
