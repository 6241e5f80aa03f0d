"""Scoring generated loops: every metric of :mod:`beatgan.metrics` beside real, collapsed and noise anchors.

:func:`evaluate` splits the reference loops with the seed into halves A and B and scores
four sets against A, each computed the same way on the same number of loops ``n``:

* **generated**: the model's loops (a seeded subset of ``n`` when there are more);
* **real**: half B, held out: what a perfect model scores;
* **collapsed**: one loop of B repeated ``n`` times with the training augmentation's noise
  (:func:`beatgan.data.augment`, uniform, amplitude 0.0011): total mode collapse
  (:func:`collapsed_anchor`);
* **noise**: white noise under drum-like envelopes (decaying bursts on a 16th grid at
  tempi of the reference range): right rhythm, no drum sounds (:func:`noise_anchor`).

``n = min(len(generated), len(B))``, so sample-size biases (FAD, NDB's z-test) hit every
set alike. All metrics work on mono (channels averaged), so stereo and mono sets can be
compared; both sets must have the same number of samples per loop. What each metric
measures, and how, is in :mod:`beatgan.metrics` (:data:`~beatgan.metrics.METRICS` gives
direction and unit of each).

:func:`evaluate` runs in stages (:data:`STAGES`, most a function of their own): features of half A and
its tempo range, the anchors, the musicnn embedding, FAD, the k-means and distance metrics
(:func:`score_set`), rhythm, novelty, and the intervals. Every metric comes with a 95 %
bootstrap interval (:func:`beatgan.metrics.bootstrap_interval`, drawn by
:class:`ResampleScorer`): each set's loops are resampled with replacement (200 times by
default, one draw of loops shared by all metrics of a set; FAD on the resampled embeddings
against the fixed half A), and the 2.5 and 97.5 percentiles of the resampled values are
shifted by the bootstrap's bias (the estimate minus the resamples' median), because
duplicated loops bias FAD, diversity and NDB. Two reports of the same reference and seed
differ beyond noise on a metric only where their intervals do not overlap
(:meth:`EvaluationReport.differs`).

The result is an :class:`EvaluationReport`: :meth:`~EvaluationReport.text` (the table),
:meth:`~EvaluationReport.to_dict` and :meth:`~EvaluationReport.save` (JSON, text, figures).
:func:`evaluate_steps` scores the checkpoints of a training run one after another into a
:class:`StepsReport` with the same three methods. For training, :func:`cheap_metrics` gives
the metrics that need no embedding, against :func:`reference_features` computed once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from scipy.cluster.vq import kmeans2, vq
from tqdm.auto import tqdm

from beatgan import novelty
from beatgan.atomic import write_json_atomic, write_text_atomic
from beatgan.config import AUGMENT_AMPLITUDE, SAMPLE_RATE
from beatgan.data import augment
from beatgan.errors import AudioError, ConfigError, DatasetError
from beatgan.metrics import (
    EMBEDDING, METRICS, NDB_MIN_PER_BIN, artifacts, bootstrap_interval, check_options, checked_mono, close_pairs,
    diversity, fit_gaussian, fit_tempo_range, frame_db, frechet_distance, intervals_overlap, mean_spectrum, mel_db,
    metric_bounds, ndb, near_copies, noise_floor, on_grid_share, onset_times, pairwise_distances, rhythm_per_loop,
    spectrum_db, upper_triangle)
from beatgan.plots import evaluation_figures, metrics_over_steps_figure

__all__ = ["SETS", "STAGES", "BOOTSTRAP", "EvaluationReport", "evaluate", "StepsReport", "evaluate_steps",
           "cheap_metrics", "reference_features", "ReferenceFeatures", "score_set", "collapsed_anchor",
           "noise_anchor", "ResampleScorer", "position_between"]

SETS = ("generated", "real", "collapsed", "noise")
STAGES = ("features", "anchors", "embedding", "fad", "ndb and diversity", "rhythm", "novelty", "intervals")
BOOTSTRAP = 200  # resamples per set for the 95 % intervals


# --------------------------------------------------------------------------- reference features

@dataclasses.dataclass(frozen=True, eq=False)
class ReferenceFeatures:
    """What :func:`cheap_metrics` needs of the reference, computed once.

    Attributes
    ----------
    centres : numpy.ndarray
        float64, shape (K, 64 * frames): k-means centres of the reference log-mel features (dB).
    counts : numpy.ndarray
        int64, shape (K,): reference loops per bin.
    median_distance : float
        Median pairwise RMS log-mel distance (dB) within the reference.
    min_distance : float
        Smallest distance (dB) between two distinct reference loops.
    noise_floor : float
        Level (dB) of the quietest 10 % of reference frames.
    mean_spectrum : numpy.ndarray
        float64, shape (64,): mean log-mel level per band (dB).
    sample_rate, samples : int
        Hz and samples per loop the features were made at.
    warnings : tuple of str
        E.g. K reduced for a small reference.
    """

    centres: np.ndarray
    counts: np.ndarray
    median_distance: float
    min_distance: float
    noise_floor: float
    mean_spectrum: np.ndarray
    sample_rate: int
    samples: int
    warnings: tuple = ()


def _reference_from_mono(mono: np.ndarray, sample_rate: int, n_bins: int, seed: int,
                         mel: np.ndarray | None = None) -> ReferenceFeatures:
    """:func:`reference_features` of checked mono loops (N, samples), the log-mel features given or computed."""
    mel = mel_db(mono, sample_rate) if mel is None else mel
    flat = mel.reshape(len(mel), -1).astype(np.float64)
    notes = []
    k = min(n_bins, len(mono) // NDB_MIN_PER_BIN)
    if k < 2:
        raise DatasetError(f"{len(mono)} reference loops are too few for NDB: at least "
                           f"{2 * NDB_MIN_PER_BIN} are needed ({NDB_MIN_PER_BIN} per bin, 2 bins)")
    if k < n_bins:
        notes.append(f"NDB uses K={k} bins instead of {n_bins}: {len(mono)} reference loops allow "
                     f"at most {NDB_MIN_PER_BIN} per bin")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty cluster is re-seeded by '++'; not the user's problem
        centres, _ = kmeans2(flat, k, minit="++", seed=np.random.default_rng(seed))
    labels, _ = vq(flat, centres)
    pairs = upper_triangle(pairwise_distances(flat))
    return ReferenceFeatures(
        centres=centres, counts=np.bincount(labels, minlength=k).astype(np.int64),
        median_distance=float(np.median(pairs)), min_distance=float(pairs.min()),
        noise_floor=noise_floor(frame_db(mono)), mean_spectrum=mean_spectrum(mel), sample_rate=int(sample_rate),
        samples=int(mono.shape[1]), warnings=tuple(notes))


def reference_features(reference, *, sample_rate: int = SAMPLE_RATE, n_bins: int = 20, seed: int = 0) -> ReferenceFeatures:
    """Precompute the reference side of :func:`cheap_metrics` (k-means, distances, levels).

    Parameters
    ----------
    reference : array_like
        float, shape (M, samples, channels), values in [-1, 1]; M >= 10.
    sample_rate : int, default 14700
        Hz.
    n_bins : int, default 20
        NDB bins K; reduced to M // 5 (with a note in ``warnings``) for a small reference.
    seed : int, default 0
        Seeds k-means.

    Returns
    -------
    ReferenceFeatures

    Raises
    ------
    AudioError
        Bad audio (shape, dtype, NaN, range).
    DatasetError
        Fewer than 10 loops.
    ConfigError
        Bad option.
    """
    check_options(sample_rate, seed, n_bins)
    return _reference_from_mono(checked_mono("reference", reference), sample_rate, n_bins, seed)


def score_set(mono: np.ndarray, mel: np.ndarray, ref: ReferenceFeatures, sample_rate: int) -> tuple[dict, dict]:
    """The metrics of one set against the reference features that need no embedding and no onsets.

    Parameters
    ----------
    mono : numpy.ndarray
        float, shape (N, samples), values in [-1, 1] (:func:`beatgan.metrics.checked_mono`).
    mel : numpy.ndarray
        shape (N, 64, frames): its log-mel spectrograms (:func:`beatgan.metrics.mel_db`).
    ref : ReferenceFeatures
        Made at the same sample rate and length.
    sample_rate : int
        Hz.

    Returns
    -------
    scores : dict
        ``{"diversity", "close_pairs", "ndb_k", "jsd", "noise_floor_db", "tonal_lines", "upsampling_db",
        "silence"}``, floats as in :data:`~beatgan.metrics.METRICS`.
    details : dict
        What the report draws: ``"counts"`` int (K,), loops per k-means bin; ``"pairwise"`` float64
        (N (N - 1) / 2,), distances (dB) of the distinct pairs; ``"spectrum"`` float64 (64,), mean
        log-mel level per band minus the reference's (dB).
    """
    flat = mel.reshape(len(mel), -1).astype(np.float64)
    labels, _ = vq(flat, ref.centres)
    counts = np.bincount(labels, minlength=len(ref.centres))
    ndb_k, jsd = ndb(ref.counts, counts)
    d = pairwise_distances(flat)
    pairs = upper_triangle(d)
    np.fill_diagonal(d, np.inf)  # a loop is not its own nearest neighbour
    per_loop = artifacts(mono, sample_rate)
    scores = {
        "diversity": diversity(pairs, ref.median_distance),
        "close_pairs": close_pairs(d.min(axis=1), ref.min_distance),
        "ndb_k": ndb_k, "jsd": jsd,
        "noise_floor_db": noise_floor(frame_db(mono)) - ref.noise_floor,
        "tonal_lines": float(np.median(per_loop["tonal_lines"])),
        "upsampling_db": float(np.mean(per_loop["upsampling_db"])),
        "silence": float(np.mean(per_loop["silence"])),
    }
    return scores, {"counts": counts, "pairwise": pairs, "spectrum": mean_spectrum(mel) - ref.mean_spectrum}


def cheap_metrics(generated, reference, *, sample_rate: int = SAMPLE_RATE, n_bins: int = 20, seed: int = 0) -> dict:
    """Diversity ratio, NDB/K, JSD, noise floor and the artifact metrics, without the embedding: for training.

    About 0.3 s for 64 loops of 16384 samples on 2 CPU cores once the reference is precomputed; pass a
    :class:`ReferenceFeatures` from :func:`reference_features` to compute it only once.

    Parameters
    ----------
    generated : array_like
        float, shape (N, samples, channels), values in [-1, 1]; N >= 2.
    reference : array_like or ReferenceFeatures
        The training loops (M, samples, channels) (the whole set, no split), or their features.
    sample_rate : int, default 14700
        Hz of both.
    n_bins, seed : int
        As for :func:`reference_features`, used when ``reference`` is audio.

    Returns
    -------
    dict
        ``{"diversity", "close_pairs", "ndb_k", "jsd", "noise_floor_db", "tonal_lines", "upsampling_db",
        "silence"}``, floats, as in :data:`~beatgan.metrics.METRICS` (here against the whole reference).

    Raises
    ------
    AudioError
        Bad audio, fewer than 2 generated loops, or a length that differs from the reference's.
    """
    mono = checked_mono("generated", generated)
    if len(mono) < 2:
        raise AudioError(f"generated holds {len(mono)} loop; diversity needs at least 2")
    ref = reference if isinstance(reference, ReferenceFeatures) else reference_features(
        reference, sample_rate=sample_rate, n_bins=n_bins, seed=seed)
    if ref.samples != mono.shape[1] or ref.sample_rate != sample_rate:
        raise AudioError(f"generated loops have {mono.shape[1]} samples at {sample_rate} Hz, the reference "
                         f"{ref.samples} at {ref.sample_rate} Hz; slice or resample them alike")
    return score_set(mono, mel_db(mono, sample_rate), ref, sample_rate)[0]


# --------------------------------------------------------------------------- anchors

def collapsed_anchor(loop: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The collapsed anchor: ``n`` noisy copies of one mono loop, as the training augmentation makes them.

    Parameters
    ----------
    loop : numpy.ndarray
        float32, shape (samples,), values in [-1, 1].
    n : int
        Copies.
    seed : int
        Seeds the noise (uniform, amplitude :data:`beatgan.config.AUGMENT_AMPLITUDE`, 0.0011).

    Returns
    -------
    numpy.ndarray
        float32, shape (n, samples).
    """
    return augment(loop[None, :, None], copies=n, amplitude=AUGMENT_AMPLITUDE, seed=seed)[:, :, 0]


def noise_anchor(n: int, samples: int, sample_rate: int, tempo_range, rng) -> np.ndarray:
    """The noise anchor: white noise under decaying bursts on a 16th grid, one tempo per loop.

    Parameters
    ----------
    n, samples : int
        Loops, and samples per loop.
    sample_rate : int
        Hz.
    tempo_range : tuple of float
        ``(low, high)`` bpm; each loop's tempo is drawn uniformly from it.
    rng : numpy.random.Generator
        Draws the tempo, then per 16th (after the first, which always has one) whether a burst
        starts there (probability 0.5), and per burst its amplitude (0.3-1) and decay (10-80 ms).

    Returns
    -------
    numpy.ndarray
        float32, shape (n, samples): each loop normalised to a peak of 0.9.
    """
    out = np.zeros((n, samples), np.float32)
    t = np.arange(samples) / sample_rate
    for i in range(n):
        step = 15.0 / rng.uniform(*tempo_range)  # s per 16th
        env = np.zeros(samples)
        for start in np.arange(0.0, t[-1], step):
            if start == 0 or rng.random() < 0.5:
                s = int(round(start * sample_rate))
                env[s:] += rng.uniform(0.3, 1.0) * np.exp(-(t[s:] - t[s]) / rng.uniform(0.01, 0.08))
        y = rng.standard_normal(samples) * env
        out[i] = 0.9 * y / max(np.abs(y).max(), 1e-9)
    return out


# --------------------------------------------------------------------------- resampling

class ResampleScorer:
    """Every metric of :data:`~beatgan.metrics.METRICS` on a resample of one set's loops, from per-loop features.

    With ``idx = arange(n)`` it gives the report's own numbers (tested); FAD uses
    ``tr((S_a S)^(1/2)) = sum sqrt(eig(R S R))`` with ``R = S_a^(1/2)`` computed once, which is
    exact for the symmetric positive semi-definite covariances and five times faster than
    :func:`~beatgan.metrics.frechet_distance`'s general square root.

    Parameters
    ----------
    ref : ReferenceFeatures
        Of the reference half A.
    emb_a : numpy.ndarray
        shape (M, d): the embeddings of half A.
    shrink : float
        Covariance shrinkage of FAD (:func:`~beatgan.metrics.fit_gaussian`).
    """

    def __init__(self, ref: ReferenceFeatures, emb_a: np.ndarray, shrink: float):
        self.ref, self.shrink = ref, shrink
        self.mu_a, s_a = fit_gaussian(emb_a, shrink)
        values, vectors = np.linalg.eigh(s_a)
        self.root_a = (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T  # (d, d)
        self.trace_a = float(np.trace(s_a))

    def features(self, mono, mel, emb, per_loop: dict, sample_rate: int) -> dict:
        """What :meth:`score` resamples, from one set's loops.

        Parameters
        ----------
        mono : numpy.ndarray
            float, shape (n, samples).
        mel : numpy.ndarray
            shape (n, 64, frames), :func:`~beatgan.metrics.mel_db` of ``mono``.
        emb : numpy.ndarray
            shape (n, d): the embeddings.
        per_loop : dict
            ``hits``, ``total``, ``downbeat`` (:func:`~beatgan.metrics.rhythm_per_loop`), ``score``
            and ``nearest_db`` (the novelty searches), each (n,).
        sample_rate : int
            Hz.

        Returns
        -------
        dict
            Per-loop arrays (first axis n), and ``distances`` (n, n).
        """
        flat = mel.reshape(len(mel), -1).astype(np.float64)
        return {"emb": emb, "labels": vq(flat, self.ref.centres)[0], "distances": pairwise_distances(flat),
                "spectrum": mel.mean(axis=2, dtype=np.float64), "frames": frame_db(mono),
                **artifacts(mono, sample_rate), **per_loop}

    def fad(self, emb: np.ndarray) -> float:
        """FAD of embeddings (n, d) against half A's, >= 0."""
        mu, sigma = fit_gaussian(emb, self.shrink)
        inner = np.linalg.eigvalsh(self.root_a @ sigma @ self.root_a)
        diff = self.mu_a - mu
        return max(float(diff @ diff + self.trace_a + np.trace(sigma) - 2 * np.sqrt(np.maximum(inner, 0)).sum()), 0.0)

    def score(self, f: dict, idx: np.ndarray) -> dict:
        """``{metric: float}`` of the resample ``idx`` (int, (n,), repeats allowed) of :meth:`features` ``f``."""
        ref = self.ref
        d = f["distances"][np.ix_(idx, idx)]  # (n, n) with repeated loops
        other = idx[:, None] != idx[None, :]  # pairs of distinct loops only: a copy is not a close pair
        ndb_k, jsd = ndb(ref.counts, np.bincount(f["labels"][idx], minlength=len(ref.centres)))
        return {
            "fad": self.fad(f["emb"][idx]),
            "ndb_k": ndb_k, "jsd": jsd,
            "diversity": diversity(d[np.triu(other, k=1)], ref.median_distance),
            "close_pairs": close_pairs(np.where(other, d, np.inf).min(axis=1), ref.min_distance),
            "on_grid": on_grid_share(f["hits"][idx], f["total"][idx]),
            "downbeat": float(np.mean(f["downbeat"][idx])),
            "spectrum_db": spectrum_db(f["spectrum"][idx].mean(axis=0), ref.mean_spectrum),
            "noise_floor_db": noise_floor(f["frames"][idx]) - ref.noise_floor,
            "near_copies": near_copies(f["score"][idx]),
            "logmel_nearest_db": float(np.median(f["nearest_db"][idx])),
            "tonal_lines": float(np.median(f["tonal_lines"][idx])),
            "upsampling_db": float(np.mean(f["upsampling_db"][idx])),
            "silence": float(np.mean(f["silence"][idx])),
        }

    def intervals(self, f: dict, estimates: dict, rng: np.random.Generator, n_boot: int) -> dict:
        """``{metric: (low, high)}``: 95 % intervals around ``estimates`` from ``n_boot`` resamples of ``f``."""
        n = len(f["emb"])
        draws = [self.score(f, rng.integers(0, n, n)) for _ in range(n_boot)]
        return {name: bootstrap_interval(estimates[name], [d[name] for d in draws], bounds=metric_bounds(name))
                for name in METRICS}


# --------------------------------------------------------------------------- the report

def position_between(direction: str, value: float, real: float, collapsed: float) -> float | None:
    """Where ``value`` lies from ``real`` (0.0) to ``collapsed`` (1.0) on a metric's own badness scale.

    Parameters
    ----------
    direction : str
        The metric's direction (:data:`~beatgan.metrics.METRICS`): badness is the value for
        "lower" and "higher", ``|x - 1|`` for "closer to 1", ``|x|`` for "closer to 0",
        ``|x - real|`` for "closer to real".
    value, real, collapsed : float
        The generated set's, the real anchor's and the collapsed anchor's values.

    Returns
    -------
    float or None
        Linear in badness: below 0 is better than real, above 1 worse than collapsed. None when
        real and collapsed are less than 1e-12 apart, or any value is not finite.
    """
    g, r, c = value, real, collapsed
    if direction == "closer to 1":
        g, r, c = abs(g - 1), abs(r - 1), abs(c - 1)
    elif direction == "closer to 0":
        g, r, c = abs(g), abs(r), abs(c)
    elif direction == "closer to real":
        g, r, c = abs(g - r), 0.0, abs(c - r)
    if not all(map(math.isfinite, (g, r, c))) or abs(c - r) < 1e-12:
        return None
    return (g - r) / (c - r)


@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationReport:
    """Metrics of generated loops beside real, collapsed and noise anchors.

    :meth:`text` is the table, :meth:`to_dict` the plain data, :meth:`save` writes both and the figures.

    Attributes
    ----------
    metrics : dict
        ``{set: {metric: float}}`` for each set of :data:`SETS`; metrics as in
        :data:`~beatgan.metrics.METRICS`.
    spectrum_diff : dict
        ``{set: numpy.ndarray (64,)}``: mean log-mel level per mel band minus the reference's, dB.
    ndb_counts : dict
        ``{"reference" or set: numpy.ndarray (K,) int}``: loops per k-means bin.
    pairwise : dict
        ``{"generated", "real", "reference": numpy.ndarray}``: pairwise log-mel distances (dB)
        within each set (upper triangle), for histograms.
    examples : dict
        ``{"generated", "real": numpy.ndarray (k, 64, frames)}``: log-mel spectrograms (dB) of a
        few loops, for the spectrogram grid.
    embedding : str
        Name of the FAD embedding; FAD numbers are comparable only within one embedding.
    fad_method : str
        How the covariances were estimated (full, or shrunk for small sets).
    warnings : list of str
        Everything that makes a number less trustworthy (small sets, reduced K, ...).
    n_loops : int
        Loops in every compared set (n); ``n_reference`` loops of the reference half A.
    n_reference : int
    seed : int
    sample_rate : int
    tempo_range : tuple of float
        bpm range of the 16th grids (fitted on the reference half A).
    intervals : dict
        ``{set: {metric: (low, high)}}``: 95 % bootstrap intervals (:func:`~beatgan.metrics.bootstrap_interval`);
        empty for a report made without them.
    n_boot : int
        Resamples behind the intervals (0: none).
    """

    metrics: dict
    spectrum_diff: dict
    ndb_counts: dict
    pairwise: dict
    examples: dict
    embedding: str
    fad_method: str
    warnings: list
    n_loops: int
    n_reference: int
    seed: int
    sample_rate: int
    tempo_range: tuple
    intervals: dict = dataclasses.field(default_factory=dict)
    n_boot: int = 0

    def to_dict(self, *, arrays: bool = True) -> dict:
        """Plain-JSON dict of the report (arrays as lists; ``arrays=False`` leaves them out)."""
        out = {
            "embedding": self.embedding, "fad_method": self.fad_method, "warnings": list(self.warnings),
            "n_loops": self.n_loops, "n_reference": self.n_reference, "seed": self.seed,
            "sample_rate": self.sample_rate, "tempo_range_bpm": list(self.tempo_range),
            "metrics": self.metrics,
            "intervals": {k: {m: list(v) for m, v in rows.items()} for k, rows in self.intervals.items()},
            "interval_info": f"95 % bootstrap intervals, {self.n_boot} resamples of each set's loops, "
                             "bias-corrected percentiles" if self.intervals else "none",
            "metric_info": {k: {"better": d, "unit": u, "description": s} for k, (d, u, s) in METRICS.items()},
            "position": {k: self.position(k) for k in METRICS},
        }
        if arrays:
            out["spectrum_diff_db"] = {k: v.tolist() for k, v in self.spectrum_diff.items()}
            out["ndb_counts"] = {k: v.tolist() for k, v in self.ndb_counts.items()}
            out["pairwise_db"] = {k: v.tolist() for k, v in self.pairwise.items()}
        return out

    def to_json(self, *, arrays: bool = True) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(arrays=arrays), indent=1)

    def position(self, metric: str) -> float | None:
        """Where generated stands between real (0.0) and collapsed (1.0) on ``metric``.

        Linear on the metric's badness (distance from 1 or 0 for "closer to" metrics, from
        the real value for "closer to real"); below 0 is better than real, above 1 worse than
        collapsed. None when real and collapsed score the same.

        Raises
        ------
        ConfigError
            For a name not in :data:`~beatgan.metrics.METRICS`.
        """
        if metric not in METRICS:
            raise ConfigError(f"metric={metric!r} must be one of {tuple(METRICS)}")
        m = self.metrics
        return position_between(METRICS[metric][0], m["generated"][metric], m["real"][metric],
                                m["collapsed"][metric])

    def text(self) -> str:
        """Text table ``metric | generated | real | collapsed | noise | better``, notes below."""
        rows = [("metric", *SETS, "better")]
        for name, (direction, unit, _) in METRICS.items():
            label = f"{name} ({unit})" if unit else name
            rows.append((label, *(self._cell(s, name) for s in SETS), direction))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "-+-".join("-" * w for w in widths))
        lines.append("")
        lines.append(f"{self.n_loops} loops per set against {self.n_reference} reference loops; seed {self.seed}; "
                     f"16th grids at {self.tempo_range[0]:.1f}-{self.tempo_range[1]:.1f} bpm")
        lines.append(f"FAD: {self.embedding}; {self.fad_method}")
        if self.intervals:
            lines.append(f"[low, high]: 95 % bootstrap interval ({self.n_boot} resamples of each set's loops); "
                         "two reports differ beyond noise only where their intervals do not overlap")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def _cell(self, set_name: str, metric: str) -> str:
        value = f"{self.metrics[set_name][metric]:.4g}"
        if set_name in self.intervals:
            low, high = self.intervals[set_name][metric]
            value += f" [{low:.3g}, {high:.3g}]"
        return value

    def differs(self, other: "EvaluationReport", metric: str, set_name: str = "generated") -> str | None:
        """Whether ``set_name`` scores better or worse than in ``other`` beyond the intervals.

        Returns
        -------
        str or None
            ``"better"`` or ``"worse"`` (by the metric's direction, "closer to real" against this
            report's real value) when the two 95 % intervals do not overlap, else None (also when
            either report has no intervals).

        Raises
        ------
        ConfigError
            For a name not in :data:`~beatgan.metrics.METRICS`.
        """
        if metric not in METRICS:
            raise ConfigError(f"metric={metric!r} must be one of {tuple(METRICS)}")
        mine, theirs = self.intervals.get(set_name, {}).get(metric), other.intervals.get(set_name, {}).get(metric)
        if mine is None or theirs is None or intervals_overlap(mine, theirs):
            return None
        badness = {"lower": lambda v: v, "higher": lambda v: -v, "closer to 1": lambda v: abs(v - 1),
                   "closer to 0": abs, "closer to real": lambda v: abs(v - self.metrics["real"][metric])}
        bad = badness[METRICS[metric][0]]
        return "better" if bad(self.metrics[set_name][metric]) < bad(other.metrics[set_name][metric]) else "worse"

    @property
    def sets(self) -> tuple[str, ...]:
        """The sets scored: generated and the three anchors (:data:`SETS`)."""
        return SETS

    def direction(self, metric: str) -> str:
        """Which way is better for ``metric``: "lower", "higher", "closer to 1", ... (see ``METRICS``)."""
        return METRICS[metric][0]

    def figures(self) -> dict:
        """``{file stem: Figure}`` of every figure of the report (drawn by :mod:`beatgan.plots`)."""
        return evaluation_figures(self)

    def save(self, directory) -> Path:
        """Write ``evaluation.json`` (:meth:`to_json`), ``evaluation.txt`` (:meth:`text`) and the figures as PNG.

        Parameters
        ----------
        directory : path-like
            Created when missing.

        Returns
        -------
        pathlib.Path
            The directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(directory / "evaluation.json", self.to_json() + "\n")
        write_text_atomic(directory / "evaluation.txt", self.text() + "\n")
        for stem, fig in self.figures().items():
            fig.savefig(directory / f"{stem}.png", dpi=100)
        return directory


# --------------------------------------------------------------------------- evaluate

def evaluate(generated, reference, *, sample_rate: int = SAMPLE_RATE, seed: int = 0, n_bins: int = 20,
             progress: bool = False, n_boot: int = BOOTSTRAP) -> EvaluationReport:
    """Score generated loops against reference loops, beside real, collapsed and noise anchors.

    Parameters
    ----------
    generated : array_like
        float, shape (N, samples, channels), values in [-1, 1], at ``sample_rate``; N >= 2.
    reference : array_like
        float, shape (M, samples', channels'), the real loops (e.g. the training loops before
        augmentation); same ``samples`` as ``generated``, any channel count (everything is mixed
        to mono); M >= 20 (split into halves A and B with ``seed``).
    sample_rate : int, default 14700
        Hz of both sets.
    seed : int, default 0
        Seeds the split, the subset of generated loops, the anchors and k-means: the same seed
        gives the same report.
    n_bins : int, default 20
        NDB bins K (LoopTest's value); reduced to len(A) // 5 with a warning for a small reference.
    progress : bool, default False
        Show a tqdm bar over the stages (:data:`STAGES`).
    n_boot : int, default 200
        Bootstrap resamples per set for the 95 % intervals (>= 20).

    Returns
    -------
    EvaluationReport
        Each set (generated, real, collapsed, noise) holds ``n = min(N, M // 2)`` loops and is
        scored against the reference half A (``M - M // 2`` loops).

    Raises
    ------
    AudioError
        A set that is not 3-D float audio in [-1, 1], holds NaN or infinity, is empty, or whose
        loops differ in length from the other set's.
    DatasetError
        Fewer than 20 reference loops or 2 generated loops.
    ConfigError
        Bad option, or musicnn not installed.

    Notes
    -----
    With fewer than 201 loops per set the 200-d embedding covariances are singular; FAD is
    then computed with covariances shrunk towards ``tr(S)/200 * I`` (weight 1e-2) for every set,
    which biases it upward; ``fad_method`` and ``warnings`` say so.
    """
    gen, ref = _checked_inputs(generated, reference, sample_rate, seed, n_bins, n_boot)
    rng = np.random.default_rng(seed)
    a, b, gen, notes = _split(gen, ref, rng)
    bar = tqdm(STAGES, disable=not progress, desc="evaluate", leave=False)
    metrics = {k: {} for k in SETS}

    bar.set_postfix_str("features")
    a_mel = mel_db(a, sample_rate)
    tempo_range = fit_tempo_range(onset_times(a, sample_rate))
    ref_feats = _reference_from_mono(a, sample_rate, n_bins, seed, mel=a_mel)
    notes.extend(ref_feats.warnings)
    bar.update()
    bar.set_postfix_str("anchors")
    sets = _anchor_sets(gen, b, sample_rate, tempo_range, rng, seed)
    mels = {k: mel_db(v, sample_rate) for k, v in sets.items()}
    bar.update()
    bar.set_postfix_str("embedding")
    emb_a, embs = _embeddings(a, sets, sample_rate)
    bar.update()
    bar.set_postfix_str("fad")
    shrink, fad_method = _fad(emb_a, embs, metrics, notes)
    bar.update()
    bar.set_postfix_str("ndb and diversity")
    details = _distribution(sets, mels, a_mel, ref_feats, sample_rate, metrics)
    bar.update()
    bar.set_postfix_str("rhythm")
    per_loop = _rhythm(sets, tempo_range, sample_rate, metrics, notes)
    bar.update()
    bar.set_postfix_str("novelty")
    _novelty(sets, a, sample_rate, metrics, per_loop)
    bar.update()
    bar.set_postfix_str("intervals")
    scorer = ResampleScorer(ref_feats, emb_a, shrink)
    boot_rng = np.random.default_rng([seed, 25])  # a stream of its own: the metrics do not move
    intervals = {k: scorer.intervals(scorer.features(sets[k], mels[k], embs[k], per_loop[k], sample_rate),
                                     metrics[k], boot_rng, n_boot) for k in SETS}
    bar.update()
    bar.close()

    shown = min(4, len(gen))
    return EvaluationReport(
        metrics=_finite(metrics), spectrum_diff=details["spectrum"], ndb_counts=details["counts"],
        pairwise=details["pairwise"], examples={"generated": mels["generated"][:shown], "real": mels["real"][:shown]},
        embedding=EMBEDDING, fad_method=fad_method, warnings=notes, n_loops=len(gen), n_reference=len(a),
        seed=int(seed), sample_rate=int(sample_rate), tempo_range=tuple(round(x, 2) for x in tempo_range),
        intervals=intervals, n_boot=n_boot)


def _checked_inputs(generated, reference, sample_rate, seed, n_bins, n_boot) -> tuple[np.ndarray, np.ndarray]:
    """Both sets as checked mono (N, samples) and (M, samples) float32; every option validated."""
    check_options(sample_rate, seed, n_bins)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 20:
        raise ConfigError(f"n_boot={n_boot!r} must be an integer >= 20 (resamples of the 95 % intervals)")
    gen = checked_mono("generated", generated)
    ref = checked_mono("reference", reference)
    if gen.shape[1] != ref.shape[1]:
        raise AudioError(f"generated loops have {gen.shape[1]} samples, reference loops {ref.shape[1]}; "
                         "slice them alike (as the training data) before evaluating")
    if len(ref) < 4 * NDB_MIN_PER_BIN:
        raise DatasetError(f"{len(ref)} reference loops are too few: at least {4 * NDB_MIN_PER_BIN} are needed "
                           "(two halves, and 2 NDB bins of 5 loops in one half)")
    if len(gen) < 2:
        raise DatasetError(f"{len(gen)} generated loop is too few: at least 2 are needed")
    return gen, ref


def _split(gen: np.ndarray, ref: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Halves A (M - M // 2 loops) and B, and n = min(N, M // 2) loops of B and of the generated set, and notes."""
    notes = []
    order = rng.permutation(len(ref))
    half_b = len(ref) // 2
    a, b = ref[order[half_b:]], ref[order[:half_b]]
    n = min(len(gen), len(b))
    if len(gen) > n:
        notes.append(f"{n} of {len(gen)} generated loops scored, as many as the held-out real half")
        gen = gen[np.sort(rng.choice(len(gen), n, replace=False))]
    return a, b[:n], gen, notes


def _anchor_sets(gen: np.ndarray, b: np.ndarray, sample_rate: int, tempo_range, rng, seed: int) -> dict:
    """``{set: mono (n, samples)}`` of :data:`SETS`: the generated loops, half B and the two made anchors."""
    n = len(gen)
    collapsed = collapsed_anchor(b[int(rng.integers(len(b)))], n, seed)  # drawn first: the rng's order
    return {"generated": gen, "real": b, "collapsed": collapsed,
            "noise": noise_anchor(n, gen.shape[1], sample_rate, tempo_range, rng)}


def _embeddings(a: np.ndarray, sets: dict, sample_rate: int) -> tuple[np.ndarray, dict]:
    """musicnn embeddings of half A, (M_a, 200), and of each set, ``{set: (n, 200)}``."""
    from beatgan import musicnn  # here: TensorFlow only for the embedding; the training callback needs none

    embed = musicnn.embedder()
    return embed(a, sample_rate=sample_rate), {k: embed(v, sample_rate=sample_rate) for k, v in sets.items()}


def _fad(emb_a: np.ndarray, embs: dict, metrics: dict, notes: list) -> tuple[float, str]:
    """Add each set's ``fad`` to ``metrics``; return the covariance shrinkage and how FAD was computed."""
    dim, smallest = emb_a.shape[1], min(len(embs["generated"]), len(emb_a))
    if smallest <= dim:
        shrink = 1e-2
        fad_method = (f"covariances shrunk: S + {shrink:g} * tr(S)/{dim} * I, because sets of "
                      f"{smallest} loops are fewer than {dim + 1}")
        notes.append(f"FAD from {smallest} loops per set is biased upward (fewer than {dim + 1} "
                     "loops, shrunk covariances); compare it only with the anchors of this report")
    else:
        shrink = 0.0
        fad_method = "full sample covariances"
    mu_a, s_a = fit_gaussian(emb_a, shrink)
    for k in SETS:
        metrics[k]["fad"], fad_notes = frechet_distance(mu_a, s_a, *fit_gaussian(embs[k], shrink))
        notes.extend(f"FAD of {k}: {note}" for note in fad_notes)
    return shrink, fad_method


def _distribution(sets: dict, mels: dict, a_mel: np.ndarray, ref: ReferenceFeatures, sample_rate: int,
                  metrics: dict) -> dict:
    """Add :func:`score_set`'s metrics and ``spectrum_db`` to ``metrics``; return the report's arrays.

    ``{"counts": {"reference" or set: (K,)}, "pairwise": {"reference", "generated", "real": pairs},
    "spectrum": {set: (64,)}}``; ``a_mel`` is half A's log-mel (M_a, 64, frames), for its pairs.
    """
    reference_pairs = upper_triangle(pairwise_distances(a_mel.reshape(len(a_mel), -1)))
    details = {"counts": {"reference": ref.counts}, "pairwise": {"reference": reference_pairs}, "spectrum": {}}
    for k in SETS:
        scores, arrays = score_set(sets[k], mels[k], ref, sample_rate)
        metrics[k].update(scores)
        metrics[k]["spectrum_db"] = spectrum_db(mean_spectrum(mels[k]), ref.mean_spectrum)
        details["counts"][k], details["spectrum"][k] = arrays["counts"], arrays["spectrum"]
        if k in ("generated", "real"):
            details["pairwise"][k] = arrays["pairwise"]
    return details


def _rhythm(sets: dict, tempo_range, sample_rate: int, metrics: dict, notes: list) -> dict:
    """Add ``on_grid`` and ``downbeat`` to ``metrics``; return ``{set: {"hits", "total", "downbeat"}}`` per loop."""
    per_loop = {}
    for k in SETS:
        hits, total, downbeat = rhythm_per_loop(onset_times(sets[k], sample_rate), tempo_range)
        metrics[k]["on_grid"], metrics[k]["downbeat"] = on_grid_share(hits, total), float(np.mean(downbeat))
        per_loop[k] = {"hits": hits, "total": total, "downbeat": downbeat}
        if total.sum() == 0:
            notes.append(f"the {k} set has no onsets after the downbeat: on_grid is 0")
    return per_loop


def _novelty(sets: dict, a: np.ndarray, sample_rate: int, metrics: dict, per_loop: dict) -> None:
    """Add ``near_copies`` and ``logmel_nearest_db`` to ``metrics``, each loop's score and distance to ``per_loop``."""
    for k in SETS:
        _, score = novelty.nearest(sets[k], a)
        _, dist = novelty.logmel_nearest(sets[k], a, sample_rate=sample_rate)
        metrics[k]["near_copies"] = near_copies(score)
        metrics[k]["logmel_nearest_db"] = float(np.median(dist))
        per_loop[k].update(score=score, nearest_db=dist)


def _finite(metrics: dict) -> dict:
    """``{set: {metric: float}}`` in :data:`~beatgan.metrics.METRICS` order; AudioError for a NaN or infinity."""
    metrics = {k: {name: float(metrics[k][name]) for name in METRICS} for k in SETS}
    for k in SETS:
        bad = [name for name, v in metrics[k].items() if not math.isfinite(v)]
        if bad:  # never hand back a silent NaN
            raise AudioError(f"metrics {bad} of the {k} set are not finite; check the audio (silent loops?)")
    return metrics


# --------------------------------------------------------------------------- a run's checkpoints

@dataclasses.dataclass(frozen=True, eq=False)
class StepsReport:
    """The generated set's metrics at each checkpoint of a training run.

    :meth:`text` is the table (one row per step), :meth:`to_dict` the plain data, :meth:`save`
    writes ``steps.txt``, ``steps.json`` and ``steps.png``.

    Attributes
    ----------
    rows : list of dict
        ``{"step": int, metric: float, ...}`` per checkpoint, in the order evaluated; metrics as
        in :data:`~beatgan.metrics.METRICS`.
    seed : int
        Of every evaluation (and of the generated loops, where the caller used it).
    source : dict
        What was evaluated, for the JSON (e.g. ``run_dir``, ``reference``, ``count``).
    """

    rows: list
    seed: int
    source: dict = dataclasses.field(default_factory=dict)

    def text(self) -> str:
        """Table ``step | fad | ndb_k | ...``, one line per step, values to 4 significant digits."""
        names = list(METRICS)
        lines = [" | ".join(["step", *names])]
        lines += [" | ".join([str(r["step"]), *(f"{r[n]:.4g}" for n in names)]) for r in self.rows]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """``{**source, "seed": int, "steps": rows}``, plain JSON."""
        return {**self.source, "seed": self.seed, "steps": self.rows}

    def figure(self):
        """The metrics against the generator step, one panel per metric (:mod:`beatgan.plots`)."""
        return metrics_over_steps_figure(self.rows, {n: METRICS[n][0] for n in METRICS})

    def save(self, directory) -> Path:
        """Write ``steps.txt`` (:meth:`text`), ``steps.json`` (:meth:`to_dict`) and ``steps.png``.

        Parameters
        ----------
        directory : path-like
            Created when missing.

        Returns
        -------
        pathlib.Path
            The directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(directory / "steps.txt", self.text() + "\n")
        write_json_atomic(directory / "steps.json", self.to_dict())
        self.figure().savefig(directory / "steps.png", dpi=100)
        return directory


def evaluate_steps(loops_by_step: Iterable, reference, *, sample_rate: int = SAMPLE_RATE, seed: int = 0,
                   progress: bool = False, save_to=None, log: Callable[[str], object] | None = None,
                   source: dict | None = None) -> StepsReport:
    """:func:`evaluate` the loops of each checkpoint of a run, one checkpoint at a time.

    Parameters
    ----------
    loops_by_step : iterable of (int, array_like)
        ``(step, generated)`` pairs, ``generated`` as for :func:`evaluate`; a generator keeps
        one checkpoint's loops in memory at a time.
    reference : array_like
        As for :func:`evaluate`.
    sample_rate : int, default 14700
        Hz.
    seed : int, default 0
        Of every evaluation: the same split and anchors at every step.
    progress : bool, default False
        Each evaluation's tqdm bar.
    save_to : path-like, optional
        Folder: each step's :class:`EvaluationReport` is saved in ``save_to/step_NNNNNN``.
    log : callable, optional
        Called with one line per step (``"step 2: fad 12.3, ndb_k 0.5, ..."``), e.g. ``print``.
    source : dict, optional
        What was evaluated (run folder, reference, loop count), kept in the report's JSON.

    Returns
    -------
    StepsReport

    Raises
    ------
    AudioError, DatasetError, ConfigError
        As :func:`evaluate`, at the first step that fails.
    """
    rows = []
    for step, generated in loops_by_step:
        report = evaluate(generated, reference, sample_rate=sample_rate, seed=seed, progress=progress)
        if save_to is not None:
            report.save(Path(save_to) / f"step_{step:06d}")
        scores = report.metrics["generated"]
        rows.append({"step": int(step), **scores})
        if log is not None:
            log(f"step {step}: " + ", ".join(f"{k} {scores[k]:.4g}" for k in ("fad", "ndb_k", "diversity",
                                                                              "noise_floor_db")))
    return StepsReport(rows=rows, seed=int(seed), source=dict(source or {}))
