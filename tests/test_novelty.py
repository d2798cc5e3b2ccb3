
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.corpora import resolve_corpus
from core.novelty import NoveltyIndex, NoveltyStats, is_line_shaped, words

NAMES = "emma\nolivia\nava\nisabella\nsophia\n"
PROSE = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "MENENIUS:\n'Tis the o'er-weening Rabbit-Hole—you know't.\n"
)


def test_names_lines_are_marked_exactly():
    index = NoveltyIndex(NAMES)
    assert index.unit == "line"
    sample = "emma\nemmy\n\nsophia\n  ava \nzyx\nsoph"  # a blank line is no item; "soph" is unfinished
    assert index.mark_lines(sample) == [("emma", True), ("emmy", False), ("sophia", True), ("  ava ", True), ("zyx", False)]
    stats = index.stats(sample)
    assert stats == NoveltyStats(unit="line", known_share=3 / 5, new_share=2 / 5, distinct_chars=len(set(sample)),
                                 repeat_share=0.0, count=5)
    assert stats.summary() == f"5 lines: 60% in the training set, 40% new · {len(set(sample))} distinct chars · 0% repeats"


def test_lines_compare_with_their_case():
    assert NoveltyIndex(NAMES).mark_lines("Emma\n") == [("Emma", False)]


def test_repeats_are_the_items_seen_before_in_the_same_sample():
    index = NoveltyIndex(NAMES)
    stats = index.stats("ava\nzed\nava\nava\nzed\nbob\n")
    assert (stats.count, stats.repeat_share, stats.known_share, stats.new_share) == (6, 3 / 6, 3 / 6, 3 / 6)
    assert stats.summary().endswith("· 50% repeats")
    prose = NoveltyIndex(PROSE)
    stats = prose.stats("Speak, speak! hear me, speak ")
    assert (stats.unit, stats.count, stats.repeat_share) == ("word", 5, 2 / 5)  # any case, punctuation off


def test_prose_words_are_stripped_of_punctuation_and_compared_in_any_case():
    index = NoveltyIndex(PROSE)
    assert index.unit == "word"
    sample = "MENENIUS:\n‘tis o'er, you Know't—Rabbit-Hole! speakers 'Tis… (citizen) -- proceeding unfini"
    assert index.mark_words(sample) == [
        ("MENENIUS", True), ("tis", True), ("o'er", False), ("you", True), ("Know't", True),
        ("Rabbit-Hole", True), ("speakers", False), ("Tis", True), ("citizen", True), ("proceeding", False),
    ]  # "unfini" has nothing after it: unfinished; "--" is no word; "o'er-weening" was one word
    stats = index.stats(sample)
    assert (stats.count, stats.known_share, stats.new_share, stats.repeat_share) == (10, 7 / 10, 3 / 10, 1 / 10)
    assert stats.summary() == f"10 words: 70% in the training text, 30% new · {len(set(sample))} distinct chars · 10% repeats"


def test_words_of_a_text():
    assert words("'Tis the o'er-weening Rabbit—you; know't.\n--  ...  ß") == [
        "tis", "the", "o'er-weening", "rabbit", "you", "know't", "ss"]


def test_a_word_ending_the_sample_is_finished_only_with_whitespace_or_a_dash_after_it():
    index = NoveltyIndex(PROSE)
    assert [w for w, _ in index.mark_words("hear me speak")] == ["hear", "me"]
    assert [w for w, _ in index.mark_words("hear me speak.")] == ["hear", "me"]
    assert [w for w, _ in index.mark_words("hear me speak\n")] == ["hear", "me", "speak"]
    assert [w for w, _ in index.mark_words("hear me speak—")] == ["hear", "me", "speak"]


@pytest.mark.parametrize("sample", ["", "unfinished", "\n\n  \n"])
def test_a_sample_with_nothing_finished(sample):
    for index in (NoveltyIndex(NAMES), NoveltyIndex(PROSE)):
        stats = index.stats(sample)
        assert (stats.count, stats.known_share, stats.new_share, stats.repeat_share) == (0, 0.0, 0.0, 0.0)
        assert stats.distinct_chars == len(set(sample))
        assert stats.summary() == f"no finished {index.unit}s yet · {len(set(sample))} distinct chars"
        assert index.mark_lines(sample) == [] and index.mark_words(sample) == []
    assert NoveltyIndex(NAMES).stats("").summary() == "no finished lines yet · 0 distinct chars"


def test_the_summary_never_rounds_something_to_nothing():
    stats = NoveltyStats("line", known_share=299 / 300, new_share=1 / 300, distinct_chars=27, repeat_share=0.0, count=300)
    assert stats.summary() == "300 lines: >99% in the training set, <1% new · 27 distinct chars · 0% repeats"
    assert stats.summary(compact=True) == "300 lines · <1% new · 0% repeats"
    one = NoveltyStats("word", known_share=1.0, new_share=0.0, distinct_chars=1, repeat_share=0.0, count=1)
    assert one.summary() == "1 word: 100% in the training text, 0% new · 1 distinct char · 0% repeats"


@given(st.integers(1, 400), st.data())
def test_known_and_new_percentages_add_up_to_100(count, data):
    known = data.draw(st.integers(0, count))
    stats = NoveltyStats("line", known / count, (count - known) / count, 27, 0.0, count)
    parts = stats.summary().split(": ")[1].split(" · ")[0]  # "25% in the training set, 75% new"
    k, n = (int(s.split("%")[0].lstrip("<>")) for s in parts.split(", "))
    assert k + n == 100  # "<1%" and ">99%" read as 1 and 99


def test_the_unit_follows_the_shape_of_the_text():
    assert is_line_shaped(NAMES) and is_line_shaped("\n\n" + NAMES + "\n\n") and not is_line_shaped(PROSE)
    assert NoveltyIndex(resolve_corpus("names").text).unit == "line"
    assert NoveltyIndex(resolve_corpus("shakespeare").text).unit == "word"
    assert NoveltyIndex(NAMES, unit="word").unit == "word"
    with pytest.raises(ValueError, match="unit"):
        NoveltyIndex(NAMES, unit="paragraph")


def test_names_corpus_marks_real_and_invented_names():
    index = NoveltyIndex(resolve_corpus("names").text)
    assert index.mark_lines("emma\nzqxvbrt\n") == [("emma", True), ("zqxvbrt", False)]
    assert index.is_known_line("olivia") and not index.is_known_line("zqxvbrt")


def test_the_tinyshakespeare_index_is_by_word():  # how fast it builds: benchmarks/bench_data.py
    index = NoveltyIndex(resolve_corpus("tinyshakespeare").text)
    assert index.unit == "word" and index.is_known_word("Romeo") and index.is_known_word("thou,")
