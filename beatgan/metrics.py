"""The quality metrics of generated loops, each a function of mono audio or of features of it.

:mod:`beatgan.evaluate` runs them on the generated set and on three anchors (real,
collapsed, noise) and adds bootstrap intervals; here is what each number means and how it
is computed. Every function takes mono loops, float (N, samples) in [-1, 1] (channels
averaged: :func:`checked_mono`), or features computed from them, and the sample rate in Hz
where it matters. :data:`METRICS` gives the direction and unit of each metric of a report:

* ``fad``: Fréchet Audio Distance (Kilgour et al., "Fréchet Audio Distance: a metric for
  evaluating music enhancement algorithms", 2019): ``|mu_a - mu_b|^2 + tr(S_a + S_b -
  2 (S_a S_b)^(1/2))`` (:func:`frechet_distance`) of Gaussians fitted to embeddings
  (:func:`fit_gaussian`), here musicnn's MSD_musicnn 200-d penultimate layer
  (:mod:`beatgan.musicnn`; Pons & Serra 2019). Numbers from another embedding (VGGish, ...)
  are not comparable: the report names the embedding (:data:`EMBEDDING`).
* ``ndb_k`` and ``jsd``: Richardson & Weiss, "On GANs and GMMs" (NeurIPS 2018), as LoopTest
  (Hung et al. 2022) uses them: k-means (K bins) on the reference's log-mel features
  (:func:`mel_db`), every loop of a set assigned to its nearest centre; NDB/K is the share of
  bins whose proportions differ by a two-proportion z-test at alpha 0.05, JSD the
  Jensen-Shannon divergence (base 2, in [0, 1]) of the two bin histograms (:func:`ndb`).
* ``diversity``: median pairwise log-mel distance within the set over the same within the
  reference (1.0: as varied as real loops, :func:`diversity`); ``close_pairs``: share of
  loops whose nearest other loop of the set is closer than the closest pair of the
  reference (:func:`close_pairs`). Distances: :func:`pairwise_distances`.
* ``on_grid`` and ``downbeat``: onsets (librosa, backtracked: :func:`onset_times`) against
  the 16th-note grid, anchored at sample 0, of the tempo in the reference's range
  (:func:`fit_tempo_range`) that fits each loop best (:func:`fit_tempo`); the share of
  onsets (after the first 20 ms) within 20 ms of it, and the share of loops with an onset in
  the first 20 ms, the downbeat (:func:`rhythm`).
* ``spectrum_db``: mean absolute per-band difference of the mean log-mel spectrum from the
  reference's (:func:`mean_spectrum`, :func:`spectrum_db`); ``noise_floor_db``: level of the
  quietest 10 % of frames (RMS, dB: :func:`frame_db`, :func:`noise_floor`) minus the
  reference's.
* ``near_copies`` and ``logmel_nearest_db``: BeatGAN's similarity score against the
  reference (share of loops scoring <= 0.1, :func:`near_copies`; the search is
  :func:`beatgan.novelty.nearest`) and the median RMS log-mel distance to the nearest
  reference loop (:func:`beatgan.novelty.logmel_nearest`).
* ``tonal_lines``, ``upsampling_db`` and ``silence``: the generator's artifacts (Pons et al.,
  "Upsampling artifacts in neural audio synthesis", ICASSP 2021). Each loop's long-window
  spectrum (Welch, Hann windows of 4096 samples, half overlap: 3.6 Hz bins at 14.7 kHz) is
  compared with its running median over 31 bins (111 Hz), which follows the broadband shape
  of drums but not a narrow line (:func:`line_spectrum`). ``tonal_lines`` is the median count
  per loop of bins above 40 Hz more than 10 dB above that median (:func:`tonal_lines`);
  ``upsampling_db`` the mean level above the median (dB, the highest of the nearest bin and
  its two neighbours) at the multiples of ``sample_rate / 4**k``, k = 1, 2, 3 (3675, 918.75
  and 229.7 Hz at 14.7 kHz: the rates from which the generator's stride-4 layers upsample;
  finer grids fall inside the median's window: :func:`upsampling_db`); ``silence`` the mean
  share of frames (1024 samples, hop 256) more than 40 dB below the loop's loudest frame:
  real drum loops fall silent between hits, a noise bed does not (:func:`silence`).

:func:`bootstrap_interval` turns resampled values of a metric into its 95 % interval, clipped
to the metric's range (:func:`metric_bounds`); two values differ beyond noise only where
their intervals do not overlap (:func:`intervals_overlap`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import linalg, ndimage, signal
from scipy.spatial.distance import jensenshannon
from scipy.stats import norm

from beatgan import novelty
from beatgan.errors import AudioError, ConfigError
from beatgan.extras import require

librosa = require("librosa", "the evaluation")

__all__ = [
    "EMBEDDING", "METRICS", "ONSET_TOLERANCE", "ONSET_HOP", "TEMPO_SEARCH", "NDB_ALPHA", "NDB_MIN_PER_BIN",
    "QUIET_SHARE", "RMS_FLOOR_DB", "LINE_WINDOW", "LINE_MEDIAN_BINS", "LINE_THRESHOLD_DB", "LINE_MIN_HZ",
    "UPSAMPLING_LEVELS", "SILENCE_DB",
    "checked_mono", "check_options",
    "mel_db", "frame_db", "pairwise_distances", "upper_triangle",
    "fit_gaussian", "frechet_distance", "ndb", "diversity", "close_pairs", "mean_spectrum", "spectrum_db",
    "noise_floor", "near_copies",
    "onset_times", "fit_tempo", "fit_tempo_range", "rhythm_per_loop", "on_grid_share", "rhythm",
    "line_spectrum", "tonal_lines", "upsampling_frequencies", "upsampling_db", "silence", "artifacts",
    "bootstrap_interval", "metric_bounds", "intervals_overlap",
]

EMBEDDING = "FAD-musicnn (MSD_musicnn, 200-d)"
ONSET_TOLERANCE = 0.020  # s: an onset this close to a grid line (or to 0 for the downbeat) is on it
ONSET_HOP = 128  # samples (8.7 ms at 14.7 kHz): fine enough for the 20 ms tolerance
TEMPO_SEARCH = (60.0, 180.0)  # bpm searched to find the reference's tempo range
NDB_ALPHA = 0.05  # two-sided significance of the per-bin z-test
NDB_MIN_PER_BIN = 5  # reference loops per bin at least; K is reduced (with a warning) below that
QUIET_SHARE = 0.10  # the noise floor is the level of this share of the quietest frames
RMS_FLOOR_DB = -100.0  # frame levels are floored here (digital silence)
LINE_WINDOW = 4096  # samples per Welch segment of the line spectrum (3.6 Hz bins at 14.7 kHz)
LINE_MEDIAN_BINS = 31  # running median over this many bins (111 Hz at 14.7 kHz) is a line's surroundings
LINE_THRESHOLD_DB = 10.0  # a bin this far above its running median is a tonal line
LINE_MIN_HZ = 40.0  # below this, DC offsets and the window's main lobe are not lines
UPSAMPLING_LEVELS = 3  # k = 1..3: multiples of sample_rate / 4**k
SILENCE_DB = 40.0  # a frame this far below the loop's loudest frame is silent

# name: (direction, unit, description). Directions: "lower", "higher", "closer to 1",
# "closer to 0", "closer to real" (neither extreme is good: compare with the real column).
METRICS = {
    "fad": ("lower", "", f"Fréchet Audio Distance on {EMBEDDING} embeddings (Kilgour et al. 2019)"),
    "ndb_k": ("lower", "share", "NDB/K: share of k-means bins of the reference with a significantly different proportion"),
    "jsd": ("lower", "bits", "Jensen-Shannon divergence of the k-means bin histograms (base 2)"),
    "diversity": ("closer to 1", "ratio", "median pairwise log-mel distance in the set / the same in the reference"),
    "close_pairs": ("lower", "share", "loops whose nearest other loop is closer than the reference's closest pair"),
    "on_grid": ("higher", "share", "onsets within 20 ms of the best-fitting 16th grid (reference tempo range)"),
    "downbeat": ("higher", "share", "loops with an onset in their first 20 ms"),
    "spectrum_db": ("lower", "dB", "mean absolute per-band difference of the mean log-mel spectrum"),
    "noise_floor_db": ("closer to 0", "dB", "level of the quietest 10 % of frames minus the reference's"),
    "near_copies": ("lower", "share", "loops with a BeatGAN similarity score <= 0.1 to a reference loop"),
    "logmel_nearest_db": ("closer to real", "dB", "median RMS log-mel distance to the nearest reference loop"),
    "tonal_lines": ("lower", "bins", "median per loop of spectrum bins > 10 dB above their 111 Hz running median"),
    "upsampling_db": ("lower", "dB", "mean level above the running median at multiples of sample_rate / 4**k, k=1..3"),
    "silence": ("closer to real", "share", "frames more than 40 dB below the loop's loudest frame"),
}


# --------------------------------------------------------------------------- validation

def checked_mono(name: str, audio) -> np.ndarray:
    """Validate a set of loops and mix it to mono.

    Parameters
    ----------
    name : str
        What the set is ("generated", "reference"), for the messages.
    audio : array_like
        float, shape (N, samples, channels), values in [-1, 1] (a peak up to 1 + 1e-6 passes).

    Returns
    -------
    numpy.ndarray
        float32, shape (N, samples): the mean of the channels.

    Raises
    ------
    AudioError
        Not 3-D, empty along any axis, not float, NaN or infinite samples (the message names
        the first such loop), or a peak above 1.
    """
    audio = np.asarray(audio)
    if audio.ndim != 3:
        raise AudioError(f"{name} must have shape (N, samples, channels), got {audio.shape}")
    if audio.shape[0] == 0 or audio.shape[1] == 0 or audio.shape[2] == 0:
        raise AudioError(f"{name} holds no audio (shape {audio.shape})")
    if not np.issubdtype(audio.dtype, np.floating):
        raise AudioError(f"{name} must be float audio in [-1, 1], got dtype {audio.dtype}")
    finite = np.isfinite(audio)
    if not finite.all():
        bad = int(np.argmin(finite.reshape(len(audio), -1).all(axis=1)))
        raise AudioError(f"{name} holds NaN or infinite samples (first in loop {bad})")
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0 + 1e-6:
        raise AudioError(f"{name} must lie in [-1, 1], got a peak of {peak:.4g}")
    return audio.mean(axis=2, dtype=np.float32)


def check_options(sample_rate, seed, n_bins) -> None:
    """Validate the options shared by the evaluation's entry points.

    Parameters
    ----------
    sample_rate : int
        Hz, >= 8000 (Python or numpy integer, not bool).
    seed : int
        >= 0.
    n_bins : int
        NDB bins K, >= 2.

    Raises
    ------
    ConfigError
        Naming the first bad option, its value and what is allowed.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate < 8000:
        raise ConfigError(f"sample_rate={sample_rate!r} must be an integer >= 8000 (Hz)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be an integer >= 0")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise ConfigError(f"n_bins={n_bins!r} must be an integer >= 2")


# --------------------------------------------------------------------------- features

def mel_db(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel spectrograms as :func:`beatgan.novelty.logmel_features` computes them.

    Parameters
    ----------
    mono : numpy.ndarray
        float, shape (N, samples), values in [-1, 1].
    sample_rate : int
        Hz.

    Returns
    -------
    numpy.ndarray
        float32, shape (N, 64, frames): mel power (n_fft 1024, hop 256, 64 bands) in dB,
        floored at -60 dB; ``frames = 1 + samples // 256``.
    """
    feats = novelty.logmel_features(mono, sample_rate=sample_rate)  # (N, 64 * frames)
    return feats.reshape(len(mono), 64, -1)


def frame_db(mono: np.ndarray) -> np.ndarray:
    """Frame RMS levels in dB.

    Parameters
    ----------
    mono : numpy.ndarray
        float, shape (N, samples), values in [-1, 1].

    Returns
    -------
    numpy.ndarray
        shape (N, frames): RMS of 1024-sample frames, hop 256 (zero-padded by 512 at each
        end, ``frames = 1 + samples // 256``), in dB re full scale, floored at -100 dB.
    """
    rms = librosa.feature.rms(y=mono, frame_length=1024, hop_length=256)[:, 0, :]  # (N, frames)
    return 20 * np.log10(np.maximum(rms, 10 ** (RMS_FLOOR_DB / 20)))


def pairwise_distances(flat: np.ndarray) -> np.ndarray:
    """RMS distances between all rows.

    Parameters
    ----------
    flat : numpy.ndarray
        shape (N, d): one feature row per loop (flattened log-mel spectrograms, dB).

    Returns
    -------
    numpy.ndarray
        float64, shape (N, N): ``|x_i - x_j| / sqrt(d)`` in the rows' unit, an exactly zero
        diagonal, and never NaN (round-off below zero is clipped).
    """
    x = flat.astype(np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2 / x.shape[1])


def upper_triangle(d: np.ndarray) -> np.ndarray:
    """The entries above the diagonal of a square (N, N) matrix, row by row: shape (N (N - 1) / 2,)."""
    return d[np.triu_indices(len(d), k=1)]


# --------------------------------------------------------------------------- FAD

def fit_gaussian(emb: np.ndarray, shrink: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of embeddings, the covariance optionally shrunk towards a multiple of I.

    Parameters
    ----------
    emb : numpy.ndarray
        shape (N, d): one embedding per loop.
    shrink : float
        Weight >= 0 of ``tr(S) / d * I`` added to the sample covariance ``S`` (0: none); keeps
        the covariance of fewer than d + 1 loops invertible.

    Returns
    -------
    mu : numpy.ndarray
        float64, shape (d,).
    sigma : numpy.ndarray
        float64, shape (d, d): unbiased sample covariance (+ the shrinkage).
    """
    mu = emb.mean(axis=0, dtype=np.float64)
    sigma = np.cov(emb.astype(np.float64), rowvar=False)
    if shrink:
        sigma = sigma + shrink * np.trace(sigma) / len(sigma) * np.eye(len(sigma))
    return mu, sigma


def frechet_distance(mu1, sigma1, mu2, sigma2, *, eps: float = 1e-6) -> tuple[float, list[str]]:
    """Fréchet distance of two Gaussians, ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``.

    Parameters
    ----------
    mu1, mu2 : array_like
        Means, shape (d,).
    sigma1, sigma2 : array_like
        Covariances, shape (d, d).
    eps : float, default 1e-6
        First offset added to both diagonals when the matrix square root is not finite or
        has an imaginary part above 1e-3 of the mean variance (then 1e-4 and 1e-2 of it).

    Returns
    -------
    distance : float
        >= 0 up to round-off (clipped at 0), in the embedding's squared unit.
    notes : list of str
        What the guards did (offset added, imaginary part dropped), empty when nothing.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    notes = []
    scale = max(float(np.trace(s1) + np.trace(s2)) / (2 * len(s1)), 1e-12)  # mean variance
    covmean = None
    # the usual guard (pytorch-fid): a product of near-singular covariances can give sqrtm a
    # non-finite or clearly complex result; an offset on both diagonals, grown until it does not
    for offset in (0.0, eps, eps * 1e2 * scale, eps * 1e4 * scale):
        shifted = np.eye(len(s1)) * offset
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)  # singular products are handled here
            candidate = linalg.sqrtm((s1 + shifted) @ (s2 + shifted))
        imag = float(np.max(np.abs(np.imag(candidate)))) if np.iscomplexobj(candidate) else 0.0
        if np.all(np.isfinite(candidate)) and imag <= 1e-3 * scale:
            covmean = np.real(candidate)
            if offset:
                notes.append(f"sqrtm ill-conditioned: {offset:.3g} * I added to both covariances")
            break
    if covmean is None:  # still complex: keep the real part, and say so
        notes.append(f"sqrtm had an imaginary part up to {imag:.3g} even with an offset; real part used")
        covmean = np.real(candidate)
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    return max(value, 0.0), notes


# --------------------------------------------------------------------------- distribution and diversity

def ndb(ref_counts: np.ndarray, counts: np.ndarray, alpha: float = NDB_ALPHA) -> tuple[float, float]:
    """NDB/K and JSD of two bin histograms.

    Parameters
    ----------
    ref_counts, counts : numpy.ndarray
        int, shape (K,): reference loops and the set's loops per k-means bin.
    alpha : float, default 0.05
        Two-sided significance of each bin's two-proportion z-test.

    Returns
    -------
    ndb_k : float
        Share in [0, 1] of the K bins whose proportions differ (``|z|`` strictly above the
        critical value; a bin empty in both has z = 0).
    jsd : float
        Jensen-Shannon divergence of the two normalised histograms, base 2 (bits, in [0, 1]).
    """
    n_ref, n = ref_counts.sum(), counts.sum()
    p_ref, p = ref_counts / n_ref, counts / n
    pooled = (ref_counts + counts) / (n_ref + n)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p - p_ref) / se, 0.0)
    different = np.abs(z) > norm.ppf(1 - alpha / 2)
    jsd = float(jensenshannon(p_ref, p, base=2) ** 2)
    return float(different.mean()), jsd


def diversity(pairs: np.ndarray, reference_median: float) -> float:
    """Median pairwise distance within a set over the reference's (1.0: as varied as real loops).

    Parameters
    ----------
    pairs : numpy.ndarray
        shape (P,): distances (dB) of the set's distinct pairs (:func:`upper_triangle` of
        :func:`pairwise_distances`).
    reference_median : float
        Median pairwise distance (dB) within the reference, > 0.

    Returns
    -------
    float
        >= 0; 0.0 for a set without pairs.
    """
    return float(np.median(pairs)) / reference_median if len(pairs) else 0.0


def close_pairs(nearest: np.ndarray, reference_min: float) -> float:
    """Share of loops whose nearest other loop is closer than the reference's closest pair.

    Parameters
    ----------
    nearest : numpy.ndarray
        shape (N,): each loop's distance (dB) to the nearest other loop of its set.
    reference_min : float
        Smallest distance (dB) between two distinct reference loops.

    Returns
    -------
    float
        In [0, 1]: near 1 for a collapsed set, near 0 for real loops.
    """
    return float(np.mean(nearest < reference_min))


def mean_spectrum(mel: np.ndarray) -> np.ndarray:
    """Mean log-mel level per band of a set, float64 (64,) dB, from :func:`mel_db`'s (N, 64, frames)."""
    return mel.mean(axis=(0, 2), dtype=np.float64)


def spectrum_db(spectrum: np.ndarray, reference_spectrum: np.ndarray) -> float:
    """Mean absolute difference (dB, >= 0) of two mean log-mel spectra, each (64,) as :func:`mean_spectrum`."""
    return float(np.mean(np.abs(spectrum - reference_spectrum)))


def noise_floor(frames: np.ndarray) -> float:
    """Level (dB) below which the quietest 10 % of frames lie, from :func:`frame_db`'s levels (any shape)."""
    return float(np.percentile(frames, 100 * QUIET_SHARE))


def near_copies(scores: np.ndarray) -> float:
    """Share in [0, 1] of loops whose best similarity score (:func:`beatgan.novelty.nearest`, (N,)) is <= 0.1."""
    return float(np.mean(scores <= novelty.DEFAULT_THRESHOLD))


# --------------------------------------------------------------------------- rhythm

def onset_times(mono: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """Backtracked onset times of each loop.

    Parameters
    ----------
    mono : numpy.ndarray
        float, shape (N, samples), values in [-1, 1].
    sample_rate : int
        Hz (places the onset envelope's mel bands).

    Returns
    -------
    list of numpy.ndarray
        N arrays of seconds, sorted, distinct, >= 0 (a hit at the very start is at 0.0):
        librosa's onsets (hop 128 samples), backtracked to the rise before each peak.
    """
    # silence before sample 0, so a hit on the downbeat has a rise to detect
    pad = 8 * ONSET_HOP
    padded = np.pad(mono, ((0, 0), (pad, 0)))
    env = librosa.onset.onset_strength(y=padded, sr=sample_rate, hop_length=ONSET_HOP)  # (N, frames)
    out = []
    for e in env:
        frames = librosa.onset.onset_detect(onset_envelope=e, sr=sample_rate, hop_length=ONSET_HOP, backtrack=True)
        times = (frames * ONSET_HOP - pad) / sample_rate
        out.append(np.unique(np.maximum(times, 0.0)))
    return out


def fit_tempo(times: np.ndarray, tempi: np.ndarray) -> tuple[float, float]:
    """Best tempo of one loop's onsets and its on-grid share.

    The tempo maximises the on-grid share minus its chance level (40 ms / 16th length, at
    most 1), so faster grids, which catch any onset, do not win by default.

    Parameters
    ----------
    times : numpy.ndarray
        shape (k,): onset times (s).
    tempi : numpy.ndarray
        shape (C,): candidate tempi (bpm); the 16th grid of each is anchored at 0 s.

    Returns
    -------
    tempo : float
        bpm, one of ``tempi`` (the first best; the middle candidate for no onsets).
    on_grid : float
        Share in [0, 1] of the onsets within 20 ms of that grid (0.0 for no onsets).
    """
    if len(times) == 0:
        return float(tempi[len(tempi) // 2]), 0.0
    step = 15.0 / tempi[:, None]  # (C, 1) seconds per 16th
    dist = np.abs(times[None, :] - step * np.round(times[None, :] / step))  # (C, k)
    hits = (dist <= ONSET_TOLERANCE + 1e-9).mean(axis=1)
    best = int(np.argmax(hits - np.minimum(1.0, 2 * ONSET_TOLERANCE / step[:, 0])))
    return float(tempi[best]), float(hits[best])


def fit_tempo_range(onsets: list[np.ndarray]) -> tuple[float, float]:
    """Range of the reference loops' best-fitting tempi.

    Parameters
    ----------
    onsets : list of numpy.ndarray
        Onset times (s) per loop, as :func:`onset_times` gives them; loops without onsets
        are skipped.

    Returns
    -------
    tuple of float
        ``(low, high)`` bpm within 60-180: the 5th and 95th percentiles, widened by 2 bpm, of
        the tempi (searched on a 0.5 bpm grid) within 15 % of their median (a loop fitted at
        2/3 or 3/2 of the others' tempo is an outlier); 118-122 bpm when no loop has onsets.
    """
    grid = np.arange(TEMPO_SEARCH[0], TEMPO_SEARCH[1] + 1e-9, 0.5)
    tempi = np.array([fit_tempo(t, grid)[0] for t in onsets if len(t)] or [120.0])
    # loops fitted at a related tempo (2/3, 3/2 of the others) are outliers, not the range
    median = np.median(tempi)
    tempi = tempi[np.abs(tempi / median - 1) <= 0.15]
    lo, hi = np.percentile(tempi, [5, 95])
    return max(TEMPO_SEARCH[0], float(lo) - 2), min(TEMPO_SEARCH[1], float(hi) + 2)


def rhythm_per_loop(onsets: list[np.ndarray], tempo_range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each loop's onsets against the 16th grid of its best tempo within ``tempo_range``.

    Parameters
    ----------
    onsets : list of numpy.ndarray
        Onset times (s) per loop (:func:`onset_times`).
    tempo_range : tuple of float
        ``(low, high)`` bpm, both included, searched in steps of 0.25 bpm.

    Returns
    -------
    hits : numpy.ndarray
        float64, shape (N,): onsets after the first 20 ms that lie on the grid.
    total : numpy.ndarray
        int64, shape (N,): onsets after the first 20 ms.
    downbeat : numpy.ndarray
        bool, shape (N,): an onset within the first 20 ms.
    """
    tempi = np.arange(tempo_range[0], tempo_range[1] + 1e-9, 0.25)
    hits, total, downbeat = [], [], []
    for t in onsets:
        later = t[t > ONSET_TOLERANCE]
        total.append(len(later))
        hits.append(fit_tempo(later, tempi)[1] * len(later))
        downbeat.append(len(t) > 0 and t[0] <= ONSET_TOLERANCE)
    return np.array(hits, np.float64), np.array(total, np.int64), np.array(downbeat, bool)


def on_grid_share(hits: np.ndarray, total: np.ndarray) -> float:
    """Share in [0, 1] of a set's onsets on the grid, from :func:`rhythm_per_loop`'s (N,) ``hits`` and ``total``.

    0.0 when the set has no onsets after the downbeat (no rhythm to measure).
    """
    count = int(total.sum())
    return sum(hits.tolist()) / count if count else 0.0  # summed in loop order, as the report always did


def rhythm(onsets: list[np.ndarray], tempo_range) -> tuple[float, float, int]:
    """The ``on_grid`` and ``downbeat`` metrics of a set.

    Onsets in the first 20 ms count only for the downbeat: every loop that starts with sound
    has one there, so they would make stationary noise look perfectly on the grid.

    Parameters
    ----------
    onsets : list of numpy.ndarray
        Onset times (s) per loop (:func:`onset_times`).
    tempo_range : tuple of float
        ``(low, high)`` bpm of the grids (:func:`fit_tempo_range` of the reference).

    Returns
    -------
    on_grid : float
        Share in [0, 1] of the onsets after the downbeat on their loop's best grid (0.0 for
        a set without such onsets).
    downbeat : float
        Share in [0, 1] of the loops with an onset in their first 20 ms.
    count : int
        Onsets after the downbeat, over all loops.
    """
    hits, total, downbeat = rhythm_per_loop(onsets, tempo_range)
    return on_grid_share(hits, total), float(np.mean(downbeat)), int(total.sum())


# --------------------------------------------------------------------------- artifacts

def line_spectrum(mono, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Each loop's long-window spectrum relative to its running median: where tonal lines stand out.

    Parameters
    ----------
    mono : array_like
        float, shape (N, samples), values in [-1, 1].
    sample_rate : int
        Hz.

    Returns
    -------
    freqs : numpy.ndarray
        float64, shape (bins,): Hz of each bin, 0 to ``sample_rate / 2`` in steps of
        ``sample_rate / 4096`` (fewer bins for loops shorter than 4096 samples).
    excess_db : numpy.ndarray
        float64, shape (N, bins): Welch power spectrum in dB (Hann, 4096 samples, half overlap)
        minus its running median over 31 bins. About 0 dB on a broadband spectrum; a line
        stands out by its height; a silent loop is 0 everywhere.
    """
    mono = np.asarray(mono, np.float64)
    freqs, power = signal.welch(mono, fs=sample_rate, nperseg=min(LINE_WINDOW, mono.shape[-1]), axis=-1)
    db = 10 * np.log10(power + 1e-20)  # (N, bins); the floor keeps digital silence flat
    median = ndimage.median_filter(db, size=(1, LINE_MEDIAN_BINS), mode="nearest")
    return freqs, db - median


def tonal_lines(mono, sample_rate: int) -> np.ndarray:
    """Narrow spectral peaks per loop: bins above 40 Hz more than 10 dB above their running median.

    Parameters
    ----------
    mono : array_like
        float, shape (N, samples), values in [-1, 1].
    sample_rate : int
        Hz.

    Returns
    -------
    numpy.ndarray
        int64, shape (N,): lines per loop (see :func:`line_spectrum`); real drum loops have a few,
        a generator with upsampling artifacts tens.
    """
    return _count_lines(*line_spectrum(mono, sample_rate))


def _count_lines(freqs: np.ndarray, excess: np.ndarray) -> np.ndarray:
    return (excess[:, freqs >= LINE_MIN_HZ] > LINE_THRESHOLD_DB).sum(axis=1).astype(np.int64)


def upsampling_frequencies(sample_rate: int, levels: int = UPSAMPLING_LEVELS) -> np.ndarray:
    """Hz of the multiples of ``sample_rate / 4**k`` for k = 1..levels, below Nyquist, sorted and distinct.

    At 14.7 kHz with 3 levels: 229.7, 459.4, ..., 918.75, ..., 3675, ... Hz (31 lines), float64.
    """
    lines = {round(m * sample_rate / 4 ** k, 6) for k in range(1, levels + 1)
             for m in range(1, 4 ** k * 2) if m * sample_rate / 4 ** k < sample_rate / 2}
    return np.array(sorted(lines), np.float64)


def upsampling_db(mono, sample_rate: int) -> np.ndarray:
    """Mean level (dB) above the running median at the generator's upsampling frequencies, per loop.

    Parameters
    ----------
    mono : array_like
        float, shape (N, samples), values in [-1, 1].
    sample_rate : int
        Hz.

    Returns
    -------
    numpy.ndarray
        float64, shape (N,): for each of :func:`upsampling_frequencies` the highest excess of
        :func:`line_spectrum` in its nearest bin and the two beside it, averaged. About +2 dB
        for a loop without lines (the best of three noisy bins), 10-20 dB with imaging lines.
    """
    return _line_levels(*line_spectrum(mono, sample_rate), sample_rate)


def _line_levels(freqs: np.ndarray, excess: np.ndarray, sample_rate: int) -> np.ndarray:
    step = freqs[1] - freqs[0]
    centre = np.round(upsampling_frequencies(sample_rate) / step).astype(int)  # (L,)
    near = np.clip(centre[:, None] + np.arange(-1, 2)[None, :], 0, len(freqs) - 1)  # (L, 3)
    return excess[:, near].max(axis=2).mean(axis=1)  # (N, L, 3) -> (N,)


def silence(mono) -> np.ndarray:
    """Share of each loop's frames more than 40 dB below its loudest frame, float64 (N,) in [0, 1].

    Frames as the noise floor's (RMS of 1024 samples, hop 256, floored at -100 dB: :func:`frame_db`);
    ``mono`` is float (N, samples) in [-1, 1]. A noise bed under the hits lowers it; a silent
    loop scores 0 (no peak to fall from).
    """
    frames = frame_db(np.asarray(mono, np.float32))  # (N, frames)
    return (frames < frames.max(axis=1, keepdims=True) - SILENCE_DB).mean(axis=1)


def artifacts(mono, sample_rate: int) -> dict:
    """The three artifact measures of each loop, from one line spectrum.

    Parameters
    ----------
    mono : array_like
        float, shape (N, samples), values in [-1, 1].
    sample_rate : int
        Hz.

    Returns
    -------
    dict
        ``{"tonal_lines": int64 (N,), "upsampling_db": float64 (N,), "silence": float64 (N,)}``,
        as :func:`tonal_lines`, :func:`upsampling_db` and :func:`silence`; a set's metrics are
        the median of the first and the means of the others.
    """
    spectrum = line_spectrum(mono, sample_rate)
    return {"tonal_lines": _count_lines(*spectrum), "upsampling_db": _line_levels(*spectrum, sample_rate),
            "silence": silence(mono)}


# --------------------------------------------------------------------------- intervals

def bootstrap_interval(estimate: float, resampled, *, level: float = 0.95,
                       bounds: tuple[float, float] = (-math.inf, math.inf)) -> tuple[float, float]:
    """The bias-corrected percentile interval of a bootstrap.

    Parameters
    ----------
    estimate : float
        The metric on the full set.
    resampled : array_like
        The metric on each resample (1-D).
    level : float, default 0.95
        Coverage.
    bounds : tuple of float, optional
        The metric's range (a share lies in [0, 1]: :func:`metric_bounds`); the interval is
        clipped to it.

    Returns
    -------
    tuple of float
        ``(low, high)``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the
        resamples, shifted by ``estimate - median(resampled)``, so the interval sits around the
        estimate even where resampling duplicates loops and biases the metric (FAD, diversity).
    """
    values = np.asarray(resampled, np.float64)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    shift = float(estimate) - float(np.median(values))
    return float(np.clip(low + shift, *bounds)), float(np.clip(high + shift, *bounds))


def metric_bounds(metric: str) -> tuple[float, float]:
    """The range a metric of :data:`METRICS` can take: shares in [0, 1], levels either sign, the rest >= 0.

    Raises
    ------
    ConfigError
        For a name not in :data:`METRICS`.
    """
    if metric not in METRICS:
        raise ConfigError(f"metric={metric!r} must be one of {tuple(METRICS)}")
    if METRICS[metric][1] == "share":
        return 0.0, 1.0
    if metric in ("noise_floor_db", "upsampling_db"):  # levels relative to something: either sign
        return -math.inf, math.inf
    return 0.0, math.inf


def intervals_overlap(a, b) -> bool:
    """Whether two ``(low, high)`` intervals share a point; when they do not, the difference is real."""
    return bool(a[0] <= b[1] and b[0] <= a[1])
