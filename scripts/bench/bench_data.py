"""Data-side throughput: tokenising a generated corpus, and skip-gram pair generation.

    python scripts/bench/bench_data.py                  # 1 GB corpus (185M words), ~2 minutes
    python scripts/bench/bench_data.py --size-mb 100    # quicker
    python scripts/bench/bench_data.py --keep DIR       # keep the corpus and token cache in DIR

The corpus is written in streaming fashion: words drawn from a Zipf-Mandelbrot law whose head
matches English ("the" ~6 % of tokens) and whose tail grows the vocabulary like Heaps' law
(~400k distinct words in 17M tokens, 2.2M in 1 GB; text8 has 254k in 17M). Tokenising runs in a
fresh child process, so its peak resident memory (VmHWM) is the tokeniser's alone. Prints a
table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from sgns.data.zipf import word_of_rank

ZIPF_SHAPE = 0.4  # tail exponent 1 + 0.4: vocabulary growth close to real text
TOP_SHARE = 0.062  # share of the most frequent word, as "the" in text8
_MAX_RANK = 1 << 40
_HEAD = 1 << 20  # ranks whose words are built once up front


def zipf_ranks(n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` word ranks from a Zipf-Mandelbrot law, P(k) ~ (k + q)^-(1 + ZIPF_SHAPE)."""
    q = 1.0 / ((1.0 - TOP_SHARE) ** (-1.0 / ZIPF_SHAPE) - 1.0)  # P(rank 0) = TOP_SHARE
    x = np.minimum(q * rng.pareto(ZIPF_SHAPE, size=n), _MAX_RANK)
    return x.astype(np.int64)


def write_corpus(path: Path, size_bytes: int, seed: int = 0, words_per_line: int = 1000) -> int:
    """Write about `size_bytes` of generated text to `path`; returns the number of words."""
    rng = np.random.default_rng(seed)
    head = np.array([word_of_rank(r) for r in range(_HEAD)], dtype=object)
    written = n_words = 0
    with open(path, "w", encoding="ascii") as f:
        while written < size_bytes:
            ranks = zipf_ranks(1 << 20, rng)
            words = head[np.minimum(ranks, _HEAD - 1)]
            tail = np.flatnonzero(ranks >= _HEAD)  # under 1 % of tokens
            words[tail] = [word_of_rank(r) for r in ranks[tail].tolist()]
            words = words.tolist()
            step = words_per_line
            text = "\n".join(" ".join(words[i : i + step]) for i in range(0, len(words), step))
            f.write(text + "\n")
            written += len(text) + 1
            n_words += len(words)
    return n_words


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource  # not Linux: ru_maxrss is KB on Linux, bytes on macOS

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)


def _tokenise_child(corpus: str, cache: str, normalization: str, min_count: int, results) -> None:
    """Runs in a fresh process: tokenise, then report seconds and peak memory."""
    import logging

    from sgns.data.tokens import prepare_tokens

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # word counts

    rss_start = _peak_rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    ids, vocab = prepare_tokens([Path(corpus)], cache, normalization, min_count)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    results.put(
        {
            "tokenise_s": seconds,
            "tokenise_cpu_s": cpu_seconds,
            "rss_after_imports_mb": rss_start,
            "peak_rss_mb": _peak_rss_mb(),
            "n_tokens": len(ids),
            "vocab_size": len(vocab),
        }
    )


def bench_tokenise(corpus: Path, cache: Path, normalization: str, min_count: int) -> dict:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(
        target=_tokenise_child, args=(str(corpus), str(cache), normalization, min_count, results)
    )
    child.start()
    out = results.get()
    child.join()
    from sgns.data.tokens import prepare_tokens

    start = time.perf_counter()  # a second run: hash the corpus, find and open the cache
    prepare_tokens([corpus], cache, normalization, min_count)
    out["cache_hit_s"] = time.perf_counter() - start
    out["tokenise_mb_per_s"] = corpus.stat().st_size / 1e6 / out["tokenise_s"]
    # Per CPU second: what one idle core would do, whatever else shares the machine.
    out["tokenise_mb_per_cpu_s"] = corpus.stat().st_size / 1e6 / out["tokenise_cpu_s"]
    return out


def bench_pairs(cache_args: tuple, n_tokens: int, window: int, batch_size: int, t: float) -> dict:
    """Pairs per second from SkipGramPairs (subsample, pairs, shuffle, batches) on one core."""
    from sgns.data.host_batches import SkipGramPairs
    from sgns.data.tokens import prepare_tokens

    ids, vocab = prepare_tokens(*cache_args)
    ids = ids[:n_tokens]
    dataset = SkipGramPairs(ids, vocab.keep_prob(t), window, batch_size, seed=0)
    start, cpu_start = time.perf_counter(), time.process_time()
    n_pairs = sum(len(inputs) for inputs, _ in dataset)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "pair_tokens": len(ids),
        "pairs": n_pairs,
        "pairs_per_s": n_pairs / seconds,
        "pairs_per_cpu_s": n_pairs / cpu_seconds,
        "pair_tokens_per_s": len(ids) / seconds,
    }


def bench_device_pairs(cache_args: tuple, n_tokens, window, batch_size, t, device) -> dict:
    """Pairs per second from sgns.data.device_pairs with blocks of 1M ids sent to `device`."""
    import torch

    from sgns.data import device_pairs
    from sgns.data.tokens import prepare_tokens

    ids, vocab = prepare_tokens(*cache_args)
    ids = ids[:n_tokens]
    keep_prob = torch.as_tensor(vocab.keep_prob(t), device=device)
    blocks = (
        torch.from_numpy(np.array(ids[i : i + (1 << 20)])).to(device)
        for i in range(0, len(ids), 1 << 20)
    )
    gen = torch.Generator(device).manual_seed(0)
    start = time.perf_counter()
    n_pairs = 0
    for inputs, _ in device_pairs.iter_pair_batches(blocks, keep_prob, window, batch_size, gen):
        n_pairs += len(inputs)
    _sync(device)
    return {"device_pairs_per_s": n_pairs / (time.perf_counter() - start)}


def bench_train_step(n_vocab: int, steps: int, batch_size: int, device: str) -> dict:
    """Pairs per second through the default training step (sgns.model.sgd.sgd_step with the
    default shared negatives and chunks), without Lightning around it."""
    import torch

    from sgns.model.sgd import sgd_step
    from sgns.model.skipgram import SkipGramNeg

    torch.set_num_threads(1)  # as the default config's cpu_threads
    counts = (1e7 / np.arange(1, n_vocab + 1)) + 1
    model = SkipGramNeg(n_vocab, 100, counts**0.75 / (counts**0.75).sum()).to(device)
    gen = torch.Generator().manual_seed(0)
    batches = [
        tuple(torch.randint(n_vocab, (batch_size,), generator=gen).to(device) for _ in "xy")
        for _ in range(min(steps, 32))
    ]

    def step(i: int) -> None:
        inputs, targets = batches[i % len(batches)]
        for start in range(0, batch_size, 4096):
            chunk = slice(start, start + 4096)
            sgd_step(model, inputs[chunk], targets[chunk], 5, 0.025, shared=16)

    for i in range(3):  # warm-up
        step(i)
    _sync(device)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "train_threads": torch.get_num_threads(),
        "train_pairs_per_s": steps * batch_size / seconds,
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1000, help="generated corpus size")
    parser.add_argument("--keep", type=Path, help="folder for corpus and cache (kept)")
    parser.add_argument("--normalization", default="text8")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--pair-tokens", type=int, default=20_000_000)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16384)
    parser.add_argument("--subsample-t", type=float, default=1e-5)
    parser.add_argument("--train-steps", type=int, default=30, help="0 skips the step timing")
    parser.add_argument("--device", default="cuda" if _has_cuda() else "cpu")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sgns-bench-") as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        corpus, cache = root / f"zipf-{args.size_mb:g}mb.txt", root / "cache"
        start = time.perf_counter()
        if not corpus.is_file():
            write_corpus(corpus, int(args.size_mb * 1e6))
        result = {"device": args.device, "corpus_mb": corpus.stat().st_size / 1e6}
        result["generate_s"] = time.perf_counter() - start
        shutil.rmtree(cache, ignore_errors=True)  # time a cold build, even with --keep
        result |= bench_tokenise(corpus, cache, args.normalization, args.min_count)
        cache_args = ([corpus], cache, args.normalization, args.min_count)
        result |= bench_pairs(
            cache_args, args.pair_tokens, args.window, args.batch_size, args.subsample_t
        )
        if args.device != "cpu":  # torch's CPU kernels are slower than numpy's here
            result |= bench_device_pairs(
                cache_args,
                args.pair_tokens,
                args.window,
                args.batch_size,
                args.subsample_t,
                args.device,
            )
        if args.train_steps:
            result |= bench_train_step(
                result["vocab_size"], args.train_steps, args.batch_size, args.device
            )
            result["pairs_vs_train"] = result["pairs_per_s"] / result["train_pairs_per_s"]
            if "device_pairs_per_s" in result:
                result["device_pairs_vs_train"] = (
                    result["device_pairs_per_s"] / result["train_pairs_per_s"]
                )
    _print_table(result)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))
    return result


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _print_table(r: dict) -> None:
    rows = [
        (
            "corpus",
            f"{r['corpus_mb']:.0f} MB, {r['n_tokens']:,} tokens kept, "
            f"vocabulary {r['vocab_size']:,}",
        ),
        (
            "tokenise",
            f"{r['tokenise_s']:.1f} s = {r['tokenise_mb_per_s']:.1f} MB/s "
            f"({r['tokenise_mb_per_cpu_s']:.1f} MB per CPU second)",
        ),
        (
            "peak RSS tokenising",
            f"{r['peak_rss_mb']:.0f} MB ({r['rss_after_imports_mb']:.0f} MB after imports)",
        ),
        ("second run (cache hit)", f"{r['cache_hit_s']:.2f} s"),
        (
            "pair generation",
            f"{r['pairs_per_s'] / 1e6:.1f} M pairs/s, "
            f"{r['pairs_per_cpu_s'] / 1e6:.1f} M per CPU second "
            f"({r['pair_tokens_per_s'] / 1e6:.1f} M tokens/s)",
        ),
    ]
    if "device_pairs_per_s" in r:
        rows.append(
            (
                "pair generation (torch)",
                f"{r['device_pairs_per_s'] / 1e6:.1f} M pairs/s on {r['device']}",
            )
        )
    if "train_pairs_per_s" in r:
        rows.append(
            (
                "training step",
                f"{r['train_pairs_per_s'] / 1e6:.3f} M pairs/s on "
                f"{r['device']} ({r['train_threads']} threads)",
            )
        )
        rows.append(("pairs / training", f"{r['pairs_vs_train']:.1f}x"))
        if "device_pairs_vs_train" in r:
            rows.append(("pairs (torch) / training", f"{r['device_pairs_vs_train']:.1f}x"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
