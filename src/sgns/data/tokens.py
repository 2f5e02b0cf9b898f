"""Token cache: a corpus tokenised once into a flat int32 file plus its vocabulary.

    cache_dir/tokens-<key>/ids.int32   token ids in corpus order (out-of-vocabulary words dropped)
    cache_dir/tokens-<key>/vocab.json  Vocab (words, counts)
    cache_dir/tokens-<key>/meta.json   n_tokens, vocab size, sources (checked on every load)

The key hashes the input files' bytes and every setting that changes the ids, so a changed
file or setting never reuses a stale entry; an entry whose files do not match its meta.json
(a truncated ids file, say) is rebuilt. Training reads ids through np.memmap.

Tokenising reads the text once, a chunk at a time: each word gets a provisional id in
first-seen order, written straight to disk while counts accumulate. Once the vocabulary is
known, one pass over that file rewrites it in place into final ids. Memory holds one chunk
plus one entry per distinct word, never the corpus.

Concurrent runs on one corpus (a parallel sweep) tokenise it once: the first takes the
entry's lock file and builds, the others wait for it and load the result. Building itself
stays safe without the lock (a file system where locks do not hold): each builder writes its
own temporary folder and the first to finish publishes it with a rename; later ones keep the
published entry and drop their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sgns.data.corpus import normalize, read_text
from sgns.data.vocab import Vocab
from sgns.errors import DataError
from sgns.io import exclusive

log = logging.getLogger(__name__)

# 3: a leading byte-order mark is dropped and chunks end at any Unicode whitespace.
CACHE_VERSION = 3
_HASH_BLOCK = 1 << 22
_REMAP_BLOCK = 1 << 22  # ids rewritten at a time (16 MB)
# Distinct words held while counting; each costs about 150 bytes (a str, a dict entry, an
# int). A corpus with more forgets its rarest words (word2vec's C tool does the same).
MAX_DISTINCT = 5_000_000
# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, kana and Han.
_NO_SPACES = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)
# More characters of those scripts than a word has: the "word" is a phrase or a whole line.
_LONGEST_WORD = 10


def cache_key(files: list[Path], **settings) -> str:
    """Hash of the files' contents and the tokenising settings."""
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, sorted(settings.items())]).encode())
    for path in files:
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as f:
            while block := f.read(_HASH_BLOCK):
                digest.update(block)
    return digest.hexdigest()[:20]


def prepare_tokens(
    files: list[Path],
    cache_dir: str | Path,
    normalization: str = "text8",
    min_count: int = 5,
    max_vocab: int | None = None,
) -> tuple[np.ndarray, Vocab]:
    """Token ids (a read-only memmap) and vocabulary of `files`, from the cache when valid."""
    settings = dict(normalization=normalization, min_count=min_count, max_vocab=max_vocab)
    entry = Path(cache_dir).expanduser() / f"tokens-{cache_key(files, **settings)}"
    loaded = _load_entry(entry)  # a hit needs no lock (nor a writable cache)
    if loaded is None:
        with exclusive(entry.with_name(f".{entry.name}.lock"), "tokenising this corpus"):
            loaded = _load_entry(entry)  # built by the process this one waited for
            if loaded is None:
                return _build_and_load(entry, files, normalization, min_count, max_vocab)
    log.info("token cache hit: %s", entry)
    return loaded


def warn_if_unsegmented(vocab: Vocab) -> None:
    """Warn, on every run, when the vocabulary holds unsegmented text (see unsegmented_hint)."""
    hint = unsegmented_hint(vocab.words, vocab.counts)
    if hint:
        log.warning("%s; each such run trains as one word", hint)


def unsegmented_hint(words: Iterable[str], counts: Iterable[int]) -> str:
    """What to do when at least 5 % of the tokens are runs of a script written without spaces
    too long to be words: Chinese, Japanese or Thai text not split into words. Else ''."""
    counts = list(map(int, counts))
    runs = {
        word: count
        for word, count in zip(words, counts, strict=True)
        if len(word) > _LONGEST_WORD and len(_NO_SPACES.findall(word)) > _LONGEST_WORD
    }
    share = sum(runs.values()) / max(sum(counts), 1)
    if share < 0.05:
        return ""
    example = max(runs, key=runs.__getitem__)
    example = example if len(example) <= 16 else f"{example[:16]}..."
    return (
        f"{share:.0%} of the corpus's words are runs of over {_LONGEST_WORD} characters in a "
        f"script written without spaces (e.g. {example!r}): Chinese, Japanese or Thai "
        "text must be split into words first, separated by spaces (jieba, MeCab, PyThaiNLP)"
    )


def _build_and_load(entry: Path, files, normalization, min_count, max_vocab):
    log.info("tokenising %d file(s) into %s", len(files), entry)
    start = time.perf_counter()
    _build_entry(entry, files, normalization, min_count, max_vocab)
    log.info("tokenised %s in %.1f s", _describe(files), time.perf_counter() - start)
    loaded = _load_entry(entry)
    if loaded is None:
        raise DataError(f"token cache {entry} could not be read back after writing it")
    return loaded


def _load_entry(entry: Path) -> tuple[np.ndarray, Vocab] | None:
    """The cached ids and vocab, or None when missing, incomplete or corrupt."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        vocab = Vocab.load(entry / "vocab.json")
        n_tokens = int(meta["n_tokens"])
        if (entry / "ids.int32").stat().st_size != 4 * n_tokens or len(vocab) != meta["vocab_size"]:
            raise ValueError("size mismatch")
        ids = np.memmap(entry / "ids.int32", dtype=np.int32, mode="r", shape=(n_tokens,))
    except (OSError, ValueError, KeyError, TypeError, DataError) as err:
        if entry.exists():
            log.warning("token cache %s is corrupt or stale (%s); rebuilding", entry, err)
        return None
    return ids, vocab


def _build_entry(entry: Path, files, normalization, min_count, max_vocab) -> None:
    """Tokenise `files` into a private temporary entry, then publish it as `entry`."""
    # One private folder per builder (process and thread): builders never share files.
    # Not sgns.io.atomic_path: that publishes one file, and an entry is a folder of three
    # whose publication must also settle a race with another builder (_publish).
    tmp = entry.with_name(f".{entry.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        words, counts, n_raw = _write_raw_ids(tmp / "ids.int32", files, normalization)
        vocab = _vocab(words, counts, min_count, max_vocab, files, normalization)
        log.info("%d words, %d distinct, %d in the vocabulary", n_raw, len(words), len(vocab))
        lookup = np.full(len(counts), -1, dtype=np.int32)
        lookup[[words[w] for w in vocab.words]] = np.arange(len(vocab), dtype=np.int32)
        del words, counts
        n_tokens = _remap_ids(tmp / "ids.int32", n_raw, lookup)
        vocab.save(tmp / "vocab.json")
        meta = {"n_tokens": n_tokens, "vocab_size": len(vocab), "sources": [str(p) for p in files]}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        _publish(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _WordIds(dict):
    """word -> provisional id; looking up an unseen word gives it the next id.

    ``map(ids.__getitem__, words)`` then runs in C for every word seen before, and only
    calls back into Python for a new word.
    """

    __slots__ = ("next_id",)

    def __init__(self):
        super().__init__()
        self.next_id = 0

    def __missing__(self, word: str) -> int:
        self[word] = new = self.next_id
        self.next_id = new + 1
        return new


def _write_raw_ids(path: Path, files, normalization: str) -> tuple[dict, np.ndarray, int]:
    """One pass over the text: every word gets a provisional id (first-seen order), written
    to `path` as int32. Returns (word -> provisional id, counts by provisional id, n_words).

    Per word this costs one str.split and one dict lookup, both in C. Past MAX_DISTINCT
    words the rarest are forgotten (see _prune), so memory stays bounded on any corpus.
    """
    index = _WordIds()
    counts = np.zeros(0, dtype=np.int64)
    n_words = 0
    with open(path, "wb") as out:
        for chunk in read_text(files):
            words = normalize(chunk, normalization).split()
            ids = np.fromiter(map(index.__getitem__, words), dtype=np.int32, count=len(words))
            chunk_counts = np.bincount(ids, minlength=index.next_id)
            chunk_counts[: len(counts)] += counts
            counts = chunk_counts
            out.write(ids.tobytes())
            n_words += len(ids)
            if len(index) > MAX_DISTINCT:
                _prune(index, counts)
    return index, counts, n_words


def _prune(index: dict, counts: np.ndarray) -> None:
    """Forget the rarest words so far until a quarter of MAX_DISTINCT is free again.

    As word2vec's ReduceVocab (and gensim's max_vocab_size): a forgotten word that comes
    back starts a new id from zero, and its earlier occurrences are dropped like
    out-of-vocabulary words. Words seen once go first, which min_count mostly drops anyway.
    """
    floor = 0
    while len(index) > MAX_DISTINCT * 3 // 4:
        floor += 1
        rare = (counts <= floor).tolist()  # list indexing is cheaper than numpy's per item
        for word in [w for w, i in index.items() if rare[i]]:
            del index[word]
    log.warning(
        "over %d distinct words: forgot the words seen %d time(s) or fewer so far",
        MAX_DISTINCT,
        floor,
    )


def _vocab(words: dict, counts: np.ndarray, min_count, max_vocab, files, normalization) -> Vocab:
    if not len(counts):
        hint = ""
        if normalization == "text8":
            hint = (
                " after data.normalization=text8, which keeps only a-z and digits "
                "(data.normalization=none keeps every script, as written)"
            )
        raise DataError(f"the corpus ({_describe(files)}) contains no words{hint}")
    kept = counts >= min_count
    vocab = Vocab.from_counter(
        {w: int(counts[i]) for w, i in words.items() if kept[i]}, min_count, max_vocab
    )
    if len(vocab) == 0:
        ids = np.fromiter(words.values(), dtype=np.int64, count=len(words))
        hint = unsegmented_hint(words.keys(), counts[ids])
        raise DataError(
            f"no word in the corpus ({_describe(files)}) occurs at least "
            f"data.min_count={min_count} times (most frequent: {counts.max()})"
            + (f"; {hint}" if hint else "")
        )
    return vocab


def _remap_ids(path: Path, n_raw: int, lookup: np.ndarray) -> int:
    """Rewrite `path` in place from provisional to final ids, dropping out-of-vocabulary
    words; returns the number of tokens kept. Plain reads and writes, not a memmap, so
    the pages never count towards this process's resident memory."""
    n_tokens = 0
    with open(path, "r+b", buffering=0) as f:
        fd = f.fileno()
        for start in range(0, n_raw, _REMAP_BLOCK):
            raw = os.pread(fd, 4 * min(_REMAP_BLOCK, n_raw - start), 4 * start)
            ids = lookup[np.frombuffer(raw, dtype=np.int32)]
            ids = ids[ids >= 0]
            os.pwrite(fd, ids.tobytes(), 4 * n_tokens)  # never ahead of the next read
            n_tokens += len(ids)
        f.truncate(4 * n_tokens)
    return n_tokens


def _publish(tmp: Path, entry: Path) -> None:
    """Move the finished `tmp` into place. Another process may have built the same entry
    meanwhile: a valid one is kept (ours is dropped), a corrupt one is moved aside first."""
    if _load_entry(entry) is not None:
        return
    if entry.exists():
        trash = tmp.with_name(tmp.name.replace(".tmp-", ".old-"))
        with contextlib.suppress(FileNotFoundError):
            os.replace(entry, trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, entry)
    except OSError:
        if _load_entry(entry) is None:  # lost the race to a builder whose result is bad
            raise


def _describe(files) -> str:
    return str(files[0]) if len(files) == 1 else f"{len(files)} files from {files[0].parent}"
