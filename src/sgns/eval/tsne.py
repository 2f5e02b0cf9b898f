"""t-SNE map of the most frequent words: the picture the original SGNS notebook ends with.

scikit-learn and matplotlib come with the `viz` extra and are imported only when a figure is
asked for, so the rest of the package works without them.

    fig = tsne_figure(matrix, words, n_words=380)   # matplotlib Figure, 16 x 16 inches
    fig.savefig("tsne.png", dpi=100)                # 1600 x 1600 pixels
"""

from __future__ import annotations

import numpy as np
import torch

from sgns.errors import ConfigError, SgnsError
from sgns.eval.lookup import as_matrix

FIGSIZE_INCHES = 16
# sklearn's default perplexity; it must stay below the number of points, hence the cap below.
PERPLEXITY = 30.0


def _viz_modules():
    try:
        from matplotlib.figure import Figure
        from sklearn.manifold import TSNE
    except ImportError as err:
        raise SgnsError(
            f"t-SNE plots need scikit-learn and matplotlib ({err.name} is missing): "
            "pip install -e '.[viz]'"
        ) from err
    return Figure, TSNE


def tsne_figure(
    vectors: torch.Tensor | np.ndarray, words: list[str], n_words: int = 380, seed: int = 0
):
    """Scatter the `n_words` most frequent words in 2-D by t-SNE, each point labelled.

    Args:
        vectors: embedding matrix (V, D), rows in frequency order (row 0 most frequent).
        words: the V words in id order.
        n_words: how many of the most frequent words to show (all if fewer); at least 2.
        seed: t-SNE's random_state, so the same vectors give the same picture.

    Returns:
        a matplotlib Figure of FIGSIZE_INCHES x FIGSIZE_INCHES, not attached to pyplot (no
        window opens and nothing global is kept); save it with `fig.savefig(path, dpi=...)`.
    """
    Figure, TSNE = _viz_modules()
    n = min(n_words, len(words))
    if n < 2:
        raise ConfigError(f"n_words={n_words} is invalid: t-SNE needs at least 2 words")
    points = as_matrix(vectors)[:n].cpu().numpy()
    tsne = TSNE(n_components=2, perplexity=min(PERPLEXITY, (n - 1) / 3), random_state=seed)
    coords = tsne.fit_transform(points)

    fig = Figure(figsize=(FIGSIZE_INCHES, FIGSIZE_INCHES))
    ax = fig.add_subplot()
    ax.scatter(coords[:, 0], coords[:, 1], color="steelblue")
    for (x, y), word in zip(coords, words[:n], strict=True):
        ax.annotate(word, (x, y), alpha=0.7)
    ax.set_title(f"t-SNE of the {n} most frequent words")
    return fig
