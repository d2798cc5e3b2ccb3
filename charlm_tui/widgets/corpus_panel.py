"""Corpus panel: pick a bundled text or open a file; see its size, vocabulary, examples and a preview."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from charlm_tui.messages import CorpusChosen
from charlm_tui.widgets.paths import PathInput
from core.corpora import DESCRIPTIONS, bundled_corpora, resolve_corpus, served_corpora
from core.data import Corpus, CorpusError, load_corpus
from core.settings import RunConfig
from core.visible import visible


class CorpusPanel(Vertical):
    """A new corpus posts CorpusChosen; a bad file leaves the current corpus selected and says why."""

    VIEW = "setup"
    corpus: reactive[Corpus | None] = reactive(None, init=False)
    config: reactive[RunConfig] = reactive(RunConfig.preset("default"), init=False)  # how it is split into examples

    def __init__(self, **kwargs):
        super().__init__(id="corpus", **kwargs)
        self.border_title = "Corpus"

    def compose(self) -> ComposeResult:
        yield OptionList(
            *(Option(c.name, id=c.name) for c in bundled_corpora()),
            *(Option(Text(visible(path.name)), id=str(path)) for path in served_corpora()),  # a served class's texts
            id="corpus-list",
        )
        yield PathInput(placeholder="open a file: path, ⏎", id="corpus-path", compact=True)
        yield Static(id="corpus-error", classes="error", markup=False)  # it names the file
        yield Static(id="corpus-stats")
        yield Static(id="corpus-preview")

    def choose(self, source: str) -> bool:
        """Load a bundled corpus by name or a file by path; True if it became the corpus."""
        try:
            corpus = resolve_corpus(source) if "/" not in source else load_corpus(source)
            corpus.check_context(self.config.context_length)
        except (CorpusError, OSError) as error:
            self.show_error(str(error))
            return False
        self.corpus = corpus
        return True

    def watch_corpus(self, corpus: Corpus) -> None:
        self.show_error("")
        self._highlight(corpus)
        self.refresh_stats()
        self.post_message(CorpusChosen(corpus))

    def watch_config(self) -> None:
        self.refresh_stats()

    def show_error(self, message: str) -> None:
        error = self.query_one("#corpus-error", Static)
        error.update(message)
        error.display = bool(message)

    def _highlight(self, corpus: Corpus) -> None:
        options = self.query_one("#corpus-list", OptionList)
        for index in range(options.option_count):
            if options.get_option_at_index(index).id in (corpus.name, corpus.source):
                options.highlighted = index
                return

    def refresh_stats(self) -> None:
        corpus = self.corpus
        if corpus is None:
            return
        try:
            split = self.config.split_of(corpus)
            each = "a line at a time" if self.config.items_of(corpus) == "lines" else "as a stream"
            examples = f"examples {each}: {len(split.train):,} train, {len(split.validation):,} val"
            if 0 < self.config.eval_examples < len(split.validation):
                examples += f" ({self.config.eval_examples:,} a pass)"
            if split.note:
                examples += "\n[i]too small to hold some out for validation: it trains on all of it[/]"
        except (CorpusError, ValueError) as error:
            examples = f"[b red]{escape(str(error))}[/]"
        about = DESCRIPTIONS.get(corpus.name, "your file")
        self.query_one("#corpus-stats", Static).update(
            f"[b]{escape(visible(corpus.name))}[/]: {about}\n{len(corpus):,} chars, vocab {len(corpus.vocab)}\n{examples}"
        )
        self.query_one("#corpus-preview", Static).update(Text(visible(corpus.preview(2000), lines=True)))

    @on(OptionList.OptionSelected, "#corpus-list")
    def _bundled_selected(self, event: OptionList.OptionSelected) -> None:
        if self.corpus is None or event.option.id != self.corpus.name:
            self.choose(event.option.id)

    @on(Input.Submitted, "#corpus-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            self.show_error("Type the path of a UTF-8 text file, then press Enter.")
            return
        if self.choose(str(Path(path).expanduser()) if "/" in path else f"./{path}"):
            event.input.value = ""
