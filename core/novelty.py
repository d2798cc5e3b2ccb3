"""How much of a sample is new: makemore's check that a model invents rather than recites.

A model that has learnt a text by heart gives back its lines; one that has learnt its patterns makes
up new ones. For a text of one item a line (names) each finished line of a sample is looked up in the
training text's lines; for prose, each finished word in its words. `NoveltyIndex` holds those sets,
built once per text; `stats` sums a sample up and `NoveltyStats.summary` puts it in one line:

    12 lines: 25% in the training set, 75% new · 24 distinct chars · 0% repeats
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

UNITS = ("line", "word")
DASHES = ("—", "–", "--")  # split words like whitespace: "said—and" is two words, "Rabbit-Hole" one


def is_line_shaped(text: str) -> bool:
    """One item a line (names), rather than prose: no blank line inside once leading and trailing newlines
    are stripped. The rule `Corpus._units` uses to hold out lines rather than paragraphs."""
    return "\n\n" not in text.strip("\n")


def _non_alphanumeric(text: str) -> str:
    """The characters of `text` that are not letters or digits: what is stripped from a word's ends."""
    return "".join(c for c in set(text) if not c.isalnum())


def _split_words(text: str) -> list[str]:
    for dash in DASHES:
        text = text.replace(dash, " ")
    return text.split()


def words(text: str) -> list[str]:
    """The words of a text as the index compares them: split at whitespace and dashes (— – --), punctuation
    stripped from both ends ("'Tis" → "tis", "o'er" stays), case-folded, empty ones dropped."""
    folded = text.casefold()
    strip = _non_alphanumeric(folded)
    return [w for w in (token.strip(strip) for token in _split_words(folded)) if w]


def _line_items(sample: str) -> list[tuple[str, str]]:
    """(line as written, key) for each finished line that is not blank; the text after the last newline is
    not finished yet (the model may still be writing it), so it is left out."""
    return [(line, line.strip()) for line in sample.split("\n")[:-1] if line.strip()]


def _word_items(sample: str) -> list[tuple[str, str]]:
    """(word as written, punctuation stripped; key, as `words` makes it) for each finished word: the last
    one is unfinished unless whitespace or a dash follows it."""
    spaced = sample
    for dash in DASHES:
        spaced = spaced.replace(dash, " ")
    tokens = spaced.split()
    if tokens and not spaced[-1].isspace():
        tokens.pop()
    strip, strip_folded = _non_alphanumeric(sample), _non_alphanumeric(sample.casefold())
    items = ((token.strip(strip), token.casefold().strip(strip_folded)) for token in tokens)
    return [(word, key) for word, key in items if key]


@dataclass(frozen=True)
class NoveltyStats:
    """A sample summed up: its finished lines (or words) in the training text and new, and repeats."""

    unit: str  # "line" or "word"
    known_share: float  # of `count`, in the training text (0 when count is 0)
    new_share: float  # of `count`, not in it
    distinct_chars: int  # every character of the sample, newlines and the unfinished tail included
    repeat_share: float  # of `count`, the same as an earlier one in this sample
    count: int  # finished lines (or words) looked at

    def summary(self, compact: bool = False) -> str:
        """One line: "12 lines: 25% in the training set, 75% new · 24 distinct chars · 0% repeats"; compact
        for a narrow column: "12 lines · 75% new · 0% repeats"."""
        units = f"{self.count} {self.unit}{'' if self.count == 1 else 's'}"
        chars = f"{self.distinct_chars} distinct char{'' if self.distinct_chars == 1 else 's'}"
        if not self.count:
            return f"no finished {self.unit}s yet" if compact else f"no finished {self.unit}s yet · {chars}"
        new, repeats = _percent(self.new_share), _percent(self.repeat_share)
        if compact:
            return f"{units} · {new} new · {repeats} repeats"
        where = "set" if self.unit == "line" else "text"
        return f"{units}: {_percent(self.known_share)} in the training {where}, {new} new · {chars} · {repeats} repeats"


def _percent(share: float) -> str:
    """A share as a whole percentage that never says 0% or 100% of something that is not."""
    if share <= 0.0:
        return "0%"
    if share >= 1.0:
        return "100%"
    rounded = round(share * 100)
    return "<1%" if rounded == 0 else ">99%" if rounded == 100 else f"{rounded}%"


class NoveltyIndex:
    """The lines and words of a training text, to tell what a sample copies from what it makes up.

    The unit is chosen by the text's shape (`is_line_shaped`) unless given. Lines compare exactly, apart
    from whitespace at their ends; words as `words` makes them (punctuation off their ends, any case).
    The set for the unit is built here (tinyshakespeare, 1.1 MB: well under a second; build it off the
    UI thread all the same); the other one on first use. Pass the text as shown to the user, the prompt
    included: a sample's first line or word is taken to start where the text starts.
    """

    def __init__(self, training_text: str, unit: str | None = None):
        if unit is None:
            unit = "line" if is_line_shaped(training_text) else "word"
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
        self.unit = unit
        self._text = training_text
        getattr(self, f"{unit}s")  # build the unit's set now

    @cached_property
    def lines(self) -> frozenset[str]:
        """The training text's non-blank lines, stripped of whitespace at their ends."""
        return frozenset(key for key in (line.strip() for line in self._text.split("\n")) if key)

    @cached_property
    def words(self) -> frozenset[str]:
        return frozenset(words(self._text))

    def is_known_line(self, line: str) -> bool:
        return line.strip() in self.lines

    def is_known_word(self, word: str) -> bool:
        return word.casefold().strip(_non_alphanumeric(word.casefold())) in self.words

    def mark_lines(self, sample: str) -> list[tuple[str, bool]]:
        """Each finished, non-blank line of the sample (without its newline) and whether the training text
        has it. The text after the sample's last newline is unfinished and left out."""
        return [(line, key in self.lines) for line, key in _line_items(sample)]

    def mark_words(self, sample: str) -> list[tuple[str, bool]]:
        """Each finished word of the sample (punctuation stripped from its ends, its case kept) and whether
        the training text has it in any case. A last word with nothing after it is unfinished: left out."""
        return [(word, key in self.words) for word, key in _word_items(sample)]

    def stats(self, sample: str) -> NoveltyStats:
        """The sample summed up in the index's unit: its finished lines for a line-shaped text, else words."""
        items = _line_items(sample) if self.unit == "line" else _word_items(sample)
        known = self.lines if self.unit == "line" else self.words
        keys = [key for _, key in items]
        count = len(keys)
        n_known = sum(key in known for key in keys)
        n_repeats = count - len(set(keys))
        return NoveltyStats(
            unit=self.unit,
            known_share=n_known / count if count else 0.0,
            new_share=(count - n_known) / count if count else 0.0,
            distinct_chars=len(set(sample)),
            repeat_share=n_repeats / count if count else 0.0,
            count=count,
        )


@lru_cache(maxsize=4)
def novelty_index(training_text: str) -> NoveltyIndex:
    """The index of a text, built once however many views ask for it (a string hashes once, so the lookup
    is cheap even for a long text). Call it off the UI thread the first time."""
    return NoveltyIndex(training_text)
