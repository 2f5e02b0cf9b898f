"""Write a seeded text8-sized corpus for speed checks: 17M tokens over a Zipf vocabulary of
70k words (sgns.data.zipf says how it is drawn).

    python scripts/bench/zipf_corpus.py OUT.txt                       # 17,000,000 tokens
    python scripts/bench/zipf_corpus.py OUT.txt --tokens 1000000 --seed 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sgns.data.zipf import write_zipf_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokens", type=int, default=17_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_zipf_corpus(args.out, args.tokens, args.seed)


if __name__ == "__main__":
    main()
