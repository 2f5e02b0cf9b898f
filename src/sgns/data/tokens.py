"""Token cache: a corpus tokenised once into a flat int32 file plus its vocabulary.

    cache_dir/tokens-<key>/ids.int32   token ids in corpus order (out-of-vocabulary words dropped)
    cache_dir/tokens-<key>/vocab.json  Vocab (words, counts)
    cache_dir/tokens-<key>/meta.json   n_tokens, vocab size, sources (checked on every load)

The key hashes the input files' bytes and every setting that changes the ids, so a changed
file or setting never reuses a stale entry. Training reads ids through np.memmap.
Tokenising streams the text twice (count, then map), holding only one chunk at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from itertools import repeat
from pathlib import Path

import numpy as np

from sgns.data.corpus import normalize, read_text
from sgns.data.vocab import Vocab
from sgns.errors import DataError

log = logging.getLogger(__name__)

CACHE_VERSION = 1
_HASH_BLOCK = 1 << 22


def cache_key(files: list[Path], **settings) -> str:
    """Hash of the files' contents and the tokenising settings."""
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, sorted(settings.items())]).encode())
    for path in files:
        digest.update(str(path.name).encode())
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
    loaded = _load_entry(entry)
    if loaded is not None:
        log.info("token cache hit: %s", entry)
        return loaded
    log.info("tokenising %d file(s) into %s", len(files), entry)
    _build_entry(entry, files, normalization, min_count, max_vocab)
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
    counts: Counter = Counter()
    for chunk in read_text(files):
        counts.update(normalize(chunk, normalization).split())
    if not counts:
        hint = ""
        if normalization == "text8":
            hint = (
                " after data.normalization=text8, which keeps only a-z and digits "
                "(data.normalization=lower keeps every script)"
            )
        raise DataError(f"the corpus ({_describe(files)}) contains no words{hint}")
    vocab = Vocab.from_counter(counts, min_count, max_vocab)
    if len(vocab) == 0:
        raise DataError(
            f"no word in the corpus ({_describe(files)}) occurs at least "
            f"data.min_count={min_count} times (most frequent: {counts.most_common(1)[0][1]})"
        )
    del counts
    tmp = entry.with_name(f".{entry.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        n_tokens = _write_ids(tmp / "ids.int32", files, normalization, vocab)
        vocab.save(tmp / "vocab.json")
        meta = {"n_tokens": n_tokens, "vocab_size": len(vocab), "sources": [str(p) for p in files]}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_ids(path: Path, files, normalization: str, vocab: Vocab) -> int:
    """Map every in-vocabulary word to its id and append to `path`; returns the count."""
    lookup = vocab.index.get
    n_tokens = 0
    with open(path, "wb") as out:
        for chunk in read_text(files):
            words = normalize(chunk, normalization).split()
            ids = np.fromiter(map(lookup, words, repeat(-1)), dtype=np.int32, count=len(words))
            ids = ids[ids >= 0]
            out.write(ids.tobytes())
            n_tokens += len(ids)
    return n_tokens


def _describe(files) -> str:
    return str(files[0]) if len(files) == 1 else f"{len(files)} files from {files[0].parent}"
