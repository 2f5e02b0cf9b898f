"""Wall time of one sweep through Hydra's basic launcher (a run after another) against the
parallel launcher (Ray, runs side by side).

    python scripts/bench/bench_sweep.py                       # the bundled sample, 4 runs, 2 rounds
    python scripts/bench/bench_sweep.py --at-once 2 --rounds 3
    python scripts/bench/bench_sweep.py --set trainer.max_epochs=5

The sweep is conf/sweep/grid.yaml with model.embed_dim pinned: n_samples x noise_power, 4
runs of `experiment=sample`. Each way is one whole `scripts/train.py -m` command, timed from
start to exit (imports, Ray's start-up and every run's evaluation included):

  basic     Hydra's basic launcher, each run with every core (cpu_threads=null);
  basic-1   the same with one thread per run;
  parallel  hydra/launcher=parallel, --at-once runs at a time, one core and thread each.

The ways alternate round by round, so all see the same machine load. Prints a table and one
JSON line; every sweep's runs are checked to have finished.
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

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ["-m", "+sweep=grid", "experiment=sample", "model.embed_dim=100"]


def ways(at_once: int) -> dict[str, list[str]]:
    return {
        "basic": [],
        "basic-1": ["cpu_threads=1"],
        "parallel": [
            "hydra/launcher=parallel",
            f"hydra.launcher.ray.init.num_cpus={at_once}",
            "hydra.launcher.ray.remote.num_cpus=1",
        ],
    }


def run_sweep(sweep_dir: Path, way: list[str], extra: list[str]) -> float:
    """Seconds the whole sweep command took; raises if it failed or a run did not finish."""
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        *SWEEP,
        *way,
        "trainer.enable_progress_bar=false",
        *extra,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(way) or 'basic'} failed: {done.stderr[-2000:]}")
    runs = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name[0].isdigit()]
    unfinished = [p.name for p in runs if not (p / "metrics.json").is_file()]
    if len(runs) != 4 or unfinished:
        raise SystemExit(f"error: expected 4 finished runs in {sweep_dir}, got {len(runs)}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--at-once", type=int, default=2, help="parallel runs at a time")
    parser.add_argument("--set", action="append", default=[], help="an extra override")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in ways(args.at_once)}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        for r in range(args.rounds):
            for name, way in ways(args.at_once).items():
                seconds = run_sweep(Path(tmp) / f"{name}-{r}", way, args.set)
                times[name].append(seconds)
                print(f"round {r + 1}: {name:9s} {seconds:6.1f} s", flush=True)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n{os.cpu_count()} cores, 4 runs of experiment=sample, {args.rounds} rounds")
    print("| launcher | median s | rounds s | vs basic |")
    print("|---|---|---|---|")
    for name, t in times.items():
        rounds = ", ".join(f"{x:.1f}" for x in t)
        print(f"| {name} | {median[name]:.1f} | {rounds} | {median['basic'] / median[name]:.2f}x |")
    print(json.dumps({"cores": os.cpu_count(), "at_once": args.at_once, "seconds": times}))


if __name__ == "__main__":
    main()
