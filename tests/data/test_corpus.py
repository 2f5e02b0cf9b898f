import bz2
import gzip
import logging
import lzma
import re
import uuid
from collections import Counter

import numpy as np
import pytest

from conftest import make_config, resolved_config
from sgns.data.corpus import expand_paths, normalize, read_text
from sgns.data.datamodule import SkipGramDataModule
from sgns.data.tokens import unsegmented_hint
from sgns.errors import DataError

TEXT = "the quick brown fox\njumps over the lazy dog\n" * 3


def words_of(files, chunk_chars=1 << 22, how="lower"):
    return [w for chunk in read_text(files, chunk_chars) for w in normalize(chunk, how).split()]


def notebook_preprocess(text):
    """The teaching notebook's `preprocess` (utils.py), without its count filter."""
    text = text.lower()
    text = text.replace(".", " <PERIOD> ")
    text = text.replace(",", " <COMMA> ")
    text = text.replace('"', " <QUOTATION_MARK> ")
    text = text.replace(";", " <SEMICOLON> ")
    text = text.replace("!", " <EXCLAMATION_MARK> ")
    text = text.replace("?", " <QUESTION_MARK> ")
    text = text.replace("(", " <LEFT_PAREN> ")
    text = text.replace(")", " <RIGHT_PAREN> ")
    text = text.replace("--", " <HYPHENS> ")
    text = text.replace("?", " <QUESTION_MARK> ")
    text = text.replace(":", " <COLON> ")
    return text.split()


# --- which files a spec names -----------------------------------------------------------


def test_a_folder_means_every_file_inside_sorted_and_hidden_ones_skipped(tmp_path):
    for rel in ("b.txt", "a.txt", "sub/c.txt.gz", ".hidden.txt", ".git/objects/x", "sub/.d"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("w")
    got = expand_paths(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in got] == ["a.txt", "b.txt", "sub/c.txt.gz"]


def test_a_glob_expands_sorted_and_recursive_with_double_star(tmp_path):
    for rel in ("x/2.txt", "x/1.txt", "x/skip.md", "x/deep/3.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("w")
    names = lambda spec: [p.name for p in expand_paths(spec)]  # noqa: E731
    assert names(str(tmp_path / "x" / "*.txt")) == ["1.txt", "2.txt"]
    assert names(str(tmp_path / "x" / "**" / "*.txt")) == ["1.txt", "2.txt", "3.txt"]


def test_a_file_named_twice_is_read_once(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("w")
    assert expand_paths([path, str(path), str(tmp_path / "*.txt")]) == [path]


def test_missing_paths_and_empty_globs_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        expand_paths(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="no corpus files match"):
        expand_paths(str(tmp_path / "*.txt"))


# --- reading ------------------------------------------------------------------------------


def test_gz_bz2_and_xz_read_like_plain_text(tmp_path):
    (tmp_path / "plain.txt").write_text(TEXT)
    (tmp_path / "zipped.txt.gz").write_bytes(gzip.compress(TEXT.encode()))
    (tmp_path / "zipped.txt.bz2").write_bytes(bz2.compress(TEXT.encode()))
    (tmp_path / "zipped.txt.XZ").write_bytes(lzma.compress(TEXT.encode()))
    want = TEXT.split()
    for name in ("plain.txt", "zipped.txt.gz", "zipped.txt.bz2", "zipped.txt.XZ"):
        assert words_of([tmp_path / name], chunk_chars=5) == want


def test_chunks_end_at_whitespace_and_never_split_words(tmp_path):
    text = " ".join(f"word{i:03d}" * (1 + i % 4) for i in range(300))  # words up to 28 chars
    path = tmp_path / "t.txt"
    path.write_text(text)
    for chunk_chars in (2, 3, 10, 64):
        chunks = list(read_text([path], chunk_chars))
        assert all(chunk[-1].isspace() for chunk in chunks)
        assert "".join(chunks) == text + " "  # nothing lost; a final space ends the file
    assert [w for c in chunks for w in c.split()] == text.split()


def test_every_unicode_space_separates_words_and_ends_a_chunk(tmp_path):
    """str.split()'s whitespace, not only ASCII: no-break, ideographic and line-separator
    spaces split words, and chunks may end at them, so no word is ever cut."""
    spaces = "\xa0\u3000\u2028\u2029\x85\u202f\t\r\n"
    text = "".join(f"語{i}{spaces[i % len(spaces)]}" for i in range(400))
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    want = [f"語{i}" for i in range(400)]
    for chunk_chars in (3, 10, 64):
        assert words_of([path], chunk_chars, how="none") == want
    cjk_only = tmp_path / "cjk.txt"  # no ASCII whitespace at all
    cjk_only.write_text("東京\u3000大阪\u3000" * 200, encoding="utf-8")
    assert words_of([cjk_only], chunk_chars=7, how="none") == ["東京", "大阪"] * 200


def test_a_byte_order_mark_does_not_stick_to_the_first_word(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_text("Über alles\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert words_of([path], how="none") == ["Über", "alles"]
    gz = tmp_path / "bom.txt.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert words_of([gz], how="none") == ["Über", "alles"]


def test_a_run_without_whitespace_is_cut_at_16_chunks_to_bound_memory(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("x" * 100 + " y")
    chunks = list(read_text([path], chunk_chars=2))
    assert max(map(len, chunks)) <= 32
    assert "".join(chunks) == "x" * 100 + " y "


def test_words_never_join_across_files(tmp_path):
    (tmp_path / "1.txt").write_text("alpha beta")  # no trailing newline
    (tmp_path / "2.txt").write_text("gamma\tdelta\r\n")
    assert words_of(expand_paths(tmp_path)) == ["alpha", "beta", "gamma", "delta"]


def test_invalid_utf8_bytes_are_replaced_and_counted(tmp_path, caplog):
    path = tmp_path / "bad.txt"
    # \xff and \xfe are never valid; \xc3 starts a sequence that "(" does not continue;
    # a genuine U+FFFD in the text is not an invalid byte.
    path.write_bytes(b"good \xff\xfe bad \xc3( ok \xef\xbf\xbd caf\xc3\xa9\n")
    with caplog.at_level(logging.WARNING, logger="sgns.data.corpus"):
        words = words_of([path], chunk_chars=4)
    assert words == ["good", "\ufffd\ufffd", "bad", "\ufffd(", "ok", "\ufffd", "café"]
    assert "3 invalid UTF-8 bytes" in caplog.text
    assert str(path) in caplog.text


def test_a_corrupt_archive_is_a_data_error(tmp_path):
    good = gzip.compress(TEXT.encode() * 50)
    (tmp_path / "cut.txt.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.txt.bz2").write_bytes(b"BZh9" + b"\x00" * 100)
    xz = lzma.compress(TEXT.encode() * 50)
    (tmp_path / "cut.txt.xz").write_bytes(xz[: len(xz) // 2])
    (tmp_path / "junk.txt.xz").write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 100)
    for name in ("cut.txt.gz", "junk.txt.bz2", "cut.txt.xz", "junk.txt.xz"):
        with pytest.raises(DataError, match=name):
            words_of([tmp_path / name])


# --- normalisation ------------------------------------------------------------------------


def test_punct_matches_the_notebooks_token_replacement():
    text = (
        'He said: "Stop!" (Then -- after a pause -- he left.) Why? Because; '
        "well, it's late... A---B\nNew line, UPPER Case."
    )
    assert normalize(text, "punct").split() == notebook_preprocess(text)
    assert "<NEW_LINE>" not in normalize(text, "punct")  # the notebook keeps no newline token


def test_text8_keeps_lowercase_letters_and_spells_digits():
    assert normalize("Hello, World! 42 café x-ray", "text8").split() == [
        "hello",
        "world",
        "four",
        "two",
        "caf",
        "x",
        "ray",
    ]


def test_lower_only_lowercases():
    assert normalize("Hello, World! 42", "lower").split() == ["hello,", "world!", "42"]


SENTENCE = "Über die Straße gehen Kinder; café naïve 東京 user_id_42 C++ 3.14"
SENTENCE_WORDS = ["Über", "die", "Straße", "gehen", "Kinder;", "café", "naïve", "東京",
                  "user_id_42", "C++", "3.14"]  # fmt: skip


def test_none_keeps_every_word_exactly_as_written():
    assert normalize(SENTENCE, "none").split() == SENTENCE_WORDS
    assert normalize("n5_507 n12_3\tn5_507\n", "none").split() == ["n5_507", "n12_3", "n5_507"]


def test_text8_mangles_what_is_not_english():
    """Why text8 is not the default for user text."""
    assert " ".join(normalize(SENTENCE, "text8").split()) == (
        "ber die stra e gehen kinder caf na ve user id four two c three one four"
    )


def test_lower_lowercases_every_script_and_keeps_the_rest():
    text = "Über ÉCOLE ΟΔΟΣ 東京 Straße C++ USER_ID_42"
    # Greek capital sigma at a word's end becomes final sigma (U+03C2), by Unicode's rules.
    want = ["über", "école", "οδο\u03c2", "東京", "straße", "c++", "user_id_42"]
    assert normalize(text, "lower").split() == want


# --- user text through the config --------------------------------------------------------


def user_text_vocab(tmp_path, text: str, *overrides: str) -> list[str]:
    """The vocabulary data=text_file builds from `text` with its defaults plus `overrides`."""
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    conf = resolved_config(
        ["data=text_file", f"data.path={path}", f"data.cache_dir={tmp_path / 'cache'}",
         *overrides]
    )  # fmt: skip
    dm = SkipGramDataModule(**conf["data"])
    dm.setup("fit")
    return dm.vocab.words


def test_text_file_defaults_keep_non_english_words_and_identifiers_intact(tmp_path):
    words = user_text_vocab(tmp_path, (SENTENCE + " n5_507\n") * 5)
    assert sorted(words) == sorted([*SENTENCE_WORDS, "n5_507"])


def test_text_file_lower_option_lowercases_non_ascii(tmp_path):
    words = user_text_vocab(tmp_path, (SENTENCE + "\n") * 5, "data.normalization=lower")
    assert sorted(words) == sorted(w.lower() for w in SENTENCE_WORDS)
    assert "über" in words
    assert "Über" not in words
    assert "user_id_42" in words


def test_text_file_text8_option_still_gives_text8_words(tmp_path):
    words = user_text_vocab(tmp_path, (SENTENCE + "\n") * 5, "data.normalization=text8")
    assert "ber" in words
    assert "four" in words
    assert "Über" not in words


def test_undecodable_bytes_stay_inside_their_word_as_u_fffd(tmp_path, caplog):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"caf\xe9 ok " * 5)  # Latin-1 e-acute: not UTF-8
    conf = resolved_config(
        ["data=text_file", f"data.path={path}", f"data.cache_dir={tmp_path / 'cache'}"]
    )
    with caplog.at_level(logging.WARNING, logger="sgns.data.corpus"):
        dm = SkipGramDataModule(**conf["data"])
        dm.setup("fit")
    assert sorted(dm.vocab.words) == ["caf\ufffd", "ok"]
    assert "5 invalid UTF-8 bytes replaced by U+FFFD" in caplog.text


@pytest.mark.parametrize(
    ("data", "want"),
    [
        ("text_file", ("none", 1e-3, "word2vec")),
        ("wiki_sample", ("text8", 1e-5, "mikolov")),
        ("text8", ("text8", 1e-5, "mikolov")),
    ],
)
def test_each_source_has_its_own_normalisation_and_subsampling(data, want):
    cfg = make_config([f"data={data}", "data.path=x"]).data
    assert (cfg.normalization, cfg.subsample_t, cfg.subsample_rule) == want


def test_an_explicit_setting_beats_the_sources_default():
    overrides = ["data=text_file", "data.path=x", "data.normalization=lower",
                 "data.subsample_t=1e-5", "data.subsample_rule=mikolov"]  # fmt: skip
    cfg = make_config(overrides).data
    assert (cfg.normalization, cfg.subsample_t, cfg.subsample_rule) == ("lower", 1e-5, "mikolov")


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            ["data=text_file", "data.path=c.txt"],
            "data: text_file c.txt, normalization=none (tokens as written, split on "
            "whitespace), subsample_t=0.001, subsample_rule=word2vec (word2vec's and "
            "gensim's default, for user text)",
        ),
        (
            ["data=wiki_sample"],
            "data: wiki_sample, normalization=text8 (text8's rules: lower-case a-z only, "
            "digits spelled out, all else a space), subsample_t=1e-05, subsample_rule=mikolov "
            "(the notebook's value, for English Wikipedia)",
        ),
        (
            [
                "data=text_file",
                "data.path=c.txt",
                "data.normalization=lower",
                "data.subsample_t=1e-4",
            ],
            "data: text_file c.txt, normalization=lower (tokens as written, lower-cased), "
            "subsample_t=0.0001, subsample_rule=word2vec",
        ),
        (
            ["data=text8", "data.subsample_t=0"],
            "data: text8, normalization=text8 (text8's rules: lower-case a-z only, digits "
            "spelled out, all else a space), subsample_t=0 (no subsampling)",
        ),
    ],
    ids=["text_file", "wiki_sample", "overridden", "no subsampling"],
)
def test_the_run_names_its_normalisation_and_subsampling(overrides, line):
    assert SkipGramDataModule(**resolved_config(overrides)["data"]).describe() == line


def test_max_vocab_keeps_the_most_frequent_among_min_count_words(tmp_path):
    """data.max_vocab and data.min_count from the config reach the vocabulary."""
    counts = {"a": 9, "b": 7, "c": 7, "d": 5, "e": 2}
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(w for w, n in counts.items() for _ in range(n)))
    cfg = make_config(
        ["data=text_file", f"data.path={path}", f"data.cache_dir={tmp_path / 'cache'}"]
    )
    data = dict(cfg.data, min_count=3, max_vocab=3, pairs_on="host", batch_size=4096)
    data["block_tokens"] = 1 << 20
    dm = SkipGramDataModule(**data)
    dm.setup("fit")
    assert dm.vocab.words == ["a", "b", "c"]  # d passes min_count but max_vocab stops it
    dm = SkipGramDataModule(**dict(data, max_vocab=None))
    dm.setup("fit")
    assert dm.vocab.words == ["a", "b", "c", "d"]  # e is below min_count


# --- text written without spaces, not split into words -----------------------------------


def no_space_lines(first: int, n_letters: int, n_lines: int, seed=0) -> list[str]:
    """`n_lines` distinct lines of 12-30 random letters of one script (code points from `first`
    on), as Chinese or Thai text is written: no spaces between words."""
    rng = np.random.default_rng(seed)
    letters = [chr(first + i) for i in range(n_letters)]
    return ["".join(rng.choice(letters, rng.integers(12, 31))) for _ in range(n_lines)]


CHINESE_LINES = no_space_lines(0x4E00, 500, 40)
THAI_LINES = no_space_lines(0x0E01, 46, 40)


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("\n".join(CHINESE_LINES * 5), True),
        ("\n".join(THAI_LINES * 5), True),
        # The same characters split into words of 1-3 characters.
        ("\n".join(" ".join(re.findall(".{1,3}", line)) for line in CHINESE_LINES * 5), False),
        # Identifiers longer than any word, in a script written with spaces.
        (" ".join(str(uuid.UUID(int=i % 50)) for i in range(500)), False),
        # One unsegmented Chinese line among 700 English words.
        ("the cat sat on the mat and " * 100 + CHINESE_LINES[0], False),
    ],
)
def test_only_unsegmented_runs_of_chinese_or_thai_get_the_hint(text, flagged):
    counts = Counter(text.split())
    hint = unsegmented_hint(counts.keys(), counts.values())
    assert bool(hint) == flagged
    if flagged:
        assert hint.startswith("100% of the corpus's words are runs of over 10 characters")
        assert "must be split into words first" in hint


def test_unsegmented_chinese_warns_on_every_run_with_the_text_file_defaults(tmp_path, caplog):
    text = "\n".join(CHINESE_LINES * 5)
    for _ in range(2):  # tokenised, then from the token cache
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sgns"):
            words = user_text_vocab(tmp_path, text)
        assert sorted(words) == sorted(CHINESE_LINES)  # one "word" a line, as warned
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert "Chinese, Japanese or Thai text must be split into words first" in warning
        assert warning.endswith("each such run trains as one word")


def test_unsegmented_chinese_with_no_line_repeated_fails_naming_the_cause(tmp_path):
    with pytest.raises(DataError, match=r"^no word in the corpus .* occurs at least "
                       r"data.min_count=5 times \(most frequent: 1\); 100% of the corpus's "
                       r"words are runs .* must be split into words first"):  # fmt: skip
        user_text_vocab(tmp_path, "\n".join(CHINESE_LINES))
