"""Texts of one item a line are trained as items (issue 25): each line starts from a padded context, ends by
predicting its line break and never sees the line before; prompts, the odds and samples start where training did."""

import json
import random

import pytest

from core.checkpoint import load_checkpoint
from core.corpora import resolve_corpus
from core.data import Corpus, CorpusError
from core.inside import next_char_odds
from core.run import Run
from core.sampling import Sampler, prepare_prompt
from core.settings import RunConfig

NAMES = "emma\nolivia\nava\nisabella\nsophia\ncharlotte\nmia\namelia\nharper\nevelyn\nabigail\nemily\n" * 30


def test_the_default_follows_the_text():
    assert resolve_corpus("names").items == "lines"
    for prose in ("proverbs", "shakespeare", "alice", "rabbit_hole"):
        assert resolve_corpus(prose).items == "stream", prose
    assert RunConfig.preset("course").items == "stream" and RunConfig().items == "auto"


@pytest.mark.parametrize("method", ["spread", "tail"])
def test_no_context_reaches_into_the_line_before_and_each_line_starts_from_padding(method):
    text = "".join(f"{name}{k}\n" for k, name in enumerate(NAMES.split("\n")[:-1]))  # each line unlike the others
    corpus, context = Corpus(text, "names"), 5
    split = corpus.split(context, 0.2, seed=3, method=method, items="lines")
    lines = [line + "\n" for line in text.split("\n")[:-1]]
    held = set()
    for examples in (split.train, split.validation):
        seen = [(corpus.vocab.decode(c), corpus.vocab.idx_to_char[t]) for c, t in examples]
        k = 0
        while k < len(seen):  # one line after another: its first example all padding, then the line so far
            context_text, target = seen[k]
            assert context_text == "\n" * context  # a line's first character follows padding only
            (line,) = [line for line in lines if line.startswith(target) and line not in held and
                       all(seen[k + i][1] == char for i, char in enumerate(line) if k + i < len(seen))][:1]
            held.add(line)
            for i, char in enumerate(line):  # ... then the line so far, never the one before
                assert seen[k + i] == (("\n" * context + line[:i])[-context:], char)
            k += len(line)
    assert held == set(lines)  # every line, each character and its line break a target once
    assert len(split.train) + len(split.validation) == len(text)


def test_stream_is_the_courses_way_unchanged():
    corpus = Corpus(NAMES, "names")
    stream = corpus.split(5, 0.2, seed=3, method="spread", items="stream")
    default = corpus.split(5, 0.2, seed=3, method="spread")
    assert list(stream.train) == list(default.train) and list(stream.validation) == list(default.validation)
    assert any(corpus.vocab.decode(c).count("\n") == 1 and not corpus.vocab.decode(c).startswith("\n")
               for c, _ in stream.train)  # contexts run across names


def test_a_one_line_text_cannot_be_cut_in_lines():
    with pytest.raises(CorpusError, match="one line"):
        Corpus("abcdefghijklmnop" * 20, "x").split(4, 0.0, items="lines")


class Recording(Sampler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.contexts = []

    def next_index(self, context, temperature=1.0, top_k=None, **kwargs):
        self.contexts.append(list(context))
        return super().next_index(context, temperature, top_k, **kwargs)


def test_sampling_starts_each_line_from_the_padding_training_started_it_from():
    run = Run.new(Corpus(NAMES, "names"), RunConfig(context_length=4, embed_dim=4, hidden_dim=8, items="lines",
                                                    max_steps=300, learning_rate=0.1))
    run.trainer.run(max_steps=300)
    vocab, nl = run.corpus.vocab, run.corpus.vocab.char_to_idx["\n"]
    for prompt_text in ("", "noah\n", "xyz\nem"):
        prompt = prepare_prompt(prompt_text, vocab, 4, run.items)
        sampler = Recording(run.trainer.snapshot(), vocab, seed=1)
        text = "".join(sampler.stream(prompt, 60, 1.0))
        line = prompt.text.rpartition("\n")[2]
        assert vocab.decode(sampler.contexts[0]) == ("\n" * 4 + line)[-4:]
        for k, char in enumerate(text[:-1]):
            if char == "\n":
                assert sampler.contexts[k + 1] == [nl] * 4  # a new line: padding again, as in training
    assert prepare_prompt("ab", vocab, 4, "stream").context != prepare_prompt("ab", vocab, 4, "lines").context \
        or vocab.padding_char() == "\n"


def test_the_odds_of_an_empty_context_are_the_texts_first_letters():
    """A synthetic text of one item a line whose first letters are known (a 50%, b 30%, c 20%) and whose other
    letters are not those: trained a line at a time, the empty context's odds come within 0.15 in total variation."""
    rng = random.Random(0)
    first = {"a": 0.5, "b": 0.3, "c": 0.2}
    items = ["".join([rng.choices(list(first), list(first.values()))[0],
                      *rng.choices("xyzw", k=rng.randint(2, 5))]) for _ in range(600)]
    corpus = Corpus("\n".join(items) + "\n", "synthetic")
    distances = {}
    for items in ("lines", "stream"):
        config = RunConfig(context_length=4, embed_dim=6, hidden_dim=24, n_hidden=1, items=items, max_steps=6000,
                           learning_rate=0.05, lr_schedule="cosine", lr_decay=0.02, validation_fraction=0.0)
        run = Run.new(corpus, config)
        run.trainer.run(max_steps=6000)
        odds = next_char_odds(run.trainer.snapshot(), corpus.vocab, "", items=run.items)
        assert odds.line_start == (items == "lines") and odds.context == "\n" * 4
        p = dict(odds.odds)
        distances[items] = 0.5 * sum(abs(p.get(c, 0.0) - first.get(c, 0.0)) for c in corpus.vocab.chars)
    assert distances["lines"] < 0.15, distances
    assert distances["stream"] > 0.3, distances  # the same empty context, never seen in a stream's training


def test_a_checkpoint_keeps_how_its_text_was_cut_and_an_older_one_was_a_stream(tmp_path):
    run = Run.new(Corpus(NAMES, "names"), RunConfig(context_length=4, embed_dim=4, hidden_dim=8, max_steps=20))
    run.trainer.run(max_steps=20)
    path = run.save(tmp_path / "lines.json")
    data = json.loads(path.read_text())
    assert data["settings"]["items"] == "auto" and data["corpus"]["items"] == "lines"
    assert load_checkpoint(path).config.items == "auto"
    data["version"] = 5  # written before the setting: its run was a stream
    del data["settings"]["items"], data["corpus"]["items"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = load_checkpoint(tmp_path / "old.json")
    assert old.config.items == "stream"
    assert Run.resume(old, run.corpus).items == "stream"
