"""The GPU path end to end on one machine: tests, speed on a text8-sized corpus, and quality
against the CPU. Run by scripts/bench/gpu_check.sh, which prepares the environment first.

    python scripts/bench/gpu_check.py OUT_DIR          # on a CUDA machine: 17M tokens
    python scripts/bench/gpu_check.py OUT_DIR --real-text real.txt.gz   # a corpus made elsewhere
    python scripts/bench/gpu_check.py OUT_DIR --cpu    # dry run on the CPU, GPU settings

1. ``pytest -m gpu`` (the tests that need CUDA) and the fused kernel's tests; after step 5,
   on a GPU only, the hard cases (tests/test_hard_cases*.py, DDP aside) on the GPU path;
2. the fused step alone (sgns.model.sgd_fused) on 1M-pair batches at dim 300: milliseconds
   a step, also at other numbers of programs and other kernel shapes, the bandwidth its row
   traffic comes to, and torch.profiler's kernel table;
3. a generated text8-sized corpus (sgns.data.zipf) trained with the defaults:
   training words/s, seconds per step, peak GPU memory (torch.cuda.max_memory_allocated);
4. real English (scripts/bench/real_text_corpus.py: at least REAL_TEXT_TOKENS tokens of the
   documentation on the machine, or --real-text) trained by the GPU's defaults and by the
   CPU's, with analogy, WS353 and SimLex side by side;
5. the mission's sweep on that corpus: SWEEP_GRID, 27 runs of 5 epochs on the one GPU at
   once (hydra/launcher=parallel where Ray is installed, else plain processes), its wall
   time start-ups included, and the table and plots of sgns.run.summary;
6. 4 runs of the generated corpus sharing the GPU at once, through hydra/launcher=parallel
   (Ray, a quarter of the GPU each): their aggregate training words/s against the run alone
   (`shared_gpu` below: plain concurrent processes where Ray is not installed);
7. the bundled sample (experiment=sample) trained on the device and on the CPU at the
   device's batch size, with WS353 and analogy accuracy side by side;
8. on a GPU only: one epoch of the corpus at each of several batch sizes and table dtypes
   through the torch step, for the words/s and memory each costs.

Writes OUT_DIR/gpu_check.json and OUT_DIR/gpu_check.md after every step, so a run cut short
keeps what it measured. With --cpu every "device" run trains on the CPU with what ``auto``
picks on a GPU set explicitly, so the same code runs: the fused kernel in Triton's
interpreter (TRITON_INTERPRET=1; steps 1, 2, 4 and 5, on a few thousand words, as it takes
~15 ms a group of pairs), the torch step elsewhere (pairs made by torch, 1M-pair steps in
one piece; 65,536 on the sample, as `auto` cuts them there; updates cut to 1/64 of an epoch
on the small corpora). Its numbers say nothing about GPU speed.
"""

from __future__ import annotations

import os
import sys

if "--cpu" in sys.argv:
    # The fused kernel in Triton's interpreter, here and in every run started: Triton reads
    # this when it is first imported (Lightning imports it), so before any import below.
    os.environ["TRITON_INTERPRET"] = "1"

import argparse
import gc
import gzip
import importlib.util
import itertools
import json
import re
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sgns.data.zipf import write_zipf_corpus
from sgns.run.auto import CPU_BATCH_SIZE, GPU_BATCH_SIZE
from sgns.run.summary import write_plots, write_summary
from sgns.run.train import run

ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*`Trainer\.fit` stopped", re.M)
# What `auto` picks on a CUDA GPU, set explicitly for the dry run on a CPU.
GPU_LIKE = [
    "data.pairs_on=device",
    f"data.batch_size={GPU_BATCH_SIZE}",
    f"model.sgd_chunk={GPU_BATCH_SIZE}",
]
# On a GPU `auto` cuts the batch to the sample's size, 65,536 pairs, and every update to
# 1/64 of an epoch, 8,192 pairs (sgns.run.auto); the dry run sets the batch, for a third
# of the sample's epochs: it checks the steps, not scores.
SAMPLE_DRY_RUN = [
    "trainer.accelerator=cpu",
    "data.pairs_on=device",
    f"data.batch_size={CPU_BATCH_SIZE}",
    f"model.sgd_chunk={CPU_BATCH_SIZE}",
    "trainer.max_epochs=10",
]


# Real English as gensim's settings read it (scripts/bench/benchmark.py): lower-cased,
# word2vec's subsampling at 1e-4.
REAL_TEXT = [
    "data=text_file",
    "data.normalization=lower",
    "data.subsample_t=1e-4",
    "data.subsample_rule=word2vec",
]
REAL_TEXT_TOKENS = 10_000_000
DRY_REAL_TEXT_TOKENS = 2_000
# The sweep's runs make their pairs on the GPU in blocks of this many tokens rather than
# `auto`'s 16M: a 16M-token block peaks at about 2.5 GB (sgns.run.auto), and 27 runs of that
# at once, with their CUDA contexts, would outgrow an 80 GB GPU.
SWEEP_BLOCK_TOKENS = 1 << 22
# The mission's sweep, 5 epochs a run; the dry run takes two of its runs for one epoch.
SWEEP_GRID = {
    "model.embed_dim": (50, 100, 300),
    "model.n_samples": (2, 5, 15),
    "model.noise_power": (0.0, 0.75, 1.0),
}
DRY_SWEEP_GRID = {
    "model.embed_dim": (50,),
    "model.n_samples": (2,),
    "model.noise_power": (0.0, 0.75),
}
# The dry run's fused runs: the kernel in Triton's interpreter, on the CPU.
FUSED_ON_CPU = ["trainer.accelerator=cpu", "data.pairs_on=device", "model.gpu_step=fused"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cpu", action="store_true", help="dry run on the CPU, small corpus")
    parser.add_argument("--real-text", type=Path, help="real-English corpus made elsewhere")
    args = parser.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        sys.exit("error: no CUDA device visible to torch; use --cpu for a dry run")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    device = ["trainer.accelerator=cpu", *GPU_LIKE] if args.cpu else ["trainer.accelerator=gpu"]
    fused = FUSED_ON_CPU if args.cpu else ["trainer.accelerator=gpu"]
    report = {
        "mode": "cpu" if args.cpu else "gpu",
        "device": torch.cuda.get_device_name(0) if not args.cpu else "cpu",
        "torch": torch.__version__,
    }
    report["pytest_gpu"] = pytest_gpu()
    save(out, report, start)
    # The dry run leaves out the compile check (slow), which make test runs as it is.
    report["pytest_fused"] = pytest_counts(
        ["-m", "not slow" if args.cpu else "not ddp", *FUSED_TESTS]
    )
    save(out, report, start)
    report["fused_step"] = fused_step_timing(args.cpu)
    save(out, report, start)
    # The dry run checks steps, not speed: one epoch of the corpus (2 steps of 1M pairs); the
    # sample runs below go on past the first epoch.
    dry = ["trainer.max_epochs=1"] if args.cpu else []
    report["corpus"] = corpus_run(out, 300_000 if args.cpu else 17_000_000, device + dry)
    save(out, report, start)
    corpus = real_text_corpus(out, args.real_text, args.cpu)
    report["real_text"] = {"corpus": corpus, **real_text_runs(out, corpus["path"], fused, dry)}
    save(out, report, start)
    report["sweep"] = mission_sweep(out, corpus["path"], fused, args.cpu)
    save(out, report, start)
    if not args.cpu:  # in the dry run they are make test's (tests/test_hard_cases*.py)
        report["pytest_hard_cases"] = pytest_counts(["-m", "not ddp", *HARD_CASES])
        save(out, report, start)
    report["shared_gpu"] = shared_step(out, device, args.cpu, report["corpus"])
    save(out, report, start)
    report["sample"] = sample_runs(out, SAMPLE_DRY_RUN if args.cpu else device)
    save(out, report, start)
    if not args.cpu:  # the torch step's sizes (model.gpu_step=torch)
        report["batch_scan"] = []
        for batch, dtype in SCAN:
            report["batch_scan"].append(scan_run(out, device, batch, dtype))
            save(out, report, start)
    print(markdown(report))


# The report's keys that are no step of the check.
REPORT_META = {"mode", "device", "torch", "wall_seconds", "seconds_by_step"}


def save(out: Path, report: dict, start: float) -> None:
    """The report so far, written; the seconds since the last save go to the step just
    added (or, where none was, to the last step, which grew: the batch scan)."""
    now = time.perf_counter() - start
    seconds = report.setdefault("seconds_by_step", {})
    added = [key for key in report if key not in REPORT_META and key not in seconds]
    step = added[-1] if added else next(reversed(seconds), None)
    if step is not None:
        seconds[step] = seconds.get(step, 0.0) + now - report.get("wall_seconds", 0.0)
    report["wall_seconds"] = now
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "gpu_check.md").write_text(markdown(report))


def pytest_gpu() -> dict:
    """`pytest -m gpu`: its exit status and counts. Only the files that mark tests `gpu` are
    collected: collecting the whole suite costs seconds and selects nothing more."""
    marked = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if "mark.gpu" in path.read_text()
    )
    return pytest_counts(["-m", "gpu", *marked])


# The fused kernel against its float64 description, and the hard cases trained on the GPU
# path (on a GPU, `auto` picks the fused step for them; DDP aside, as the step is one
# process's); the dry run takes the first only.
FUSED_TESTS = ["tests/model/test_sgd_fused.py"]
HARD_CASES = ["tests/test_hard_cases.py", "tests/test_hard_cases_fused.py"]


def pytest_counts(args: list[str]) -> dict:
    """pytest with `args`: its exit status and counts."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {k: 0 for k in ("passed", "failed", "skipped", "errors")}
    for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)", tail):
        counts["errors" if kind.startswith("error") else kind] = int(n)
    if done.returncode not in (0, 5):
        print(done.stdout[-4000:], done.stderr[-2000:], file=sys.stderr)
    return {"returncode": done.returncode, **counts, "summary": tail}


def train(run_dir: Path, overrides: list[str]) -> dict:
    """One training run through sgns.run.train.run; its metrics, settings and peak GPU memory."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "trainer.enable_progress_bar=false"])
    conf = OmegaConf.to_container(cfg, resolve=True)
    if torch.cuda.is_available():
        # Earlier runs' tables and buffers, held in reference cycles until collected, would
        # count in this run's peak.
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    metrics = run(cfg, run_dir)
    peak = (
        (torch.cuda.max_memory_allocated() - before) / 2**20 if torch.cuda.is_available() else None
    )
    steps = metrics["steps"]
    return {
        "accelerator": conf["trainer"]["accelerator"],
        "batch_size": metrics["batch_size"],  # auto may cut it to the corpus's size
        "sgd_chunk": metrics["sgd_chunk"],
        "pairs_on": metrics["auto"].get("data.pairs_on", {}).get("value", conf["data"]["pairs_on"]),
        "table_dtype": conf["model"]["table_dtype"],
        "steps": steps,
        "train_seconds": metrics["train_seconds"],
        "step_seconds": metrics["train_seconds"] / steps if steps else None,
        "train_words_per_sec": metrics["train_words_per_sec"],
        "peak_gpu_memory_mb": peak if conf["trainer"]["accelerator"] != "cpu" else None,
        "final_train_loss": metrics["final_train_loss"],
        "vocab_size": metrics["vocab_size"],
        "train_tokens": metrics["train_tokens"],
        "ws353": metrics.get("ws353_spearman"),
        "analogy": metrics.get("analogy_acc"),
        "simlex": metrics.get("simlex_spearman"),
        "gpu_step": metrics["auto"]
        .get("model.gpu_step", {})
        .get("value", conf["model"]["gpu_step"]),
        "shared_negatives": metrics["shared_negatives"],
    }


def fused_step_timing(cpu: bool, rows: int = 70_000, dim: int = 300) -> dict:
    """The fused step alone on `rows` x `dim` tables and 1M-pair batches of Zipf-drawn ids (as
    in text8): milliseconds a step, how long the first call took (compiling), the bandwidth
    its row traffic comes to, and torch.profiler's table of kernels. The dry run steps 256
    pairs of a small table in the interpreter: the steps, not the speed."""
    from sgns.model.sgd_fused import GPU_SHAPE, KernelShape, default_programs, fused_sgd_step
    from sgns.model.skipgram import SkipGramNeg

    device = "cpu" if cpu else "cuda"
    pairs, n_samples, shared = (256, 5, 32) if cpu else (1 << 20, 5, 32)
    rows, dim = (1000, 32) if cpu else (rows, dim)
    counts = 1.0 / torch.arange(1, rows + 1, dtype=torch.float64)  # Zipf, exponent 1
    model = SkipGramNeg(rows, dim, (counts**0.75 / (counts**0.75).sum()).numpy()).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    ids = torch.multinomial(counts.float().to(device), 2 * pairs, True, generator=gen)
    inputs, targets = ids[:pairs], ids[pairs:]

    def step(programs=None, shape=None):
        return fused_sgd_step(
            model, inputs, targets, n_samples, 0.025, shared, generator=gen, programs=programs,
            shape=shape,
        )  # fmt: skip

    def seconds_a_step(programs=None, shape=None) -> float:
        step(programs, shape)  # compiles the kernel, the first time for this shape
        repeats = 1 if cpu else 20
        if not cpu:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            step(programs, shape)
        if not cpu:
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / repeats

    # The first call compiles the kernel, or loads it from Triton's cache on disk: time that
    # lands in a run's training clock unless something calls the kernel first.
    start = time.perf_counter()
    step()
    if not cpu:
        torch.cuda.synchronize()
    first_call = time.perf_counter() - start
    seconds = seconds_a_step()
    # Programs side by side bound how many pairs are in flight, each computed from rows that
    # the others may be updating: the speed each count gives (the default's in the middle).
    by_programs = {}
    if not cpu:
        sms = torch.cuda.get_device_properties(0).multi_processor_count
        by_programs = {n: seconds_a_step(n) * 1e3 for n in (sms, 4 * sms, 16 * sms)}
    # How the kernel is compiled (sgns.model.sgd_fused.KernelShape): the default, slices of
    # 16 and 64 columns, and 128-column slices with pipelined loads, which spill registers.
    by_shape = {}
    if not cpu:
        for shape in (GPU_SHAPE, *(KernelShape(block_d=d) for d in (16, 64)),
                      KernelShape(block_d=128, num_stages=3)):  # fmt: skip
            by_shape[str(shape)] = seconds_a_step(shape=shape) * 1e3
    # Rows read in both passes and written once: a pair's centre and context, and a group's
    # negatives, float32; ids and noise aside.
    row_bytes = dim * 4 * (3 * 2 * pairs + 3 * n_samples * -(-pairs // shared))
    profile = None
    if not cpu:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                step()
            torch.cuda.synchronize()
        profile = prof.key_averages().table(sort_by="cuda_time_total", row_limit=8)
    return {
        "pairs": pairs, "rows": rows, "dim": dim, "n_samples": n_samples, "shared": shared,
        "step_ms": seconds * 1e3, "pairs_per_sec": pairs / seconds,
        "first_call_ms": first_call * 1e3,
        "programs": default_programs(torch.device(device), rows, shared, -(-pairs // shared)),
        "step_ms_by_programs": by_programs, "step_ms_by_shape": by_shape,
        "row_traffic_gb_per_sec": row_bytes / seconds / 1e9, "profile": profile,
    }  # fmt: skip


def real_text_corpus(out: Path, given: Path | None, cpu: bool) -> dict:
    """The real-English corpus: `given` (made elsewhere, plain or gzip), else made here from
    the documentation this machine has; its token count, and whether it reaches
    REAL_TEXT_TOKENS (the dry run takes DRY_REAL_TEXT_TOKENS)."""
    if given is None:
        given = out / "real_text.txt"
        command = [
            sys.executable,
            str(ROOT / "scripts" / "bench" / "real_text_corpus.py"),
            str(given),
        ]
        if cpu:
            command += ["--max-tokens", str(DRY_REAL_TEXT_TOKENS)]
        else:  # the interpreter's own paths and the system's documentation
            command.append("--system-docs")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"real_text_corpus.py failed: {done.stderr[-2000:]}")
    opener = gzip.open if given.suffix == ".gz" else open
    with opener(given, "rt", encoding="utf-8", errors="replace") as text:
        tokens = sum(len(line.split()) for line in text)
    goal = DRY_REAL_TEXT_TOKENS if cpu else REAL_TEXT_TOKENS
    return {"path": str(given.resolve()), "tokens": tokens, "enough": tokens >= goal}


def real_text_runs(out: Path, corpus: str, device: list[str], dry: list[str]) -> dict:
    """The real-text corpus trained by the GPU's defaults (`device`) and by the CPU's, 5
    epochs each (the dry run: one), scored alike."""
    base = [*REAL_TEXT, f"data.path={corpus}", f"data.cache_dir={out / 'cache'}", *dry]
    gpu = train(out / "real_text_gpu", [*base, *device])
    cpu = train(out / "real_text_cpu", [*base, "trainer.accelerator=cpu"])
    diffs = {f"{key}_diff": _diff(gpu[key], cpu[key]) for key in ("analogy", "ws353", "simlex")}
    return {"gpu": gpu, "cpu": cpu, **diffs}


def mission_sweep(out: Path, corpus: str, device: list[str], cpu: bool) -> dict:
    """SWEEP_GRID on the real-text corpus, every run at once on the one GPU (the dry run:
    DRY_SWEEP_GRID, one epoch, a core a run); wall time from launch to the last run's end,
    start-ups included, and sgns.run.summary's table and plots of the sweep folder."""
    grid = DRY_SWEEP_GRID if cpu else SWEEP_GRID
    runs = list(itertools.product(*grid.values()))
    base = [
        *REAL_TEXT, f"data.path={corpus}", f"data.cache_dir={out / 'cache'}", *device,
        f"trainer.max_epochs={1 if cpu else 5}", "cpu_threads=1",
        *([] if cpu else [f"data.block_tokens={SWEEP_BLOCK_TOKENS}"]),
    ]  # fmt: skip
    sweep_dir = out / "sweep"
    failed: list[str] = []
    start = time.perf_counter()
    if has_ray_launcher():
        launcher = "parallel"
        ray = [
            f"hydra.launcher.ray.remote.num_gpus={0 if cpu else 1 / len(runs):.4f}",
            f"hydra.launcher.ray.remote.num_cpus={1 if cpu else 0.5}",
        ]
        swept = [f"{key}={','.join(map(str, values))}" for key, values in grid.items()]
        sweep(sweep_dir, [*base, *swept], ray, evaluate=True)
    else:
        launcher = "processes"
        each = [[f"{k}={v}" for k, v in zip(grid, values, strict=True)] for values in runs]
        # A run that fails (out of GPU memory, say) is reported, and the others go on.
        failed = run_processes(sweep_dir, base, each, evaluate=True, strict=False)
    wall = time.perf_counter() - start
    text, ranked, metric, _ = write_summary(sweep_dir)
    try:
        plots = [str(p) for p in write_plots(sweep_dir, ranked, metric)]
    except ImportError:  # matplotlib (the viz extra) missing
        plots = []
    return {
        "runs": len(runs), "launcher": launcher, "wall_seconds": wall, "metric": metric,
        "table": text, "plots": plots,
        "finished": sum(1 for p in sweep_dir.glob("*/metrics.json")), "failed": failed,
    }  # fmt: skip


def corpus_overrides(out: Path, corpus: Path) -> list[str]:
    return ["data=text_file", f"data.path={corpus}", f"data.cache_dir={out / 'cache'}"]


def corpus_run(out: Path, n_tokens: int, device: list[str]) -> dict:
    corpus = out / "zipf_corpus.txt"
    write_zipf_corpus(corpus, n_tokens)
    return {
        "tokens": n_tokens,
        **train(out / "corpus_run", [*corpus_overrides(out, corpus), *device]),
    }


def shared_step(out: Path, device: list[str], cpu: bool, corpus: dict) -> dict:
    """4 runs of the corpus sharing the GPU (a quarter each) through hydra/launcher=parallel,
    against the corpus run alone. The dry run checks the steps: 2 runs, a core each, of a
    100k-token corpus, against that corpus trained alone."""
    if not cpu:
        overrides = [*corpus_overrides(out, out / "zipf_corpus.txt"), *device]
        return shared_gpu(out, overrides, 4, corpus["train_words_per_sec"], cpu=False)
    small = out / "zipf_small.txt"
    write_zipf_corpus(small, 100_000)
    overrides = [*corpus_overrides(out, small), *device, "trainer.max_epochs=1"]
    alone = train(out / "small_alone", overrides)
    return shared_gpu(out, overrides, 2, alone["train_words_per_sec"], cpu=True)


# One corpus epoch each: batch (= sgd_chunk, unless over 1/64 of an epoch: the row says the
# update size applied) and table storage against words/s and memory.
SCAN = [(1 << 18, "float32"), (1 << 20, "float32"), (1 << 22, "float32"), (1 << 20, "bfloat16")]


def scan_run(out: Path, device: list[str], batch: int, dtype: str) -> dict:
    overrides = [
        *corpus_overrides(out, out / "zipf_corpus.txt"), *device, "trainer.max_epochs=1",
        "eval.enabled=false", f"data.batch_size={batch}", f"model.sgd_chunk={batch}",
        f"model.table_dtype={dtype}", "model.gpu_step=torch",
    ]  # fmt: skip
    return train(out / f"scan_{batch}_{dtype}", overrides)


def sample_runs(out: Path, device: list[str]) -> dict:
    """experiment=sample on the device, then on the CPU with the device run's batch settings
    and numpy pairs: the same batch rule on both, so the scores differ only by device."""
    cache = f"data.cache_dir={out / 'cache'}"
    on_device = train(out / "sample_device", ["experiment=sample", cache, *device])
    same_batches = [
        f"data.batch_size={on_device['batch_size']}",
        f"model.sgd_chunk={on_device['sgd_chunk']}",
        "data.pairs_on=host",
    ]
    epochs = [o for o in device if o.startswith("trainer.max_epochs=")]
    on_cpu = train(
        out / "sample_cpu",
        ["experiment=sample", cache, "trainer.accelerator=cpu", *same_batches, *epochs],
    )
    return {
        "device": on_device,
        "cpu": on_cpu,
        "ws353_diff": _diff(on_device["ws353"], on_cpu["ws353"]),
        "analogy_diff": _diff(on_device["analogy"], on_cpu["analogy"]),
    }


def _diff(a, b):
    return None if a is None or b is None else a - b


def markdown(report: dict) -> str:
    """The report so far as a table of measures, then the sweep's table and the profile."""
    rows = []
    if "corpus" in report:
        corpus = report["corpus"]
        rows += [
            ("corpus tokens", f"{corpus['tokens']:,}"),
            ("corpus vocabulary", f"{corpus['vocab_size']:,}"),
            ("settings", f"batch {corpus['batch_size']:,}, updates of "
                         f"{_show(corpus['sgd_chunk'], ',')} pairs, pairs on {corpus['pairs_on']}, "
                         f"{corpus['gpu_step']} step"),
            ("training words/s", f"{corpus['train_words_per_sec']:,.0f}"),
            ("seconds per step", f"{corpus['step_seconds']:.4f} ({corpus['steps']} steps)"),
            ("peak GPU memory MB", _show(corpus["peak_gpu_memory_mb"], ".0f")),
        ]  # fmt: skip
    if "fused_step" in report:
        step = report["fused_step"]
        rows.append((
            f"fused step, {step['pairs']:,} pairs at dim {step['dim']}",
            f"{step['step_ms']:.2f} ms, {step['pairs_per_sec']:,.0f} pairs/s, row traffic "
            f"{step['row_traffic_gb_per_sec']:.0f} GB/s, {step['programs']} programs",
        ))  # fmt: skip
        rows.append(("fused step's first call (compiling, or loading Triton's cache)",
                     f"{step['first_call_ms']:.0f} ms"))  # fmt: skip
        for programs, ms in step["step_ms_by_programs"].items():
            rows.append((f"fused step with {programs} programs", f"{ms:.2f} ms"))
        for shape, ms in step.get("step_ms_by_shape", {}).items():
            rows.append((f"fused step compiled as {shape}", f"{ms:.2f} ms"))
    if "real_text" in report:
        real = report["real_text"]
        rows.append(("real text tokens", f"{real['corpus']['tokens']:,}"
                     + ("" if real["corpus"]["enough"] else " (short of the goal)")))  # fmt: skip
        for key, spec in (("analogy", ".4f"), ("ws353", ".3f"), ("simlex", ".3f")):
            rows.append((f"real text {key} GPU default / CPU default",
                         _both(real["gpu"][key], real["cpu"][key], spec)))  # fmt: skip
        rows.append(("real text words/s GPU / CPU", f"{real['gpu']['train_words_per_sec']:,.0f} / "
                     f"{real['cpu']['train_words_per_sec']:,.0f}"))  # fmt: skip
    if "sweep" in report:
        sweep_report = report["sweep"]
        failures = sweep_report.get("failed", [])
        rows.append((f"sweep of {sweep_report['runs']} runs ({sweep_report['launcher']})",
                     f"{sweep_report['wall_seconds']:.0f} s wall, {sweep_report['finished']} "
                     f"finished" + (f", {len(failures)} failed (first: {failures[0]})"
                                    if failures else "")))  # fmt: skip
    if "sample" in report:
        sample = report["sample"]
        for key, spec, name in (("ws353", ".3f", "WS353"), ("analogy", ".4f", "analogy")):
            rows.append((f"sample {name} device / cpu",
                         _both(sample["device"][key], sample["cpu"][key], spec)))  # fmt: skip
    if "shared_gpu" in report:
        shared = report["shared_gpu"]
        rows.append((
            f"{shared['runs']} runs sharing it: words/s",
            f"{shared['aggregate_words_per_sec']:,.0f} in all, {shared['speedup']:.2f}x one run "
            f"alone ({shared['alone_words_per_sec']:,.0f}; {shared['launcher']})",
        ))  # fmt: skip
    for scan in report.get("batch_scan", []):
        rows.append((
            f"1 epoch at batch {scan['batch_size']:,} in {_show(scan['sgd_chunk'], ',')}-pair "
            f"updates, {scan['table_dtype']}",
            f"{scan['train_words_per_sec']:,.0f} words/s, {scan['step_seconds']:.4f} s/step, "
            f"peak {_show(scan['peak_gpu_memory_mb'], '.0f')} MB, "
            f"loss {scan['final_train_loss']:.3f}",
        ))  # fmt: skip
    rows += [
        ("pytest -m gpu", report.get("pytest_gpu", {}).get("summary", "n/a")),
        ("fused kernel tests", report.get("pytest_fused", {}).get("summary", "n/a")),
        ("hard cases on the GPU path", report.get("pytest_hard_cases", {}).get("summary", "n/a")),
        ("wall seconds", f"{report['wall_seconds']:.0f} ("
         + ", ".join(f"{k} {v:.0f}" for k, v in report.get("seconds_by_step", {}).items())
         + ")"),
    ]  # fmt: skip
    lines = [f"GPU check ({report['mode']} mode, {report['device']}, torch {report['torch']})", ""]
    lines += ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    if report.get("sweep"):
        lines += ["", f"The sweep, by {report['sweep']['metric']}:", "", report["sweep"]["table"]]
    if report.get("fused_step", {}).get("profile"):
        lines += [
            "",
            "The fused step's kernels:",
            "",
            "```",
            report["fused_step"]["profile"],
            "```",
        ]
    return "\n".join(lines) + "\n"


def _both(first, second, spec: str) -> str:
    return f"{_show(first, spec)} / {_show(second, spec)}"


def _show(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


# Runs sharing one device: through the Ray launcher, or as plain concurrent processes.
def shared_gpu(out: Path, overrides: list[str], runs: int, alone_words_per_sec: float, cpu: bool):
    """`runs` runs (seeds 0..runs-1) sharing one GPU, each 1/runs of it, against one alone.

    On the CPU (`cpu`, the dry run) each run takes a core instead: the steps, not the speed.
    """
    if not has_ray_launcher():
        launcher = "processes"
        together = processes(out / "shared_gpu", overrides, runs)
    else:
        launcher = "parallel"
        ray = [f"hydra.launcher.ray.remote.num_gpus={0 if cpu else 1 / runs}"]
        if cpu:
            ray.append(f"hydra.launcher.ray.init.num_cpus={runs}")
        seeds = f"seed={','.join(map(str, range(runs)))}"
        together = sweep(out / "shared_gpu", [*overrides, seeds], ray)
    return {
        "runs": runs,
        "launcher": launcher,
        "aggregate_words_per_sec": together["words_per_sec"],
        "alone_words_per_sec": alone_words_per_sec,
        "speedup": together["words_per_sec"] / alone_words_per_sec,
        "per_run_words_per_sec": together["per_run"],
        "overlap_seconds": together["overlap_seconds"],
    }


def sweep(
    sweep_dir: Path, overrides: list[str], launcher: list[str], evaluate: bool = False
) -> dict:
    """One `scripts/train.py -m` through hydra/launcher=parallel; its training span."""
    command = [
        sys.executable, str(ROOT / "scripts" / "train.py"), "-m", "hydra/launcher=parallel",
        *launcher, *overrides, "trainer.enable_progress_bar=false", f"eval.enabled={evaluate}",
        f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=${hydra.job.num}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the sweep on the GPU failed: {done.stderr[-3000:]}")
    return training_spans(sweep_dir)


def processes(sweep_dir: Path, overrides: list[str], runs: int) -> dict:
    """`runs` concurrent `scripts/train.py` processes (seeds 0..runs-1); their training span."""
    run_processes(sweep_dir, overrides, [[f"seed={seed}"] for seed in range(runs)])
    return training_spans(sweep_dir)


def run_processes(
    sweep_dir: Path,
    overrides: list[str],
    each: list[list[str]],
    evaluate: bool = False,
    strict: bool = True,
) -> list[str]:
    """One concurrent `scripts/train.py` process per entry of `each` (its own overrides after
    `overrides`), in sweep_dir/0, 1, ...; raises naming the first that failed, or with
    `strict` off returns "N: last line of its error" for each run that failed."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for number, own in enumerate(each):
        command = [
            sys.executable, str(ROOT / "scripts" / "train.py"), *overrides, *own,
            "trainer.enable_progress_bar=false", f"eval.enabled={evaluate}",
            f"hydra.run.dir={sweep_dir / str(number)}",
        ]  # fmt: skip
        with open(sweep_dir / f"{number}.stderr.log", "w") as err:  # a file: no pipe to fill
            started.append(subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                            stderr=err))  # fmt: skip
    failed = []
    for number, process in enumerate(started):
        if process.wait() != 0:
            tail = (sweep_dir / f"{number}.stderr.log").read_text()[-3000:]
            if strict:
                raise RuntimeError(f"a shared-GPU run failed: {tail}")
            failed.append(f"{number}: {(tail.strip().splitlines() or [''])[-1]}")
    return failed


def has_ray_launcher() -> bool:
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None
    except ModuleNotFoundError:  # no hydra_plugins package at all
        return False


def training_spans(sweep_dir: Path) -> dict:
    """The runs under `sweep_dir`: words trained over the span from first start to last end."""
    spans, words, per_run = [], 0, []
    for run_dir in sorted(p for p in sweep_dir.iterdir() if p.name.isdigit()):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        spans.append(training_span(run_dir / "train.log", metrics["train_seconds"]))
        words += metrics["tokens_seen"]
        per_run.append(metrics["train_words_per_sec"])
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    overlap = max(0.0, (min(e for _, e in spans) - max(s for s, _ in spans)).total_seconds())
    return {
        "words_per_sec": words / (end - start).total_seconds(),
        "per_run": per_run,
        "overlap_seconds": overlap,
    }


def training_span(log: Path, train_seconds: float) -> tuple[datetime, datetime]:
    """When a run trained: `train_seconds` ending at its "`Trainer.fit` stopped" line."""
    found = STAMP.findall(log.read_text())
    if not found:
        raise RuntimeError(f"{log} has no `Trainer.fit` stopped line")
    end = datetime.strptime(found[-1], "%Y-%m-%d %H:%M:%S,%f")
    return end - timedelta(seconds=train_seconds), end


if __name__ == "__main__":
    main()
