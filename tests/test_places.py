"""Where a served visitor's app may read and write (core.places), checked where files are really opened."""

import os
import tempfile
from pathlib import Path

import pytest

from core.checkpoint import CheckpointError, save_checkpoint
from core.corpora import resolve_corpus, served_corpora
from core.data import CorpusError, load_corpus
from core.history import RunLog
from core.places import VISITOR_HOME, VISITOR_QUOTA, OutsideError, data_home, readable, user_data_home, writable
from core.run import Run
from core.settings import RunConfig
from core.session import Session

TINY = RunConfig(context_length=3, embed_dim=4, hidden_dim=8, max_steps=5, epochs=None)


def escapes(home: Path, private: Path) -> list[str]:
    """Every way of naming a file outside the visitor's folders: absolute, ~, .., a symlink out."""
    (home / "link.txt").symlink_to(private / "secret.txt")
    (home / "linked-folder").symlink_to(private)
    return [str(private / "secret.txt"), "/etc/passwd", "~", "~/.bashrc", "../..", "../../private/secret.txt",
            str(home / ".." / ".." / "private" / "secret.txt"), "link.txt", "linked-folder/secret.txt"]


def test_a_visitor_reads_only_the_bundled_texts_the_served_folders_and_its_own(visitor):
    home, texts, private = visitor
    for path in escapes(home, private):
        with pytest.raises(OutsideError, match="reads only the bundled texts, .*texts and your own folder"):
            readable(path)
        with pytest.raises(CorpusError, match="not open to this served app"):
            load_corpus(path)
    assert load_corpus(texts / "poems.txt").text.startswith("roses")
    assert resolve_corpus("names").name == "names"  # the bundled ones by name
    (home / "mine.txt").write_text("my own text\n" * 40)
    assert load_corpus("mine.txt").text.startswith("my own")  # relative: from the visitor's folder
    assert served_corpora() == [texts / "poems.txt"]


def test_a_visitor_writes_only_in_its_own_folder(visitor):
    home, texts, private = visitor
    run = Run.new(resolve_corpus("names"), TINY)
    for path in [*escapes(home, private), str(texts / "model.json"), str(private / "model.json")]:
        with pytest.raises(OutsideError, match="saves only in your own folder"):
            writable(path)
        with pytest.raises(CheckpointError, match="not open to this served app"):
            save_checkpoint(path, run.to_checkpoint())
    assert (private / "secret.txt").read_text().startswith("the serving user's")  # untouched
    assert not (texts / "model.json").exists() and not (private / "model.json").exists()
    (home / "checkpoints").mkdir()
    assert save_checkpoint(home / "checkpoints" / "model.json", run.to_checkpoint()).exists()
    assert save_checkpoint("model.json", run.to_checkpoint()) == home / "model.json"


def test_a_visitors_data_home_history_and_autosave_are_its_own_folder(visitor, tmp_path):
    home, _, _ = visitor
    assert data_home() == home and RunLog().path == home / "runs.jsonl"
    session = Session(data_home() / "autosave-1.json")
    session.new(resolve_corpus("names"), TINY)
    session.start()
    list(session.train())
    assert session.autosave() == home / "autosave-1.json"
    runs, _ = RunLog().read()
    assert [run.id for run in runs] == [session.run.id] and not (user_data_home() / "runs.jsonl").exists()
    with pytest.raises(OutsideError):
        RunLog(tmp_path / "elsewhere.jsonl").record(runs[0])


def test_a_visitor_whose_autosave_cannot_go_in_its_folder_does_not_fall_back_outside_it(visitor, tmp_path):
    session = Session(tmp_path / "elsewhere" / "autosave.json")  # outside: so are its fallbacks, beside it and in /tmp
    session.new(resolve_corpus("names"), TINY)
    session.start()
    list(session.train())
    with pytest.raises(OutsideError, match="saves only in your own folder"):
        session.autosave()
    assert not (tmp_path / "elsewhere").exists()  # not even its folder was made
    assert not (Path(tempfile.gettempdir()) / f"charlm-tui-autosave-{os.getpid()}.json").exists()


def test_run_by_its_own_user_charlm_tui_opens_what_that_user_may(tmp_path):
    assert VISITOR_HOME not in os.environ
    text = tmp_path / "anywhere.txt"
    text.write_text("a text of the user's\n" * 40)
    assert readable(text) == text and writable(tmp_path / "x.json") == tmp_path / "x.json"
    assert load_corpus(text).text.startswith("a text") and data_home() == user_data_home()
    assert served_corpora() == []


def test_a_visitor_saves_nothing_more_once_its_folder_holds_its_quota(visitor, monkeypatch):
    home, _, _ = visitor
    monkeypatch.setenv(VISITOR_QUOTA, "1")  # MB
    run = Run.new(resolve_corpus("names"), TINY)
    assert save_checkpoint(home / "first.json", run.to_checkpoint()).exists()  # under the quota: saved
    (home / "big.bin").write_bytes(b"\0" * 2**20)
    with pytest.raises(CheckpointError, match="holds 1 MB, the most a visitor may keep"):
        save_checkpoint(home / "second.json", run.to_checkpoint())
    assert not (home / "second.json").exists()
