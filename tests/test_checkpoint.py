import json

import pytest

from core.checkpoint import CheckpointError, check_save_path, load_checkpoint
from core.data import Corpus
from core.run import Run
from core.settings import RunConfig


@pytest.fixture
def saved(tmp_path, proverbs):
    run = Run.new(Corpus(proverbs, "proverbs"), RunConfig(context_length=4, embed_dim=3, hidden_dim=5, max_steps=1000, epochs=None, validation_fraction=0.1))
    run.trainer.run(max_steps=30)
    path = run.save(tmp_path / "ckpt.json")
    return run, path


def test_the_file_holds_everything_to_resume(saved):
    run, path = saved
    data = json.loads(path.read_text())
    assert data["format"] == "charlm-tui-checkpoint" and data["version"] == 6
    assert data["optimizer"] == {"name": "sgd", "steps": 30, "buffers": {}}  # plain SGD keeps nothing but its count
    assert data["vocab"] == run.corpus.vocab.chars
    assert data["settings"] == run.config.to_json()
    assert data["settings"]["engine"] == "fused" and data["settings"]["hidden_dim"] == 5
    assert data["trainer"]["step"] == 30 and len(data["trainer"]["losses"]) == 30
    assert data["trainer"]["rng_state"] is not None and data["trainer"]["epoch_key"] is not None
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
    (lambda d: d["settings"].update(hidden_dim=100_000), "hidden dim must be a whole number from 1 to 1,024"),
    (lambda d: d["settings"].update(bogus=1), "unknown setting bogus"),
    (lambda d: d["settings"].update(epochs=None, max_steps=None), "epochs, a step budget or a time budget"),
    (lambda d: d["weights"][1].pop(), "weight table 1 should be"),
    (lambda d: d["weights"].pop(), "weight tables"),
    (lambda d: d["weights"][0][0].__setitem__(0, "x"), "finite numbers"),
    (lambda d: d["settings"].update(engine="gpu"), "engine must be one of"),
    (lambda d: d.pop("trainer"), "damaged or incomplete"),
    (lambda d: d["settings"].update(learning_rate=-1), "lr must be a number from"),
    (lambda d: d.pop("settings"), "damaged or incomplete"),
])
def test_damaged_checkpoints_say_what_is_wrong(saved, change, message):
    _, path = saved
    corrupt(path, change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_nan_weights_are_refused(saved):
    _, path = saved
    corrupt(path, lambda d: d["weights"][0][0].__setitem__(0, float("nan")))  # JSON's NaN extension
    assert "NaN" in path.read_text()
    with pytest.raises(CheckpointError, match="finite"):
        load_checkpoint(path)


@pytest.mark.parametrize("content,message", [(b"{not json", "not valid JSON"), (b"\xff\xfe", "not UTF-8"),
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


def test_a_version_1_checkpoint_still_loads(saved):
    """Version 1 kept the settings in "model" (with vocab_size) and "train" (with validation_fraction)."""
    run, path = saved
    data = json.loads(path.read_text())
    settings = data.pop("settings")
    model_keys = ("context_length", "embed_dim", "hidden_dim", "n_hidden", "activation", "engine")
    data["model"] = {"vocab_size": len(data["vocab"]), **{k: settings.pop(k) for k in model_keys}}
    data["train"], data["version"] = settings, 1
    data["trainer"]["shuffle_state"] = data["trainer"].pop("epoch_key") and data["trainer"]["rng_state"]
    del data["trainer"]["best_weights"]
    path.write_text(json.dumps(data))
    loaded = load_checkpoint(path)
    assert loaded.config == run.config.replace(split="tail", items="stream")  # as versions before 3 held out, and cut
    assert loaded.model.weights() == run.model.weights()
    assert loaded.state.step == run.trainer.state.step == 30 and loaded.state.losses == run.trainer.state.losses
    assert loaded.state.index == 0 and loaded.state.epoch_key is None  # its epoch goes on in a new order


def test_a_version_2_checkpoint_loads_with_the_tail_it_held_out(saved):
    run, path = saved
    data = json.loads(path.read_text())
    del data["settings"]["split"], data["trainer"]["best_weights"]
    data["version"] = 2
    path.write_text(json.dumps(data))
    loaded = load_checkpoint(path)
    assert loaded.config == run.config.replace(split="tail", items="stream") and loaded.state == run.trainer.state


def test_an_all_zero_random_state_is_refused(saved):
    _, path = saved
    corrupt(path, lambda d: d["trainer"]["rng_state"].__setitem__(1, [0] * 624 + [624]))
    with pytest.raises(CheckpointError, match="rng_state"):
        load_checkpoint(path)
