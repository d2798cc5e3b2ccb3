"""Saving replaces only what is the program's own (issue 21): a new path, an empty file or an earlier checkpoint;
and autosaves of apps that quit at the same instant never collide."""

import multiprocessing
import os
from pathlib import Path

import pytest

from core.corpora import resolve_corpus
from core.history import RunLog
from core.session import Session
from core.settings import RunConfig
from test_app import make_app, set_field
from test_faults import AN_EARLIER_CHECKPOINT, TINY, TINY_CONFIG, cli, data_dir, state_of, step_of, temp_files
from test_first_minutes import a_paused_model


def not_ours(folder: Path) -> dict[str, Path]:
    """A place of each kind that saving must leave as it is, in `folder`."""
    tmp_path = folder
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "thesis.txt").write_text("three years of work\n")
    read_only = tmp_path / "read-only.json"
    read_only.write_text(AN_EARLIER_CHECKPOINT)
    read_only.chmod(0o444)  # its owner said: not to be replaced (root could; we do not)
    (tmp_path / "folder").mkdir()
    (tmp_path / "link-to-text.json").symlink_to(tmp_path / "thesis.txt")
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(AN_EARLIER_CHECKPOINT)
    (tmp_path / "link-to-checkpoint.json").symlink_to(checkpoint)
    return {"a text file": tmp_path / "thesis.txt", "a read-only checkpoint": read_only,
            "a directory": tmp_path / "folder", "a symlink to a text file": tmp_path / "link-to-text.json",
            "a symlink to a checkpoint": tmp_path / "link-to-checkpoint.json"}


KINDS = ["a text file", "a read-only checkpoint", "a directory", "a symlink to a text file", "a symlink to a checkpoint"]
WHY = {"a text file": "is not a charlm-tui checkpoint", "a read-only checkpoint": "is read-only",
       "a directory": "is a directory", "a symlink to a text file": "is a symbolic link",
       "a symlink to a checkpoint": "is a symbolic link"}


@pytest.mark.parametrize("kind", KINDS)
def test_save_refuses_what_is_not_an_earlier_checkpoint_and_leaves_it_as_it_is(tmp_path, capsys, kind):
    target = not_ours(tmp_path)[kind]
    before = {path: state_of(path) for path in tmp_path.iterdir()}
    code, out, err = cli(capsys, "--headless", *TINY, "--steps", "10", "--sample", "0", "--save", str(target))
    assert code == 2 and WHY[kind] in err and err.count("\n") == 1, err
    assert {path: state_of(path) for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize("target", ["new.json", "empty.json", "checkpoint.json"])
def test_save_writes_a_new_path_an_empty_file_or_over_an_earlier_checkpoint(tmp_path, capsys, target):
    not_ours(tmp_path)
    (tmp_path / "empty.json").touch()
    code, _, err = cli(capsys, "--headless", *TINY, "--steps", "10", "--sample", "0", "--save", str(tmp_path / target))
    assert code == 0, err
    assert step_of(tmp_path / target) == 10


@pytest.mark.parametrize("kind", ["a text file", "a read-only checkpoint", "a symlink to a text file"])
async def test_ctrl_s_refuses_what_is_not_an_earlier_checkpoint(tmp_path, kind):
    files = tmp_path / "files"
    target = not_ours(files)[kind]
    before = {path: state_of(path) for path in files.iterdir()}
    app = make_app(tmp_path / "app")
    async with app.run_test(size=(80, 24)) as pilot:
        await a_paused_model(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await set_field(pilot, "#path", str(target))
        await pilot.press("enter")
        await pilot.pause()
        assert app.said_that("Not saved") and app.said_that(WHY[kind]) and app.said_that("it is left as it is"), app.said
        assert app.session.unsaved_steps > 0 and app.return_code is None
    assert {path: state_of(path) for path in files.iterdir()} == before


def test_an_autosave_in_the_place_of_a_file_not_its_own_goes_beside_it(tmp_path):
    squatter = tmp_path / "autosave.json"
    squatter.write_text("somebody's notes\n")
    session = Session(squatter)
    session.new(resolve_corpus("names"), TINY_CONFIG.replace(max_steps=5, epochs=None))
    session.start()
    list(session.train())
    saved = session.autosave()
    assert saved == tmp_path / f"charlm-tui-autosave-{os.getpid()}.json" and step_of(saved) == 5
    assert squatter.read_text() == "somebody's notes\n"


def quit_together(barrier, folder: str, results) -> None:
    """One app's session: train a little, wait for the others, then autosave in the same instant as they do."""
    session = Session(Path(folder) / "autosave.json")
    session.new(resolve_corpus("names"), RunConfig(context_length=3, embed_dim=4, hidden_dim=8, max_steps=3,
                                                   epochs=None, seed=os.getpid()))
    session.start()
    list(session.train())
    barrier.wait()
    results.put((session.run.id, str(session.autosave())))


def test_four_apps_quitting_in_the_same_instant_keep_four_autosaves_each_named_by_its_run(tmp_path):
    context = multiprocessing.get_context("fork")
    for round_ in range(20):
        folder = tmp_path / f"round-{round_}"
        folder.mkdir()
        barrier, results = context.Barrier(4), context.Queue()
        apps = [context.Process(target=quit_together, args=(barrier, str(folder), results)) for _ in range(4)]
        for app in apps:
            app.start()
        saved = dict(results.get(timeout=60) for _ in apps)
        for app in apps:
            app.join(timeout=60)
        assert len(set(saved.values())) == 4, saved  # four files: nobody saved over another
        for run_id, path in saved.items():
            assert Path(path).parent == folder and step_of(Path(path)) == 3
        runs, _ = RunLog().read()
        named = {run.id: run.checkpoint for run in runs if run.id in saved}
        assert named == saved  # each run in the history names its own file
        assert not temp_files(folder) and not data_dir().joinpath("autosave.json").exists()
