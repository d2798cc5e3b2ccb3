"""The command line: headless training, its output, its errors, and the course's own main()."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from charlm_tui.cli import main
from charlm_tui.headless import progress_interval
from core.checkpoint import load_checkpoint
from core.settings import RunConfig

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charlm_tui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_headless_600_steps_prints_falling_loss_and_exits_0():
    result = run_cli("--headless", "--corpus", "proverbs", "--steps", "600", "--print-every", "60", "--sample", "50")
    assert result.returncode == 0, result.stderr
    losses = [float(m) for m in re.findall(r"^step \d+/600 .* avg ([\d.]+)", result.stdout, re.M)]
    assert len(losses) == 10
    assert losses[-1] < losses[0] - 0.2, losses
    assert "training finished after 600 steps" in result.stdout
    assert "--- sample" in result.stdout


def test_without_print_every_a_run_prints_about_100_progress_lines(capsys):
    assert main(["--headless", "--corpus", "proverbs", "--context", "3", "--embed", "4", "--hidden", "8",
                 "--steps", "12000", "--sample", "0"]) == 0
    steps = [int(m) for m in re.findall(r"^step (\d+)/12000 ", capsys.readouterr().out, re.M)]
    assert len(steps) == 100 and steps[:2] == [120, 240] and steps[-1] == 12000
    assert [progress_interval(n) for n in (600, 12_345, 410_644, None)] == [50, 120, 4110, 1000]


def test_json_lines_are_json(capsys):
    assert main(["--headless", "--corpus", "proverbs", "--steps", "30", "--json", "--print-every", "10", "--sample", "15",
                 "--prompt", "The"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    start = events[0]  # what the text's first lines say
    assert start["event"] == "start" and start["corpus"] == "proverbs" and start["step"] == 0
    assert start["parameters"] == RunConfig.preset("default").build_model(start["vocabulary"]).num_parameters()
    assert start["settings"]["max_steps"] == 30 and start["train_examples"] + start["validation_examples"] > 200
    assert [e["step"] for e in events if e["event"] == "step"] == [10, 20, 30]
    assert events[-3]["event"] == "stopped" and events[-3]["reason"] == "finished"
    assert events[-2]["event"] == "saved" and events[-2]["path"].endswith("charlm-tui/headless-autosave.json")  # no --save
    assert events[-1]["event"] == "sample" and events[-1]["text"].startswith("The") and len(events[-1]["text"]) == 18


@pytest.mark.parametrize("args,message", [
    (["--lr", "-1"], "--lr: lr must be a number from 1e-06 to 10, not -1"),
    (["--steps", "ten"], "--steps: max steps: 'ten' is not a whole number"),
    (["--context", "0"], "--context: context must be a whole number from 1 to 64, not 0"),
    (["--activation", "gelu"], "--activation: invalid choice"),
    (["--val-fraction", "1.5"], "--val-fraction: val frac must be a number from 0 to 0.9, not 1.5"),
    (["--corpus", "no-such-corpus"], "no bundled corpus or file called 'no-such-corpus'"),
    (["--resume", "/nonexistent/ckpt.json"], "no such checkpoint file"),
    (["--context", "64", "--corpus", "proverbs", "--val-fraction", "0"], None),  # valid: 223 chars > 64
])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
    if message is None:
        assert main(["--headless", "--steps", "2", "--sample", "0", *args]) == 0
        return
    with pytest.raises(SystemExit) as exit_info:
        main(["--headless", "--steps", "2", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_save_then_resume_matches_an_uninterrupted_run(tmp_path, capsys):
    common = ["--headless", "--sample", "0", "--seed", "5", "--context", "4", "--embed", "6", "--hidden", "16"]
    assert main([*common, "--steps", "150", "--save", str(tmp_path / "straight.json")]) == 0
    assert main([*common, "--steps", "70", "--save", str(tmp_path / "half.json")]) == 0
    assert main(["--headless", "--sample", "0", "--resume", str(tmp_path / "half.json"), "--steps", "150",
                 "--save", str(tmp_path / "resumed.json")]) == 0
    straight, resumed = load_checkpoint(tmp_path / "straight.json"), load_checkpoint(tmp_path / "resumed.json")
    assert resumed.state.step == 150
    assert resumed.model.weights() == straight.model.weights()


def test_help_shows_defaults():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "--headless" in result.stdout and "[0.01]" in result.stdout and "proverbs" in result.stdout


def test_the_course_main_runs_and_prints_the_course_lines():
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "fixtures" / "course_main.py")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Vocabulary size: 32\n" in out
    assert "Encoded length: 223\n" in out
    assert "Number of examples: 215\n" in out
    assert "Model parameters: 54560\n" in out
    assert "Training model with 54560 parameters\n" in out
    assert re.search(r"^Epoch 1, Example 50/215, Avg Loss: \d\.\d{4}$", out, re.M)
    assert re.search(r"^Epoch 3 complete\. Loss: \d\.\d{4}, Perplexity: \d+\.\d\d$", out, re.M)
    assert re.search(r"^Generated: 'The quick.{100}'$", out, re.M | re.S)


def test_core_never_imports_a_ui_library():
    code = "import sys, pkgutil, importlib, core\n" \
           "[importlib.import_module('core.' + m.name) for m in pkgutil.iter_modules(core.__path__)]\n" \
           "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich'))\n" \
           "print(bad)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    for path in (ROOT / "core").rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(textual|rich)\b", source, re.M), path
        assert "pickle" not in source, path


def test_headless_does_not_need_textual():
    code = "import sys; sys.modules['textual'] = None\nfrom charlm_tui.cli import main\n" \
           "sys.exit(main(['--headless', '--steps', '3', '--sample', '5']))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_resume_alone_finds_the_checkpoints_corpus_and_extends_it(tmp_path, capsys):
    """The README's example: a finished run on names carries on for more epochs, no --corpus needed."""
    ckpt = str(tmp_path / "names.json")
    assert main(["--headless", "--corpus", "names", "--context", "3", "--embed", "4", "--hidden", "8", "--steps", "40",
                 "--sample", "0", "--save", ckpt]) == 0
    capsys.readouterr()
    assert main(["--headless", "--resume", ckpt, "--steps", "70", "--sample", "0", "--save", ckpt]) == 0
    out = capsys.readouterr().out
    assert "corpus names:" in out and "starting at step 40" in out and "training finished after 70 steps" in out
    assert load_checkpoint(ckpt).state.step == 70
    assert main(["--headless", "--resume", ckpt, "--steps", "70", "--sample", "5"]) == 0  # nothing left: still samples
    out = capsys.readouterr().out
    assert "budget is used up (its max steps, 70, are done)" in out and "--- sample" in out


@pytest.mark.parametrize("flags", [["--hidden", "9"], ["--preset", "course"], ["--val-fraction", "0.2"], ["--seed", "4"]])
def test_resume_refuses_flags_it_cannot_apply(tmp_path, capsys, flags):
    ckpt = str(tmp_path / "c.json")
    assert main(["--headless", "--steps", "5", "--sample", "0", "--save", ckpt]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["--headless", "--resume", ckpt, *flags])
    assert exit_info.value.code == 2
    assert f"{flags[0]} cannot change a resumed run" in capsys.readouterr().err


def test_a_large_validation_fraction_saved_headless_resumes(tmp_path, capsys):
    ckpt = str(tmp_path / "v.json")
    assert main(["--headless", "--steps", "20", "--val-fraction", "0.6", "--sample", "0", "--save", ckpt]) == 0
    assert main(["--headless", "--resume", ckpt, "--steps", "30", "--sample", "0", "--save", ckpt]) == 0
    assert load_checkpoint(ckpt).state.step == 30 and load_checkpoint(ckpt).config.validation_fraction == 0.6


def test_several_temperatures_give_one_sample_each_reproducibly_with_their_novelty(capsys):
    argv = ["--headless", "--steps", "300", "--print-every", "1000", "--json", "--sample", "80",
            "--temperature", "0.5,1,1.5"]
    samples = []
    for _ in range(2):
        assert main(argv) == 0
        samples.append([json.loads(line) for line in capsys.readouterr().out.splitlines()
                        if json.loads(line)["event"] == "sample"])
    first, again = samples
    assert [s["temperature"] for s in first] == [0.5, 1.0, 1.5]
    assert [s["text"] for s in first] == [s["text"] for s in again]  # the same weights and seed: the same samples
    assert len({s["text"] for s in first}) == 3  # the temperature changes what is drawn
    assert all("in the training set" in s["novelty"] or "no finished lines" in s["novelty"] for s in first)


def test_a_bad_temperature_in_the_list_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--headless", "--temperature", "0.5,9"])
    assert exit_.value.code == 2 and "temp" in capsys.readouterr().err


def test_next_prints_the_checkpoints_odds_for_the_next_character(tmp_path, capsys):
    from core.corpora import resolve_corpus
    from core.inside import next_char_odds
    from core.run import Run

    ckpt = str(tmp_path / "n.json")
    assert main(["--headless", "--steps", "300", "--sample", "0", "--save", ckpt]) == 0
    capsys.readouterr()
    assert main(["--headless", "--resume", ckpt, "--next", "Em", "--json"]) == 0
    (shown,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = next_char_odds(Run.load(ckpt, resolve_corpus("names")).trainer.snapshot(),
                              resolve_corpus("names").vocab, "Em", 1.0)
    assert shown["odds"] == [list(pair) for pair in expected.odds] and shown["temperature"] == 1.0
    assert shown["skipped"] == "E" and shown["step"] == 300  # names have no capitals: said, not fatal
    assert main(["--resume", ckpt, "--next", "em", "--temperature", "0"]) == 0  # implies --headless
    table = capsys.readouterr().out.splitlines()
    assert "temperature 0" in table[0] and "100.0%" in table[1]  # greedy: all on the likeliest


@pytest.mark.parametrize("flags, words", [(["--steps", "5"], "--next trains nothing, so it has no use for --steps"),
                                          (["--lr-find"], "two different things")])
def test_next_refuses_flags_it_would_ignore(capsys, flags, words):
    with pytest.raises(SystemExit) as exit_:
        main(["--next", "em", *flags])
    assert exit_.value.code == 2 and words in capsys.readouterr().err


def test_more_temperatures_than_the_app_compares_are_refused_alike(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--headless", "--steps", "5", "--temperature", "1,1,1,1,1,1,1"])
    assert exit_.value.code == 2 and "at most 5 temperatures side by side, not 7" in capsys.readouterr().err
