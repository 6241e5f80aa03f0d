"""Quality metrics of generated loops, each beside what real, collapsed and noise loops score.

:func:`evaluate` splits the reference loops with the seed into halves A and B and scores
four sets against A, each computed the same way on the same number of loops ``n``:

* **generated**: the model's loops (a seeded subset of ``n`` when there are more);
* **real**: half B, held out: what a perfect model scores;
* **collapsed**: one loop of B repeated ``n`` times with the training augmentation's noise
  (:func:`beatgan.data.augment`, uniform, amplitude 0.0011): total mode collapse;
* **noise**: white noise under drum-like envelopes (decaying bursts on a 16th grid at
  tempi of the reference range): right rhythm, no drum sounds.

``n = min(len(generated), len(B))``, so sample-size biases (FAD, NDB's z-test) hit every
set alike. All metrics work on mono (channels averaged), so stereo and mono sets can be
compared; both sets must have the same number of samples per loop.

The metrics (:data:`METRICS` gives direction and unit of each):

* ``fad``: Fréchet Audio Distance (Kilgour et al., "Fréchet Audio Distance: a metric for
  evaluating music enhancement algorithms", 2019): ``|mu_a - mu_b|^2 + tr(S_a + S_b -
  2 (S_a S_b)^(1/2))`` of Gaussians fitted to embeddings, here musicnn's MSD_musicnn 200-d
  penultimate layer (:mod:`beatgan.musicnn`; Pons & Serra 2019). Numbers from another
  embedding (VGGish, ...) are not comparable: the report names the embedding.
* ``ndb_k`` and ``jsd``: Richardson & Weiss, "On GANs and GMMs" (NeurIPS 2018), as LoopTest
  (Hung et al. 2022) uses them: k-means (K bins) on A's log-mel features, every loop of a
  set assigned to its nearest centre; NDB/K is the share of bins whose proportions differ
  by a two-proportion z-test at alpha 0.05, JSD the Jensen-Shannon divergence (base 2,
  in [0, 1]) of the two bin histograms.
* ``diversity``: median pairwise log-mel distance within the set over the same within A
  (1.0: as varied as real loops); ``close_pairs``: share of loops whose nearest other loop
  of the set is closer than the closest pair of A.
* ``on_grid`` and ``downbeat``: onsets (librosa, backtracked) against the 16th-note grid,
  anchored at sample 0, of the tempo in A's range that fits each loop best; the share of
  onsets (after the first 20 ms) within 20 ms of it, and the share of loops with an onset
  in the first 20 ms (the downbeat).
* ``spectrum_db``: mean absolute per-band difference of the mean log-mel spectrum from A's;
  ``noise_floor_db``: level of the quietest 10 % of frames (RMS, dB) minus A's.
* ``near_copies`` and ``logmel_nearest_db``: BeatGAN's similarity score against A (share of
  loops scoring <= 0.1) and the median RMS log-mel distance to the nearest loop of A.
* ``tonal_lines``, ``upsampling_db`` and ``silence``: the generator's artifacts (Pons et al.,
  "Upsampling artifacts in neural audio synthesis", ICASSP 2021). Each loop's long-window
  spectrum (Welch, Hann windows of 4096 samples, half overlap: 3.6 Hz bins at 14.7 kHz) is
  compared with its running median over 31 bins (111 Hz), which follows the broadband shape
  of drums but not a narrow line. ``tonal_lines`` is the median count per loop of bins above
  40 Hz more than 10 dB above that median; ``upsampling_db`` the mean level above the median
  (dB, the highest of the nearest bin and its two neighbours) at the multiples of
  ``sample_rate / 4**k``, k = 1, 2, 3 (3675, 918.75 and 229.7 Hz at 14.7 kHz: the rates from
  which the generator's stride-4 layers upsample; finer grids fall inside the median's
  window); ``silence`` the mean share of frames (1024 samples, hop 256) more than 40 dB below
  the loop's loudest frame: real drum loops fall silent between hits, a noise bed does not.

Every metric comes with a 95 % bootstrap interval (:func:`bootstrap_interval`): each set's
loops are resampled with replacement (200 times by default, one draw of loops shared by all
metrics of a set; FAD on the resampled embeddings against the fixed half A), and the 2.5 and
97.5 percentiles of the resampled values are shifted by the bootstrap's bias (the estimate
minus the resamples' median), because duplicated loops bias FAD, diversity and NDB. Two
reports of the same reference and seed differ beyond noise on a metric only where their
intervals do not overlap (:func:`intervals_overlap`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
from scipy import linalg, ndimage, signal
from scipy.cluster.vq import kmeans2, vq
from scipy.spatial.distance import jensenshannon
from scipy.stats import norm
from tqdm.auto import tqdm

from beatgan import novelty
from beatgan.atomic import write_text_atomic
from beatgan.config import AUGMENT_AMPLITUDE
from beatgan.data import augment
from beatgan.errors import AudioError, ConfigError, DatasetError
from beatgan.extras import require
from beatgan.plots import evaluation_figures

librosa = require("librosa", "the evaluation")

__all__ = ["METRICS", "SETS", "EvaluationReport", "evaluate", "cheap_metrics", "reference_features",
           "ReferenceFeatures", "frechet_distance", "line_spectrum", "tonal_lines", "upsampling_db", "silence",
           "upsampling_frequencies", "bootstrap_interval", "intervals_overlap"]

SETS = ("generated", "real", "collapsed", "noise")
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
BOOTSTRAP = 200  # resamples per set for the 95 % intervals

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

def _check_set(name: str, audio) -> np.ndarray:
    """Validate (N, samples, channels) float audio and mix it to mono float32 (N, samples)."""
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


def _check_options(sample_rate, seed, n_bins):
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate < 8000:
        raise ConfigError(f"sample_rate={sample_rate!r} must be an integer >= 8000 (Hz)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be an integer >= 0")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise ConfigError(f"n_bins={n_bins!r} must be an integer >= 2")


# --------------------------------------------------------------------------- features

def _mel_db(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel spectrograms as :func:`novelty.logmel_features` computes them, (N, 64, frames) dB."""
    feats = novelty.logmel_features(mono, sample_rate=sample_rate)  # (N, 64 * frames)
    return feats.reshape(len(mono), 64, -1)


def _frame_db(mono: np.ndarray) -> np.ndarray:
    """Frame RMS levels in dB, (N, frames), 1024-sample frames, hop 256, floored at -100 dB."""
    rms = librosa.feature.rms(y=mono, frame_length=1024, hop_length=256)[:, 0, :]  # (N, frames)
    return 20 * np.log10(np.maximum(rms, 10 ** (RMS_FLOOR_DB / 20)))


def _pairwise(flat: np.ndarray) -> np.ndarray:
    """RMS distances (dB) between all rows, (N, N) float64, zero diagonal."""
    x = flat.astype(np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2 / x.shape[1])


def _upper(d: np.ndarray) -> np.ndarray:
    return d[np.triu_indices(len(d), k=1)]


# --------------------------------------------------------------------------- metric pieces

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
        >= 0 up to round-off (clipped at 0).
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


def _gaussian(emb: np.ndarray, shrink: float):
    mu = emb.mean(axis=0, dtype=np.float64)
    sigma = np.cov(emb.astype(np.float64), rowvar=False)
    if shrink:
        sigma = sigma + shrink * np.trace(sigma) / len(sigma) * np.eye(len(sigma))
    return mu, sigma


def _ndb(ref_counts: np.ndarray, counts: np.ndarray, alpha: float = NDB_ALPHA) -> tuple[float, float]:
    """NDB/K and JSD of two bin histograms (counts, shape (K,))."""
    n_ref, n = ref_counts.sum(), counts.sum()
    p_ref, p = ref_counts / n_ref, counts / n
    pooled = (ref_counts + counts) / (n_ref + n)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p - p_ref) / se, 0.0)
    different = np.abs(z) > norm.ppf(1 - alpha / 2)
    jsd = float(jensenshannon(p_ref, p, base=2) ** 2)
    return float(different.mean()), jsd


def _onsets(mono: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """Backtracked onset times (s) of each loop."""
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


def _fit_tempo(times: np.ndarray, tempi: np.ndarray) -> tuple[float, float]:
    """Best tempo of one loop's onsets and its on-grid share.

    The tempo maximises the on-grid share minus its chance level (40 ms / 16th length), so
    faster grids, which catch any onset, do not win by default.
    """
    if len(times) == 0:
        return float(tempi[len(tempi) // 2]), 0.0
    step = 15.0 / tempi[:, None]  # (C, 1) seconds per 16th
    dist = np.abs(times[None, :] - step * np.round(times[None, :] / step))  # (C, k)
    hits = (dist <= ONSET_TOLERANCE + 1e-9).mean(axis=1)
    best = int(np.argmax(hits - np.minimum(1.0, 2 * ONSET_TOLERANCE / step[:, 0])))
    return float(tempi[best]), float(hits[best])


def _tempo_range(onsets: list[np.ndarray]) -> tuple[float, float]:
    """Range of best-fitting tempi of the reference loops (5th-95th percentile within 15 % of the median, +-2 bpm)."""
    grid = np.arange(TEMPO_SEARCH[0], TEMPO_SEARCH[1] + 1e-9, 0.5)
    tempi = np.array([_fit_tempo(t, grid)[0] for t in onsets if len(t)] or [120.0])
    # loops fitted at a related tempo (2/3, 3/2 of the others) are outliers, not the range
    median = np.median(tempi)
    tempi = tempi[np.abs(tempi / median - 1) <= 0.15]
    lo, hi = np.percentile(tempi, [5, 95])
    return max(TEMPO_SEARCH[0], float(lo) - 2), min(TEMPO_SEARCH[1], float(hi) + 2)


def _rhythm(onsets: list[np.ndarray], tempo_range) -> tuple[float, float, int]:
    """(on-grid share of the onsets after the downbeat, share of loops with a downbeat onset, onsets counted).

    Onsets in the first 20 ms count only for the downbeat: every loop that starts with sound
    has one there, so they would make stationary noise look perfectly on the grid. A set
    without later onsets scores 0 (no rhythm to measure).
    """
    hits, total, downbeat = _rhythm_per_loop(onsets, tempo_range)
    return _on_grid(hits, total), float(np.mean(downbeat)), int(total.sum())


def _on_grid(hits: np.ndarray, total: np.ndarray) -> float:
    count = int(total.sum())
    return sum(hits.tolist()) / count if count else 0.0  # summed in loop order, as the report always did


def _rhythm_per_loop(onsets: list[np.ndarray], tempo_range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per loop: on-grid onsets after the downbeat (float), onsets after it (int), downbeat onset (bool)."""
    tempi = np.arange(tempo_range[0], tempo_range[1] + 1e-9, 0.25)
    hits, total, downbeat = [], [], []
    for t in onsets:
        later = t[t > ONSET_TOLERANCE]
        total.append(len(later))
        hits.append(_fit_tempo(later, tempi)[1] * len(later))
        downbeat.append(len(t) > 0 and t[0] <= ONSET_TOLERANCE)
    return np.array(hits, np.float64), np.array(total, np.int64), np.array(downbeat, bool)


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

    At 14.7 kHz with 3 levels: 229.7, 459.4, ..., 918.75, ..., 3675, ... Hz (31 lines).
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


def _artifacts(mono, sample_rate: int) -> dict:
    """Per loop, from one line spectrum: ``tonal_lines``, ``upsampling_db`` and ``silence`` arrays (N,)."""
    spectrum = line_spectrum(mono, sample_rate)
    return {"tonal_lines": _count_lines(*spectrum), "upsampling_db": _line_levels(*spectrum, sample_rate),
            "silence": silence(mono)}


def silence(mono) -> np.ndarray:
    """Share of each loop's frames more than 40 dB below its loudest frame, float64 (N,).

    Frames as the noise floor's (RMS of 1024 samples, hop 256, floored at -100 dB); ``mono``
    is float (N, samples) in [-1, 1]. A noise bed under the hits lowers it.
    """
    frames = _frame_db(np.asarray(mono, np.float32))  # (N, frames)
    return (frames < frames.max(axis=1, keepdims=True) - SILENCE_DB).mean(axis=1)


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
        The metric's range (a share lies in [0, 1]); the interval is clipped to it.

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


def _bounds(metric: str) -> tuple[float, float]:
    """The range a metric's values can take: shares in [0, 1], distances and counts >= 0."""
    if METRICS[metric][1] == "share":
        return 0.0, 1.0
    if metric in ("noise_floor_db", "upsampling_db"):  # levels relative to something: either sign
        return -math.inf, math.inf
    return 0.0, math.inf


def intervals_overlap(a, b) -> bool:
    """Whether two ``(low, high)`` intervals share a point; when they do not, the difference is real."""
    return bool(a[0] <= b[1] and b[0] <= a[1])


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

    mel = _mel_db(mono, sample_rate) if mel is None else mel
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
    d = _pairwise(flat)
    up = _upper(d)
    return ReferenceFeatures(
        centres=centres, counts=np.bincount(labels, minlength=k).astype(np.int64),
        median_distance=float(np.median(up)), min_distance=float(up.min()),
        noise_floor=float(np.percentile(_frame_db(mono), 100 * QUIET_SHARE)),
        mean_spectrum=mel.mean(axis=(0, 2), dtype=np.float64), sample_rate=int(sample_rate),
        samples=int(mono.shape[1]), warnings=tuple(notes))


def reference_features(reference, *, sample_rate: int = 14700, n_bins: int = 20, seed: int = 0) -> ReferenceFeatures:
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
    _check_options(sample_rate, seed, n_bins)
    return _reference_from_mono(_check_set("reference", reference), sample_rate, n_bins, seed)


def _cheap(mono, mel, ref: ReferenceFeatures, sample_rate) -> dict:
    flat = mel.reshape(len(mel), -1).astype(np.float64)
    labels, _ = vq(flat, ref.centres)
    counts = np.bincount(labels, minlength=len(ref.centres))
    ndb_k, jsd = _ndb(ref.counts, counts)
    d = _pairwise(flat)
    up = _upper(d)
    np.fill_diagonal(d, np.inf)
    artifacts = _artifacts(mono, sample_rate)
    return {
        "diversity": float(np.median(up)) / ref.median_distance if len(up) else 0.0,
        "close_pairs": float(np.mean(d.min(axis=1) < ref.min_distance)),
        "ndb_k": ndb_k, "jsd": jsd,
        "noise_floor_db": float(np.percentile(_frame_db(mono), 100 * QUIET_SHARE)) - ref.noise_floor,
        "tonal_lines": float(np.median(artifacts["tonal_lines"])),
        "upsampling_db": float(np.mean(artifacts["upsampling_db"])),
        "silence": float(np.mean(artifacts["silence"])),
        "_counts": counts, "_pairwise": up, "_spectrum": mel.mean(axis=(0, 2), dtype=np.float64) - ref.mean_spectrum,
    }


def cheap_metrics(generated, reference, *, sample_rate: int = 14700, n_bins: int = 20, seed: int = 0) -> dict:
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
        "silence"}``, floats, as in :data:`METRICS` (here against the whole reference).

    Raises
    ------
    AudioError
        Bad audio, fewer than 2 generated loops, or a length that differs from the reference's.
    """
    mono = _check_set("generated", generated)
    if len(mono) < 2:
        raise AudioError(f"generated holds {len(mono)} loop; diversity needs at least 2")
    ref = reference if isinstance(reference, ReferenceFeatures) else reference_features(
        reference, sample_rate=sample_rate, n_bins=n_bins, seed=seed)
    if ref.samples != mono.shape[1] or ref.sample_rate != sample_rate:
        raise AudioError(f"generated loops have {mono.shape[1]} samples at {sample_rate} Hz, the reference "
                         f"{ref.samples} at {ref.sample_rate} Hz; slice or resample them alike")
    out = _cheap(mono, _mel_db(mono, sample_rate), ref, sample_rate)
    return {k: v for k, v in out.items() if not k.startswith("_")}


# --------------------------------------------------------------------------- anchors

def _collapsed(loop: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` noisy copies of one mono loop, as the training augmentation makes them, (n, samples)."""
    return augment(loop[None, :, None], copies=n, amplitude=AUGMENT_AMPLITUDE, seed=seed)[:, :, 0]


def _drum_noise(n: int, samples: int, sample_rate: int, tempo_range, rng) -> np.ndarray:
    """White noise under decaying bursts on a 16th grid (one tempo per loop), peak 0.9, (n, samples)."""
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

class _ResampleScorer:
    """Every metric of :data:`METRICS` on a resample of one set's loops, from per-loop features.

    With ``idx = arange(n)`` it gives the report's own numbers (tested); FAD uses
    ``tr((S_a S)^(1/2)) = sum sqrt(eig(R S R))`` with ``R = S_a^(1/2)`` computed once, which is
    exact for the symmetric positive semi-definite covariances and five times faster than
    :func:`frechet_distance`'s general square root.
    """

    def __init__(self, ref: ReferenceFeatures, emb_a: np.ndarray, shrink: float):
        self.ref, self.shrink = ref, shrink
        self.mu_a, s_a = _gaussian(emb_a, shrink)
        values, vectors = np.linalg.eigh(s_a)
        self.root_a = (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T  # (d, d)
        self.trace_a = float(np.trace(s_a))

    def features(self, mono, mel, emb, per_loop: dict, sample_rate: int) -> dict:
        flat = mel.reshape(len(mel), -1).astype(np.float64)
        return {"emb": emb, "labels": vq(flat, self.ref.centres)[0], "distances": _pairwise(flat),
                "spectrum": mel.mean(axis=2, dtype=np.float64), "frames": _frame_db(mono),
                **_artifacts(mono, sample_rate), **per_loop}

    def fad(self, emb: np.ndarray) -> float:
        mu, sigma = _gaussian(emb, self.shrink)
        inner = np.linalg.eigvalsh(self.root_a @ sigma @ self.root_a)
        diff = self.mu_a - mu
        return max(float(diff @ diff + self.trace_a + np.trace(sigma) - 2 * np.sqrt(np.maximum(inner, 0)).sum()), 0.0)

    def score(self, f: dict, idx: np.ndarray) -> dict:
        ref = self.ref
        d = f["distances"][np.ix_(idx, idx)]  # (n, n) with repeated loops
        other = idx[:, None] != idx[None, :]  # pairs of distinct loops only: a copy is not a close pair
        pairs = d[np.triu(other, k=1)]
        ndb_k, jsd = _ndb(ref.counts, np.bincount(f["labels"][idx], minlength=len(ref.centres)))
        return {
            "fad": self.fad(f["emb"][idx]),
            "ndb_k": ndb_k, "jsd": jsd,
            "diversity": float(np.median(pairs)) / ref.median_distance if len(pairs) else 0.0,
            "close_pairs": float(np.mean(np.where(other, d, np.inf).min(axis=1) < ref.min_distance)),
            "on_grid": _on_grid(f["hits"][idx], f["total"][idx]),
            "downbeat": float(np.mean(f["downbeat"][idx])),
            "spectrum_db": float(np.mean(np.abs(f["spectrum"][idx].mean(axis=0) - ref.mean_spectrum))),
            "noise_floor_db": float(np.percentile(f["frames"][idx], 100 * QUIET_SHARE)) - ref.noise_floor,
            "near_copies": float(np.mean(f["score"][idx] <= novelty.DEFAULT_THRESHOLD)),
            "logmel_nearest_db": float(np.median(f["nearest_db"][idx])),
            "tonal_lines": float(np.median(f["tonal_lines"][idx])),
            "upsampling_db": float(np.mean(f["upsampling_db"][idx])),
            "silence": float(np.mean(f["silence"][idx])),
        }


# --------------------------------------------------------------------------- the report

def _position(direction: str, g: float, r: float, c: float) -> float | None:
    """Where ``g`` lies from ``r`` (0) to ``c`` (1) on the metric's own badness scale."""
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

    Attributes
    ----------
    metrics : dict
        ``{set: {metric: float}}`` for each set of :data:`SETS`; metrics as in :data:`METRICS`.
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
        ``{set: {metric: (low, high)}}``: 95 % bootstrap intervals (:func:`bootstrap_interval`);
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
            For a name not in :data:`METRICS`.
        """
        if metric not in METRICS:
            raise ConfigError(f"metric={metric!r} must be one of {tuple(METRICS)}")
        m = self.metrics
        return _position(METRICS[metric][0], m["generated"][metric], m["real"][metric], m["collapsed"][metric])

    def table(self) -> str:
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
            For a name not in :data:`METRICS`.
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
        """Which way is better for ``metric``: "lower", "higher", "closer to 1", ... (see :data:`METRICS`)."""
        return METRICS[metric][0]

    def figures(self) -> dict:
        """``{file stem: Figure}`` of every figure of the report (drawn by :mod:`beatgan.plots`)."""
        return evaluation_figures(self)

    def save(self, directory) -> Path:
        """Write ``evaluation.json``, ``evaluation.txt`` (the table) and the figures as PNG.

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
        write_text_atomic(directory / "evaluation.txt", self.table() + "\n")
        for stem, fig in self.figures().items():
            fig.savefig(directory / f"{stem}.png", dpi=100)
        return directory


# --------------------------------------------------------------------------- evaluate

def evaluate(generated, reference, *, sample_rate: int = 14700, seed: int = 0, n_bins: int = 20,
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
        Show a tqdm bar over the metric stages.
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
    from beatgan import musicnn  # here: TensorFlow only for the embedding; the training callback needs none

    _check_options(sample_rate, seed, n_bins)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 20:
        raise ConfigError(f"n_boot={n_boot!r} must be an integer >= 20 (resamples of the 95 % intervals)")
    gen = _check_set("generated", generated)
    ref = _check_set("reference", reference)
    if gen.shape[1] != ref.shape[1]:
        raise AudioError(f"generated loops have {gen.shape[1]} samples, reference loops {ref.shape[1]}; "
                         "slice them alike (as the training data) before evaluating")
    if len(ref) < 4 * NDB_MIN_PER_BIN:
        raise DatasetError(f"{len(ref)} reference loops are too few: at least {4 * NDB_MIN_PER_BIN} are needed "
                           "(two halves, and 2 NDB bins of 5 loops in one half)")
    if len(gen) < 2:
        raise DatasetError(f"{len(gen)} generated loop is too few: at least 2 are needed")
    notes = []
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ref))
    half_b = len(ref) // 2
    a, b = ref[order[half_b:]], ref[order[:half_b]]
    n = min(len(gen), len(b))
    if len(gen) > n:
        notes.append(f"{n} of {len(gen)} generated loops scored, as many as the held-out real half")
        gen = gen[np.sort(rng.choice(len(gen), n, replace=False))]
    b = b[:n]

    stages = ["features", "anchors", "embedding", "fad", "ndb and diversity", "rhythm", "novelty", "intervals"]
    bar = tqdm(stages, disable=not progress, desc="evaluate", leave=False)
    bar.set_postfix_str("features")
    a_mel = _mel_db(a, sample_rate)
    a_onsets = _onsets(a, sample_rate)
    tempo_range = _tempo_range(a_onsets)
    ref_feats = _reference_from_mono(a, sample_rate, n_bins, seed, mel=a_mel)
    notes.extend(ref_feats.warnings)
    bar.update()

    bar.set_postfix_str("anchors")
    sets = {"generated": gen, "real": b,
            "collapsed": _collapsed(b[int(rng.integers(len(b)))], n, seed),
            "noise": _drum_noise(n, gen.shape[1], sample_rate, tempo_range, rng)}
    mels = {k: _mel_db(v, sample_rate) for k, v in sets.items()}
    bar.update()

    bar.set_postfix_str("embedding")
    embed = musicnn.embedder()
    emb_a = embed(a, sample_rate=sample_rate)
    embs = {k: embed(v, sample_rate=sample_rate) for k, v in sets.items()}
    bar.update()

    bar.set_postfix_str("fad")
    smallest = min(n, len(a))
    if smallest <= musicnn.EMBEDDING_DIM:
        shrink = 1e-2
        fad_method = (f"covariances shrunk: S + {shrink:g} * tr(S)/{musicnn.EMBEDDING_DIM} * I, because sets of "
                      f"{smallest} loops are fewer than {musicnn.EMBEDDING_DIM + 1}")
        notes.append(f"FAD from {smallest} loops per set is biased upward (fewer than {musicnn.EMBEDDING_DIM + 1} "
                     "loops, shrunk covariances); compare it only with the anchors of this report")
    else:
        shrink = 0.0
        fad_method = "full sample covariances"
    mu_a, s_a = _gaussian(emb_a, shrink)
    metrics = {k: {} for k in SETS}
    for k in SETS:
        value, fad_notes = frechet_distance(mu_a, s_a, *_gaussian(embs[k], shrink))
        metrics[k]["fad"] = value
        notes.extend(f"FAD of {k}: {note}" for note in fad_notes)
    bar.update()

    bar.set_postfix_str("ndb and diversity")
    ndb_counts = {"reference": ref_feats.counts}
    pairwise = {"reference": _upper(_pairwise(a_mel.reshape(len(a_mel), -1)))}
    spectrum = {}
    for k in SETS:
        cheap = _cheap(sets[k], mels[k], ref_feats, sample_rate)
        ndb_counts[k] = cheap.pop("_counts")
        spectrum[k] = cheap.pop("_spectrum")
        if k in ("generated", "real"):
            pairwise[k] = cheap["_pairwise"]
        cheap.pop("_pairwise")
        metrics[k].update(cheap)
        metrics[k]["spectrum_db"] = float(np.mean(np.abs(spectrum[k])))
    bar.update()

    bar.set_postfix_str("rhythm")
    per_loop = {k: {} for k in SETS}  # what the bootstrap resamples
    for k in SETS:
        hits, total, downbeat = _rhythm_per_loop(_onsets(sets[k], sample_rate), tempo_range)
        metrics[k]["on_grid"], metrics[k]["downbeat"] = _on_grid(hits, total), float(np.mean(downbeat))
        per_loop[k].update(hits=hits, total=total, downbeat=downbeat)
        if total.sum() == 0:
            notes.append(f"the {k} set has no onsets after the downbeat: on_grid is 0")
    bar.update()

    bar.set_postfix_str("novelty")
    for k in SETS:
        _, score = novelty.nearest(sets[k], a)
        _, dist = novelty.logmel_nearest(sets[k], a, sample_rate=sample_rate)
        metrics[k]["near_copies"] = float(np.mean(score <= novelty.DEFAULT_THRESHOLD))
        metrics[k]["logmel_nearest_db"] = float(np.median(dist))
        per_loop[k].update(score=score, nearest_db=dist)
    bar.update()

    bar.set_postfix_str("intervals")
    scorer = _ResampleScorer(ref_feats, emb_a, shrink)
    boot_rng = np.random.default_rng([seed, 25])  # a stream of its own: the metrics do not move
    intervals = {}
    for k in SETS:
        features = scorer.features(sets[k], mels[k], embs[k], per_loop[k], sample_rate)
        draws = [scorer.score(features, boot_rng.integers(0, n, n)) for _ in range(n_boot)]
        intervals[k] = {name: bootstrap_interval(metrics[k][name], [d[name] for d in draws], bounds=_bounds(name))
                        for name in METRICS}
    bar.update()
    bar.close()

    metrics = {k: {name: float(metrics[k][name]) for name in METRICS} for k in SETS}
    for k in SETS:
        bad = [name for name, v in metrics[k].items() if not math.isfinite(v)]
        if bad:  # never hand back a silent NaN
            raise AudioError(f"metrics {bad} of the {k} set are not finite; check the audio (silent loops?)")
    shown = min(4, n)
    return EvaluationReport(
        metrics=metrics, spectrum_diff=spectrum, ndb_counts=ndb_counts, pairwise=pairwise,
        examples={"generated": mels["generated"][:shown], "real": mels["real"][:shown]},
        embedding=EMBEDDING, fad_method=fad_method, warnings=notes, n_loops=n, n_reference=len(a),
        seed=int(seed), sample_rate=int(sample_rate), tempo_range=tuple(round(x, 2) for x in tempo_range),
        intervals=intervals, n_boot=n_boot)
