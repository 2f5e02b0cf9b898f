"""SkipGramModule.load_from_checkpoint: a checkpoint alone gives back the trained module."""

import pytest
import torch

from conftest import make_config, planted_groups_text, small_run_overrides
from sgns.errors import ConfigError, DataError
from sgns.model.module import SkipGramModule, validation_word_ids
from sgns.run.train import run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch run through sgns.run.train.run: its module as training left it, and last.ckpt."""
    tmp = tmp_path_factory.mktemp("module")
    (tmp / "corpus.txt").write_text(planted_groups_text(n_tokens=2000)[0])
    overrides = small_run_overrides(
        tmp / "corpus.txt", tmp / "cache", **{"trainer.max_epochs": 1, "model.n_val_words": 6}
    )
    modules = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            SkipGramModule, "on_train_end", lambda self: modules.append(self), raising=False
        )
        run(make_config(overrides), tmp / "run")
    (module,) = modules
    return module.cpu(), tmp / "run" / "checkpoints" / "last.ckpt"


def assert_same_module(loaded: SkipGramModule, trained: SkipGramModule) -> None:
    assert loaded.words == trained.words
    assert len(loaded.words) == 30
    assert dict(loaded.hparams) == dict(trained.hparams)
    state, expected = loaded.state_dict(), trained.state_dict()
    assert list(state) == list(expected)
    assert set(expected) >= {"counts", "model.in_embed.weight", "model.noise_dist"}
    for name, tensor in expected.items():
        assert torch.equal(state[name], tensor), name
    for name in ("alias_prob", "alias_index"):  # rebuilt from the counts, not saved
        assert torch.equal(getattr(loaded.model, name), getattr(trained.model, name)), name
    assert loaded.counts.dtype == torch.int64
    assert torch.equal(loaded.val_word_ids, trained.val_word_ids)
    assert loaded.similarity_report() == trained.similarity_report()


def test_load_from_checkpoint_needs_nothing_but_the_file(trained):
    module, ckpt = trained
    loaded = SkipGramModule.load_from_checkpoint(ckpt)
    assert_same_module(loaded, module)
    assert loaded.counts.tolist() == sorted(loaded.counts.tolist(), reverse=True)
    untrained = SkipGramModule(module.words, module.counts, **module.hparams)
    assert not torch.equal(loaded.model.in_embed.weight, untrained.model.in_embed.weight)


def test_a_checkpoint_from_before_the_counts_buffer_loads_alike(trained, tmp_path):
    module, ckpt = trained
    checkpoint = torch.load(ckpt, weights_only=True)
    del checkpoint["state_dict"]["counts"]
    torch.save(checkpoint, tmp_path / "old.ckpt")
    assert_same_module(SkipGramModule.load_from_checkpoint(tmp_path / "old.ckpt"), module)


def test_a_checkpoint_without_vocabulary_is_refused_in_one_line(trained, tmp_path):
    checkpoint = torch.load(trained[1], weights_only=True)
    del checkpoint["vocab"]
    torch.save(checkpoint, tmp_path / "no-vocab.ckpt")
    with pytest.raises(DataError, match=r"^the checkpoint holds no vocabulary; it was not"):
        SkipGramModule.load_from_checkpoint(tmp_path / "no-vocab.ckpt")


WORDS = [f"w{i}" for i in range(40)] + ["Paris", "paris", "physics"]
STEP_AUTO = {"shared_negatives": 1, "sgd_chunk": None, "gpu_step": "torch"}


def test_val_words_of_your_own_follow_the_drawn_ones_once_each():
    counts = list(range(len(WORDS), 0, -1))
    drawn = validation_word_ids(len(WORDS), 4, seed=3).tolist()
    mine = [
        "physics",
        "PARIS",
        "paris",
        WORDS[drawn[0]],
    ]  # a case variant, an exact word, a drawn one
    module = SkipGramModule(WORDS, counts, n_val_words=4, seed=3, val_words=mine, **STEP_AUTO)
    # PARIS: the most frequent case variant (Paris, id 40); paris: itself (41).
    assert module.val_word_ids.tolist() == [*drawn, 42, 40, 41]
    report = module.similarity_report().splitlines()
    assert [line.split(" | ")[0] for line in report[-3:]] == ["physics", "Paris", "paris"]
    only = SkipGramModule(WORDS, counts, n_val_words=0, val_words="physics", **STEP_AUTO)
    assert only.val_word_ids.tolist() == [42]


def test_a_val_word_not_in_the_vocabulary_is_one_line():
    with pytest.raises(ConfigError) as err:
        SkipGramModule(WORDS, [1] * len(WORDS), val_words=["physics", "chemistry"], **STEP_AUTO)
    assert str(err.value) == "model.val_words: 'chemistry' is not in the vocabulary (43 words)"
