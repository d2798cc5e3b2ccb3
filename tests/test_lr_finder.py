"""The learning-rate finder: a sweep on a copy, geometric lrs, its stops, its suggestion, and --lr-find."""

import json
import math
import re

import pytest

from charlm_tui.cli import main
from core.checkpoint import load_checkpoint
from core.corpora import resolve_corpus
from core.lr_finder import LRFinderResult, LRFinderRow, find_lr, sweep_lrs
from core.run import Run
from core.settings import RunConfig


@pytest.fixture(scope="module")
def names():
    return resolve_corpus("names")


def new_run(corpus, **settings) -> Run:
    return Run.new(corpus, RunConfig.preset("default").replace(**settings))


def bits(weights) -> list:
    """Every weight's exact bits (== alone would take -0.0 for 0.0)."""
    return [[[w.hex() for w in row] for row in table] for table in weights]


def test_the_sweep_leaves_the_model_and_the_trainer_exactly_as_they_were(names):
    run, twin = new_run(names), new_run(names)
    weights, state, rng = bits(run.model.weights()), run.trainer.state.to_json(), run.trainer._rng.getstate()
    result = find_lr(run, steps=200)
    assert len(result.rows) > 100  # it did train its copy
    assert bits(run.model.weights()) == weights
    assert run.trainer.state.to_json() == state and run.trainer._rng.getstate() == rng
    assert all(table.packed for table in run.model.tables())
    # and training afterwards goes exactly as it would have without the sweep
    run.trainer.run(max_steps=20)
    twin.trainer.run(max_steps=20)
    assert bits(run.model.weights()) == bits(twin.model.weights())


def test_a_model_and_examples_work_too_and_stay_untouched(names):
    run = new_run(names, context_length=3, embed_dim=4, hidden_dim=8)
    weights = bits(run.model.weights())
    examples = names.examples(3)
    result = find_lr(run.model, examples, steps=40, seed=1)
    assert len(result.rows) == 40 and bits(run.model.weights()) == weights
    with pytest.raises(ValueError, match="give the examples"):
        find_lr(run.model)


def test_the_lrs_are_geometric_and_increasing_from_lr_min_to_lr_max(names):
    result = find_lr(new_run(names), lr_min=1e-4, lr_max=1.0, steps=60)
    lrs = [row.lr for row in result.rows]
    assert len(lrs) == 60 and result.stop == "finished"
    assert lrs[0] == 1e-4 and lrs[-1] == 1.0
    assert all(a < b for a, b in zip(lrs, lrs[1:]))
    ratio = (1.0 / 1e-4) ** (1 / 59)
    assert all(b / a == pytest.approx(ratio, rel=1e-9) for a, b in zip(lrs, lrs[1:]))
    assert [row.step for row in result.rows] == list(range(1, 61))
    assert sweep_lrs(0.001, 0.1, 3) == pytest.approx([0.001, 0.01, 0.1], rel=1e-12)


def test_the_same_seed_gives_the_same_rows_and_another_seed_others(names):
    run = new_run(names)
    first, again, other = (find_lr(run, steps=80, seed=seed) for seed in (3, 3, 4))
    assert first.rows == again.rows
    assert [row.loss for row in first.rows] != [row.loss for row in other.rows]


def test_the_smoothed_loss_is_the_debiased_moving_average(names):
    result = find_lr(new_run(names), steps=30, smoothing=0.9)
    average = 0.0
    for i, row in enumerate(result.rows):
        average = 0.9 * average + 0.1 * row.loss
        assert row.smoothed == pytest.approx(average / (1 - 0.9 ** (i + 1)), rel=1e-12)
    assert result.rows[0].smoothed == result.rows[0].loss


def test_on_names_the_loss_falls_as_the_lr_grows(names):
    """The default model on names, the default sweep: flat while the lr is too small to do anything in a
    few hundred steps, then a clear fall below the start."""
    result = find_lr(new_run(names))
    start = result.rows[0].smoothed
    assert start == pytest.approx(math.log(27), abs=0.15)  # a new model guesses about uniformly
    lowest = result.lowest
    assert lowest.smoothed < start - 0.2
    assert lowest.lr > 1e-2  # the fall comes once the lr is large enough
    assert result.warmup == 19 and lowest.step > 19  # the first rows' averages of a few losses do not count
    assert not result.note


def test_the_suggestion_lies_in_the_range_below_the_lr_of_the_lowest_loss(names):
    for seed in (0, 1):
        result = find_lr(new_run(names), seed=seed)
        assert result.lr_min <= result.suggestion <= result.lr_max
        assert result.suggestion < result.lowest.lr
        assert result.suggestion == pytest.approx(result.lowest.lr / 10, rel=0.5)  # a tenth, to one figure


def made(smoothed: list[float], lr_min=1e-4, lr_max=1.0, stop="finished", warmup=0) -> LRFinderResult:
    lrs = sweep_lrs(lr_min, lr_max, len(smoothed)) if smoothed else []
    rows = tuple(LRFinderRow(i + 1, lr, s, s) for i, (lr, s) in enumerate(zip(lrs, smoothed)))
    return LRFinderResult(rows, lr_min, lr_max, len(rows), 0, 1, stop, "", warmup)


def test_the_suggestion_rule_on_made_up_curves():
    # lowest at lr 0.1 (row 4 of 1e-4, 1e-3, 1e-2, 1e-1, 1): a tenth of it
    assert made([3.0, 2.9, 2.5, 2.0, 9.0]).suggestion == pytest.approx(0.01)
    # lowest at the first lr: never above it, never below lr_min; and said so
    flat = made([2.0, 2.5, 3.0, 4.0, 5.0])
    assert flat.suggestion == 1e-4 and "no lr in the range helped" in flat.note
    # still falling at lr_max: a tenth of it, with a note
    falling = made([3.0, 2.9, 2.5, 2.0, 1.5])
    assert falling.suggestion == pytest.approx(0.1) and "still falling" in falling.note
    # rounded to one figure (lowest at lr 0.346: 0.03) ...
    assert made([3.0, 2.0, 2.5], lr_min=0.00346, lr_max=34.6).suggestion == 0.03
    # ... but never below lr_min nor above the lowest loss's lr (0.00015 rounds to 0.0001 or 0.0002)
    assert made([1.0, 2.0, 3.0], lr_min=0.00015, lr_max=0.6).suggestion == 0.00015
    assert made([]).suggestion is None and made([]).lowest is None
    # the first rows average too few losses: a lucky first example is not the sweep's lowest
    assert made([1.0, 3.0, 2.9, 2.0, 2.5], warmup=2).lowest.step == 4
    assert made([1.0, 3.0], warmup=2).lowest.step == 1  # stopped within the warm-up: every row counts


def test_a_sweep_that_diverges_stops_early(names):
    result = find_lr(new_run(names), lr_max=100.0)
    assert result.stopped_early and result.stop == "diverged" and "diverged at step" in result.message
    assert len(result.rows) < result.steps and result.rows[-1].lr < 100.0
    assert result.rows[-1].smoothed > 4 * result.lowest.smoothed
    assert all(row.smoothed <= 4 * result.lowest.smoothed for row in result.rows[result.warmup:-1])  # at the first
    assert result.suggestion < result.lowest.lr


def test_without_the_4x_rule_a_sweep_stops_at_the_first_non_finite_loss(names):
    result = find_lr(new_run(names), lr_max=1e6, diverge=1e300)
    assert result.stop == "non_finite" and len(result.rows) < result.steps
    assert all(math.isfinite(row.loss) and math.isfinite(row.smoothed) for row in result.rows)


def test_bad_arguments_are_refused(names):
    run = new_run(names)
    for kwargs in ({"lr_min": 1.0, "lr_max": 0.1}, {"lr_min": 0.0}, {"steps": 1}, {"lr_max": math.inf},
                   {"smoothing": 1.0}, {"diverge": 1.0}):
        with pytest.raises(ValueError):
            find_lr(run, **kwargs)


def test_the_table_shows_about_20_rows_the_last_and_the_lowest(names):
    result = find_lr(new_run(names))
    lines = result.table().splitlines()
    assert lines[0].split() == ["step", "lr", "loss", "smoothed"]
    assert 18 <= len(lines) - 1 <= 23
    assert lines[-1].split()[0] == str(len(result.rows))
    assert sum("← lowest" in line for line in lines) == 1
    assert len(result.table(every=1).splitlines()) == len(result.rows) + 1


def test_cli_lr_find_prints_the_table_and_the_suggestion(capsys):
    assert main(["--lr-find", "--corpus", "names", "--hidden", "32"]) == 0
    out = capsys.readouterr().out
    assert "lr sweep: 250 steps from lr 0.0001 to 1, one example a step" in out
    rows = re.findall(r"^\s+\d+\s+[\d.e-]+\s+[\d.]+\s+[\d.]+", out, re.M)
    assert 18 <= len(rows) <= 23
    suggested = re.search(r"^suggested lr: ([\d.e-]+) — set it with --lr \1 ", out, re.M)
    assert suggested and 1e-4 <= float(suggested.group(1)) <= 1.0
    assert not re.search(r"^step \d", out, re.M)  # no training lines
    assert "checkpoint saved" not in out and "training saved" not in out


def test_cli_lr_find_json_lines_parse(capsys):
    assert main(["--lr-find", "--corpus", "proverbs", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rows = [e for e in events if e["event"] == "lr_find"]
    assert [e["step"] for e in rows] == list(range(1, len(rows) + 1)) and len(rows) > 100
    assert all(set(e) == {"event", "step", "lr", "loss", "smoothed"} for e in rows)
    result = events[-1]
    assert result["event"] == "lr_find_result" and result["lr_min"] <= result["suggestion"] <= result["lowest_lr"]
    assert len(events) == len(rows) + 1


def test_cli_lr_find_sweeps_fresh_weights_of_a_checkpoints_settings_and_leaves_it(tmp_path, capsys):
    ckpt = tmp_path / "c.json"
    assert main(["--headless", "--corpus", "names", "--hidden", "16", "--steps", "30", "--sample", "0",
                 "--save", str(ckpt)]) == 0
    before = ckpt.read_bytes()
    capsys.readouterr()
    assert main(["--lr-find", "--resume", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "fresh weights of the checkpoint's settings, not the weights it has trained for 30 steps" in out
    config = load_checkpoint(ckpt).config
    fresh = find_lr(Run.new(resolve_corpus("names"), config), seed=config.seed)
    assert f"suggested lr: {fresh.suggestion:g} " in out  # the lr to train these settings from the start
    assert ckpt.read_bytes() == before and load_checkpoint(ckpt).state.step == 30


@pytest.mark.parametrize("flags,message", [
    (["--lr", "0.1"], "--lr-find sweeps the learning rate itself and trains nothing, so it has no use for --lr"),
    (["--steps", "5", "--save", "x.json"], "no use for --steps, --save: drop them"),
    (["--corpus", "no-such-corpus"], "no bundled corpus or file called 'no-such-corpus'"),
    (["--resume", "/nonexistent/ckpt.json"], "no such checkpoint file"),
])
def test_cli_lr_find_refuses_bad_combinations_in_one_line(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--lr-find", *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_the_plotted_range_is_the_start_and_the_fall_not_the_diverged_tail():
    # the warm-up row (5.0, one example) and the rise after the lowest (up to 40) are above the range
    result = made([5.0, 3.3, 3.1, 2.5, 2.0, 2.4, 9.0, 40.0], stop="diverged", warmup=1)
    assert result.plot_range == (2.0, 3.3)
    flat = made([2.0, 2.0, 2.0])
    low, high = flat.plot_range
    assert low == 2.0 and high > 2.0  # a curve with no fall still gets a range
    assert made([]).plot_range is None
