"""Export word vectors from a checkpoint (or re-export a vectors file) in word2vec format.

    python scripts/export.py outputs/runs/<run>/checkpoints/last.ckpt vectors.bin
    python scripts/export.py outputs/runs/<run>/checkpoints/last.ckpt both.txt --vectors in+out
    python scripts/export.py glove.6B.100d.txt glove.bin     # GloVe's text into word2vec's

A checkpoint carries its vocabulary, so it is all that is needed. An OUT ending in .bin gets
word2vec's binary format, as gensim's readers expect of the name; any other, text unless
--binary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sgns.errors import SgnsError
from sgns.eval import VECTORS
from sgns.eval.vectors import load_vectors, load_vectors_from_checkpoint, save_word2vec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a .ckpt checkpoint, a run directory or a vectors file")
    parser.add_argument("out", help="the word2vec file to write")
    parser.add_argument(
        "--binary", action="store_true", help="word2vec binary format (an OUT ending in .bin too)"
    )
    parser.add_argument(
        "--vectors", choices=VECTORS, default="in", help="checkpoint: in, or in + out summed"
    )
    args = parser.parse_args(argv)
    try:
        if args.source.endswith(".ckpt"):
            matrix, words = load_vectors_from_checkpoint(args.source, args.vectors)
        elif args.vectors != "in":
            raise SgnsError("--vectors in+out needs a checkpoint: a vectors file holds one table")
        else:
            matrix, words = load_vectors(args.source)
        binary = args.binary or Path(args.out).suffix == ".bin"
        save_word2vec(args.out, matrix, words, binary=binary)
    except SgnsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a folder that is not there, a disk that is full
        print(f"error: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    kind = "binary" if binary else "text"
    print(f"wrote {len(words):,} x {matrix.shape[1]} vectors to {args.out} ({kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
