"""Bad command lines and diverging runs stop with one line on stderr and exit status 2.

Config errors fail before torch and Lightning are imported: about a second per subprocess.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from train_script import one_line, train

from conftest import planted_groups_text, small_run_overrides
from sgns.config.schema import RULES

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # Hydra rejects a key missing from the schema (sgns.config.schema.RunConfig) while
        # composing, before our code runs.
        ("model.foo=1", "error: unknown config key 'model.foo'; known keys here: embed_dim, "),
        ("model.embed_dimm=3", "error: unknown config key 'model.embed_dimm'; known keys here: "),
        ("foo=1", "error: unknown config key 'foo'; known keys here: checkpoint, cpu_threads, "),
        # "+" adds the key; validate() rejects it.
        ("+model.foo=1", "error: unknown config key 'model.foo'; known keys here: embed_dim, "),
        ("data=nope", "error: In 'train': Could not find 'data/nope'; Available options in "),
        ("model.embed_dim=[", "error: no viable alternative at input '['"),
        # A wrong type, from Hydra; a value out of range or not a choice, from validate()
        # (test_config_validation.py checks every key).
        ("model.embed_dim=abc", "error: model.embed_dim='abc' is invalid: it must be an integer"),
        ("model.embed_dim=0", "error: model.embed_dim=0 is invalid: it must be an integer"),
        ("model.optimizer=rmsprop", "error: model.optimizer='rmsprop' is invalid: it must be one"),
    ],
)
def test_bad_override_is_one_line_and_exit_2(tmp_path, override, message):
    result = train(override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.count("\n") == 1, result.stderr  # exactly one line
    assert result.stderr.startswith(message), result.stderr
    assert not (tmp_path / "run" / "vectors.txt").exists()


EMBED_DIM_RANGE = "is invalid: it must be an integer in [1, 100000]"
# The schema's model keys, sorted: a new key joins the listing with no edit here.
MODEL_KEYS = ", ".join(sorted(key.split(".", 1)[1] for key in RULES if key.startswith("model.")))


@pytest.mark.parametrize(
    ("override", "message", "composed"),
    [
        # Found after composition: the run directory exists and records the error.
        ("model.embed_dim=0", f"model.embed_dim=0 {EMBED_DIM_RANGE}", True),
        # Found while composing: Hydra stops before it creates the run directory.
        ("model.embed_dim=abc", f"model.embed_dim='abc' {EMBED_DIM_RANGE}", False),
        (
            "model.embed_dimm=3",
            f"unknown config key 'model.embed_dimm'; known keys here: {MODEL_KEYS}",
            False,
        ),
    ],
)
def test_config_error_is_the_whole_line_and_recorded_once_there_is_a_run(
    tmp_path, override, message, composed
):
    run_dir = tmp_path / "run"
    result = train(override, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"error: {message}\n")
    if composed:
        failed = json.loads((run_dir / "failed.json").read_text())
        assert failed == {"error": message, "type": "ConfigError"}
    else:
        assert not run_dir.exists()


def test_sweep_value_cannot_place_a_run_outside_the_sweep_folder(tmp_path):
    sweep = tmp_path / "a" / "b" / "sweep"
    result = train("-m", "data.sha256=x/../../../escaped", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: run directory "), result.stderr
    assert "lies outside" in result.stderr
    assert result.stderr.count("\n") == 1
    # Hydra records the job's config and log there before any of our code runs; we add nothing.
    escaped = tmp_path / "a" / "escaped"
    assert {p.name for p in escaped.iterdir()} <= {".hydra", "train.log"}


def test_diverging_loss_is_one_line_naming_the_remedy_and_writes_no_vectors(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=2000)[0])
    # sgd bounds every row's step, so it takes sparse Adam at an absurd rate to diverge.
    settings = {"model.lr": 100, "model.optimizer": "sparse_adam", "model.init": "uniform"}
    overrides = small_run_overrides(corpus, tmp_path / "cache", **settings)
    result = train(*overrides, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert re.fullmatch(
        r"error: training (stopped: the loss is (inf|nan) at step \d+; the weights diverged"
        r"|diverged: the last epoch's loss is .*); lower model.lr",
        one_line(result.stderr),
    )
    assert result.stderr.count("error: ") == 1
    assert not (tmp_path / "run" / "vectors.txt").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("args", "status"),
    [(["--cfg", "job"], 0), (["--help"], 0), (["model.embed_dim=0"], 2)],
    ids=["print", "help", "bad"],
)
def test_a_config_is_printed_or_refused_before_torch_is_imported(tmp_path, args, status):
    """The module's promise: the config is composed and checked first, so printing it or
    refusing it takes about a second, not the seconds torch and Lightning take to load."""
    argv = [str(SCRIPT), *args, f"hydra.run.dir={tmp_path / 'run'}"]
    code = (
        "import runpy, sys\n"
        f"sys.argv = {argv!r}\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "else:\n"
        "    code = 0\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.stdout.splitlines()[-1] == f"no torch {status}", done.stderr[-2000:]
    if args == ["--help"]:  # what to type, and where each key is explained
        assert done.stdout.startswith("scripts/train.py: word2vec skip-gram with negative")
        assert "python scripts/train.py data=text_file data.path=my.txt" in done.stdout
        assert "src/sgns/config/schema.py" in done.stdout
