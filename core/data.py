"""Text → vocabulary → token indices → (context, target) examples.

The course's functions (`build_vocab`, `encode`, `decode`, `create_examples`) keep their names and
results, with one change: `create_examples` returns a lazy view. An example is just a position in
the encoded text; its context is sliced out when asked for, so a 5 MB corpus costs 5 MB of bytes,
not millions of little lists.
"""

from __future__ import annotations

import hashlib
import os
import random
import stat
from abc import abstractmethod
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate
from pathlib import Path

from core.places import OutsideError, readable


class CorpusError(ValueError):
    """A text that cannot be trained on, with a message that says why and what to do."""


# --- the course's API --------------------------------------------------------------------------


def build_vocab(text: str) -> tuple[dict[str, int], dict[int, str]]:
    """Character ↔ index maps over the sorted distinct characters."""
    chars = sorted(set(text))
    char_to_idx = {c: i for i, c in enumerate(chars)}
    idx_to_char = {i: c for c, i in char_to_idx.items()}
    return char_to_idx, idx_to_char


def encode(text: str, char_to_idx: dict[str, int]) -> Sequence[int]:
    """Token indices of `text`: bytes when the vocabulary fits in 256, else an array of ints."""
    if len(char_to_idx) <= 256:
        table = {ord(c): i for c, i in char_to_idx.items()}
        return text.translate(table).encode("latin-1")  # each char becomes one byte: its index
    return array("I", (char_to_idx[c] for c in text))


def decode(indices, idx_to_char: dict[int, str]) -> str:
    return "".join(idx_to_char[i] for i in indices)


class Examples(Sequence):
    """(context, target) pairs of an encoded text, made when asked for: example i is the target at
    `target_position(i)` with the `context_length` tokens before it."""

    encoded: Sequence[int]
    context_length: int

    @abstractmethod
    def target_position(self, i: int) -> int:
        """Where in the encoded text example i's target is."""

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("example index out of range")
        return self._example(i)

    def _example(self, i: int) -> tuple[list[int], int]:
        pos = self.target_position(i)
        return list(self.encoded[pos - self.context_length : pos]), self.encoded[pos]


class ExampleView(Examples):
    """The (context, target) pairs for target positions [start, stop) of an encoded text, made on demand."""

    def __init__(self, encoded: Sequence[int], context_length: int, start: int | None = None, stop: int | None = None):
        self.encoded = encoded
        self.context_length = context_length
        self.start = context_length if start is None else max(start, context_length)
        self.stop = len(encoded) if stop is None else min(stop, len(encoded))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def target_position(self, i: int) -> int:
        return self.start + i


class SpanView(Examples):
    """The (context, target) pairs whose targets lie in some spans [start, stop) of an encoded text, in
    text order: what a split that is not one contiguous piece holds. Made on demand, like ExampleView."""

    def __init__(self, encoded: Sequence[int], context_length: int, spans: list[tuple[int, int]]):
        self.encoded = encoded
        self.context_length = context_length
        self.spans = [(start, stop) for start, stop in spans if stop > start]
        self._offsets = list(accumulate(stop - start for start, stop in self.spans))  # examples up to each span's end

    def __len__(self) -> int:
        return self._offsets[-1] if self._offsets else 0

    def target_position(self, i: int) -> int:
        span = bisect_right(self._offsets, i)
        return self.spans[span][1] - (self._offsets[span] - i)


class ItemView(Examples):
    """The (context, target) pairs of whole items (a text's lines, as makemore's names): every character of an item
    and its closing line break is a target, and a context never reaches before the item's start — it is padded
    there with `pad` (the line break, makemore's "."), so an item's first character follows `pad` × context."""

    def __init__(self, encoded: Sequence[int], context_length: int, spans: list[tuple[int, int]], pad: int):
        self.encoded = encoded
        self.context_length = context_length
        self.pad = pad
        self.spans = [(start, stop) for start, stop in spans if stop > start]
        self._offsets = list(accumulate(stop - start for start, stop in self.spans))

    def __len__(self) -> int:
        return self._offsets[-1] if self._offsets else 0

    def target_position(self, i: int) -> int:
        return self._item_and_position(i)[1]

    def _item_and_position(self, i: int) -> tuple[int, int]:
        item = bisect_right(self._offsets, i)
        return self.spans[item][0], self.spans[item][1] - (self._offsets[item] - i)

    def _example(self, i: int) -> tuple[list[int], int]:
        start, pos = self._item_and_position(i)
        seen = list(self.encoded[max(start, pos - self.context_length): pos])
        return [self.pad] * (self.context_length - len(seen)) + seen, self.encoded[pos]


def create_examples(encoded: Sequence[int], context_length: int) -> ExampleView:
    """Every (previous context_length tokens, next token) pair, as a lazy view."""
    return ExampleView(encoded, context_length)


# --- corpora -----------------------------------------------------------------------------------


class Vocabulary:
    """The characters a model knows, in index order."""

    def __init__(self, chars: str):
        self.chars = chars
        self.char_to_idx = {c: i for i, c in enumerate(chars)}
        self.idx_to_char = dict(enumerate(chars))

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self.char_to_idx

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and other.chars == self.chars

    def encode(self, text: str) -> Sequence[int]:
        return encode(text, self.char_to_idx)

    def decode(self, indices) -> str:
        return decode(indices, self.idx_to_char)

    def padding_char(self) -> str:
        """What pads a short prompt: a space if the vocabulary has one, else a newline, else its first char."""
        for c in (" ", "\n"):
            if c in self.char_to_idx:
                return c
        return self.chars[0]


MIN_VALIDATION_EXAMPLES = 100  # fewer held-out examples measure noise, not how well the model generalises
SPLITS = ("spread", "tail")  # how the held-out examples are chosen (see Corpus.split)
PARAGRAPH_CHARS = 512  # prose is held out in runs of whole paragraphs of at least this many characters
FEWEST_UNITS = 10  # a text of fewer lines or paragraphs (one long line: minified text) is held out in pieces
ITEMS = ("auto", "lines", "stream")  # how examples are cut from a text (see Corpus.split); auto: as the text is
SHORT_ITEM = 32  # a text whose lines average at most this many characters (names, words) is one item a line


@dataclass(frozen=True)
class Split:
    train: Sequence
    validation: Sequence
    note: str = ""  # why there is no validation, when a fraction was asked for and the text is too small


class Corpus:
    """A text with its vocabulary and encoding."""

    def __init__(self, text: str, name: str = "text", source: str | None = None):
        if not text:
            raise CorpusError(f"{name} is empty: choose a file with some text in it.")
        self.name = name
        self.source = source  # the file it came from, when it came from one
        self.text = text
        self.vocab = Vocabulary.from_text(text)
        self.encoded = self.vocab.encode(text)

    def __len__(self) -> int:
        return len(self.text)

    @cached_property
    def fingerprint(self) -> str:
        """Names this exact text (a checkpoint keeps it, to know the text it was trained on)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]

    def check_context(self, context_length: int) -> None:
        if len(self.text) <= context_length:
            raise CorpusError(
                f"{self.name} has {len(self.text)} characters, too few for a context of {context_length}: "
                "use a longer text or a shorter context."
            )

    def examples(self, context_length: int) -> ExampleView:
        self.check_context(context_length)
        return ExampleView(self.encoded, context_length)

    @cached_property
    def items(self) -> str:
        """How this text is best cut into examples: "lines" for one short item a line with no blank line inside
        (names), "stream" for anything else (prose, verse, the course's five lines)."""
        lines = self.text.strip("\n").split("\n")
        short = len(lines) >= FEWEST_UNITS and sum(map(len, lines)) / len(lines) <= SHORT_ITEM
        return "lines" if short and "" not in lines else "stream"

    def split(self, context_length: int, validation_fraction: float, seed: int = 0, method: str = "tail",
              items: str = "stream") -> Split:
        """Examples for training and for validation (`validation_fraction` of them).

        `items`: "stream" — the course's way, contexts running through the whole text; "lines" — each line an
        item, as makemore's names (see ItemView): its examples start from a padded context and end by predicting
        the line break; "auto": as the text is (`self.items`).

        "tail": the last examples, one contiguous piece (the course's way, and checkpoints before v3).
        "spread": whole units of the text drawn at random (the same for the same seed) from all through
        it — its lines, for a text of one item a line (names); runs of paragraphs for prose — so the
        held-out part is not one region of the file (the names file is sorted by popularity: its tail
        is the rare names). A text too small to hold out MIN_VALIDATION_EXAMPLES trains on everything,
        and the split says why."""
        if not 0.0 <= validation_fraction < 1.0:
            raise ValueError(f"validation fraction must be in [0, 1), not {validation_fraction}")
        if method not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {method!r}")
        if items not in ITEMS:
            raise ValueError(f"items must be one of {', '.join(ITEMS)}, not {items!r}")
        if (self.items if items == "auto" else items) == "lines":
            return self._split_lines(context_length, validation_fraction, seed, method)
        everything = self.examples(context_length)
        wanted = int(len(everything) * validation_fraction)
        if 0 < validation_fraction and wanted < MIN_VALIDATION_EXAMPLES:
            note = (f"validation off: {validation_fraction:.0%} of {self.name} is {wanted} examples, under the "
                    f"{MIN_VALIDATION_EXAMPLES} needed to judge unseen text, so all of it trains, and is learnt by "
                    "heart: watch the samples")
            return Split(everything, ExampleView(self.encoded, context_length, everything.stop), note)
        if method == "tail" or wanted == 0:
            cut = everything.stop - wanted
            return Split(ExampleView(self.encoded, context_length, everything.start, cut),
                         ExampleView(self.encoded, context_length, cut, everything.stop))
        units = self._units()
        order = list(range(len(units)))
        random.Random(f"split:{seed}").shuffle(order)
        held, count = set(), 0
        for u in order:
            if count >= wanted:
                break
            held.add(u)
            start, stop = units[u]
            count += max(0, stop - max(start, context_length))
        spans = ([], [])  # train, validation
        for u, (start, stop) in enumerate(units):
            spans[u in held].append((max(start, context_length), stop))
        split = Split(SpanView(self.encoded, context_length, spans[0]), SpanView(self.encoded, context_length, spans[1]))
        if len(split.train) == 0:
            raise CorpusError(f"holding out {validation_fraction:.0%} of {self.name} leaves nothing to train on: use a "
                              "smaller validation fraction, or a longer text")
        return split

    def _split_lines(self, context_length: int, validation_fraction: float, seed: int, method: str) -> Split:
        """`split` with each line an item: whole lines held out (the last ones, or drawn by seed: "spread")."""
        if "\n" not in self.vocab:
            raise CorpusError(f"{self.name} is one line: it cannot be trained a line at a time (items lines); "
                              "choose items stream")
        pad = self.vocab.char_to_idx["\n"]
        lines, start = [], 0
        for line in self.text.split("\n"):
            stop = min(start + len(line) + 1, len(self.text))  # with its line break, the item's end
            if line:  # an empty line is no item: nothing to predict but its end
                lines.append((start, stop))
            start += len(line) + 1
        order = list(range(len(lines)))
        if method == "spread":
            random.Random(f"split:{seed}").shuffle(order)
        else:
            order.reverse()
        wanted = int(sum(stop - start for start, stop in lines) * validation_fraction)
        held, count = set(), 0
        for k in order:
            if count >= wanted:
                break
            held.add(k)
            count += lines[k][1] - lines[k][0]
        if 0 < validation_fraction and wanted < MIN_VALIDATION_EXAMPLES:
            note = (f"validation off: {validation_fraction:.0%} of {self.name} is {wanted} examples, under the "
                    f"{MIN_VALIDATION_EXAMPLES} needed to judge unseen text, so all of it trains, and is learnt by "
                    "heart: watch the samples")
            return Split(ItemView(self.encoded, context_length, lines, pad), ItemView(self.encoded, context_length, [], pad),
                         note)
        spans = ([], [])  # train, validation: in text order
        for k, span in enumerate(lines):
            spans[k in held].append(span)
        split = Split(ItemView(self.encoded, context_length, spans[0], pad),
                      ItemView(self.encoded, context_length, spans[1], pad))
        if len(split.train) == 0:
            raise CorpusError(f"holding out {validation_fraction:.0%} of {self.name} leaves nothing to train on: use a "
                              "smaller validation fraction, or a longer text")
        return split

    def _units(self) -> list[tuple[int, int]]:
        """The text cut into [start, stop) pieces that end at line ends: its lines when it is one item a
        line (no blank line inside), else runs of paragraphs (split at blank lines) of PARAGRAPH_CHARS or more."""
        text = self.text
        line_shaped = "\n\n" not in text.strip("\n")
        units, start = [], 0
        while start < len(text):
            stop = text.find("\n", start if line_shaped else start + PARAGRAPH_CHARS)
            if not line_shaped and stop != -1:
                blank = text.find("\n\n", stop)  # carry on to the paragraph's end, its blank line included
                stop = blank + 1 if blank != -1 else len(text) - 1
            stop = len(text) if stop == -1 else stop + 1
            units.append((start, stop))
            start = stop
        if len(units) < FEWEST_UNITS:  # one long line would be all training or all validation: cut it in pieces
            piece = -(-len(text) // FEWEST_UNITS)
            units = [(start, min(start + piece, len(text))) for start in range(0, len(text), piece)]
        return units

    def preview(self, chars: int = 200) -> str:
        return self.text[:chars]


MAX_CORPUS_BYTES = 64 * 1024 * 1024
BOM = "\ufeff"


def read_file_text(path: str | Path, limit: int, what: str, error: type[ValueError]) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes, or `error` saying what is wrong.

    The one way a path becomes text (a corpus, a checkpoint). Only regular files: a FIFO would block
    the open and a device never ends, so both are refused before anything is read; the file is opened
    without blocking (it may be swapped between the check and the open) and read with a cap. A
    byte-order mark is dropped; Windows line ends become plain ones.
    """
    path = Path(path).expanduser()
    try:
        real = readable(path)  # where a served visitor may read
        info = real.stat()
    except OutsideError as outside:
        raise error(str(outside)) from None
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file. Check the path.") from None
    except OSError as problem:
        raise error(f"{path} cannot be read ({problem.strerror or problem}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path} is a directory: choose a {what} file inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path} is not a regular file (a device, a pipe or a socket): choose a {what} file.")
    if info.st_size > limit:
        raise error(f"{path} is {info.st_size / 2**20:.0f} MB; the limit is {limit / 2**20:.0f} MB: use a smaller {what}.")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as file:
            opened = os.fstat(file.fileno())
            if not stat.S_ISREG(opened.st_mode):
                raise error(f"{path} is not a regular file: choose a {what} file.")
            raw = file.read(min(opened.st_size, limit) + 1)  # read(n) allocates n bytes up front
    except OSError as problem:
        raise error(f"{path} cannot be read ({problem.strerror or problem}).") from None
    if len(raw) > limit:
        raise error(f"{path} is over {limit / 2**20:.0f} MB, the limit: use a smaller {what}.")
    if b"\x00" in raw:
        raise error(f"{path} looks binary (it has NUL bytes): choose a {what} file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise error(f"{path} is not UTF-8 text (bad byte at offset {problem.start}): save it as UTF-8.") from None
    return text.removeprefix(BOM).replace("\r\n", "\n")


def read_text(path: str | Path) -> str:
    """A corpus file's text, or a CorpusError that says what is wrong with the file. A text whose lines end
    only in CR (old Macs) or in Unicode's line separator gets line breaks, as Python's own reading gives it."""
    text = read_file_text(path, MAX_CORPUS_BYTES, "text", CorpusError)
    if not text:
        raise CorpusError(f"{Path(path).expanduser()} is empty: choose a file with some text in it.")
    if "\n" not in text:
        text = text.replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    return text


def load_corpus(path: str | Path, name: str | None = None) -> Corpus:
    path = Path(path).expanduser()
    return Corpus(read_text(path), name or path.name, str(path.resolve()))
