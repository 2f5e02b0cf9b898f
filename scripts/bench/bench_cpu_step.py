"""Time the CPU step's two phases at several thread counts: `row_updates` (every pair's scores
and gradients, threads over groups of shared negatives) and `apply_updates` (each table's
bounded row updates, one thread per table), on a Zipf vocabulary.

The second phase uses at most two threads, one per table, so on a machine with more cores it
is the part that does not shrink; this measures by how much. Thread counts alternate within
each round, and every count must leave the tables bit for bit the same (the step is
deterministic whatever the thread count), which the script checks.

python scripts/bench/bench_cpu_step.py                       # 1, 2, 4, ... up to the cores
python scripts/bench/bench_cpu_step.py --threads 1 8 --vocab 100000 --dim 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from sgns.model.sgd_cpu import apply_updates, row_updates
from sgns.model.updates import Workspace


def batches(vocab: int, pairs: int, shared: int, negatives: int, count: int, seed: int = 0):
    """`count` (inputs, targets, noise) batches with Zipf-distributed word ids."""
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, vocab + 1)
    noise = freq**0.75 / (freq**0.75).sum()
    freq /= freq.sum()
    return [
        (
            torch.from_numpy(rng.choice(vocab, size=pairs, p=freq)),
            torch.from_numpy(rng.choice(vocab, size=pairs, p=freq)),
            torch.from_numpy(rng.choice(vocab, size=(pairs // shared, negatives), p=noise)),
        )
        for _ in range(count)
    ]


def time_phases(tables, data, threads: int, lr: float = 0.025) -> tuple[list, list, bytes]:
    """Seconds of each phase per batch with `threads` threads, and the tables' final bytes."""
    torch.set_num_threads(threads)
    w_in, w_out = (t.clone() for t in tables)
    work = Workspace()
    first, second = [], []
    for inputs, targets, noise in data:
        start = time.perf_counter()
        _, updates = row_updates(w_in, w_out, inputs, targets, noise, len(inputs), lr, work)
        middle = time.perf_counter()
        apply_updates(w_in, w_out, updates[:1], updates[1:], lr, work)
        first.append(middle - start)
        second.append(time.perf_counter() - middle)
    return first, second, w_in.numpy().tobytes() + w_out.numpy().tobytes()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cores = os.cpu_count() or 1
    counts = [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= cores]
    parser.add_argument("--threads", type=int, nargs="+", default=counts)
    parser.add_argument("--vocab", type=int, default=25_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=4096, help="pairs an update (sgd_chunk)")
    parser.add_argument("--shared", type=int, default=32, help="pairs sharing negatives")
    parser.add_argument("--negatives", type=int, default=5)
    parser.add_argument("--batches", type=int, default=100, help="timed, per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(1)
    tables = (
        torch.from_numpy(rng.uniform(-0.5, 0.5, (args.vocab, args.dim)).astype(np.float32)),
        torch.from_numpy(rng.normal(0, 0.1, (args.vocab, args.dim)).astype(np.float32)),
    )
    data = batches(args.vocab, args.pairs, args.shared, args.negatives, args.batches)
    time_phases(tables, data[:5], max(args.threads))  # loads the compiled loops
    times = {t: ([], []) for t in args.threads}
    results = set()
    for _ in range(args.rounds):
        for threads in args.threads:
            first, second, final = time_phases(tables, data, threads)
            times[threads][0].extend(first)
            times[threads][1].extend(second)
            results.add(final)
    if len(results) != 1:
        raise SystemExit(
            "error: the thread counts left different tables; the step is not deterministic"
        )
    rows = []
    print(f"vocab {args.vocab:,}, dim {args.dim}, {args.pairs:,}-pair updates, {cores} cores")
    print("threads  row_updates ms  apply_updates ms  apply share  pairs/s")
    for threads, (first, second) in times.items():
        a, b = statistics.median(first), statistics.median(second)
        rows.append({"threads": threads, "row_updates_ms": a * 1e3, "apply_updates_ms": b * 1e3,
                     "pairs_per_s": args.pairs / (a + b)})  # fmt: skip
        print(f"{threads:>7}  {a * 1e3:>14.2f}  {b * 1e3:>16.2f}  {b / (a + b):>11.0%}  "
              f"{args.pairs / (a + b):>9,.0f}")  # fmt: skip
    result = {"settings": vars(args), "cores": cores, "rows": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
