"""sgns.run.summary and scripts/summarize.py on fabricated multirun directories."""

import csv
import io
import json
import runpy
import sys
from pathlib import Path

import pytest

from sgns.errors import DataError
from sgns.run.summary import (
    choose_metric,
    load_run,
    load_runs,
    over_repeats,
    parse_overrides,
    rank_runs,
    summary_table,
    swept_keys,
    to_csv,
    to_markdown,
    write_plots,
    write_summary,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "summarize.py"
COMMON = ["data=text_file", "data.path=/corpus.txt", "trainer.max_epochs=1"]


def fake_run(root: Path, num: int, overrides: dict, metrics=None, failed=None) -> Path:
    """A run directory as Hydra and scripts/train.py leave it."""
    items = [f"{k}={v}" for k, v in overrides.items()]
    run_dir = root / f"{num}_{','.join(sorted(items))}"
    (run_dir / ".hydra").mkdir(parents=True)
    lines = [*items, "+sweep=grid", *COMMON]
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {x}\n" for x in lines))
    if metrics is not None:
        full = {"final_train_loss": 3.0, "wall_time_s": 10.0 + num, "steps": 100, **metrics}
        full["train_words_per_sec"] = 1000.0 * (num + 1)
        (run_dir / "metrics.json").write_text(json.dumps(full))
    if failed is not None:
        (run_dir / "failed.json").write_text(json.dumps(failed))
    return run_dir


@pytest.fixture
def sweep(tmp_path) -> Path:
    """Job 0..5 of an embed_dim x noise_power grid: four finished, one failed, one killed."""
    root = tmp_path / "multirun"
    fake_run(root, 0, {"model.embed_dim": 8, "model.noise_power": 0.5}, {"final_val_loss": 2.5})
    fake_run(root, 1, {"model.embed_dim": 8, "model.noise_power": 0.75}, {"final_val_loss": 2.0})
    fake_run(root, 2, {"model.embed_dim": 16, "model.noise_power": 0.5}, {"final_val_loss": 2.25})
    fake_run(root, 3, {"model.embed_dim": 16, "model.noise_power": 0.75}, {"final_val_loss": 1.5})
    fake_run(
        root,
        4,
        {"model.embed_dim": 0, "model.noise_power": 0.5},
        failed={"error": "model.embed_dim=0 is invalid", "type": "ConfigError"},
    )
    fake_run(root, 10, {"model.embed_dim": 0, "model.noise_power": 0.75})  # killed: no metrics
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def test_parse_overrides_strips_add_prefixes_and_keeps_equals_in_values():
    parsed = parse_overrides(["+sweep=grid", "++seed=3", "data.path=a=b.txt", "~logger"])
    assert parsed == {"sweep": "grid", "seed": "3", "data.path": "a=b.txt", "logger": "~"}


def test_runs_load_in_job_order_with_their_status(sweep):
    runs = load_runs(sweep)
    assert [r["job"] for r in runs] == [0, 1, 2, 3, 4, 10]  # 10 after 4, not after 1
    assert [r["status"] for r in runs] == ["ok"] * 4 + ["failed"] * 2
    assert runs[4]["error"] == "ConfigError: model.embed_dim=0 is invalid"
    assert runs[5]["error"] == "no metrics.json: the run did not finish (or is still running)"
    assert runs[1]["overrides"]["model.noise_power"] == "0.75"


def test_a_folder_of_single_runs_is_summarised_in_time_order_without_job_numbers(tmp_path):
    """outputs/runs: folders named by their start time (a second one in the same second with a
    suffix), each with its own overrides."""
    root = tmp_path / "runs"
    for name, dim, loss in [
        ("2026-12-08_10-00-00", 8, 2.5),
        ("2026-12-08_10-00-00_1", 16, 1.5),
        ("2026-12-08_09-00-00", 32, 2.0),
    ]:
        fake_run(root, 0, {"model.embed_dim": dim}, {"final_val_loss": loss}).rename(root / name)
    runs = load_runs(root)
    assert [r["job"] for r in runs] == [None] * 3
    assert [r["overrides"]["model.embed_dim"] for r in runs] == ["32", "8", "16"]
    assert swept_keys(runs) == ["model.embed_dim"]
    best = rank_runs(runs, *choose_metric(runs))
    assert [r["metrics"]["final_val_loss"] for r in best] == [1.5, 2.0, 2.5]


def test_runs_aimed_at_an_objective_rank_by_it_by_default(tmp_path):
    """An Optuna search aimed at a file of one's own ranks by it, not by analogy accuracy;
    runs left at the default objective (the validation loss) keep the analogy default."""
    root = tmp_path / "multirun"
    for num, (men, acc) in enumerate([(0.2, 0.5), (0.6, 0.1)]):
        run_dir = fake_run(root, num, {"model.lr": num}, {"men_spearman": men, "analogy_acc": acc})
        (run_dir / ".hydra" / "config.yaml").write_text("seed: 0\nobjective: men_spearman\n")
    runs = load_runs(root)
    assert [r["objective"] for r in runs] == ["men_spearman"] * 2
    assert choose_metric(runs) == ("men_spearman", False)
    assert choose_metric(runs, "analogy_acc") == ("analogy_acc", False)
    for run_dir in root.iterdir():
        (run_dir / ".hydra" / "config.yaml").write_text("objective: final_val_loss\n")
    assert choose_metric(load_runs(root)) == ("analogy_acc", False)


def test_a_run_the_scheduler_killed_gets_the_end_of_its_submitit_log(tmp_path):
    """submitit's layout: the job's id in the run's hydra.yaml, its logs beside the runs."""
    root = tmp_path / "multirun"
    run_dir = fake_run(root, 0, {"model.embed_dim": 300})
    (run_dir / ".hydra" / "hydra.yaml").write_text("hydra:\n  job:\n    id: '4242_0'\n    num: 0\n")
    logs = root / ".submitit" / "4242_0"
    logs.mkdir(parents=True)
    killed = "slurmstepd: error: *** JOB 4242 ON gpu7 CANCELLED AT 2026-11-30T03:00:00 DUE TO TIME"
    (logs / "4242_0_0_log.err").write_text(f"Epoch 3: 40%\n{killed}\n\n")
    (logs / "4242_0_0_log.out").write_text("not this one\n")
    fake_run(root, 1, {"model.embed_dim": 50}, {"final_val_loss": 2.0})
    runs = load_runs(root)
    assert [r["job"] for r in runs] == [0, 1]  # .submitit is not a run
    assert (
        runs[0]["error"]
        == f"no metrics.json: the run did not finish (or is still running); its log ends: {killed}"
    )
    assert runs[1]["status"] == "ok"


def test_failed_json_wins_over_a_metrics_file(tmp_path):
    run_dir = fake_run(tmp_path, 0, {"seed": 1}, {"final_val_loss": 1.0}, failed={"error": "x"})
    assert (load_run(run_dir)["status"], load_run(run_dir)["error"]) == ("failed", "x")


def test_swept_keys_are_those_that_differ(sweep):
    assert swept_keys(load_runs(sweep)) == ["model.embed_dim", "model.noise_power"]


def test_default_metric_is_analogy_accuracy_when_any_run_has_it(sweep):
    runs = load_runs(sweep)
    assert choose_metric(runs) == ("final_val_loss", True)
    runs[2]["metrics"]["analogy_acc"] = 0.3
    assert choose_metric(runs) == ("analogy_acc", False)
    assert choose_metric(runs, "ws353_spearman") == ("ws353_spearman", False)
    assert choose_metric(runs, "wall_time_s") == ("wall_time_s", True)


def test_ranking_is_best_first_then_unranked_then_failed(sweep):
    runs = load_runs(sweep)
    runs[0]["metrics"].pop("final_val_loss")  # finished, but without the metric
    ranked = rank_runs(runs, "final_val_loss", ascending=True)
    assert [r["job"] for r in ranked] == [3, 1, 2, 0, 4, 10]
    descending = rank_runs(runs, "final_val_loss", ascending=False)
    assert [r["job"] for r in descending] == [2, 1, 3, 0, 4, 10]
    runs[1]["metrics"]["final_val_loss"] = float("nan")  # a diverged run cannot be ranked
    runs[2]["metrics"]["final_val_loss"] = float("inf")  # ...an infinite loss can, last
    ranked = rank_runs(runs, "final_val_loss", ascending=True)
    assert [r["job"] for r in ranked] == [3, 2, 0, 1, 4, 10]


def test_table_has_swept_overrides_metrics_timing_and_errors(sweep):
    ranked = rank_runs(load_runs(sweep), "final_val_loss", True)
    columns, rows = summary_table(ranked, "final_val_loss")
    assert columns[:5] == ["rank", "job", "model.embed_dim", "model.noise_power", "final_val_loss"]
    assert {"wall_time_s", "train_words_per_sec", "status", "error"} <= set(columns)
    # bookkeeping: in the CSV only
    assert "steps" not in columns
    assert "run" not in columns
    assert rows[0] == {
        "rank": 1,
        "job": 3,
        "run": ranked[0]["run"],
        "model.embed_dim": "16",
        "model.noise_power": "0.75",
        "final_val_loss": 1.5,
        "final_train_loss": 3.0,
        "wall_time_s": 13.0,
        "train_words_per_sec": 4000.0,
        "status": "ok",
        "error": None,
    }
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, None, None]
    full_columns, _ = summary_table(ranked, "final_val_loss", full=True)
    assert "steps" in full_columns
    assert "run" in full_columns


def test_table_leaves_nested_metric_groups_to_metrics_json(tmp_path):
    scores = {"analogy_acc": 0.3, "analogy_coverage": 0.9, "analogy_sections": {"family": 0.5}}
    fake_run(tmp_path, 0, {"model.embed_dim": 8}, scores)
    fake_run(tmp_path, 1, {"model.embed_dim": 16}, scores)
    ranked = rank_runs(load_runs(tmp_path), "analogy_acc", False)
    columns, _ = summary_table(ranked, "analogy_acc")
    assert "analogy_sections" not in columns
    assert "analogy_coverage" not in columns
    assert "analogy_coverage" in summary_table(ranked, "analogy_acc", full=True)[0]


def test_markdown_table_is_aligned_and_escapes_pipes():
    text = to_markdown(["a", "b"], [{"a": 1.23456789, "b": "x|y"}, {"a": 123456.7, "b": None}])
    lines = text.splitlines()
    assert lines[2] == "| 1.235  | x\\|y |"
    assert lines[3] == "| 123457 |      |"
    assert len({len(line) for line in lines}) == 1


def test_markdown_table_rounds_the_values_a_search_drew_and_the_csv_keeps_them():
    rows = [
        {"lr": "0.018547444999820147", "t": "1e-4", "p": "0.75", "e": "x 0.123456789"},
        {"lr": "1.2345678e-05", "t": "0.0001", "p": "-0.8995792821083618", "e": ""},
    ]
    columns = ["lr", "t", "p", "e"]
    cells = [line.split("|")[1:-1] for line in to_markdown(columns, rows).splitlines()[2:]]
    assert [[c.strip() for c in row] for row in cells] == [
        ["0.01855", "1e-4", "0.75", "x 0.123456789"],
        ["1.235e-05", "0.0001", "-0.8996", ""],
    ]
    assert to_csv(columns, rows).splitlines()[1] == "0.018547444999820147,1e-4,0.75,x 0.123456789"


def test_write_summary_writes_csv_and_markdown_best_first(sweep):
    text, ranked, metric, ascending = write_summary(sweep)
    assert (metric, ascending) == ("final_val_loss", True)
    assert (sweep / "summary.md").read_text() == text
    assert "6 runs, 2 failed; ranked by `final_val_loss` (lower is better)" in text
    assert "`sweep=grid` `data=text_file`" in text  # shared overrides listed once
    assert "the loss itself depends on model.noise_power" in text  # a loss across noise powers
    rows = list(csv.DictReader(io.StringIO((sweep / "summary.csv").read_text())))
    assert [r["job"] for r in rows] == ["3", "1", "2", "0", "4", "10"]
    assert rows[0]["final_val_loss"] == "1.5"
    assert rows[0]["steps"] == "100"
    assert rows[4]["status"] == "failed"
    assert "embed_dim=0 is invalid" in rows[4]["error"]


@pytest.fixture
def seeds(tmp_path) -> Path:
    """embed_dim 8 and 16, each with seeds 0-2; one run of dim 16 failed."""
    root = tmp_path / "seeds"
    accuracy = {(8, 0): 0.30, (8, 1): 0.34, (8, 2): 0.32, (16, 0): 0.40, (16, 1): 0.44}
    for num, (dim, seed) in enumerate([(d, s) for d in (8, 16) for s in range(3)]):
        overrides = {"model.embed_dim": dim, "seed": seed}
        if (dim, seed) in accuracy:
            fake_run(root, num, overrides, {"analogy_acc": accuracy[dim, seed]})
        else:
            fake_run(root, num, overrides, failed={"error": "diverged", "type": "SgnsError"})
    return root


def test_repeats_over_seeds_give_each_settings_mean_and_spread(seeds):
    columns, rows = over_repeats(load_runs(seeds), "analogy_acc", ascending=False)
    stats = ["analogy_acc mean", "analogy_acc std", "analogy_acc min", "analogy_acc max"]
    assert columns == ["model.embed_dim", "runs", *stats]
    assert [(row["model.embed_dim"], row["runs"]) for row in rows] == [("16", 2), ("8", 3)]
    assert [rows[0][c] for c in stats] == pytest.approx([0.42, 0.02 * 2**0.5, 0.4, 0.44])
    assert [rows[1][c] for c in stats] == pytest.approx([0.32, 0.02, 0.3, 0.34])
    _, rows = over_repeats(load_runs(seeds), "analogy_acc", ascending=True)
    assert [row["model.embed_dim"] for row in rows] == ["8", "16"]


def test_nothing_to_average_without_repeats(seeds, tmp_path):
    assert over_repeats(load_runs(seeds), "analogy_acc", False, over="model.lr") == ([], [])
    root = tmp_path / "once"
    fake_run(root, 0, {"model.embed_dim": 8, "seed": 0}, {"analogy_acc": 0.3})
    fake_run(root, 1, {"model.embed_dim": 16, "seed": 1}, {"analogy_acc": 0.4})
    assert over_repeats(load_runs(root), "analogy_acc", False) == ([], [])


def test_write_summary_adds_the_seed_table_and_its_csv(seeds, sweep):
    text, *_ = write_summary(seeds)
    assert "## Over `seed`" in text
    table = text.split("## Over `seed`")[1]
    assert "| 16              | 2    | 0.42" in table
    rows = list(csv.DictReader(io.StringIO((seeds / "summary_over_seed.csv").read_text())))
    assert [r["model.embed_dim"] for r in rows] == ["16", "8"]
    assert float(rows[1]["analogy_acc mean"]) == pytest.approx(0.32)
    assert float(rows[1]["wall_time_s mean"]) == pytest.approx(11.0)  # jobs 0-2: 10 s + job
    assert float(rows[1]["wall_time_s std"]) == pytest.approx(1.0)
    text, *_ = write_summary(sweep)  # no seeds swept: no second table
    assert "## Over" not in text
    assert not (sweep / "summary_over_seed.csv").exists()


def test_plots_one_png_per_swept_key(sweep):
    pytest.importorskip("matplotlib")
    paths = write_plots(sweep, load_runs(sweep), "final_val_loss")
    names = sorted(p.name for p in paths)
    assert names == [
        "final_val_loss_vs_model.embed_dim.png",
        "final_val_loss_vs_model.noise_power.png",
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_runs_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no runs"):
        load_runs(tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        load_runs(tmp_path / "missing")


def test_a_folder_of_sweeps_or_one_run_says_which_folder_to_give(tmp_path):
    """outputs/multirun itself, or one run's folder: the error names what to summarize."""
    root = tmp_path / "multirun"
    early = fake_run(root / "2026-12-01_10-00-00", 0, {"seed": 0}, {"final_val_loss": 2.0})
    message = "no runs (directories with .hydra/overrides.yaml) in "
    with pytest.raises(DataError) as err:
        load_runs(root)
    assert str(err.value) == f"{message}{root}; it holds a sweep: summarize {early.parent}"
    late = fake_run(root / "2026-12-02_09-00-00", 0, {"seed": 0}, {"final_val_loss": 2.0})
    with pytest.raises(DataError) as err:
        load_runs(root)
    assert (
        str(err.value) == f"{message}{root}; it holds 2 sweeps: summarize one, e.g. {late.parent}"
    )
    with pytest.raises(DataError) as err:
        load_runs(late)
    assert str(err.value) == (
        f"{message}{late}; it is one run: summarize the folder it lies in, {late.parent}"
    )
    assert len(load_runs(late.parent)) == 1


def summarize(*args, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *map(str, args)])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_script_prints_the_table_and_honours_metric_and_order(sweep, monkeypatch, capsys):
    code, out, _ = summarize(
        sweep, "--metric", "wall_time_s", "--descending", "--no-plots",
        monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert code == 0
    assert "ranked by `wall_time_s` (higher is better)" in out
    table = [line for line in out.splitlines() if line.startswith("| ") and "rank" not in line]
    assert [line.split("|")[2].strip() for line in table] == ["3", "2", "1", "0", "4", "10"]
    assert not list(sweep.glob("*.png"))


def test_script_without_matplotlib_warns_and_still_writes_the_table(sweep, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    code, out, err = summarize(sweep, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    assert "warning: matplotlib is not installed" in err
    assert (sweep / "summary.csv").is_file()
    assert not list(sweep.glob("*.png"))


def test_script_on_an_empty_directory_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    code, _, err = summarize(tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2
    assert err.startswith("error: no runs")
    assert err.count("\n") == 1


def test_script_averages_over_the_key_it_is_given(seeds, monkeypatch, capsys):
    code, out, _ = summarize(
        seeds, "--over", "model.embed_dim", "--no-plots", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0
    table = out.split("## Over `model.embed_dim`")[1].splitlines()
    rows = [line.split("|")[1:3] for line in table if line.startswith("| ") and "runs" not in line]
    # Each seed's mean over the dims: seed 1 0.39, seed 0 0.35, seed 2 0.32 (its dim 16 failed).
    assert [(seed.strip(), n.strip()) for seed, n in rows] == [("1", "2"), ("0", "2"), ("2", "1")]
    assert (seeds / "summary_over_model.embed_dim.csv").is_file()


def test_a_metric_no_run_reports_is_a_one_line_error(seeds, monkeypatch, capsys):
    code, out, err = summarize(
        seeds, "--metric", "analogy_accuracy", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 2
    assert err.startswith("error: no run reports 'analogy_accuracy'; they report: ")
    assert "analogy_acc" in err.split("they report: ")[1].split(", ")
    assert err.count("\n") == 1
    assert out == ""
    assert not (seeds / "summary.md").exists()


def test_averaging_over_a_key_no_run_varies_is_a_one_line_error(seeds, monkeypatch, capsys):
    code, out, err = summarize(seeds, "--over", "model.lr", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2
    assert err == (
        "error: no two runs differ in 'model.lr': nothing to average over "
        "(the swept keys: model.embed_dim, seed)\n"
    )
    assert not (seeds / "summary.md").exists()
