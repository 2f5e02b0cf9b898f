"""scripts/bench/benchmark.py end to end on a small generated corpus: both trainers, one table."""

import json
import math
import os

import pytest

from conftest import import_script, planted_groups_text, run_script


@pytest.mark.slow
def test_benchmark_alternates_trainers_and_reports_consistent_rates(tmp_path):
    corpus = tmp_path / "corpus.txt"
    # Letters only: the benchmark normalises as text8 does, which spells digits out.
    letters = str.maketrans("0123456789", "abcdefghij")
    text, groups = planted_groups_text(n_tokens=20_000)
    text = text.translate(letters)
    corpus.write_text(text)
    n_tokens = len(text.split())
    # A benchmark of our own: words of one group are alike (10), of two groups not (0).
    members = [(w.translate(letters), g) for g, group in enumerate(groups) for w in group]
    pairs = tmp_path / "Planted-Groups.txt"
    pairs.write_text("".join(
        f"{a} {b} {10 if g == h else 0}\n"
        for i, (a, g) in enumerate(members) for b, h in members[i + 1 :]
    ))  # fmt: skip
    # 30 words, each in every 4096-pair chunk ~150 times: the updates are cut to 1/64 of an
    # epoch (sgns.run.auto.MIN_SGD_CHUNK), as in two 4,096-pair updates the groups stay apart.
    args = ["--corpus", str(corpus), "--rounds", "2", "--pairs", str(pairs)]
    result = run_script("bench/benchmark.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert [line.split()[2] for line in lines[1:5]] == ["sgns:", "gensim:", "gensim:", "sgns:"]
    report = json.loads(lines[-1])
    assert report["tokens"] == n_tokens
    assert report["sgns_overrides"] == []
    rows = {row["name"]: row for row in report["rows"]}
    assert set(rows) == {"sgns", "gensim"}
    for row in rows.values():
        assert row["runs"] == 2
        assert 0 < row["best_wall_s"] <= row["wall_s"]
        assert math.isclose(row["words_per_s"], n_tokens * 5 / row["wall_s"])
        assert math.isclose(row["best_words_per_s"], n_tokens * 5 / row["best_wall_s"])
        assert row["peak_rss_mb"] > 50  # the child's own peak, torch or gensim loaded
        # CPU seconds over the same span as the wall clock, on at most the machine's cores.
        assert 0 < row["cpu_s"] <= row["wall_s"] * os.cpu_count() * 1.05
    speedup = rows["sgns"]["words_per_s"] / rows["gensim"]["words_per_s"]
    assert math.isclose(report["speedup"], speedup)
    best = rows["sgns"]["best_words_per_s"] / rows["gensim"]["best_words_per_s"]
    assert math.isclose(report["speedup_best"], best)
    assert math.isclose(report["cpu_speedup"], rows["gensim"]["cpu_s"] / rows["sgns"]["cpu_s"])
    table = next(line for line in lines if line.startswith("sgns "))
    assert f"{speedup:.2f}" in table.split()
    # Both trainers find the planted groups: a column of their own benchmark's Spearman.
    assert lines[5].split()[-1] == "planted_groups_spearman"
    for row in rows.values():
        # At most 0.654 with two judgements and no ties in the cosines.
        assert row["planted_groups_spearman"] > 0.5, row
    assert table.split()[-1] == f"{rows['sgns']['planted_groups_spearman']:.3f}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corpus", "missing.txt"], "error: corpus file not found"),
        (["--trainers", "sgns,fasttext"], "error: --trainers takes sgns and/or gensim"),
        (["--rounds", "0"], "--rounds at least 1"),
        (["--pairs", "nope.txt"], "error: no such word-pair file: 'nope.txt'"),
    ],
)
def test_bad_arguments_stop_with_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        import_script("bench/benchmark").main(args)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_cpu_step_phases_are_timed_per_thread_count_on_identical_results(capsys, monkeypatch):
    """scripts/bench/bench_cpu_step.py: each thread count's phases, from runs that must end in
    the same tables; a step that gave other tables at another thread count is reported."""
    bench = import_script("bench/bench_cpu_step")
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # keep the suite's threads
    args = ["--threads", "1", "2", "--vocab", "500", "--dim", "8", "--pairs", "256"]
    report = bench.main([*args, "--batches", "3", "--rounds", "2"])
    assert [row["threads"] for row in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["row_updates_ms"] > 0
        assert row["apply_updates_ms"] > 0
        per_pair = (row["row_updates_ms"] + row["apply_updates_ms"]) / 1e3 / 256
        assert row["pairs_per_s"] == pytest.approx(1 / per_pair)
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == report
    calls = iter(range(100))
    monkeypatch.setattr(bench, "time_phases",
                        lambda *a: ([1e-3], [1e-3], bytes([next(calls) % 2])))  # fmt: skip
    with pytest.raises(SystemExit, match="the step is not deterministic"):
        bench.main([*args, "--batches", "1", "--rounds", "1"])
    assert torch.get_num_threads() == threads
