"""Train SGNS word vectors; Hydra composes the config from conf/.

python scripts/train.py                                   # bundled Wikipedia sample
python scripts/train.py data=text_file data.path=my.txt   # your own text
python scripts/train.py -m model.embed_dim=50,100 model.n_samples=5,10   # a sweep
python scripts/train.py ... resume=outputs/runs/RUN/checkpoints/last.ckpt  # continue a run

Each launch gets a folder of its own (sgns.run.folders): a run or sweep started in the same
second as another gets a name ending _2, _3, ...; a hydra.run.dir or hydra.sweep.dir that
holds a finished run is refused, unless resume= names a checkpoint inside it.

Exit status: 0 done; 2 bad input or config (one line ``error: ...`` on stderr, nothing trained);
143 stopped by SIGTERM and 130 by Ctrl-C (one line ``stopped: ...`` naming the checkpoint to
resume from).
"""

import json
import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig

from sgns.config.check import check_inside, checked, composition_error
from sgns.data.corpus import expand_paths
from sgns.errors import ConfigError, SgnsError, first_line
from sgns.io import atomic_write_text
from sgns.run.folders import FAILED, FolderTaken
from sgns.run.folders import prepare as prepare_folders
from sgns.run.launchers import prepare as prepare_parallel_runs

EXIT_BAD_INPUT, EXIT_SIGTERM, EXIT_CTRL_C = 2, 143, 130  # 128 + signal number, as shells report
log = logging.getLogger("sgns.run")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if multirun:
        try:
            check_inside(run_dir, hydra_cfg.sweep.dir, "run directory")
        except ConfigError as err:  # write nothing there; the sweep itself is malformed
            print(f"error: {err}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
    log.info("run directory: %s", run_dir)  # first: a sweep's logs say when each run began
    try:
        conf = checked(cfg)  # the run's one check, before any work starts
        if conf["data"]["source"] == "text_file" and conf["data"]["path"]:
            expand_paths(conf["data"]["path"])  # a missing corpus: said before seconds of imports
    except SgnsError as err:
        return _fail(run_dir, err, f"error: {err}", EXIT_BAD_INPUT, multirun)
    # Imported only now: torch and Lightning take seconds to load.
    from sgns.run.resume import Interrupted
    from sgns.run.train import run_checked

    try:
        metrics = run_checked(conf, run_dir)
    except SgnsError as err:
        return _fail(run_dir, err, f"error: {err}", EXIT_BAD_INPUT, multirun)
    except Interrupted as err:
        # A scheduler's SIGTERM ends the whole sweep, not only this run.
        code = EXIT_SIGTERM if err.signal == "SIGTERM" else EXIT_CTRL_C
        return _fail(run_dir, err, f"stopped: {err}", code, multirun=False)
    except Exception as err:
        # A bug or a crash, not bad input: the traceback follows as usual, and a sweep's
        # summary still names the reason (Hydra ends the sweep after its other runs).
        _record_failure(run_dir, err)
        raise
    return metrics.get(cfg.get("objective", "final_val_loss"))


def _fail(run_dir: Path, err: Exception, line: str, code: int, multirun: bool) -> None:
    print(line, file=sys.stderr)
    _record_failure(run_dir, err)
    if multirun:
        return None  # the sweep goes on; summaries list this run as failed
    sys.exit(code)


def _record_failure(run_dir: Path, err: Exception) -> None:
    record = {"error": first_line(err), "type": type(err).__name__}
    atomic_write_text(run_dir / FAILED, json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    prepare_parallel_runs()
    prepare_folders()
    # Let composition errors (an unknown key, a bad override) reach us as exceptions, so they
    # print as one line like every other bad input; a user's own HYDRA_FULL_ERROR=1 wins.
    full_traces = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except HydraException as err:
        if full_traces:
            raise
        print(f"error: {composition_error(err)}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except FolderTaken as err:  # raised before Hydra writes into the folder
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
