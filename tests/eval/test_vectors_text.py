"""word2vec files read and written by sgns.eval.vectors: the values and words gensim reads, and
a one-line error naming the line where a file is malformed."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from gensim.models import KeyedVectors

from sgns.errors import DataError
from sgns.eval.vectors import load_vectors, load_word2vec, save_word2vec


def test_reads_what_gensim_writes_and_reads_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40_000, 3)) * 10.0 ** rng.integers(-8, 8, (40_000, 1))
    words = [f"w{i}" for i in range(39_998)] + ["Straße", "東京"]
    kv = KeyedVectors(vector_size=3, dtype=np.float32)
    kv.add_vectors(words, vectors.astype(np.float32))
    path = tmp_path / "gensim.txt"
    kv.save_word2vec_format(str(path), binary=False)  # repr() of each value, several blocks
    expected = KeyedVectors.load_word2vec_format(str(path), binary=False)

    got, got_words = load_word2vec(path)

    assert got.dtype == np.float32
    assert got.shape == (40_000, 3)
    np.testing.assert_array_equal(got, expected.vectors)
    assert got_words == list(expected.index_to_key) == words


def test_trailing_spaces_crlf_and_extra_lines_read_as_gensim_reads_them(tmp_path):
    path = tmp_path / "vec.txt"
    # fastText's .vec ends each line with a space; lines past the header's count are not read
    path.write_bytes(b"2 2\r\nthe 1 2 \r\ncat -0.5 3e-2 \r\nextra 9 9\r\n")
    got, words = load_word2vec(path)
    expected = KeyedVectors.load_word2vec_format(str(path), binary=False)
    np.testing.assert_array_equal(got, np.float32([[1, 2], [-0.5, 0.03]]))
    np.testing.assert_array_equal(got, expected.vectors)
    assert words == ["the", "cat"] == list(expected.index_to_key)


def test_a_repeated_word_keeps_its_first_vector_as_in_gensim(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_text("3 1\na 1\nb 2\na 3\n")
    got, words = load_word2vec(path)
    assert words == ["a", "b"]
    np.testing.assert_array_equal(got, [[1], [2]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3 2\na 1 2\nb 3 4\n", "the file ends after 2 of the 3 vectors its header names"),
        ("2 2\na 1 2\nb 3\n", "line 3 has 1 values, not 2"),
        ("2 2\na 1 2\nb\n", "line 3 has 0 values, not 2"),
        ("2 2\na 1 2 3\nb 1 2\n", "line 2 has 3 values, not 2"),
        ("2 2\na 1 x\nb 1 2\n", "lines 2-3: could not convert string 'x'"),
        ("two 2\na 1 2\n", "line 1 is not a word2vec header (vector count and size): 'two 2'"),
        ("", "line 1 is not a word2vec header"),
        # GloVe's files have no header: their lines count from 1
        ("a 1 2\nb 3\n", "line 2 has 1 values, not 2"),
        ("a 1 2\nb 1 2\nc 1 x\n", "lines 1-3: could not convert string 'x'"),
        ("a 1 x\n", "line 1 is not a word2vec header (vector count and size): 'a 1 x'"),
    ],
)
def test_a_malformed_file_is_one_data_error_naming_where(tmp_path, text, message):
    path = tmp_path / "vectors.txt"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        load_vectors(path)
    assert str(err.value).startswith(f"cannot read word2vec vectors from {str(path)!r}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_glove_files_without_a_header_read_as_gensim_reads_them(tmp_path):
    """GloVe's own files: "word v1 ... vD" from line 1, no count."""
    rng = np.random.default_rng(0)
    words = ["the", ",", "straße", "東京"]
    vectors = rng.normal(size=(4, 3)).astype(np.float32)
    path = tmp_path / "glove.6B.3d.txt"
    text = "".join(f"{w} {' '.join(map(repr, v.tolist()))}\n" for w, v in
                   zip(words, vectors, strict=True))  # fmt: skip
    path.write_text(text, encoding="utf-8")
    matrix, read = load_vectors(path)
    expected = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    assert read == expected.index_to_key == words
    np.testing.assert_array_equal(matrix, expected.vectors)
    np.testing.assert_array_equal(matrix, vectors)
    # A blank last line, which gensim refuses; a word seen again keeps its first vector.
    path.write_text(text + "the 9 9 9\n\n", encoding="utf-8")
    again, read_again = load_vectors(path)
    np.testing.assert_array_equal(again, matrix)
    assert read_again == read


def test_a_binary_file_of_zeros_is_read_as_binary(tmp_path):
    """All-zero float32 bytes are valid UTF-8 (NULs): a NUL marks the file binary."""
    save_word2vec(tmp_path / "z.bin", np.zeros((3, 4), dtype=np.float32), ["a", "b", "c"],
                  binary=True)  # fmt: skip
    matrix, words = load_vectors(tmp_path / "z.bin")
    assert words == ["a", "b", "c"]
    np.testing.assert_array_equal(matrix, np.zeros((3, 4), dtype=np.float32))


def test_binary_files_keep_the_order_given_and_gensim_says_nothing_of_counts(tmp_path, caplog):
    words = ["the", "zebra", "cat"]  # not sorted any way but most frequent first
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    with caplog.at_level(logging.INFO, logger="gensim"):
        save_word2vec(tmp_path / "v.bin", vectors, words, binary=True)
    assert "not present" not in caplog.text
    assert "storing 3x2 projection weights" in caplog.text  # gensim's log is still heard
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    assert kv.index_to_key == words
    np.testing.assert_array_equal(kv.vectors, vectors)
    assert not logging.getLogger("gensim.models.keyedvectors").filters


def test_a_text_file_of_non_ascii_words_is_never_taken_for_binary(tmp_path):
    """Whether a file is binary is judged from 4 KB after its first line: a cut through a
    three-byte character there once made a text file read as binary garbage."""
    words = [f"東京{i}" for i in range(400)]
    path = tmp_path / "cjk.vec"
    cuts = set()
    for pad in range(40):  # moves the 4 KB boundary through the lines' bytes
        padded = ["x" * (pad + 1), *words]
        save_word2vec(path, np.ones((len(padded), 2), dtype=np.float32), padded)
        with open(path, "rb") as f:
            f.readline()
            sample = f.read(4096)
        cuts.add(len(sample) - len(sample.decode("utf-8", "ignore").encode()))
        matrix, read = load_vectors(path)
        assert read == padded
        assert matrix.shape == (len(padded), 2)
    assert cuts == {0, 1, 2}  # whole, and cut after a character's first and second byte
