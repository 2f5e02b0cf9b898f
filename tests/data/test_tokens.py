import json
import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import sgns.data.tokens as tokens
from conftest import in_threads
from sgns.data.tokens import cache_key, prepare_tokens
from sgns.errors import DataError

SRC = Path(tokens.__file__).resolve().parents[2]


@pytest.fixture
def corpus(tmp_path) -> list[Path]:
    """Three files with a skewed vocabulary: many words appear in more than one file."""
    rng = np.random.default_rng(0)
    files = []
    for i in range(3):
        words = [f"w{k}" for k in rng.zipf(1.5, size=3000) if k < 400]
        path = tmp_path / "corpus" / f"part{i}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(" ".join(words) + "\n")
        files.append(path)
    return files


def corpus_words(files) -> list[str]:
    return [w for f in files for w in f.read_text().split()]


def same_vocab(a, b) -> bool:
    return a.words == b.words and np.array_equal(a.counts, b.counts)


def entries(cache: Path) -> list[Path]:
    """The cache's entries and leftovers; lock files stay by design (sgns.io.exclusive)."""
    return sorted(p for p in cache.iterdir() if not p.name.endswith(".lock"))


def test_ids_spell_the_corpus_in_vocabulary_order(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(tokens, "_REMAP_BLOCK", 7)  # rewrite in place across many blocks
    ids, vocab = prepare_tokens(corpus, tmp_path / "cache", "lower", min_count=3)
    words = corpus_words(corpus)
    counts = Counter(words)
    kept = sorted((w for w in counts if counts[w] >= 3), key=lambda w: (-counts[w], w))
    assert vocab.words == kept
    np.testing.assert_array_equal(vocab.counts, [counts[w] for w in kept])
    assert [vocab.words[i] for i in ids] == [w for w in words if counts[w] >= 3]
    assert ids.dtype == np.int32
    assert isinstance(ids, np.memmap)


def test_max_vocab_caps_the_vocabulary_after_min_count(tmp_path, corpus):
    ids, vocab = prepare_tokens(corpus, tmp_path / "cache", "lower", min_count=3, max_vocab=10)
    full = prepare_tokens(corpus, tmp_path / "cache", "lower", min_count=3)[1]
    assert vocab.words == full.words[:10]
    assert ids.max() == 9
    assert len(ids) == vocab.total


def test_a_second_run_reuses_the_cache_without_reading_text(tmp_path, corpus, monkeypatch, caplog):
    cache = tmp_path / "cache"
    ids, vocab = prepare_tokens(corpus, cache, "lower", 2)

    def no_tokenising(*args, **kwargs):
        raise AssertionError("the corpus was tokenised again")

    monkeypatch.setattr(tokens, "read_text", no_tokenising)
    with caplog.at_level(logging.INFO, logger="sgns.data.tokens"):
        again_ids, again_vocab = prepare_tokens(corpus, cache, "lower", 2)
    assert "token cache hit" in caplog.text
    np.testing.assert_array_equal(again_ids, ids)
    assert same_vocab(again_vocab, vocab)
    assert len(entries(cache)) == 1


def test_a_truncated_ids_file_is_detected_and_rebuilt(tmp_path, corpus, caplog):
    cache = tmp_path / "cache"
    ids, _ = prepare_tokens(corpus, cache, "lower", 2)
    want = np.array(ids)
    (entry,) = entries(cache)
    with open(entry / "ids.int32", "r+b") as f:
        f.truncate(4 * (len(want) - 1))
    with caplog.at_level(logging.WARNING, logger="sgns.data.tokens"):
        rebuilt, _ = prepare_tokens(corpus, cache, "lower", 2)
    assert "corrupt or stale" in caplog.text
    np.testing.assert_array_equal(rebuilt, want)
    assert entries(cache) == [entry]


@pytest.mark.parametrize("damage", ["vocab.json", "meta.json"])
def test_a_corrupt_vocab_or_meta_is_rebuilt(tmp_path, corpus, damage):
    cache = tmp_path / "cache"
    ids, vocab = prepare_tokens(corpus, cache, "lower", 2)
    want = np.array(ids)
    (entry,) = entries(cache)
    (entry / damage).write_text('{"words": ["half')
    rebuilt, again = prepare_tokens(corpus, cache, "lower", 2)
    np.testing.assert_array_equal(rebuilt, want)
    assert same_vocab(again, vocab)
    json.loads((entry / damage).read_text())  # whole again


def test_a_changed_file_or_setting_gets_its_own_entry(tmp_path, corpus):
    cache = tmp_path / "cache"
    base = dict(normalization="lower", min_count=2, max_vocab=None)
    key = cache_key(corpus, **base)
    changes = [{"normalization": n} for n in ("none", "text8", "punct")]
    for change in (*changes, {"min_count": 3}, {"max_vocab": 50}):
        assert cache_key(corpus, **(base | change)) != key
    assert cache_key(corpus[:2], **base) != key
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    same = [copy / p.name for p in corpus]
    for src, dst in zip(corpus, same, strict=True):
        dst.write_bytes(src.read_bytes())
    assert cache_key(same, **base) == key  # content decides, not location

    old_ids, _ = prepare_tokens(corpus, cache, "lower", 2)
    with open(corpus[0], "a") as f:
        f.write("brandnew " * 5)
    new_ids, vocab = prepare_tokens(corpus, cache, "lower", 2)
    assert "brandnew" in vocab.words
    assert len(new_ids) == len(old_ids) + 5
    assert len(entries(cache)) == 2


def test_past_max_distinct_the_rarest_words_are_forgotten(tmp_path, monkeypatch, caplog):
    """Bounded memory on any corpus: frequent words keep exact counts, and counts always
    agree with the ids written (a forgotten word's earlier occurrences are dropped)."""
    monkeypatch.setattr(tokens, "MAX_DISTINCT", 40)
    rng = np.random.default_rng(1)
    files = []
    for i in range(6):  # one chunk per file: a prune can happen after each
        frequent = [f"f{k}" for k in rng.integers(0, 10, size=400)]
        rare = [f"r{i}_{k}" for k in range(30)] + ["again"] * (i == 5)  # 30 new words a file
        path = tmp_path / f"{i}.txt"
        path.write_text(" ".join(frequent + rare + ["again"] * (i in (0, 5))) + "\n")
        files.append(path)
    with caplog.at_level(logging.WARNING, logger="sgns.data.tokens"):
        ids, vocab = prepare_tokens(files, tmp_path / "cache", "lower", 1)
    assert "forgot the words seen 1 time(s) or fewer" in caplog.text
    counts = Counter(corpus_words(files))
    for k in range(10):
        assert vocab.counts[vocab.words.index(f"f{k}")] == counts[f"f{k}"]
    np.testing.assert_array_equal(np.bincount(ids, minlength=len(vocab)), vocab.counts)
    assert vocab.counts[vocab.words.index("again")] == 2  # its first sighting was forgotten
    assert not [w for w in vocab.words if w.startswith("r")]  # each seen once, then forgotten


def test_an_empty_corpus_or_too_high_min_count_is_a_data_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n ")
    with pytest.raises(DataError, match="contains no words"):
        prepare_tokens([empty], tmp_path / "cache", "lower", 1)
    rare = tmp_path / "rare.txt"
    rare.write_text("a a b")
    with pytest.raises(DataError, match=r"min_count=3 .*most frequent: 2"):
        prepare_tokens([rare], tmp_path / "cache", "lower", 3)
    assert not entries(tmp_path / "cache")  # no half-built entries left


def test_concurrent_builders_in_threads_agree_and_leave_one_entry(tmp_path, corpus):
    cache = tmp_path / "cache"
    results = in_threads(lambda: prepare_tokens(corpus, cache, "lower", 2))
    for ids, vocab in results[1:]:
        np.testing.assert_array_equal(ids, results[0][0])
        assert same_vocab(vocab, results[0][1])
    assert len(entries(cache)) == 1  # temporary folders are gone


def test_a_builder_that_finishes_second_keeps_the_published_entry(tmp_path, corpus):
    cache = tmp_path / "cache"
    ids, _ = prepare_tokens(corpus, cache, "lower", 2)
    (entry,) = entries(cache)
    inode = (entry / "ids.int32").stat().st_ino
    late = tmp_path / "late"
    late.mkdir()
    (late / "ids.int32").write_bytes(b"")  # a different (bad) result must not replace it
    tokens._publish(late, entry)
    assert (entry / "ids.int32").stat().st_ino == inode
    np.testing.assert_array_equal(prepare_tokens(corpus, cache, "lower", 2)[0], ids)


BUILD = """
import logging, sys, time
from pathlib import Path
from sgns.data.tokens import prepare_tokens
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
ids, vocab = prepare_tokens([Path(p) for p in sys.argv[3:]], sys.argv[2], "lower", 2)
print(len(ids), len(vocab), int(ids.sum()))
"""


@pytest.mark.slow
def test_concurrent_runs_tokenise_a_new_corpus_once_and_agree(tmp_path, corpus):
    """Four processes ask for the same new corpus at once, as the runs of a parallel sweep
    do: one tokenises it, the others wait for its entry and load it."""
    go, cache = tmp_path / "go", tmp_path / "cache"
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD, str(go), str(cache), *map(str, corpus)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-1000:] for _, err in outs]
    assert len({out for out, _ in outs}) == 1
    logs = "".join(err for _, err in outs)
    assert logs.count("tokenising 3 file(s) into") == 1
    assert logs.count("token cache hit") == 3
    assert len(entries(cache)) == 1


def test_each_normalisation_of_one_file_is_cached_apart(tmp_path):
    path = tmp_path / "de.txt"
    path.write_text("Über über Straße " * 4, encoding="utf-8")
    cache = tmp_path / "cache"
    as_written = prepare_tokens([path], cache, "none", min_count=1)[1]
    lowered = prepare_tokens([path], cache, "lower", min_count=1)[1]
    assert sorted(as_written.words) == ["Straße", "Über", "über"]
    assert lowered.words == ["über", "straße"]
    assert lowered.counts.tolist() == [8, 4]
    assert prepare_tokens([path], cache, "none", min_count=1)[1].words == as_written.words
    assert len(entries(cache)) == 2
