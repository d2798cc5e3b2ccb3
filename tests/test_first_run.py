"""The first run a learner sees: the defaults learn visibly, a tiny text says why it has no validation,
presets bring their own text, and budgets are steps (not epochs of whatever corpus is chosen)."""

import json

from charlm_tui.cli import main
from core.corpora import DEFAULT_CORPUS, resolve_corpus
from core.data import MIN_VALIDATION_EXAMPLES
from core.sampling import starter_prompt
from core.settings import PRESETS, RunConfig


def headless_events(capsys, *flags: str) -> list[dict]:
    assert main(["--headless", "--json", "--sample", "0", *flags]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_the_defaults_lower_the_validation_loss_not_only_the_training_loss(capsys):
    # ~30 s of the app's training on a busy 2-core machine is well over 6,000 steps
    events = headless_events(capsys, "--steps", "6000", "--print-every", "6000")
    validation = [e["loss"] for e in events if e["event"] == "validation"]
    assert len(validation) == 6000 // RunConfig.preset("default").eval_every
    assert validation[-1] < validation[0] - 0.3, validation


def test_the_default_corpus_has_a_validation_set_and_a_budget_in_steps():
    config = RunConfig.preset("default")
    split = resolve_corpus(DEFAULT_CORPUS).split(config.context_length, config.validation_fraction)
    assert len(split.validation) >= MIN_VALIDATION_EXAMPLES and not split.note
    assert config.max_steps and config.epochs is None  # an epoch of tinyshakespeare is a million steps


def test_a_text_too_small_to_hold_some_out_trains_on_all_of_it_and_says_why(capsys):
    assert main(["--headless", "--corpus", "proverbs", "--steps", "300", "--print-every", "300", "--sample", "0"]) == 0
    out = capsys.readouterr().out
    assert "215 training / 0 validation examples" in out
    assert "validation off: 10% of proverbs is 21 examples" in out
    assert "validation at step" not in out


def test_the_split_holds_out_a_tail_once_it_is_big_enough():
    corpus = resolve_corpus("names")
    enough = MIN_VALIDATION_EXAMPLES / (len(corpus.examples(8)) - 1)
    assert len(corpus.split(8, enough * 1.01).validation) >= MIN_VALIDATION_EXAMPLES
    assert len(corpus.split(8, enough * 0.9).validation) == 0


def test_the_course_preset_brings_the_course_text(capsys):
    assert PRESETS["course"].corpus == "proverbs"
    events = headless_events(capsys, "--preset", "course", "--print-every", "1000")
    stopped = next(e for e in events if e["event"] == "stopped")
    assert stopped["reason"] == "finished" and stopped["step"] == 3 * 215  # the course's 3 epochs of its 5 lines


def test_epochs_alone_bound_a_run_by_epochs(capsys):
    events = headless_events(capsys, "--corpus", "proverbs", "--epochs", "2", "--print-every", "1000")
    assert next(e for e in events if e["event"] == "stopped")["step"] == 2 * 215


def test_a_prompt_is_drawn_from_the_corpus():
    assert starter_prompt(resolve_corpus("proverbs").text) == "The "
    assert starter_prompt(resolve_corpus("shakespeare").text) == "First "
    assert starter_prompt(resolve_corpus("names").text) == ""  # a name starts at the start of a line
