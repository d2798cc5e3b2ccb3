"""The session's lifecycle, without any UI: every move, what it allows and what it refuses."""

import json
import shutil
import threading

import pytest

from core.checkpoint import load_checkpoint
from core.data import Corpus, CorpusError
from core.history import RunLog
from core.session import Phase, Session, SessionError, corpus_for
from core.settings import RunConfig
from core.training import StoppedEvent

TINY = RunConfig(context_length=4, embed_dim=4, hidden_dim=8, learning_rate=0.05, epochs=None, max_steps=60)


@pytest.fixture
def corpus(proverbs):
    return Corpus(proverbs, "proverbs")


def train(session: Session) -> StoppedEvent:
    events = list(session.train())
    assert isinstance(events[-1], StoppedEvent)
    return events[-1]


def test_a_new_session_is_empty_and_refuses_what_needs_a_model(tmp_path):
    session = Session(tmp_path / "autosave.json")
    assert session.phase is Phase.EMPTY and session.run is None and session.unsaved_steps == 0
    for move in (session.start, session.resume, lambda: session.save(tmp_path / "x.json"), lambda: list(session.train())):
        with pytest.raises(SessionError):
            move()
    assert session.autosave() is None and not (tmp_path / "autosave.json").exists()


def test_new_start_finish(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY)
    assert session.phase is Phase.PAUSED and session.step == 0
    session.start()
    assert session.phase is Phase.RUNNING
    assert train(session).step == 60
    assert session.phase is Phase.FINISHED and session.unsaved_steps == 60
    with pytest.raises(SessionError, match=r"budget is used up \(its max steps, 60, are done\): raise max steps"):
        session.resume()
    assert session.phase is Phase.FINISHED


def test_pause_from_another_thread_then_resume_with_new_training_settings(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY.replace(max_steps=100_000))
    session.start()
    seen = 0
    for event in session.train():
        seen += 1
        if seen == 30:
            threading.Thread(target=session.pause).start()
    assert session.phase is Phase.PAUSED and 0 < session.step < 100_000
    session.resume(session.run.config.replace(learning_rate=0.01, max_steps=session.step + 5))
    assert session.run.trainer.config.learning_rate == 0.01
    train(session)
    assert session.phase is Phase.FINISHED


def test_fixed_settings_cannot_change_on_resume(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY)
    with pytest.raises(SessionError, match=r"fixed for this model: hidden dim 8 → 9"):
        session.resume(TINY.replace(hidden_dim=9))
    assert session.changes(corpus, TINY.replace(hidden_dim=9, seed=3)) == ["hidden dim 8 → 9", "seed 0 → 3"]
    assert session.changes(Corpus("another text entirely, long enough", "other"), TINY) == ["corpus proverbs → other"]
    assert session.changes(corpus, TINY.replace(learning_rate=0.2, epochs=7)) == []


def test_stop_then_extend_a_finished_run(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY)
    session.start()
    train(session)
    assert session.phase is Phase.FINISHED
    session.resume(TINY.replace(max_steps=90))  # extend: a raised budget
    assert session.phase is Phase.RUNNING
    train(session)
    assert session.step == 90 and session.phase is Phase.FINISHED
    session.resume(TINY.replace(max_steps=200))
    session.stop()
    train(session)
    assert session.phase is Phase.STOPPED and session.step == 90  # stopped before a step was taken
    session.stop()
    assert session.phase is Phase.STOPPED
    session.resume()  # a stopped run with budget left goes on
    train(session)
    assert session.step == 200


def test_stop_while_paused(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY)
    session.stop()
    assert session.phase is Phase.STOPPED and session.detail == "stopped at step 0"


def test_the_history_tells_a_stop_from_a_pause_and_follows_changed_settings(corpus, tmp_path):
    """F6 stops (the Runs view says "stopped"); F5 pauses and ^Q quits ("paused"): both can go on."""
    def outcomes():
        runs, _ = RunLog().read()
        return [run.outcome() for run in runs]

    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY.replace(max_steps=10_000))
    session.start()
    for event in session.train():
        if event.step == 20:
            session.stop()
    assert session.phase is Phase.STOPPED and outcomes() == ["stopped"]
    session.resume()
    for event in session.train():
        if event.step == 40:
            session.pause()
    assert session.phase is Phase.PAUSED and outcomes() == ["paused"]
    session.stop()
    assert outcomes() == ["stopped"]
    session.resume(session.run.config.replace(learning_rate=0.02))  # a learner changes the lr between stretches
    for event in session.train():
        if event.step == 60:
            session.pause()
    (run,), _ = RunLog().read()
    assert run.setting("learning_rate") == 0.02  # the settings it trains with now, not those it began with


def test_a_non_finite_step_fails_the_run_and_a_lower_rate_recovers_it(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY.replace(embed_dim=8, hidden_dim=32, learning_rate=10.0, max_steps=5000))
    session.start()
    assert train(session).reason.value == "non_finite"
    assert session.phase is Phase.FAILED and "Lower the learning rate" in session.detail
    session.resume(session.run.config.replace(learning_rate=0.01))
    assert session.phase is Phase.RUNNING


def test_an_error_inside_a_step_fails_the_run(corpus, tmp_path, monkeypatch):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY)
    session.start()
    monkeypatch.setattr(session.run.trainer, "step",
                        lambda cancel, watch=None: (_ for _ in ()).throw(MemoryError("no room")))
    with pytest.raises(MemoryError):
        list(session.train())
    assert session.phase is Phase.FAILED and "MemoryError: no room" in session.detail


def test_moves_refused_while_running(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY)
    session.start()
    for move in (lambda: session.new(corpus, TINY), session.resume, lambda: session.load(tmp_path / "x.json")):
        with pytest.raises(SessionError, match="Pause training"):
            move()


def test_save_autosave_and_unsaved_steps(corpus, tmp_path):
    session = Session(tmp_path / "data" / "autosave.json")
    session.new(corpus, TINY)
    session.start()
    train(session)
    assert session.unsaved_steps == 60
    assert session.autosave() == tmp_path / "data" / "autosave.json"
    assert session.unsaved_steps == 0 and load_checkpoint(session.autosave_path).state.step == 60
    assert session.autosave() is None  # nothing new to save
    session.save(tmp_path / "m.json")
    assert load_checkpoint(tmp_path / "m.json").state.step == 60


def test_an_autosave_does_not_overwrite_one_another_process_made_meanwhile(corpus, tmp_path):
    """Two terminals, two apps, one autosave path: the second to quit saves beside the first's."""
    autosave = tmp_path / "data" / "autosave.json"
    first, second = Session(autosave), Session(autosave)
    for session in (first, second):
        session.new(corpus, TINY)
        session.start()
        train(session)
    assert first.autosave() == autosave
    beside = second.autosave()
    assert beside != autosave and beside.parent == autosave.parent
    assert load_checkpoint(autosave).run_id == first.run.id and load_checkpoint(beside).run_id == second.run.id
    later = Session(autosave)  # a session begun after that autosave may write over it, as ^Q always has
    later.new(corpus, TINY)
    later.start()
    train(later)
    assert later.autosave() == autosave and load_checkpoint(autosave).run_id == later.run.id


def test_load_finds_the_bundled_corpus_by_name(tmp_path):
    from core.corpora import resolve_corpus

    names = resolve_corpus("names")
    first = Session(tmp_path / "a.json")
    first.new(names, TINY)
    first.start()
    train(first)
    first.save(tmp_path / "names.json")
    assert load_checkpoint(tmp_path / "names.json").corpus["bundled"] is True
    second = Session(tmp_path / "b.json")
    run = second.load(tmp_path / "names.json")  # no corpus given: the checkpoint's own
    assert run.corpus.name == "names" and second.phase is Phase.FINISHED and second.unsaved_steps == 0
    assert "loaded names.json at step 60" in second.detail


def test_load_finds_a_file_by_path_and_says_when_it_is_gone(tmp_path, proverbs):
    text = tmp_path / "poem.txt"
    text.write_text(proverbs * 3, encoding="utf-8")
    from core.data import load_corpus

    session = Session(tmp_path / "a.json")
    session.new(load_corpus(text), TINY)
    session.save(tmp_path / "poem.json")
    assert Session().load(tmp_path / "poem.json").corpus.source == str(text.resolve())
    moved = tmp_path / "moved.txt"
    shutil.move(text, moved)
    with pytest.raises(CorpusError, match=r"trained on poem.txt \(.*poem.txt\), which is gone"):
        Session().load(tmp_path / "poem.json")
    # a text with the same characters will do when it is offered
    assert Session().load(tmp_path / "poem.json", fallback=load_corpus(moved)).corpus.name == "moved.txt"
    # a changed file with the same characters carries the weights over, restarting the position in the text
    text.write_text(proverbs, encoding="utf-8")
    run = Session().load(tmp_path / "poem.json")
    assert run.trainer.state.epoch == 0 and run.trainer.state.index == 0


def test_a_text_made_in_memory_is_not_taken_for_the_bundled_file_of_that_name(tmp_path, proverbs):
    session = Session(tmp_path / "a.json")
    session.new(Corpus(proverbs, "proverbs"), TINY)
    session.save(tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["corpus"]["bundled"] is False  # made from a string, not the bundled file
    checkpoint = load_checkpoint(tmp_path / "p.json")
    same = Corpus(proverbs, "same")
    assert corpus_for(checkpoint, same) is same


def test_the_budget_message_names_the_limit_reached(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY.replace(epochs=1, max_steps=None))
    session.start()
    train(session)
    with pytest.raises(SessionError, match=r"\(its 1 epoch ends at step 219\): raise epochs"):
        session.resume(session.run.config.replace(max_steps=10_000))  # more steps alone: the epochs still bind
    assert session.detail.startswith("training finished after 219 steps")  # (then: barely below a guess)


def test_every_run_is_recorded_in_the_history_with_its_checkpoint(corpus, tmp_path):
    session = Session(tmp_path / "autosave.json")
    session.new(corpus, TINY)
    session.start()
    train(session)
    saved = session.save(tmp_path / "run.json")
    (first,), warnings = RunLog().read()
    assert not warnings
    assert first.steps == 60 and first.stop_reason == "finished" and first.checkpoint == str(saved)
    assert first.settings == TINY.to_json() and first.corpus["name"] == "proverbs" and first.curve[-1][0] == 60
    session.load(saved, corpus, {"max_steps": 80})  # where the run ended (an autosave at quitting, say)
    session.start()
    train(session)
    (carried,), _ = RunLog().read()
    assert carried.id == first.id and carried.started == first.started and carried.steps == 80  # one run, one row
    assert carried.resumed_from == str(saved) and carried.checkpoint == str(saved)
    session.load(saved, corpus, {"max_steps": 70})  # from before where the run is now: a branch, a run of its own
    session.start()
    train(session)
    (carried, branch), _ = RunLog().read()
    assert carried.steps == 80 and branch.id != carried.id and branch.steps == 70


def test_single_steps_go_on_exactly_as_training_would_and_stay_paused(corpus, tmp_path):
    config = TINY.replace(batch_size=3, eval_every=4, validation_fraction=0.3)
    stepped, trained = Session(tmp_path / "a.json"), Session(tmp_path / "b.json")
    stepped.new(corpus, config)
    trained.new(corpus, config)
    watched = []
    for _ in range(10):
        events = stepped.single_step(lambda batch, lr: watched.append((len(batch), lr)))
        assert isinstance(events[-1], StoppedEvent) and stepped.phase is Phase.PAUSED
    assert watched == [(3, config.learning_rate)] * 10  # the watch sees each batch before its update
    trained.start()
    for _ in trained.train():
        if trained.step == 10:
            trained.pause()
    assert stepped.run.model.weights() == trained.run.model.weights()
    assert stepped.run.trainer.state == trained.run.trainer.state  # (its clock aside: a machine's speed)
    recorded = next(r for r in RunLog().read()[0] if r.id == stepped.run.id)
    assert recorded.steps == 10  # the history follows single steps like any stretch of training


def test_a_single_step_is_refused_while_training_and_when_the_budget_is_used_up(corpus, tmp_path):
    session = Session(tmp_path / "a.json")
    with pytest.raises(SessionError):
        session.single_step()
    session.new(corpus, TINY.replace(max_steps=2))
    session.start()
    with pytest.raises(SessionError, match="Pause training"):
        session.single_step()
    train(session)
    with pytest.raises(SessionError, match="budget is used up"):
        session.single_step()
