"""Draw the t-SNE map of a run's most frequent words into RUN_DIR/tsne.png (needs the viz extra).

python scripts/plot_tsne.py outputs/runs/2026-05-01_12-00-00
python scripts/plot_tsne.py outputs/runs/2026-05-01_12-00-00 --n-words 500 --out /tmp/map.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sgns.errors import SgnsError
from sgns.eval.tsne import FIGSIZE_INCHES, tsne_figure
from sgns.eval.vectors import load_vectors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="run directory (or a word2vec vectors file)")
    parser.add_argument("--n-words", type=int, default=380, help="most frequent words (380)")
    parser.add_argument("--out", type=Path, help="image file (RUN_DIR/tsne.png)")
    parser.add_argument("--seed", type=int, default=0, help="t-SNE random state (0)")
    parser.add_argument(
        "--dpi", type=int, default=100, help=f"pixels per inch of the {FIGSIZE_INCHES}-inch image"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_image_format(args.out)  # before the seconds t-SNE takes
        vectors, words = load_vectors(args.run_dir)
        fig = tsne_figure(vectors, words, n_words=args.n_words, seed=args.seed)
    except SgnsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    run_dir = args.run_dir if args.run_dir.is_dir() else args.run_dir.parent
    out = args.out or run_dir / "tsne.png"
    try:
        fig.savefig(out, dpi=args.dpi)
    except OSError as err:  # a folder that is not there, one not writable
        print(f"error: cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(out)
    return 0


def _check_image_format(out: Path | None) -> None:
    """An --out whose extension matplotlib cannot write (no extension: PNG)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:  # tsne_figure says what to install
        return
    formats = FigureCanvasBase.get_supported_filetypes()
    extension = out.suffix.lstrip(".").lower() if out else ""
    if extension and extension not in formats:
        raise SgnsError(
            f"--out {out}: matplotlib cannot write .{extension} images; use one of "
            f"{', '.join(sorted(formats))}"
        )


if __name__ == "__main__":
    sys.exit(main())
