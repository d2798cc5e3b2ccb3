import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.data import Corpus, CorpusError, ExampleView, Vocabulary, build_vocab, create_examples, decode, encode, read_text


def test_course_functions_on_the_course_text(proverbs):
    char_to_idx, idx_to_char = build_vocab(proverbs)
    assert len(char_to_idx) == 32
    encoded = encode(proverbs, char_to_idx)
    assert len(encoded) == 223
    assert decode(encoded, idx_to_char) == proverbs
    examples = create_examples(encoded, 8)
    assert len(examples) == 215
    context, target = examples[0]
    assert decode(context, idx_to_char) == proverbs[:8] and idx_to_char[target] == proverbs[8]
    context, target = examples[-1]
    assert decode(context, idx_to_char) == proverbs[-9:-1] and idx_to_char[target] == proverbs[-1]


@given(st.text(min_size=1, max_size=200), st.integers(1, 6))
def test_lazy_examples_equal_the_materialised_list(text, k):
    char_to_idx, _ = build_vocab(text)
    encoded = encode(text, char_to_idx)
    expected = [(list(encoded[i - k : i]), encoded[i]) for i in range(k, len(encoded))]
    view = create_examples(encoded, k)
    assert len(view) == len(expected)
    assert list(view) == expected


@given(st.text(min_size=1, max_size=300))
def test_encode_decode_round_trip_beyond_256_characters(text):
    text = text + "".join(chr(0x4E00 + i) for i in range(300))  # a vocabulary too big for bytes
    char_to_idx, idx_to_char = build_vocab(text)
    assert decode(encode(text, char_to_idx), idx_to_char) == text


def test_examples_are_positions_not_lists():
    corpus = Corpus("abcdefgh" * 10_000)
    view = corpus.examples(8)
    assert isinstance(view, ExampleView)
    assert isinstance(corpus.encoded, bytes)  # one byte a character
    assert view[-1] == (list(corpus.encoded[-9:-1]), corpus.encoded[-1])
    with pytest.raises(IndexError):
        view[len(view)]


def test_split_is_a_contiguous_tail():
    corpus = Corpus("abcdefghij" * 100)
    split = corpus.split(4, 0.25)
    assert len(split.train) + len(split.validation) == len(corpus) - 4
    assert len(split.validation) == int((len(corpus) - 4) * 0.25)
    assert split.train.stop == split.validation.start
    assert split.validation[-1][1] == corpus.encoded[-1]
    assert len(corpus.split(4, 0.0).validation) == 0


def test_vocabulary_padding_char():
    assert Vocabulary("ab ").padding_char() == " "
    assert Vocabulary("\nab").padding_char() == "\n"
    assert Vocabulary("xyz").padding_char() == "x"


def test_too_short_for_the_context():
    with pytest.raises(CorpusError, match="too few"):
        Corpus("abc", "tiny").examples(8)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p, "no such text file"),
        (lambda p: (p.mkdir(), p)[1], "directory"),
        (lambda p: (p.write_bytes(b"abc\x00\x01\x02"), p)[1], "binary"),
        (lambda p: (p.write_bytes(b"caf\xe9 au lait"), p)[1], "not UTF-8"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, make, message):
    path = make(tmp_path / "corpus.txt")
    with pytest.raises(CorpusError, match=message):
        read_text(path)


def test_crlf_is_normalised(tmp_path):
    path = tmp_path / "dos.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    assert read_text(path) == "one\ntwo\n"


def test_a_nul_byte_anywhere_marks_a_file_binary(tmp_path):
    path = tmp_path / "late.txt"
    path.write_bytes(b"a" * 10_000 + b"\x00" + b"b" * 10)
    with pytest.raises(CorpusError, match="binary"):
        read_text(path)
