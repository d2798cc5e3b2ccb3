"""The bundled sample texts: found beside the package when installed, or in the checkout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.data import Corpus, CorpusError, load_corpus
from core.places import confinement, sample_texts_dir

DEFAULT_CORPUS = "names"  # line-shaped and big enough to hold some out: validation means something

# Shown in this order; the default first.
DESCRIPTIONS = {
    "names": "32,033 first names",
    "proverbs": "the course's 5 lines",
    "shakespeare": "Coriolanus, 100 KB",
    "alice": "Alice, ch. I–VII",
    "rabbit_hole": "Alice, ch. I: 12 KB",
    "tinyshakespeare": "Shakespeare, 1.1 MB",
}


@dataclass(frozen=True)
class BundledCorpus:
    name: str
    path: Path
    description: str


def bundled_corpora() -> list[BundledCorpus]:
    folder = sample_texts_dir()
    found = {p.stem: p for p in folder.glob("*.txt")}
    ordered = [n for n in DESCRIPTIONS if n in found] + sorted(set(found) - set(DESCRIPTIONS))
    return [BundledCorpus(n, found[n], DESCRIPTIONS.get(n, "")) for n in ordered]


def served_corpora() -> list[Path]:
    """The text files in the folders `charlm-tui serve --corpora` gives its visitors (none outside a server)."""
    rule = confinement()
    if rule is None:
        return []
    found = []
    for folder in rule.corpora:
        try:
            found += sorted(path for path in folder.glob("*.txt") if path.is_file())
        except OSError:
            continue
    return found


def is_bundled(corpus: Corpus) -> bool:
    return corpus.source is not None and Path(corpus.source).parent == sample_texts_dir()


def resolve_corpus(name_or_path: str) -> Corpus:
    """A bundled corpus by name (`names`), or any text file by path."""
    if not name_or_path.strip():
        names = ", ".join(c.name for c in bundled_corpora())
        raise CorpusError(f"the corpus is empty: name a bundled one ({names}) or give a text file's path")
    for corpus in bundled_corpora():
        if name_or_path in (corpus.name, corpus.path.name):
            return load_corpus(corpus.path, corpus.name)
    path = Path(name_or_path).expanduser()
    if not path.exists() and path.parent == Path("."):
        names = ", ".join(c.name for c in bundled_corpora())
        raise CorpusError(f"no bundled corpus or file called {name_or_path!r}; bundled: {names}")
    return load_corpus(path)
