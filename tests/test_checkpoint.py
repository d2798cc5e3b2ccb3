import json

import pytest

from core.checkpoint import CheckpointError, check_save_path, load_checkpoint
from core.data import Corpus
from core.run import ModelConfig, Run, RunConfig
from core.training import TrainConfig


@pytest.fixture
def saved(tmp_path, proverbs):
    run = Run.new(Corpus(proverbs, "proverbs"), RunConfig(ModelConfig(4, 3, 5), TrainConfig(max_steps=1000, epochs=None), 0.1))
    run.trainer.run(max_steps=30)
    path = run.save(tmp_path / "ckpt.json")
    return run, path


def test_the_file_holds_everything_to_resume(saved):
    run, path = saved
    data = json.loads(path.read_text())
    assert data["format"] == "charlm-tui-checkpoint" and data["version"] == 1
    assert data["vocab"] == run.corpus.vocab.chars
    assert data["model"]["engine"] == "fused" and data["model"]["hidden_dim"] == 5
    assert data["trainer"]["step"] == 30 and len(data["trainer"]["losses"]) == 30
    assert data["trainer"]["rng_state"] is not None and data["trainer"]["shuffle_state"] is not None
    assert data["corpus"]["name"] == "proverbs" and len(data["corpus"]["fingerprint"]) == 16
    assert sum(len(r) for t in data["weights"] for r in t) == run.model.num_parameters()


def test_write_is_atomic_and_leaves_no_temporary_file(saved, tmp_path):
    run, path = saved
    before = path.read_bytes()
    run.trainer.run(max_steps=5)
    run.save(path)
    assert path.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.json"]


def test_a_failed_write_keeps_the_old_file(saved, monkeypatch):
    run, path = saved
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("core.checkpoint.os.replace", broken)
    with pytest.raises(OSError):
        run.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt.json"]


def corrupt(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("change,message", [
    (lambda d: d.update(version=99), "format version 99"),
    (lambda d: d.update(format="something"), "not a charlm-tui checkpoint"),
    (lambda d: d.update(vocab="aab"), "distinct characters"),
    (lambda d: d["model"].update(vocab_size=3), "expects 3 characters"),
    (lambda d: d["weights"][1].pop(), "weight table 1 should be"),
    (lambda d: d["weights"].pop(), "weight tables"),
    (lambda d: d["weights"][0][0].__setitem__(0, "x"), "finite numbers"),
    (lambda d: d["model"].update(engine="gpu"), "engine must be one of"),
    (lambda d: d.pop("trainer"), "damaged or incomplete"),
    (lambda d: d["train"].update(learning_rate=-1), "learning rate"),
])
def test_damaged_checkpoints_say_what_is_wrong(saved, change, message):
    _, path = saved
    corrupt(path, change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_nan_weights_are_refused(saved):
    _, path = saved
    path.write_text(path.read_text().replace('"weights":[[[', '"weights":[[[NaN,', 1))
    with pytest.raises(CheckpointError, match="finite"):
        load_checkpoint(path)


@pytest.mark.parametrize("content,message", [(b"{not json", "not valid JSON"), (b"\xff\xfe", "cannot be read"),
                                             (b"[1, 2]", "not a charlm-tui checkpoint"), (b"[" * 100000, "not valid JSON")])
def test_hostile_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_missing_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.json")
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


def test_save_paths_are_checked(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory"):
        check_save_path(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        check_save_path(tmp_path / "missing" / "x.json")
    assert check_save_path(tmp_path / "x.json") == tmp_path / "x.json"


def test_resuming_on_another_vocabulary_is_refused(saved):
    _, path = saved
    with pytest.raises(CheckpointError, match="not the same"):
        Run.load(path, Corpus("zzzz yyyy xxxx " * 10, "other"))


def test_resuming_on_another_text_with_the_same_vocabulary_restarts_the_position(saved, proverbs):
    _, path = saved
    shuffled = "".join(sorted(proverbs))  # same characters, different text
    run = Run.load(path, Corpus(shuffled, "sorted"))
    assert run.trainer.state.step == 30 and run.trainer.state.index == 0 and run.trainer.state.epoch == 0
    run.trainer.run(max_steps=3)
    assert run.trainer.state.step == 33
