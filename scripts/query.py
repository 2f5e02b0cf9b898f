"""Query trained word vectors: nearest neighbours, analogies, similarity and benchmark scores.

PATH is a run directory (its vectors.txt, else vectors.bin, else, while the run trains or once
it stopped, its checkpoints/last.ckpt), a word2vec text/binary file (GloVe's text, without the
header line, too), or a training checkpoint (.ckpt), which carries its vocabulary.

python scripts/query.py outputs/runs/2026-05-01_12-00-00 neighbors king -k 5
python scripts/query.py outputs/runs/2026-05-01_12-00-00 neighbors king paris physics
python scripts/query.py outputs/runs/2026-05-01_12-00-00 analogy man king woman # man:king::woman:?
python scripts/query.py vectors.bin similarity cat dog
python scripts/query.py vectors.bin score      # analogies, WS353, SimLex-999, as in metrics.json
python scripts/query.py vectors.bin score --pairs MEN.txt --analogies my_analogies.txt
python scripts/query.py glove.6B.100d.txt score   # someone else's vectors, scored the same way
python scripts/query.py outputs/runs/2026-05-01_12-00-00 --vectors in+out score  # w + c vectors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sgns.errors import SgnsError
from sgns.eval import VECTORS
from sgns.eval.benchmarks import benchmark_files, score
from sgns.eval.lookup import word_ids
from sgns.eval.neighbors import analogy_neighbors, nearest_neighbors, pair_similarity
from sgns.eval.vectors import (
    RUN_CHECKPOINT,
    load_vectors,
    load_vectors_from_checkpoint,
    vectors_file,
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="run directory, word2vec vectors file or .ckpt checkpoint")
    parser.add_argument(
        "--vectors",
        choices=VECTORS,
        help="from the checkpoint (a run directory's, or a .ckpt): the input vectors, or input "
        "+ output summed (Levy et al. 2015); default: the vectors the run exported",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    neighbors = commands.add_parser("neighbors", help="words closest to each WORD by cosine")
    neighbors.add_argument("words", nargs="+", metavar="word")
    analogy = commands.add_parser("analogy", help="A is to B as C is to ? (3CosAdd)")
    analogy.add_argument("a")
    analogy.add_argument("b")
    analogy.add_argument("c")
    for sub in (neighbors, analogy):
        sub.add_argument("-k", type=_positive_int, default=10, help="answers to show (10)")
    similarity = commands.add_parser("similarity", help="cosine similarity of A and B")
    similarity.add_argument("a")
    similarity.add_argument("b")
    score = commands.add_parser(
        "score", help="Google analogies, WordSim-353 and SimLex-999, keyed as in metrics.json"
    )
    # Scored as a run scores eval.word_pairs and eval.analogies.
    score.add_argument("--pairs", action="append", metavar="FILE",
                       help="a word-similarity file of your own (repeatable)")  # fmt: skip
    score.add_argument("--analogies", action="append", metavar="FILE",
                       help="an analogy file of your own (repeatable)")  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> list[str]:
    """The lines to print for one query; raises SgnsError for a bad path or unknown word."""
    own = benchmark_files(args.pairs, args.analogies) if args.command == "score" else ()
    # (the benchmark files first: a wrong one fails sooner)
    if args.vectors:
        vectors, words = load_vectors_from_checkpoint(_checkpoint(args.path), args.vectors)
    else:
        source = vectors_file(args.path)
        if source.suffix == ".ckpt" and Path(args.path).is_dir():
            print(f"note: no vectors in {args.path} yet; reading {source}", file=sys.stderr)
        vectors, words = load_vectors(source)
    if args.command == "score":
        scores = score(vectors, words, own)[0]
        width = max(map(len, scores))
        return [f"{key:<{width}}  {value:.4f}" for key, value in scores.items()]
    if args.command == "similarity":
        a, b = word_ids(words, [args.a, args.b])
        return [f"{pair_similarity(vectors, [a], [b]).item():.4f}"]
    if args.command == "neighbors":
        ids, sims = nearest_neighbors(vectors, word_ids(words, args.words), args.k)
    else:
        a, b, c = word_ids(words, [args.a, args.b, args.c])
        ids, sims = analogy_neighbors(vectors, [a], [b], [c], args.k)
    width = max((len(words[i]) for i in ids.flatten().tolist()), default=0)
    blocks = [
        [f"{words[i]:<{width}}  {sim:.4f}" for i, sim in zip(row, sim_row, strict=True)]
        for row, sim_row in zip(ids.tolist(), sims.tolist(), strict=True)
    ]
    if len(blocks) == 1:
        return blocks[0]
    # Several words: a block each, headed by its word.
    return [line for word, block in zip(args.words, blocks, strict=True)
            for line in (f"{word}:", *(f"  {row}" for row in block))]  # fmt: skip


def _checkpoint(path: str) -> Path:
    """The checkpoint --vectors reads: `path` itself, or a run directory's."""
    if Path(path).is_dir():
        return Path(path, RUN_CHECKPOINT)  # (load_checkpoint says if it is not there)
    if not path.endswith(".ckpt"):
        raise SgnsError(f"--vectors needs a checkpoint or a run directory: {path} holds one table")
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        lines = run(args)
    except SgnsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
