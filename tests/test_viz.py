"""t-SNE figure and scripts/plot_tsne.py: a real PNG of the promised size, clear errors."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import import_script
from sgns.errors import ConfigError, SgnsError
from sgns.eval.vectors import save_word2vec

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which the PNG format requires to come first."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def _vectors(n: int = 40) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8)).astype(np.float32), [f"w{i}" for i in range(n)]


def test_figure_labels_the_most_frequent_words():
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from sgns.eval.tsne import tsne_figure

    vectors, words = _vectors()
    fig = tsne_figure(vectors, words, n_words=25)
    assert tuple(fig.get_size_inches()) == (16, 16)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == words[:25]
    assert ax.collections[0].get_offsets().shape == (25, 2)


def test_plot_script_writes_png_of_expected_pixel_size(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    plot_tsne = import_script("plot_tsne")

    save_word2vec(tmp_path / "vectors.txt", *_vectors())
    assert plot_tsne.main([str(tmp_path), "--n-words", "30", "--dpi", "20"]) == 0
    assert _png_size(tmp_path / "tsne.png") == (16 * 20, 16 * 20)
    assert plot_tsne.main([str(tmp_path / "none"), "--n-words", "30"]) == 2


def test_plot_script_refuses_an_image_it_cannot_write_in_one_line(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot_tsne = import_script("plot_tsne")
    save_word2vec(tmp_path / "vectors.txt", *_vectors())
    assert plot_tsne.main([str(tmp_path), "--out", str(tmp_path / "map.xyz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {tmp_path / 'map.xyz'}: matplotlib cannot write .xyz")
    assert err.count("\n") == 1
    assert "png" in err
    pytest.importorskip("sklearn")
    missing = tmp_path / "no" / "map.png"
    assert plot_tsne.main([str(tmp_path), "--n-words", "10", "--out", str(missing)]) == 2
    assert capsys.readouterr().err == f"error: cannot write {missing}: No such file or directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors.txt"]


def test_too_few_words_is_a_config_error():
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from sgns.eval.tsne import tsne_figure

    with pytest.raises(ConfigError, match="at least 2 words"):
        tsne_figure(*_vectors(), n_words=1)


def test_missing_viz_extra_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # makes the import fail
    from sgns.eval.tsne import tsne_figure

    with pytest.raises(SgnsError, match=r"pip install -e '\.\[viz\]'"):
        tsne_figure(*_vectors())
