"""Novelty report: how many generated loops are near-copies of a training loop.

:func:`novelty_report` runs :func:`beatgan.similarity.nearest` (BeatGAN's score) and
:func:`beatgan.similarity.logmel_nearest` (WaveGAN-style log-mel distance) and keeps, for
every generated loop, its best training loop under both. The :class:`NoveltyReport` gives
the fraction of generated loops whose best score is <= the threshold (0.1: "almost the same
loop"), the quantiles of the best scores, and the closest pairs, as text
(:meth:`NoveltyReport.to_text`) or JSON (:meth:`NoveltyReport.to_dict`).
:mod:`beatgan.report_figures` draws it and :func:`save_report` writes everything.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from beatgan.errors import AudioError, ConfigError
from beatgan.similarity import DEFAULT_THRESHOLD, logmel_nearest, nearest

__all__ = ["NoveltyReport", "novelty_report", "save_report", "QUANTILES"]

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


@dataclasses.dataclass(frozen=True, eq=False)
class NoveltyReport:
    """Best training match of every generated loop, under two measures.

    Attributes
    ----------
    threshold : float
        A best score <= threshold counts as a near-copy (memorised).
    best_index, best_score : numpy.ndarray
        int64 / float64, shape (G,): the most similar training loop by BeatGAN's score
        ``sum((a - b)**2) / sum(a**2)`` and that score.
    logmel_index, logmel_distance : numpy.ndarray or None
        int64 / float64, shape (G,): nearest training loop by RMS log-mel difference (dB).
    generated_names, training_names : list of str
        Labels of the loops (file names, or ``generated[i]`` / ``training[j]``).
    n_silent_training : int
        Training loops skipped because silent.
    sample_rate : int
        Hz of the audio compared.
    """

    threshold: float
    best_index: np.ndarray
    best_score: np.ndarray
    logmel_index: np.ndarray | None
    logmel_distance: np.ndarray | None
    generated_names: list
    training_names: list
    n_silent_training: int
    sample_rate: int

    @property
    def similar(self) -> np.ndarray:
        """bool, shape (G,): best score <= threshold."""
        return self.best_score <= self.threshold

    @property
    def fraction_similar(self) -> float:
        """Fraction of generated loops that are near-copies, in [0, 1]."""
        return float(self.similar.mean())

    def quantiles(self) -> dict:
        """Quantiles of the best scores, ``{"q50": ...}`` for :data:`QUANTILES`."""
        values = np.quantile(self.best_score, QUANTILES)
        return {f"q{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, values)}

    def closest_pairs(self, n: int = 5) -> list[dict]:
        """The ``n`` generated loops with the lowest best score, lowest first."""
        order = np.lexsort((np.arange(len(self.best_score)), self.best_score))[:n]
        pairs = []
        for i in order:
            j = int(self.best_index[i])
            pair = {
                "generated": int(i), "generated_name": self.generated_names[i],
                "training": j, "training_name": self.training_names[j],
                "score": float(self.best_score[i]),
            }
            if self.logmel_distance is not None:
                pair["logmel_training"] = int(self.logmel_index[i])
                pair["logmel_distance_db"] = float(self.logmel_distance[i])
            pairs.append(pair)
        return pairs

    def to_dict(self, *, closest: int = 10) -> dict:
        """JSON-serialisable summary, per-loop results included."""
        out = {
            "threshold": self.threshold,
            "n_generated": len(self.best_score),
            "n_training": len(self.training_names),
            "n_silent_training": self.n_silent_training,
            "sample_rate": self.sample_rate,
            "n_similar": int(self.similar.sum()),
            "fraction_similar": self.fraction_similar,
            "score_quantiles": self.quantiles(),
            "closest_pairs": self.closest_pairs(closest),
            "loops": [],
        }
        if self.logmel_distance is not None:
            q = np.quantile(self.logmel_distance, QUANTILES)
            out["logmel_distance_quantiles_db"] = {f"q{round(p * 100):02d}": float(v) for p, v in zip(QUANTILES, q)}
        for i, name in enumerate(self.generated_names):
            row = {"name": name, "training": self.training_names[self.best_index[i]], "score": float(self.best_score[i])}
            if self.logmel_distance is not None:
                row["logmel_training"] = self.training_names[self.logmel_index[i]]
                row["logmel_distance_db"] = float(self.logmel_distance[i])
            out["loops"].append(row)
        return out

    def to_text(self, *, closest: int = 5) -> str:
        """A short human-readable summary."""
        n, sim = len(self.best_score), int(self.similar.sum())
        q = self.quantiles()
        lines = [
            f"novelty of {n} generated loops against {len(self.training_names)} training loops"
            + (f" ({self.n_silent_training} silent, skipped)" if self.n_silent_training else ""),
            f"  near-copies (best score <= {self.threshold:g}): {sim} of {n} ({100 * sim / n:.1f} %)",
            "  best score quantiles: " + ", ".join(f"{k} {v:.4g}" for k, v in q.items()),
        ]
        if self.logmel_distance is not None:
            lines.append(
                f"  log-mel distance to nearest (dB RMS): median {np.median(self.logmel_distance):.2f}, "
                f"min {self.logmel_distance.min():.2f}; same nearest loop as the score for "
                f"{int((self.logmel_index == self.best_index).sum())} of {n}"
            )
        lines.append("  closest pairs (score: generated <- training):")
        for p in self.closest_pairs(closest):
            extra = f", log-mel {p['logmel_distance_db']:.2f} dB" if "logmel_distance_db" in p else ""
            lines.append(f"    {p['score']:.4g}: {p['generated_name']} <- {p['training_name']}{extra}")
        return "\n".join(lines)


def _names(names, count: int, label: str) -> list:
    if names is None:
        return [f"{label}[{i}]" for i in range(count)]
    names = [str(n) for n in names]
    if len(names) != count:
        raise AudioError(f"{len(names)} {label} names for {count} {label} loops")
    return names


def novelty_report(
    generated,
    training,
    *,
    sample_rate: int,
    threshold: float = DEFAULT_THRESHOLD,
    generated_names=None,
    training_names=None,
    logmel: bool = True,
    chunk: int | None = None,
    progress: bool = False,
) -> NoveltyReport:
    """Compare generated loops with the training loops.

    Parameters
    ----------
    generated : array_like
        Float, shape (G, samples, channels), values in [-1, 1].
    training : array_like
        Float, shape (T, samples, channels), same (samples, channels) as ``generated``.
    sample_rate : int
        Hz of both sets (for the log-mel features and the figures).
    threshold : float, default 0.1
        Best scores <= threshold count as near-copies; > 0.
    generated_names, training_names : sequence of str, optional
        Labels of the loops, one per row.
    logmel : bool, default True
        Also find the nearest loop by log-mel distance (librosa; a few seconds per 1000 loops).
    chunk, progress
        As for :func:`beatgan.similarity.nearest`.

    Returns
    -------
    NoveltyReport

    Raises
    ------
    AudioError
        Empty, non-finite or mismatched input, names of the wrong count, or only silent
        training loops.
    ConfigError
        A threshold that is not a positive number.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ConfigError(f"threshold={threshold!r} must be a positive number (0.1 in BeatGAN)")
    index, score = nearest(generated, training, chunk=chunk, progress=progress)
    training = np.asarray(training)
    silent = int((~training.reshape(len(training), -1).any(axis=1)).sum())
    lm_index = lm_distance = None
    if logmel:
        lm_index, lm_distance = logmel_nearest(generated, training, sample_rate=sample_rate, chunk=chunk)
    return NoveltyReport(
        threshold=float(threshold), best_index=index, best_score=score, logmel_index=lm_index,
        logmel_distance=lm_distance, generated_names=_names(generated_names, len(score), "generated"),
        training_names=_names(training_names, len(training), "training"),
        n_silent_training=silent, sample_rate=int(sample_rate),
    )


def save_report(
    report: NoveltyReport, directory: str | os.PathLike, *, generated=None, training=None, pairs: int = 4
) -> dict:
    """Write ``report.json``, ``report.txt`` and the figures (PNG) to ``directory``.

    Parameters
    ----------
    report : NoveltyReport
    directory : path-like
        Created if missing.
    generated, training : array_like, optional
        The audio the report was made from; needed for the waveform figure of the closest
        pairs, which is left out without them.
    pairs : int, default 4
        Closest pairs drawn.

    Returns
    -------
    dict
        ``{"json": Path, "text": Path, "histogram": Path, "pairs": Path or None}``.
    """
    from beatgan.atomic import write_json_atomic
    from beatgan.report_figures import closest_pairs_figure, score_histogram

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "report.json", "text": directory / "report.txt"}
    write_json_atomic(paths["json"], report.to_dict())
    paths["text"].write_text(report.to_text() + "\n")
    paths["histogram"] = directory / "best_scores.png"
    score_histogram(report).savefig(paths["histogram"], dpi=100)
    paths["pairs"] = None
    if generated is not None and training is not None:
        paths["pairs"] = directory / "closest_pairs.png"
        closest_pairs_figure(report, generated, training, n=pairs).savefig(paths["pairs"], dpi=100)
    return paths
