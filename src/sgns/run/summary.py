"""One table of a Hydra multirun: every run's overrides and final metrics, best first.

    runs = load_runs("outputs/multirun/2026-01-01_12-00-00")
    metric, ascending = choose_metric(runs)   # the runs' objective, else analogy_acc if any has it
    columns, rows = summary_table(rank_runs(runs, metric, ascending), metric)
    print(to_markdown(columns, rows))
    columns, rows = over_repeats(runs, metric, ascending, "seed")  # mean and spread over seeds

A run is a directory with ``.hydra/overrides.yaml`` (written by Hydra), ``metrics.json``
(written by sgns.run.train.run when training finished) and, if it failed, ``failed.json``.
Failed or unfinished runs stay in the table, last, with their error. Sweeps from Hydra's
basic launcher, the parallel (Ray) launcher and submitit (SLURM) have this layout; a run
that a scheduler killed before it could write failed.json gets the last line of its
submitit log (``.submitit/<job id>/*_log.err``) as its reason.
Plain functions over paths and dicts; scripts/summarize.py is the command line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from pathlib import Path

import yaml

from sgns.config.schema import RunConfig
from sgns.errors import DataError
from sgns.io import atomic_path, atomic_write_text
from sgns.run.folders import FAILED

DEFAULT_OBJECTIVE = RunConfig().objective  # a run not aimed at anything in particular
# Metrics that describe the run's bookkeeping rather than its quality: in the CSV, not the
# printed table (which stays narrow enough to read).
BOOKKEEPING = (
    "vocab_size",
    "train_tokens",
    "epochs",
    "tokens_seen",
    "steps",
    "batch_size",
    "sgd_chunk",
    "shared_negatives",
    "train_seconds",
    "cpu_time_s",
    "words_per_sec_incl_setup",
    "eval_seconds",
    "analogy_coverage",
    "ws353_oov",
    "simlex_oov",
)
TIMING = ("wall_time_s", "train_words_per_sec")
# An override with 7 or more decimals (0.018547444999820147, as Optuna draws them): shown to
# 4 significant digits in the table; one typed by hand (0.75, 1e-4) stays as written.
SAMPLED_FLOAT = re.compile(r"-?\d+\.\d{7,}(?:e[-+]?\d+)?")
# Names of metrics where smaller is better; anything else (accuracy, correlation) is maximised.
_LOWER_IS_BETTER = re.compile(r"loss|perplexity|error|time|seconds")
# Keys that change what the SGNS loss measures: how many noise terms, drawn from what.
_LOSS_SHAPING = ("model.n_samples", "model.noise_power")


def find_run_dirs(multirun_dir: str | Path) -> list[Path]:
    """Run directories directly under `multirun_dir`, in job order (0_..., 1_..., 10_...)."""
    root = Path(multirun_dir)
    if not root.is_dir():
        raise DataError(f"not a directory: {root}")
    dirs = [p.parent.parent for p in root.glob("*/.hydra/overrides.yaml")]
    return sorted(dirs, key=_job_order)


def _job_order(run_dir: Path):
    number = _job_number(run_dir.name)
    return (float("inf") if number is None else number, run_dir.name)


def _job_number(name: str) -> int | None:
    """Hydra's job number: the digits the sweep subdir starts with (``3_model.lr=...``); None
    for a single run's folder (``2026-12-08_10-00-00``)."""
    digits = re.match(r"(\d+)(?:_|$)", name)
    return int(digits.group(1)) if digits else None


def parse_overrides(lines: list[str]) -> dict[str, str]:
    """Hydra override strings to {key: value}: ``+model.lr=0.1`` -> {"model.lr": "0.1"}.

    ``~key`` (a deletion) maps to the value ``~``.
    """
    overrides = {}
    for line in lines:
        key, sep, value = str(line).partition("=")
        if key.startswith("~"):
            overrides[key[1:]] = "~"
        elif sep:
            overrides[key.lstrip("+")] = value
    return overrides


def load_run(run_dir: str | Path) -> dict:
    """One run as a dict: job (Hydra's job number), run (directory name), overrides,
    metrics, status, error.

    status is ``ok`` when metrics.json exists and no failed.json does, else ``failed``
    with the reason in `error`.
    """
    run_dir = Path(run_dir)
    run = {
        "job": _job_number(run_dir.name),
        "run": run_dir.name,
        "overrides": {},
        "metrics": {},
        "status": "ok",
        "error": None,
    }
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    if overrides_file.is_file():
        run["overrides"] = parse_overrides(yaml.safe_load(overrides_file.read_text()) or [])
    run["objective"] = _objective(run_dir / ".hydra" / "config.yaml")
    failed, metrics = _read_json(run_dir / FAILED), _read_json(run_dir / "metrics.json")
    if isinstance(metrics, dict):
        run["metrics"] = metrics
    if failed is not None:
        failed = failed if isinstance(failed, dict) else {}
        kind, message = failed.get("type"), failed.get("error", "unreadable failed.json")
        run["status"], run["error"] = "failed", f"{kind}: {message}" if kind else message
    elif not isinstance(metrics, dict):
        reason = "unreadable metrics.json" if metrics is not None else "no metrics.json"
        run["status"], run["error"] = (
            "failed",
            f"{reason}: the run did not finish (or is still running)",
        )
        last_words = _scheduler_log_end(run_dir)
        if last_words:
            run["error"] += f"; its log ends: {last_words}"
    return run


def _scheduler_log_end(run_dir: Path) -> str | None:
    """The last line of the submitit log of the job that ran `run_dir` (SLURM's word on a
    time limit or an out-of-memory kill), or None where there is none."""
    try:
        hydra_cfg = yaml.safe_load((run_dir / ".hydra" / "hydra.yaml").read_text())
        job_id = str(hydra_cfg["hydra"]["job"]["id"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    logs = sorted((run_dir.parent / ".submitit" / job_id).glob("*_log.err"))
    lines = [ln.strip() for log in logs for ln in log.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1][:300] if lines else None


def _read_json(path: Path):
    """The parsed file; None if it does not exist; "" if it exists but is not JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""


def load_runs(multirun_dir: str | Path) -> list[dict]:
    """Every run under `multirun_dir`; DataError if there is none."""
    dirs = find_run_dirs(multirun_dir)
    if not dirs:
        raise DataError(f"no runs (directories with .hydra/overrides.yaml) in {multirun_dir}"
                        + _where_runs_are(Path(multirun_dir)))  # fmt: skip
    return [load_run(d) for d in dirs]


def _where_runs_are(folder: Path) -> str:
    """A hint when `folder` is one run, or holds sweeps rather than runs."""
    if (folder / ".hydra" / "overrides.yaml").is_file():
        return f"; it is one run: summarize the folder it lies in, {folder.resolve().parent}"
    sweeps = sorted({p.parent.parent.parent for p in folder.glob("*/*/.hydra/overrides.yaml")})
    if len(sweeps) == 1:
        return f"; it holds a sweep: summarize {sweeps[0]}"
    # Named by date and time: the last is the latest.
    return f"; it holds {len(sweeps)} sweeps: summarize one, e.g. {sweeps[-1]}" if sweeps else ""


def swept_keys(runs: list[dict]) -> list[str]:
    """Override keys whose value is not the same in every run, in first-seen order."""
    keys = list(dict.fromkeys(k for run in runs for k in run["overrides"]))
    return [k for k in keys if len({run["overrides"].get(k) for run in runs}) > 1]


def common_overrides(runs: list[dict]) -> dict[str, str]:
    """Overrides every run shares (same key, same value)."""
    swept = set(swept_keys(runs))
    return {k: v for k, v in runs[0]["overrides"].items() if k not in swept} if runs else {}


def choose_metric(runs: list[dict], metric: str | None = None) -> tuple[str, bool]:
    """(metric, ascending): `metric`; else the `objective` the runs were given (as an Optuna
    search is), where they share one other than the default and any run reports it; else
    analogy_acc when any run reports it, else final_val_loss. Losses and times rank ascending,
    everything else descending."""
    if metric is None:
        objectives = {r.get("objective") for r in runs}
        aimed = objectives.pop() if len(objectives) == 1 else None
        if aimed not in (None, DEFAULT_OBJECTIVE) and _reported(runs, aimed):
            metric = aimed
        else:
            metric = "analogy_acc" if _reported(runs, "analogy_acc") else "final_val_loss"
    return metric, lower_is_better(metric)


def lower_is_better(metric: str) -> bool:
    """Whether a smaller `metric` is better (a loss, a time); else larger (a score)."""
    return bool(_LOWER_IS_BETTER.search(metric))


def _reported(runs: list[dict], metric: str) -> bool:
    return any(_number(r["metrics"].get(metric)) is not None for r in runs)


def _objective(config_file: Path) -> str | None:
    """The run's `objective` from Hydra's record of its composed config, if readable."""
    try:
        config = yaml.safe_load(config_file.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return config.get("objective") if isinstance(config, dict) else None


def rank_runs(runs: list[dict], metric: str, ascending: bool) -> list[dict]:
    """Runs best first by `metric`; then finished runs without it; failed runs last.

    Ties and the unranked keep job order (Python's sort is stable).
    """

    def key(run):
        value = _number(run["metrics"].get(metric)) if run["status"] == "ok" else None
        if value is None:
            return (1 if run["status"] == "ok" else 2, 0.0)
        return (0, value if ascending else -value)

    return sorted(runs, key=key)


def _number(value) -> float | None:
    """`value` as a float; None for missing values, booleans, non-numbers and NaN (which
    cannot be ranked; an infinite loss can, last)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def summary_table(
    ranked: list[dict], metric: str, full: bool = False
) -> tuple[list[str], list[dict]]:
    """(columns, rows) for runs in rank order: rank, job, the swept overrides, `metric`,
    the other metrics, wall time, words/s, status and error.

    Runs without a value of `metric` get no rank. `full` adds the bookkeeping metrics and
    the run directory's name (the table itself stays narrow enough to read).
    """
    swept = swept_keys(ranked)
    # Nested groups (analogy_sections: accuracy per section) stay in metrics.json.
    metric_names = list(
        dict.fromkeys(
            k for run in ranked for k, v in run["metrics"].items() if not isinstance(v, dict)
        )
    )
    others = [
        m
        for m in metric_names
        if m != metric and m not in TIMING and (full or m not in BOOKKEEPING)
    ]
    columns = ["rank", "job", *swept, metric, *others, *TIMING, "status", "error"]
    if full:
        columns.append("run")
    rows = []
    for run in ranked:
        ranked_here = run["status"] == "ok" and _number(run["metrics"].get(metric)) is not None
        row = {
            "rank": len(rows) + 1 if ranked_here else None,
            "job": run["job"],
            "run": run["run"],
            "status": run["status"],
            "error": run["error"],
        }
        row.update({k: run["overrides"].get(k) for k in swept})
        row.update({m: run["metrics"].get(m) for m in [metric, *others, *TIMING]})
        rows.append(row)
    return columns, rows


def over_repeats(
    runs: list[dict], metric: str, ascending: bool, over: str = "seed", full: bool = False
) -> tuple[list[str], list[dict]]:
    """(columns, rows) of the finished runs grouped by every swept key but `over` (repeats
    of one setting, such as seeds): the group's values, its number of runs and `metric`'s
    mean, sample standard deviation, min and max, best mean first. `full` gives the mean and
    standard deviation of every metric instead. Empty where `over` is not swept or no
    setting was run twice: then there is nothing to average.
    """
    swept = swept_keys(runs)
    if over not in swept:
        return [], []
    keys = [k for k in swept if k != over]
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        if run["status"] == "ok" and _number(run["metrics"].get(metric)) is not None:
            setting = tuple(run["overrides"].get(k) for k in keys)
            groups.setdefault(setting, []).append(run["metrics"])
    if all(len(group) < 2 for group in groups.values()):
        return [], []
    names = [metric]
    if full:  # every metric that all these runs report as a number
        finished = [r for group in groups.values() for r in group]
        names += [
            m for m in dict.fromkeys(k for r in finished for k in r)
            if m != metric and all(_number(r.get(m)) is not None for r in finished)
        ]  # fmt: skip
    stats = ("mean", "std") if full else ("mean", "std", "min", "max")
    columns = [*keys, "runs", *(f"{m} {stat}" for m in names for stat in stats)]
    rows = []
    for setting, group in groups.items():
        row = {**dict(zip(keys, setting, strict=True)), "runs": len(group)}
        for m in names:
            values = [_number(r[m]) for r in group]
            spread = statistics.stdev(values) if len(values) > 1 else None
            found = {"mean": statistics.fmean(values), "std": spread,
                     "min": min(values), "max": max(values)}  # fmt: skip
            row.update({f"{m} {stat}": found[stat] for stat in stats})
        rows.append(row)
    rows.sort(key=lambda row: row[f"{metric} mean"] * (1 if ascending else -1))
    return columns, rows


def to_markdown(columns: list[str], rows: list[dict]) -> str:
    """A GitHub-style Markdown table; numbers to 4 significant digits, words/s whole."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    return "\n".join([line, rule, *body])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.0f}" if 1e4 <= abs(value) < 1e9 else f"{value:.4g}"
    if isinstance(value, str) and SAMPLED_FLOAT.fullmatch(value):
        return f"{float(value):.4g}"  # a value an Optuna search drew: the CSV has it whole
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_csv(columns: list[str], rows: list[dict]) -> str:
    """CSV text with full-precision values; empty cells for missing ones."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows([{c: "" if row.get(c) is None else row[c] for c in columns} for row in rows])
    return out.getvalue()


def report(
    multirun_dir: Path, ranked: list[dict], metric: str, ascending: bool, over: str = "seed"
) -> str:
    """The Markdown summary of runs in rank order: how they were ranked, the overrides they
    share, the table, and where settings were repeated over `over`, their means."""
    columns, rows = summary_table(ranked, metric)
    common = common_overrides(ranked)
    n_failed = sum(run["status"] != "ok" for run in ranked)
    lines = [
        f"# Sweep {multirun_dir}",
        f"{len(ranked)} runs, {n_failed} failed; ranked by `{metric}` "
        f"({'lower' if ascending else 'higher'} is better).",
    ]
    varied = [k for k in swept_keys(ranked) if k in _LOSS_SHAPING]
    if "loss" in metric and varied:
        lines.append(
            f"Note: the loss itself depends on {' and '.join(varied)}; compare losses only "
            "between runs with the same values."
        )
    if common:
        lines.append("Shared overrides: " + " ".join(f"`{k}={v}`" for k, v in common.items()))
    lines.append(to_markdown(columns, rows))
    columns, rows = over_repeats(ranked, metric, ascending, over)
    if rows:
        lines += [
            f"## Over `{over}`",
            f"`{metric}` of the finished runs of each setting: mean, sample standard deviation "
            f"over its values of `{over}`, min and max; best mean first.",
            to_markdown(columns, rows),
        ]
    return "\n\n".join(lines) + "\n"


def write_summary(
    multirun_dir: str | Path,
    metric: str | None = None,
    ascending: bool | None = None,
    over: str | None = None,
) -> tuple[str, list[dict], str, bool]:
    """Rank the runs under `multirun_dir`, write summary.md and summary.csv there, and
    where settings were repeated over `over` (by default `seed`, where it was swept),
    summary_over_<over>.csv.

    `metric` and `ascending` default as in choose_metric. Returns (Markdown text, runs in
    rank order, metric, ascending). DataError, before writing, for an `over` not swept or a
    `metric` that no finished run reports.
    """
    multirun_dir = Path(multirun_dir)
    runs = load_runs(multirun_dir)
    # Keys with a number, or null (nothing answerable), in some run: those a table can rank.
    reported = {
        k: None
        for r in runs
        for k, v in r["metrics"].items()
        if v is None or _number(v) is not None
    }
    if metric is not None and reported and metric not in reported:
        raise DataError(f"no run reports {metric!r}; they report: {', '.join(reported)}")
    if over is not None and over not in swept_keys(runs):
        raise DataError(
            f"no two runs differ in {over!r}: nothing to average over "
            f"(the swept keys: {', '.join(swept_keys(runs)) or 'none'})"
        )
    over = over or "seed"
    metric, default_ascending = choose_metric(runs, metric)
    ascending = default_ascending if ascending is None else ascending
    ranked = rank_runs(runs, metric, ascending)
    text = report(multirun_dir, ranked, metric, ascending, over)
    atomic_write_text(multirun_dir / "summary.md", text)
    atomic_write_text(
        multirun_dir / "summary.csv", to_csv(*summary_table(ranked, metric, full=True))
    )
    columns, rows = over_repeats(ranked, metric, ascending, over, full=True)
    if rows:
        atomic_write_text(multirun_dir / f"summary_over_{_safe(over)}.csv", to_csv(columns, rows))
    return text, ranked, metric, ascending


def write_plots(multirun_dir: str | Path, runs: list[dict], metric: str) -> list[Path]:
    """One PNG of `metric` per swept override key; ImportError without matplotlib."""
    import matplotlib  # noqa: F401  (fail before any work when it is missing)

    paths = []
    for key in swept_keys(runs):
        path = plot_metric(runs, metric, key, plot_path(multirun_dir, metric, key))
        if path is not None:
            paths.append(path)
    return paths


def plot_metric(runs: list[dict], metric: str, key: str, path: Path) -> Path | None:
    """A PNG of `metric` against override `key`: one dot per finished run and, where values
    repeat (a grid: the other swept keys vary between dots), a line through the means.

    Numeric values get a numeric axis; anything else is placed in first-seen order.
    Returns None, writing nothing, when fewer than two values of `key` have a result.
    """
    points = [
        (run["overrides"][key], _number(run["metrics"].get(metric)))
        for run in runs
        if run["status"] == "ok" and key in run["overrides"]
    ]
    points = [(x, y) for x, y in points if y is not None]
    labels = list(dict.fromkeys(x for x, _ in points))
    if len(labels) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    numeric = all(_float_or_none(x) is not None for x in labels)
    position = {x: (float(x) if numeric else i) for i, x in enumerate(labels)}
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(labels) < len(points):
        means = sorted(
            (position[x], sum(y for lx, y in points if lx == x) / [p[0] for p in points].count(x))
            for x in labels
        )
        ax.plot(*zip(*means, strict=True), "--", color="C1", label="mean", zorder=2)
    ax.scatter([position[x] for x, _ in points], [y for _, y in points], label="run", zorder=3)
    if not numeric:
        ax.set_xticks(list(position.values()), labels)
    elif min(position.values()) > 0 and max(position.values()) >= 20 * min(position.values()):
        ax.set_xscale("log")  # learning rates and the like span decades
    ax.set(xlabel=key, ylabel=metric, title=f"{metric} vs {key} ({len(points)} runs)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def plot_path(multirun_dir: Path, metric: str, key: str) -> Path:
    """Where the plot of `metric` against `key` goes: ``<metric>_vs_<key>.png``."""
    return Path(multirun_dir) / f"{metric}_vs_{_safe(key)}.png"


def _safe(key: str) -> str:
    """An override key as part of a file name."""
    return re.sub(r"[^\w.=-]", "_", key)
