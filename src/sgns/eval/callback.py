"""EmbeddingEvaluation: the standard benchmarks in TensorBoard while training, and a run's summary;
HparamsRow: the run's row in the HPARAMS tab.

At every validation (rank zero, not during the sanity check) the module's word vectors are
scored as `sgns.eval.benchmarks.evaluate` scores them, on their own device, with any benchmark
files of your own, and logged as scalars:

    eval/analogy_acc, eval/analogy_semantic_acc, ..., eval/simlex_oov     (`evaluate`'s keys)
    eval/men_spearman, eval/men_oov, ...                                  (your own files)
    analogy_sections/capital-common-countries, ...                        (per-section accuracy)
    hp_metric                          (analogy accuracy, or the score a sweep aims at)

At the end of training it logs the vectors of the most frequent words with their labels to
the embedding projector and, when asked, a t-SNE map as an image. The final scores also land in
`trainer.callback_metrics` (which ddp_spawn carries back to the launching process), and
`final_scores` turns those into the entries of metrics.json.

HparamsRow gives the HPARAMS tab a run's row as training starts: its hyper-parameters and, as
columns, the scalars named (scores, ``hp_metric``, losses), each read at its latest value, so
that a run in progress, or one killed, shows there with its numbers so far; and the TEXT tab
the run's whole configuration.

    columns = ["hp_metric", *(PREFIX + k for k in score_keys(())), "val/loss"]
    callbacks = [EmbeddingEvaluation(), HparamsRow({"model.embed_dim": 100}, columns)]
    trainer = L.Trainer(callbacks=callbacks, ...)
    # ... the trainer fits a SkipGramModule ...
    final_scores(trainer.callback_metrics)["analogy_acc"]   # 0.31

Open the event files with ``tensorboard --logdir RUN_DIR/tb`` (a sweep: its directory).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import yaml
from tensorboard.plugins import projector

from sgns.errors import SgnsError
from sgns.eval.benchmarks import Benchmark, score

log = logging.getLogger(__name__)

PREFIX = "eval/"
SECTIONS_PREFIX = "analogy_sections/"
PROJECTOR_TAG = "word_vectors"
# callback_metrics entry: seconds this callback took, so words/s can leave them out.
EVAL_SECONDS = "run/eval_seconds"


def final_scores(callback_metrics: dict) -> dict:
    """The last logged scores as metrics.json entries: ``analogy_acc`` ... ``simlex_oov`` and
    ``analogy_sections`` ({section: accuracy}); nan (nothing answerable) becomes None."""

    def value(v) -> float | None:
        v = float(v)
        return None if math.isnan(v) else v

    scores = {
        name[len(PREFIX) :]: value(v)
        for name, v in callback_metrics.items()
        if name.startswith(PREFIX)
    }
    if scores:
        scores["analogy_sections"] = {
            name[len(SECTIONS_PREFIX) :]: value(v)
            for name, v in callback_metrics.items()
            if name.startswith(SECTIONS_PREFIX)
        }
    return scores


class EmbeddingEvaluation(L.Callback):
    """Scores the module's word vectors at validation; logs the run's summary at the end.

    Args:
        vectors: which vectors to score and show, as `SkipGramModule.embeddings` takes them
            (``in`` or ``in+out``): the ones the run exports.
        projector_words: the most frequent words given to the embedding projector; 0: none.
        tsne: also log a t-SNE map of the `tsne_words` most frequent words as an image
            (needs the viz extra; without it a warning and no image).
        seed: t-SNE's random state.
        benchmarks: files of your own scored beside the standard benchmarks
            (`sgns.eval.benchmarks.benchmark_files`).
        hp_metric: the score also logged as ``hp_metric`` (a key of `score`).
    """

    def __init__(
        self,
        vectors: str = "in",
        projector_words: int = 5000,
        tsne: bool = False,
        tsne_words: int = 380,
        seed: int = 0,
        benchmarks: tuple[Benchmark, ...] = (),
        hp_metric: str = "analogy_acc",
    ):
        self.vectors = vectors
        self.projector_words = projector_words
        self.tsne = tsne
        self.tsne_words = tsne_words
        self.seed = seed
        self.benchmarks = tuple(benchmarks)
        self.hp_metric = hp_metric
        self._scored_step: int | None = None  # global step of the last scores logged
        self._seconds = 0.0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        start = time.perf_counter()
        self._score(trainer, pl_module)
        self._count_seconds(trainer, start)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        start = time.perf_counter()
        if self._scored_step != trainer.global_step:
            # No validation saw the final weights (validation off, or mid-epoch only).
            self._score(trainer, pl_module)
        self._summarise(trainer, pl_module)
        self._count_seconds(trainer, start)

    def _score(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        start = time.perf_counter()
        vectors = pl_module.embeddings(self.vectors)
        scores, sections = score(vectors, pl_module.words, self.benchmarks)
        scalars = {PREFIX + k: v for k, v in scores.items()}
        scalars.update({SECTIONS_PREFIX + k: v for k, v in sections.items()})
        scalars["hp_metric"] = scores[self.hp_metric]
        # Straight into callback_metrics rather than through pl_module.log: these are computed
        # on rank zero alone, and the same way in on_train_end, where self.log is not allowed.
        for name, v in scalars.items():
            trainer.callback_metrics[name] = torch.tensor(v, dtype=torch.float64)
        if trainer.logger is not None:
            trainer.logger.log_metrics(scalars, step=trainer.global_step)
        self._scored_step = trainer.global_step
        log.info(
            "evaluation at step %d (%.1f s): %s",
            trainer.global_step,
            time.perf_counter() - start,
            ", ".join(f"{k} {v:.4f}" for k, v in scores.items()),
        )

    def _summarise(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Projector data and the t-SNE image."""
        if trainer.logger is None:
            return
        experiment = getattr(trainer.logger, "experiment", None)
        matrix, words, step = (
            pl_module.embeddings(self.vectors),
            pl_module.words,
            trainer.global_step,
        )
        if self.projector_words > 0 and hasattr(experiment, "get_logdir"):
            counts = getattr(pl_module, "counts", None)
            log_projector(experiment.get_logdir(), matrix, words, self.projector_words, step,
                          counts=None if counts is None else counts.tolist())  # fmt: skip
        if self.tsne and hasattr(experiment, "add_figure"):
            log_tsne(experiment, matrix, words, self.tsne_words, self.seed, step)

    def _count_seconds(self, trainer: L.Trainer, start: float) -> None:
        self._seconds += time.perf_counter() - start
        trainer.callback_metrics[EVAL_SECONDS] = torch.tensor(self._seconds, dtype=torch.float64)


class HparamsRow(L.Callback):
    """The run's row in TensorBoard's HPARAMS tab, written as training starts, and its whole
    configuration as YAML in the TEXT tab (``config``).

    Args:
        hparams: flat {name: int | float | str | bool}, the row's settings.
        columns: names of scalars logged elsewhere (scores, hp_metric, losses), shown beside.
        config: the run's configuration, every key (nested dicts of plain values).
    """

    def __init__(self, hparams: dict, columns: list[str], config: dict | None = None):
        self.hparams = dict(hparams)
        self.columns = list(columns)
        self.config = config

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        declare_hparams(trainer.logger, self.hparams, self.columns)
        experiment = getattr(trainer.logger, "experiment", None)
        if self.config is not None and hasattr(experiment, "add_text"):
            text = yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True)
            markdown = "\n".join(f"    {line}" for line in text.splitlines())  # code block
            experiment.add_text("config", markdown, trainer.global_step)


def declare_hparams(logger, hparams: dict, columns: list[str]) -> None:
    """Write the HPARAMS tab's row of a run: `hparams`, and `columns` as the names of the
    scalars shown beside them (TensorBoard reads each at its latest value). Written once, with
    no values: TensorBoard keeps the first row a run writes, and Lightning's log_hyperparams
    would also log a placeholder value into every column's chart."""
    writer = getattr(getattr(logger, "experiment", None), "_get_file_writer", None)
    if writer is None:  # not a TensorBoard logger
        return
    from torch.utils.tensorboard.summary import hparams as hparams_summaries

    # As Lightning's logger writes them: numbers, strings and booleans as they are, else text.
    params = {k: v if isinstance(v, int | float | str) else str(v) for k, v in hparams.items()}
    for summary in hparams_summaries(params, dict.fromkeys(columns, 0.0)):
        writer().add_summary(summary)


def log_projector(
    log_dir: str | Path,
    matrix: torch.Tensor,
    words: list[str],
    n: int,
    step: int,
    counts: list[int] | None = None,
):
    """The `n` most frequent words' vectors and labels for TensorBoard's embedding projector
    (LOG_DIR/projector_config.pbtxt and LOG_DIR/<step>/word_vectors/{tensors,metadata}.tsv:
    SummaryWriter.add_embedding's layout). With `counts`, the words' corpus counts are a
    second column (the projector then reads a header row), to label or search points by."""
    n = min(n, len(words))
    subdir = f"{step:05d}/{PROJECTOR_TAG}"
    folder = Path(log_dir, subdir)
    folder.mkdir(parents=True, exist_ok=True)
    # numpy formats a row at a time: add_embedding's one str() per number took ~1.1 s for the
    # default 5,000 words of 100 dimensions, this 0.2 s. 9 significant digits give float32 back
    # exactly.
    table = matrix[:n].detach().float().cpu().numpy()
    np.savetxt(folder / "tensors.tsv", table, fmt="%.9g", delimiter="\t")
    if counts is None:
        metadata = "".join(f"{w}\n" for w in words[:n])
    else:
        rows = zip(words[:n], counts[:n], strict=True)
        metadata = "word\tcount\n" + "".join(f"{w}\t{int(c)}\n" for w, c in rows)
    (folder / "metadata.tsv").write_text(metadata, encoding="utf-8")
    config = projector.ProjectorConfig()
    config.embeddings.add(
        tensor_name=f"{PROJECTOR_TAG}:{step:05d}",
        tensor_path=f"{subdir}/tensors.tsv",
        metadata_path=f"{subdir}/metadata.tsv",
    )
    projector.visualize_embeddings(str(log_dir), config)


def log_tsne(experiment, matrix, words: list[str], n: int, seed: int, step: int) -> None:
    """A t-SNE map of the `n` most frequent words as the image ``tsne``; a warning instead
    when scikit-learn or matplotlib is missing."""
    from sgns.eval.tsne import tsne_figure

    try:
        figure = tsne_figure(matrix, words, n_words=n, seed=seed)
    except SgnsError as err:
        log.warning("no t-SNE image in TensorBoard: %s", err)
        return
    experiment.add_figure("tsne", figure, global_step=step)
