"""Time the Google analogy evaluation: sgns.eval (batched torch) against gensim, same matrix;
then reading that matrix back from a word2vec text file, sgns.eval.vectors against gensim.

The matrix is random (seed 0), 30,000 x 300 by default: every word of questions-words.txt plus
filler words, so all 19,544 questions are answerable and both score the same work. Accuracy on
random vectors is near 0; it is printed only to show the two agree.

python scripts/bench/bench_eval.py                                  # 3 repeats each
python scripts/bench/bench_eval.py --repeats 5 --gensim-repeats 1 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from sgns.eval.analogy import GOOGLE_ANALOGIES, analogy_counts, analogy_scores, read_analogies
from sgns.eval.vectors import load_word2vec, save_word2vec


def build_vocabulary(n_words: int, dim: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Random (n_words, dim) float32 vectors; the question words (lower-case) come first."""
    _, questions = read_analogies(None)
    question_words = list(dict.fromkeys(w.lower() for q in questions for w in q[1:]))
    if n_words < len(question_words):
        raise SystemExit(f"--n-words must be at least {len(question_words)}")
    words = question_words + [f"filler{i}" for i in range(n_words - len(question_words))]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_words)  # spread question words over the frequency ranks
    vectors = rng.normal(size=(n_words, dim)).astype(np.float32)
    return vectors, [words[i] for i in order]


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def reading_times(vectors: np.ndarray, words: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds of process CPU time to read `vectors` back from a word2vec text file (as
    vectors.txt is written), sgns and gensim alternating `rounds` times; both must agree."""
    times: dict[str, list[float]] = {"sgns": [], "gensim": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.txt"
        save_word2vec(path, vectors, words)
        for _ in range(rounds):
            start = time.process_time()
            ours, ours_words = load_word2vec(path)
            times["sgns"].append(time.process_time() - start)
            start = time.process_time()
            kv = KeyedVectors.load_word2vec_format(str(path), binary=False)
            times["gensim"].append(time.process_time() - start)
            if not np.array_equal(ours, kv.vectors) or ours_words != list(kv.index_to_key):
                raise SystemExit("error: sgns and gensim read different vectors")
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-words", type=int, default=30_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of sgns.eval")
    parser.add_argument("--gensim-repeats", type=int, default=3, help="timed runs of gensim")
    parser.add_argument("--device", default="cpu", help="torch device for sgns.eval (cpu)")
    args = parser.parse_args(argv)

    vectors, words = build_vocabulary(args.n_words, args.dim)
    matrix = torch.from_numpy(vectors).to(args.device)
    restrict = args.n_words
    analogy_counts(matrix[:1000], words[:1000])  # warm-up: file parsing cache, kernels

    ours_times, counts = timed(
        lambda: analogy_counts(matrix, words, restrict_vocab=restrict), args.repeats
    )
    ours_acc = analogy_scores(counts)["analogy_acc"]
    kv = KeyedVectors(vector_size=args.dim)
    kv.add_vectors(words, vectors)
    path = datapath(GOOGLE_ANALOGIES)
    gensim_times, (gensim_acc, _) = timed(
        lambda: kv.evaluate_word_analogies(path, restrict_vocab=restrict), args.gensim_repeats
    )

    answered = sum(c.answered for c in counts.values())
    print(
        f"Google analogy set, {answered:,} questions; random {args.n_words:,} x {args.dim} matrix "
        f"(question words + filler words, seed 0); torch threads {torch.get_num_threads()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} (other processes share the CPUs)"
    )
    print(f"{'implementation':<34}{'device':>8}{'median s':>10}{'min s':>9}{'runs':>6}{'acc':>9}")
    rows = [
        ("sgns.eval.analogy_counts", args.device, ours_times, ours_acc),
        ("gensim evaluate_word_analogies", "cpu", gensim_times, gensim_acc),
    ]
    for name, device, times, acc in rows:
        print(
            f"{name:<34}{device:>8}{statistics.median(times):>10.2f}{min(times):>9.2f}"
            f"{len(times):>6}{acc:>9.4f}"
        )
    speedup = statistics.median(gensim_times) / statistics.median(ours_times)
    print(f"speed-up (median): {speedup:.1f}x")
    reads = reading_times(vectors, words, args.repeats)
    print(
        "reading it from a word2vec text file, CPU s (median of "
        f"{args.repeats}, alternating): sgns.eval.vectors {statistics.median(reads['sgns']):.2f}, "
        f"gensim load_word2vec_format {statistics.median(reads['gensim']):.2f}"
    )
    print(
        json.dumps(
            {
                "bench": "google_analogy_eval",
                "n_words": args.n_words,
                "dim": args.dim,
                "questions": answered,
                "device": args.device,
                "torch_threads": torch.get_num_threads(),
                "load_avg_1min": os.getloadavg()[0],
                "sgns_s": ours_times,
                "gensim_s": gensim_times,
                "sgns_acc": ours_acc,
                "gensim_acc": gensim_acc,
                "speedup_median": speedup,
                "read_text_cpu_s": reads,
            }
        )
    )


if __name__ == "__main__":
    main()
