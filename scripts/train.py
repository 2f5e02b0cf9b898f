"""Train SGNS word vectors; Hydra composes the config from conf/.

python scripts/train.py                                   # bundled Wikipedia sample
python scripts/train.py data=text_file data.path=my.txt   # your own text
python scripts/train.py -m model.embed_dim=50,100 model.n_samples=5,10   # a sweep
"""

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from sgns.errors import SgnsError
from sgns.train import run, write_json

log = logging.getLogger("sgns")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        metrics = run(cfg, run_dir)
    except SgnsError as err:
        print(f"error: {err}", file=sys.stderr)
        write_json(run_dir / "failed.json", {"error": str(err), "type": type(err).__name__})
        if hydra_cfg.mode == RunMode.MULTIRUN:
            return None  # the sweep goes on; summaries list this run as failed
        sys.exit(2)
    return metrics.get(cfg.get("objective", "final_val_loss"))


if __name__ == "__main__":
    main()
