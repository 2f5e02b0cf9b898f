"""sgns.io finds the files gensim ships as gensim's own helper does."""

from pathlib import Path

import pytest
from gensim.test.utils import datapath

from sgns.data.corpus import WIKI_SAMPLE
from sgns.eval.analogy import GOOGLE_ANALOGIES
from sgns.eval.word_pairs import SIMLEX999, WORDSIM353
from sgns.io import gensim_data_path


@pytest.mark.parametrize("name", [WIKI_SAMPLE, GOOGLE_ANALOGIES, SIMLEX999, WORDSIM353])
def test_bundled_files_are_where_gensim_says(name):
    path = gensim_data_path(name)
    assert path == Path(datapath(name))
    assert path.is_file()
