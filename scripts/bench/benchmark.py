"""sgns against gensim's Word2Vec on one corpus with the same hyper-parameters.

    python scripts/bench/benchmark.py                          # bundled Wikipedia sample, 3 rounds
    python scripts/bench/benchmark.py --corpus text8 --rounds 1 --notebook
    python scripts/bench/benchmark.py --set model.optimizer=sgd --set data.batch_size=8192
    python scripts/bench/benchmark.py --corpus FILE --set trainer.accelerator=gpu   # sgns on a GPU
    python scripts/bench/benchmark.py --corpus de.txt --pairs simlex_de.txt   # your benchmark too

Each training runs in its own child process (so peak resident memory is its own), sgns and
gensim alternating round by round so both see the same machine load. Both read the same
normalised text file and both clocks include reading it and building the vocabulary, and
stop once the vectors are trained, before they are written to disk (library imports are
outside both): words/s = corpus tokens x epochs / wall-clock seconds of the whole training.
Beside wall time, each run's CPU seconds (user + system, all its threads, over the same span):
on a shared machine a neighbour's load stretches wall time far more than CPU time, so decide
"faster" from alternating rounds and CPU time, not from one wall-clock run.
sgns's in-training evaluation is off (eval.enabled=false): both sets of vectors are scored
afterwards, outside the clock, by the same evaluator (sgns.eval): Google analogies
(30,000 most frequent words), WordSim-353 and SimLex-999 Spearman, and any files of your own
(--pairs, --analogies: a column each, named as a run names them).
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sgns.errors import SgnsError

ROOT = Path(__file__).resolve().parents[2]
SHARED = dict(dim=100, window=5, negative=5, sample=1e-4, min_count=5, epochs=5, ns_exponent=0.75)


def sgns_overrides(corpus: Path, cache: Path, p: dict, extra: list[str]) -> list[str]:
    """Overrides for the shared settings `p`; an empty `p` leaves them to a preset in `extra`."""
    run = [
        "data=text_file",
        f"data.path={corpus}",
        f"data.cache_dir={cache}",
        "data.val_fraction=0",
        "trainer.enable_progress_bar=false",
        "eval.enabled=false",  # both trainers are scored afterwards by the same evaluator
    ]
    # The CPU unless `--set trainer.accelerator=gpu` asks for the GPU.
    if not any(o.startswith("trainer.accelerator=") for o in extra):
        run.append("trainer.accelerator=cpu")
    if not p:
        return run + extra
    return run + [
        "data.normalization=lower", f"data.min_count={p['min_count']}",
        f"data.subsample_t={p['sample']}", "data.subsample_rule=word2vec",
        f"data.window={p['window']}", f"model.embed_dim={p['dim']}",
        f"model.n_samples={p['negative']}", f"model.noise_power={p['ns_exponent']}",
        f"trainer.max_epochs={p['epochs']}", *extra,
    ]  # fmt: skip


def worker_sgns(corpus: Path, out: Path, p: dict, extra: list[str]) -> dict:
    from hydra import compose, initialize_config_dir

    from sgns.run.train import run

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=sgns_overrides(corpus, out / "cache", p, extra))
    metrics = run(cfg, out)
    # From validating the config to trained vectors in memory; writing them is not timed,
    # as gensim's save_word2vec_format is not.
    seconds, cpu = metrics["wall_time_s"], metrics["cpu_time_s"]
    return {"seconds": seconds, "cpu_seconds": cpu, "vectors": str(out / "vectors.txt"),
            "epochs": metrics["epochs"]}  # fmt: skip


def worker_gensim(corpus: Path, out: Path, p: dict, extra: list[str]) -> dict:
    from gensim.models import Word2Vec

    start, cpu_start = time.perf_counter(), time.process_time()
    model = Word2Vec(
        corpus_file=str(corpus), sg=1, vector_size=p["dim"], window=p["window"],
        negative=p["negative"], sample=p["sample"], min_count=p["min_count"],
        epochs=p["epochs"], ns_exponent=p["ns_exponent"], workers=os.cpu_count(), seed=1,
    )  # fmt: skip
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    model.wv.save_word2vec_format(str(out / "vectors.txt"))
    return {"seconds": seconds, "cpu_seconds": cpu, "vectors": str(out / "vectors.txt"),
            "epochs": p["epochs"]}  # fmt: skip


def run_child(kind: str, corpus: Path, out: Path, p: dict, extra: list[str]) -> dict:
    """Train in a child process; returns its result plus its own peak resident memory."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--worker", kind, "--corpus", str(corpus), "--out", str(out),
           "--params", json.dumps(p)] + [a for s in extra for a in ("--set", s)]  # fmt: skip
    with open(out / "stderr.log", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        tail = (out / "stderr.log").read_text()[-1500:]
        raise SystemExit(f"error: {kind} training failed:\n{tail}")
    result = json.loads((out / "result.json").read_text())
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports kB
    return result


def prepare_corpus(spec: str, workdir: Path) -> tuple[Path, int]:
    """The corpus as one normalised text file of a-z words, and its token count."""
    from sgns.data.corpus import expand_paths, normalize, read_text, wiki_sample_file

    if spec == "wiki_sample":
        files = [wiki_sample_file(workdir)]
    elif spec == "text8":
        from sgns.data.text8 import default_cache_dir, fetch_text8

        files = [fetch_text8(default_cache_dir())]
    else:
        files = expand_paths(spec)
    out, n_tokens = workdir / "corpus.txt", 0
    with open(out, "w") as f:
        for chunk in read_text(files):
            words = normalize(chunk, "text8").split()
            n_tokens += len(words)
            # Lines of 10,000 words: gensim truncates longer sentences.
            for i in range(0, len(words), 10_000):
                f.write(" ".join(words[i : i + 10_000]) + "\n")
    return out, n_tokens


def score(vectors: str, own: tuple = ()) -> dict:
    from sgns.eval.benchmarks import score as benchmark_scores
    from sgns.eval.vectors import load_word2vec

    matrix, words = load_word2vec(vectors)
    return benchmark_scores(matrix, words, own)[0]


def own_keys(own: tuple) -> list[str]:
    """The headline key of each file of your own: NAME_spearman or NAME_acc."""
    from sgns.eval.benchmarks import SUFFIXES

    return [f"{b.name}_{SUFFIXES[b.kind][0]}" for b in own]


def summarise(name: str, results: list[dict], n_tokens: int, extra: list[str] = ()) -> dict:
    """Median and best (shortest) wall time: on a shared machine a neighbour's load can
    slow any run, never speed one up, so the best run is the least disturbed one."""
    seconds = statistics.median(r["seconds"] for r in results)
    best = min(r["seconds"] for r in results)
    words = n_tokens * results[0]["epochs"]
    scores = [r["scores"] for r in results]
    mean = lambda key: statistics.fmean(s[key] for s in scores)  # noqa: E731
    return {
        "name": name, "runs": len(results), "wall_s": seconds, "best_wall_s": best,
        "words_per_s": words / seconds, "best_words_per_s": words / best,
        "cpu_s": statistics.median(r["cpu_seconds"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "analogy_acc": mean("analogy_acc"), "ws353": mean("ws353_spearman"),
        "simlex": mean("simlex_spearman"), **{key: mean(key) for key in extra},
    }  # fmt: skip


def print_table(rows: list[dict], reference: dict, extra: list[str] = ()) -> None:
    """Median wall time, words/s and ratio to the reference, then the same for the best run;
    the scores, and those under the `extra` keys (your own files')."""
    head = f"{'trainer':<10}{'runs':>5}{'wall s':>9}{'words/s':>12}{'x gensim':>9}"
    head += f"{'best s':>8}{'x gensim':>9}{'cpu s':>8}{'x gensim':>9}"
    head += f"{'peak MB':>9}{'analogy %':>10}{'WS353':>8}{'SimLex':>8}"
    print(head + "".join(f"  {key}" for key in extra))
    for r in rows:
        ratio = r["words_per_s"] / reference["words_per_s"]
        best_ratio = r["best_words_per_s"] / reference["best_words_per_s"]
        cpu_ratio = reference["cpu_s"] / r["cpu_s"]  # above 1: less CPU than the reference
        print(f"{r['name']:<10}{r['runs']:>5}{r['wall_s']:>9.2f}{r['words_per_s']:>12,.0f}"
              f"{ratio:>9.2f}{r['best_wall_s']:>8.2f}{best_ratio:>9.2f}"
              f"{r['cpu_s']:>8.2f}{cpu_ratio:>9.2f}"
              f"{r['peak_rss_mb']:>9.0f}{100 * r['analogy_acc']:>10.2f}"
              f"{r['ws353']:>8.3f}{r['simlex']:>8.3f}"
              + "".join(f"{r[key]:>{len(key) + 2}.3f}" for key in extra))  # fmt: skip


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _ratio(pair: dict, key: str) -> float | None:
    """sgns's `key` over gensim's, when both ran."""
    return pair["sgns"][key] / pair["gensim"][key] if len(pair) == 2 else None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", default="wiki_sample", help="wiki_sample, text8, or a path")
    ap.add_argument("--rounds", type=int, default=3, help="alternating sgns/gensim rounds")
    ap.add_argument("--notebook", action="store_true", help="add one run of experiment=notebook")
    ap.add_argument("--trainers", default="sgns,gensim", help="which to run, comma-separated")
    ap.add_argument("--set", action="append", default=[], help="extra sgns override (repeatable)")
    ap.add_argument(
        "--pairs", action="append", help="a word-similarity file of your own (repeatable)"
    )
    ap.add_argument("--analogies", action="append", help="an analogy file of your own (repeatable)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        work = {"sgns": worker_sgns, "gensim": worker_gensim}[args.worker]
        result = work(Path(args.corpus), Path(args.out), json.loads(args.params), args.set)
        (Path(args.out) / "result.json").write_text(json.dumps(result))
        return

    kinds = args.trainers.split(",")
    if not set(kinds) <= {"sgns", "gensim"} or args.rounds < 1:
        _fail(f"--trainers takes sgns and/or gensim (got {args.trainers!r}), --rounds at least 1")
    from sgns.eval.benchmarks import benchmark_files

    try:
        own = benchmark_files(args.pairs, args.analogies)  # checked before any training
    except SgnsError as err:
        _fail(str(err))
    extra = own_keys(own)
    with tempfile.TemporaryDirectory(prefix="sgns-bench-") as tmp:
        tmp = Path(tmp)
        try:
            corpus, n_tokens = prepare_corpus(args.corpus, tmp)
        except SgnsError as err:
            _fail(str(err))
        if n_tokens == 0:
            _fail(f"no words in {args.corpus}")
        print(f"corpus: {args.corpus}, {n_tokens:,} tokens; settings: {SHARED}", flush=True)
        results: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for i in range(args.rounds):
            for kind in kinds if i % 2 == 0 else kinds[::-1]:
                r = run_child(kind, corpus, tmp / f"{kind}-{i}", SHARED, args.set)
                r["scores"] = score(r["vectors"], own)
                results[kind].append(r)
                print(f"  round {i} {kind}: {r['seconds']:.2f} s, {r['cpu_seconds']:.2f} s of CPU",
                      flush=True)  # fmt: skip
        if args.notebook:
            r = run_child("sgns", corpus, tmp / "notebook", {}, ["experiment=notebook"])
            r["scores"] = score(r["vectors"], own)
            results["notebook"] = [r]
        rows = [summarise(k, v, n_tokens, extra) for k, v in results.items()]
        print_table(rows, rows[kinds.index("gensim")] if "gensim" in kinds else rows[0], extra)
        pair = {r["name"]: r for r in rows if r["name"] in ("sgns", "gensim")}
        print(
            json.dumps(
                {
                    "corpus": args.corpus,
                    "tokens": n_tokens,
                    "settings": SHARED,
                    "sgns_overrides": args.set,
                    "rows": rows,
                    "speedup": _ratio(pair, "words_per_s"),
                    "speedup_best": _ratio(pair, "best_words_per_s"),
                    # gensim's CPU seconds over sgns's: above 1, sgns needs less CPU
                    "cpu_speedup": 1 / _ratio(pair, "cpu_s") if len(pair) == 2 else None,
                }
            )
        )


if __name__ == "__main__":
    main()
