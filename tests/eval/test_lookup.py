"""Word lookup and reading vectors from run directories and word2vec files."""

from __future__ import annotations

import numpy as np
import pytest

from sgns.errors import DataError, SgnsError
from sgns.eval.lookup import upper_index, word_ids
from sgns.eval.vectors import load_vectors, save_word2vec


def test_upper_index_keeps_the_first_variant_within_restriction():
    words = ["the", "Paris", "paris", "PARIS", "rare"]
    assert upper_index(words) == {"THE": 0, "PARIS": 1, "RARE": 4}
    assert "RARE" not in upper_index(words, restrict_vocab=4)


def test_word_ids_prefer_exact_then_most_frequent_variant():
    words = ["Paris", "london", "paris"]
    assert word_ids(words, ["paris", "PARIS", "London"]) == [2, 0, 1]


def test_unknown_word_message_names_word_and_vocabulary_size():
    words = [f"w{i}" for i in range(12_345)]
    with pytest.raises(SgnsError) as err:
        word_ids(words, ["w1", "xyzzy"])
    assert str(err.value) == "'xyzzy' is not in the vocabulary (12,345 words)"


@pytest.mark.parametrize(("name", "binary"), [("vectors.txt", False), ("vectors.bin", True)])
def test_load_from_run_dir_or_file(tmp_path, name, binary):
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    save_word2vec(tmp_path / name, vectors, ["a", "b", "c"], binary=binary)
    for path in (tmp_path, tmp_path / name):
        got, words = load_vectors(path)
        np.testing.assert_array_equal(got, vectors)
        assert words == ["a", "b", "c"]


def test_text_file_preferred_in_a_run_dir(tmp_path):
    save_word2vec(tmp_path / "vectors.bin", np.zeros((1, 2)), ["bin"], binary=True)
    save_word2vec(tmp_path / "vectors.txt", np.zeros((1, 2)), ["txt"])
    assert load_vectors(tmp_path)[1] == ["txt"]


def test_missing_paths_and_bad_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_vectors(tmp_path / "nope")
    with pytest.raises(DataError, match="none of vectors.txt, vectors.bin, checkpoints/last"):
        load_vectors(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("not a header\n")
    with pytest.raises(DataError, match="cannot read"):
        load_vectors(bad)
