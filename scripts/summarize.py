"""Summarise a Hydra multirun: one table of every run, best first, and a plot per swept key.

python scripts/summarize.py outputs/multirun/2026-01-01_12-00-00
python scripts/summarize.py MULTIRUN_DIR --metric final_train_loss
python scripts/summarize.py MULTIRUN_DIR --metric analogy_acc --no-plots
python scripts/summarize.py MULTIRUN_DIR --over data.path    # settings repeated over corpora

Prints the table and writes into MULTIRUN_DIR: summary.md, summary.csv (every metric, full
precision) and <metric>_vs_<key>.png for each swept key (needs matplotlib: the `viz` extra).
The default metric is analogy_acc when the runs report it, else final_val_loss; losses and
times rank lowest first, other metrics highest first (--ascending / --descending to change).
Failed runs are listed last with their error. Where a setting was run with several seeds
(`-m seed=0,1,2 model.embed_dim=50,100`), a second table gives each setting's mean, standard
deviation, min and max of the metric over its seeds, and summary_over_seed.csv the mean and
standard deviation of every metric (--over KEY groups repeats of another key).
"""

import argparse
import sys

from sgns.errors import SgnsError
from sgns.run.summary import write_plots, write_summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "multirun_dir", help="a Hydra sweep directory (hydra.sweep.dir), or any folder of runs"
    )
    parser.add_argument("--metric", help="metrics.json key to rank by")
    order = parser.add_mutually_exclusive_group()
    order.add_argument("--ascending", action="store_true", default=None, help="lower is better")
    order.add_argument(
        "--descending", dest="ascending", action="store_false", help="higher is better"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    parser.add_argument(
        "--over", metavar="KEY", help="average repeats over KEY (default: seed, if swept)"
    )
    args = parser.parse_args(argv)
    try:
        text, ranked, metric, _ = write_summary(
            args.multirun_dir, args.metric, args.ascending, args.over
        )
    except SgnsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(text)
    if not args.no_plots:
        try:
            plots = write_plots(args.multirun_dir, ranked, metric)
        except ImportError:
            print(
                "warning: matplotlib is not installed; no plots (pip install -e '.[viz]')",
                file=sys.stderr,
            )
        else:
            for path in plots:
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
