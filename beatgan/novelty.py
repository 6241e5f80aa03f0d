"""Novelty: how close generated loops are to the training loops, the exact search, and the report.

The score of a training loop ``a`` and a generated loop ``b`` of the same shape is
BeatGAN's ``sum((a - b)**2) / sum(a**2)`` over all samples and channels
(:func:`similarity_score`): 0 for a copy, about 1 for silence or an unrelated quiet
loop, about 2 for an unrelated loop of the same loudness; not symmetric. A generated
loop whose best score over the training set is <= 0.1 counts as memorised.

**The search.** :func:`nearest` and :func:`top_k` find, for every generated loop, its
best training loops, equal to a pair-by-pair loop over :func:`similarity_score` (ties to
the lowest training index), but with matrix products in bounded memory. The expanded form
``(|a|^2 + |b|^2 - 2 a.b) / |a|^2`` in float32 cancels badly exactly where it matters
(near-copies score about 1e-5), so it only picks candidates: every pair whose lower bound
is not above the k-th smallest upper bound gets scored again exactly with the direct
formula in float64. The bounds are rigorous (Higham, *Accuracy and Stability of Numerical
Algorithms*, 3.1): a sum of ``n`` products is within ``gamma_n = n u / (1 - n u)``
(``u = 2**-24``) of ``sum |a_k b_k| <= |a| |b|``, whatever the order of the additions, and
products lost to underflow add at most ``2**-126`` each. Dot products are taken over
stretches of 4096 samples and summed in float64, so ``n`` is at most 4096; no true best is
ever dropped, and few pairs need the exact pass.

Silent training loops (all zeros) have no defined score: they are skipped, and a training
set of only silent loops raises :class:`~beatgan.errors.AudioError`.
:func:`logmel_nearest` does the same search on log-mel spectrograms with a Euclidean
distance, as WaveGAN's evaluation does, which a small time shift barely changes.

**The report.** :func:`novelty_report` runs both searches and keeps, for every generated
loop, its best training loop under both. The :class:`NoveltyReport` gives the fraction of
generated loops whose best score is <= the threshold (0.1: "almost the same loop"), the
quantiles of the best scores, and the closest pairs, as text
(:meth:`NoveltyReport.to_text`) or JSON (:meth:`NoveltyReport.to_dict`);
:func:`save_report` writes them with the figures of :mod:`beatgan.plots`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from beatgan.atomic import write_json_atomic
from beatgan.config import check_positive_int
from beatgan.errors import AudioError, ConfigError
from beatgan.extras import require
from beatgan.plots import closest_pairs_figure, score_histogram

librosa = require("librosa", "the similarity measure")

DEFAULT_THRESHOLD = 0.1  # BeatGAN: a best score <= 0.1 means "almost the same loop"
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
_CHUNK_BYTES = 1 << 26  # float32 bytes of one chunk of loops when ``chunk`` is None
_BLOCK_ENTRIES = 1 << 20  # scores per block when ``chunk`` is None (8 MB of float64)
_K_BLOCK = 4096  # samples per partial dot product: bounds float32 error by gamma_4096, not gamma_n
_EXACT_ELEMENTS = 1 << 17  # float64 elements per batch of the exact pass (1 MB stays in cache)


def _flatten(name: str, audio) -> np.ndarray:
    """Validate a batch of loops and view it as (N, samples * channels), float32 or float64."""
    audio = np.asarray(audio)
    if audio.ndim not in (2, 3):
        raise AudioError(f"{name} must have shape (N, samples) or (N, samples, channels), got {audio.shape}")
    if audio.shape[0] == 0 or audio[0].size == 0:
        raise AudioError(f"{name} holds no loops (shape {audio.shape})")
    if not np.issubdtype(audio.dtype, np.floating):
        raise AudioError(f"{name} must be float audio in [-1, 1], got dtype {audio.dtype}")
    return audio.reshape(audio.shape[0], -1)  # finiteness is checked on the energies


def similarity_score(a, b) -> float:
    """BeatGAN's similarity score ``sum((a - b)**2) / sum(a**2)``; lower is more similar.

    Parameters
    ----------
    a : array_like
        The training loop, float in [-1, 1], any shape (e.g. (samples, channels)).
    b : array_like
        The generated loop, same shape as ``a``.

    Returns
    -------
    float
        >= 0, computed in float64 over all samples and channels. 0 means identical; <= 0.1
        means almost the same loop; ~1 when ``b`` is silent; ~2 for unrelated loops of equal
        loudness.

    Raises
    ------
    AudioError
        When the shapes differ (both are named), either holds NaN or infinity, or ``a`` is
        silent (the score divides by its energy).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AudioError(f"shapes differ: training loop {a.shape}, generated loop {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise AudioError("loops hold NaN or infinite samples")
    a, b = a.reshape(1, -1), b.reshape(1, -1)
    energy = _sum_squares(a)[0]
    if energy == 0:
        raise AudioError("the training loop is silent (all zeros): its similarity score is undefined")
    return float(_sum_squares(a - b)[0] / energy)


def _check_pair(generated, training):
    gen = _flatten("generated", generated)
    train = _flatten("training", training)
    if np.shape(generated)[1:] != np.shape(training)[1:]:
        raise AudioError(
            f"generated loops {np.shape(generated)} and training loops {np.shape(training)} must have "
            "the same (samples, channels)"
        )
    return gen, train


def top_k(generated, training, k: int = 3, *, chunk: int | None = None, progress: bool = False):
    """The ``k`` most similar training loops of every generated loop.

    Parameters
    ----------
    generated : array_like
        Float, shape (G, samples, channels) or (G, samples), values in [-1, 1].
    training : array_like
        Float, shape (T, samples, channels) or (T, samples), as ``generated`` per loop.
    k : int, default 3
        Matches per generated loop; at most the number of non-silent training loops.
    chunk : int or None, default None
        Loops per block of the matrix product (both sets); None: blocks of at most 64 MB of
        float32 audio and 2**20 scores. Memory grows with the block size, never with G * T.
    progress : bool, default False
        Show a tqdm progress bar over blocks.

    Returns
    -------
    index : numpy.ndarray
        int64, shape (G, k): training indices, best first; equal scores in index order.
    score : numpy.ndarray
        float64, shape (G, k): ``similarity_score(training[index], generated)`` exactly as
        :func:`similarity_score` computes it.

    Raises
    ------
    AudioError
        Empty or non-finite input, shapes that differ per loop, or only silent training loops.
    ConfigError
        Invalid ``k`` or ``chunk``.
    """
    check_positive_int("k", k)
    gen, train = _check_pair(generated, training)
    return _search(gen, train, int(k), relative=True, chunk=chunk, progress=progress)


def nearest(generated, training, *, chunk: int | None = None, progress: bool = False):
    """The most similar training loop of every generated loop, for all pairs at once.

    Equal to ``for each b: argmin over a of similarity_score(a, b)`` with a strict ``<``
    (ties go to the lowest training index), silent training loops skipped.

    Parameters
    ----------
    generated, training, chunk, progress
        As for :func:`top_k`.

    Returns
    -------
    index : numpy.ndarray
        int64, shape (G,): index of the best training loop of each generated loop.
    score : numpy.ndarray
        float64, shape (G,): its :func:`similarity_score`.

    Raises
    ------
    AudioError
        Empty or non-finite input, shapes that differ per loop, or only silent training loops.
    """
    index, score = top_k(generated, training, 1, chunk=chunk, progress=progress)
    return index[:, 0], score[:, 0]


def logmel_features(audio, *, sample_rate: int, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 64):
    """Log-mel spectrograms of loops (mixed to mono), flattened, in dB.

    Parameters
    ----------
    audio : array_like
        Float, shape (N, samples, channels) or (N, samples), values in [-1, 1].
    sample_rate : int
        Hz of ``audio``.
    n_fft, hop_length, n_mels : int
        STFT size and hop in samples (70 ms and 17 ms at 14.7 kHz) and mel bands.

    Returns
    -------
    numpy.ndarray
        float32, shape (N, n_mels * frames): ``10 log10(mel power)`` floored at -60 dB.
    """
    audio = np.asarray(audio, dtype=np.float32)
    mono = audio.mean(axis=2) if audio.ndim == 3 else audio  # (N, samples)
    out = []
    for s in range(0, len(mono), 256):
        mel = librosa.feature.melspectrogram(
            y=mono[s : s + 256], sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
        )  # (n, n_mels, frames)
        db = librosa.power_to_db(mel, ref=1.0, amin=1e-6, top_db=None)
        out.append(db.reshape(len(db), -1).astype(np.float32))
    return np.concatenate(out, axis=0)


def logmel_nearest(generated, training, *, sample_rate: int, chunk: int | None = None, progress: bool = False):
    """Nearest training loop of every generated loop by log-mel distance.

    The distance is the RMS difference of the two log-mel spectrograms in dB (Euclidean
    distance divided by the square root of the feature size): 0 for a copy, a few dB for
    a near-copy or a slightly shifted one, 10+ dB for unrelated loops.

    Parameters
    ----------
    generated, training : array_like
        As for :func:`top_k`.
    sample_rate : int
        Hz of both sets.
    chunk, progress
        As for :func:`top_k`.

    Returns
    -------
    index : numpy.ndarray
        int64, shape (G,): nearest training loop (ties to the lowest index).
    distance : numpy.ndarray
        float64, shape (G,): RMS log-mel difference in dB.
    """
    _check_pair(generated, training)
    gen = logmel_features(generated, sample_rate=sample_rate)
    train = logmel_features(training, sample_rate=sample_rate)
    index, squared = _search(gen, train, 1, relative=False, chunk=chunk, progress=progress)
    return index[:, 0], np.sqrt(squared[:, 0] / gen.shape[1])


_U32 = 2.0**-24  # unit round-off of float32
_TINY32 = 2.0**-126  # smallest normal float32: bounds the error of an underflowed product
def _sum_squares(rows: np.ndarray) -> np.ndarray:
    """Row-wise ``sum(x**2)`` in float64, the one formula every score uses."""
    rows = rows.astype(np.float64, copy=False)
    return np.sum(rows * rows, axis=-1)


def _block_shape(chunk, n_gen: int, width: int, train_is_float32: bool) -> tuple[int, int]:
    """Rows of generated and of training loops per block of the matrix product.

    An explicit ``chunk`` sets both. Otherwise a block of generated loops holds at most
    64 MB of float32 and 1024 loops; training blocks are widened so the block of scores
    stays near 2**20 entries (8 MB of float64): one big GEMM runs several times faster
    than many thin ones. A training block is a view when the input is float32, else a
    float32 copy, which is kept to 64 MB too.
    """
    if chunk is not None:
        check_positive_int("chunk (loops per block)", chunk)
        return int(chunk), int(chunk)
    by_bytes = max(8, _CHUNK_BYTES // (4 * width))
    gen_rows = int(min(by_bytes, 1024, n_gen))
    train_rows = max(gen_rows, _BLOCK_ENTRIES // gen_rows)
    if not train_is_float32:
        train_rows = min(train_rows, by_bytes)
    return gen_rows, int(train_rows)


def _energy32(rows: np.ndarray) -> np.ndarray:
    """Row-wise ``sum(x**2)`` of the float32 rounding: float32 over each stretch of
    :data:`_K_BLOCK` samples, float64 across them (fast; error bounded by gamma_4096)."""
    rows32 = rows.astype(np.float32, copy=False)
    out = np.zeros(len(rows32))
    for k0 in range(0, rows32.shape[1], _K_BLOCK):
        part = rows32[:, k0 : k0 + _K_BLOCK]
        out += np.einsum("ij,ij->i", part, part)
    return out


def _dots(g32: np.ndarray, t32: np.ndarray) -> np.ndarray:
    """``g32 @ t32.T`` as float32 GEMMs over stretches of :data:`_K_BLOCK` samples, summed in float64."""
    out = np.zeros((len(g32), len(t32)))
    for k0 in range(0, g32.shape[1], _K_BLOCK):
        out += g32[:, k0 : k0 + _K_BLOCK] @ t32[:, k0 : k0 + _K_BLOCK].T
    return out


def _energies(audio: np.ndarray, rows: int) -> np.ndarray:
    return np.concatenate([_energy32(audio[i : i + rows]) for i in range(0, len(audio), rows)])


def _energy_high(energy, gamma, tau):
    """Upper bound of an exact energy from its float32 sum: ``(A + tau) / (1 - gamma)``."""
    return (energy + tau) / (1 - gamma)


def _column_terms(train, energy, gamma, tau, slack, relative: bool):
    """Per training loop constants of the approximate score and its error bound.

    With A, B the float32 energies of a training and a generated loop and d the float32
    dot product, the exact ones satisfy ``|A - na| <= gamma na + tau`` (tau: products
    lost to underflow) and ``|d - a.b| <= gamma sqrt(na nb) + tau``. So ``na`` lies in
    ``[Al, Ah] = [(A - tau) / (1 + gamma), (A + tau) / (1 - gamma)]``, and:

    - relative: ``s = 1 + (nb - 2 a.b) / na``, approximated by ``1 + (B - 2d) / A``; the
      error is at most ``(gamma Bh + 3 tau + 2 gamma sqrt(Ah Bh)) / A +
      (Bh + 2 sqrt(Ah Bh)) (gamma Ah + tau) / (A Al)`` (numerator, then denominator);
    - Euclidean: ``s = na + nb - 2 a.b``, approximated by ``A + B - 2d``; the error is at
      most ``gamma (Ah + Bh) + 2 gamma sqrt(Ah Bh) + 4 tau``;

    plus ``slack (Ah + Bh) / Al`` (or ``slack (Ah + Bh)``) for float64 rounding. Written as
    ``approx = d * scale + B * per_b + const`` and ``error = Bh * p + sqrt(Bh) * q + r``.
    Loops whose energy may be 0 (``A <= tau``) get an infinite error (always rescored
    exactly), or, when exactly silent in relative mode, an infinite score (never chosen).
    """
    high = _energy_high(energy, gamma, tau)
    low = np.maximum((energy - tau) / (1 + gamma), 0.0)
    root = np.sqrt(high)
    unsafe = low <= 0
    silent = np.zeros(len(energy), dtype=bool)
    for j in np.flatnonzero(unsafe):  # rare: near-silent loops, decided in float64
        silent[j] = relative and _sum_squares(train[j : j + 1])[0] == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if relative:
            c = (gamma * high + tau) / (energy * low)
            terms = {
                "scale": -2.0 / energy, "per_b": 1.0 / energy, "const": np.ones(len(energy)),
                "p": gamma / energy + c + slack / low, "q": 2.0 * root * (gamma / energy + c),
                "r": 3.0 * tau / energy + slack * high / low,
            }
        else:
            terms = {
                "scale": np.full(len(energy), -2.0), "per_b": np.ones(len(energy)), "const": energy.copy(),
                "p": np.full(len(energy), gamma + slack), "q": 2.0 * gamma * root,
                "r": (gamma + slack) * high + 4.0 * tau,
            }
    for name in ("scale", "per_b", "p", "q", "r"):
        terms[name][unsafe] = 0.0
    terms["const"][unsafe] = 0.0
    terms["r"][unsafe & ~silent] = np.inf  # lower bound -inf: always a candidate
    terms["const"][silent] = np.inf  # lower bound +inf: never a candidate
    terms["usable"] = ~silent
    return terms


def _search(gen: np.ndarray, train: np.ndarray, k: int, *, relative: bool, chunk, progress: bool):
    """Exact k smallest of ``sum((t - g)**2) / w(t)`` per generated row ``g``.

    ``w(t) = sum(t**2)`` (``relative``, skipping silent ``t``) or 1 (squared Euclidean).
    Returns (indices int64 (G, k), values float64 (G, k)) sorted by value, then index.
    """
    n_gen, width = gen.shape
    gen_rows, train_rows = _block_shape(chunk, n_gen, width, train.dtype == np.float32)
    n_terms = min(width, _K_BLOCK) + 4  # rigorous float32 bounds, input rounding to float32 included
    gamma = n_terms * _U32 / (1 - n_terms * _U32)
    tau = 2.0 * width * _TINY32
    slack = max(1e-9, 4 * width * 2.0**-53)  # float64 rounding of the approximate and exact scores
    gen_energy = _energies(gen, gen_rows)
    train_energy = _energies(train, train_rows)
    for name, energy in (("generated", gen_energy), ("training", train_energy)):
        if not np.all(np.isfinite(energy)):  # cheaper than isfinite on every sample
            raise AudioError(f"{name} loops hold NaN or infinite samples (or values far outside [-1, 1])")
    col = _column_terms(train, train_energy, gamma, tau, slack, relative)
    usable = col["usable"]
    if not usable.any():
        raise AudioError(f"all {len(train)} training loops are silent: no similarity score is defined")
    k = min(k, int(usable.sum()))
    out_index = np.empty((n_gen, k), dtype=np.int64)
    out_value = np.empty((n_gen, k), dtype=np.float64)
    blocks = -(-n_gen // gen_rows) * -(-len(train) // train_rows)
    bar = tqdm(total=blocks, desc="nearest", unit="block", disable=not progress)
    for g0 in range(0, n_gen, gen_rows):
        g32 = gen[g0 : g0 + gen_rows].astype(np.float32, copy=False)  # (gc, D)
        b_energy = gen_energy[g0 : g0 + gen_rows]  # (gc,), float32 accuracy
        b_high = _energy_high(b_energy, gamma, tau)  # upper bound of the exact energy
        b_root = np.sqrt(b_high)
        kth_upper = np.full((len(g32), k), np.inf)  # k smallest upper bounds so far
        cand_rows, cand_cols, cand_lower = [], [], []
        for t0 in range(0, len(train), train_rows):
            cols = slice(t0, t0 + train_rows)
            t32 = train[cols].astype(np.float32, copy=False)  # (tc, D)
            approx = _dots(g32, t32)  # (gc, tc): dot products, approximate
            approx *= col["scale"][cols]
            approx += np.multiply.outer(b_energy, col["per_b"][cols])
            approx += col["const"][cols]
            error = np.multiply.outer(b_high, col["p"][cols])
            error += np.multiply.outer(b_root, col["q"][cols])
            error += col["r"][cols]
            upper = approx + error
            if k == 1:
                np.minimum(kth_upper[:, 0], upper.min(axis=1), out=kth_upper[:, 0])
            else:
                block_k = np.partition(upper, min(k, upper.shape[1]) - 1, axis=1)[:, :k]
                kth_upper = np.partition(np.concatenate([kth_upper, block_k], axis=1), k - 1, axis=1)[:, :k]
            bound = kth_upper.max(axis=1)  # (gc,): the k-th smallest upper bound
            lower = np.subtract(approx, error, out=approx)
            r, c = np.nonzero(lower <= bound[:, None])
            cand_rows.append(r)
            cand_cols.append(c + t0)
            cand_lower.append(lower[r, c])
            if len(cand_rows) > 1:  # prune with the tighter bound so the lists stay short
                r, c, low = (np.concatenate(x) for x in (cand_rows, cand_cols, cand_lower))
                keep = low <= bound[r]
                cand_rows, cand_cols, cand_lower = [r[keep]], [c[keep]], [low[keep]]
            bar.update()
        r, c = cand_rows[0], cand_cols[0]
        keep = (cand_lower[0] <= bound[r]) & usable[c]
        r, c = r[keep], c[keep]
        values = _exact(gen, train, r + g0, c, relative)
        order = np.lexsort((c, values, r))  # by row, then value, then training index
        r, c, values = r[order], c[order], values[order]
        starts = np.searchsorted(r, np.arange(len(g32)))
        pick = starts[:, None] + np.arange(k)[None, :]  # (gc, k): first k of each row
        out_index[g0 : g0 + gen_rows] = c[pick]
        out_value[g0 : g0 + gen_rows] = values[pick]
    bar.close()
    return out_index, out_value


def _exact(gen, train, gen_rows, train_rows, relative: bool) -> np.ndarray:
    """``sum((train[j] - gen[i])**2)`` (``/ sum(train[j]**2)`` if relative) in float64, per pair."""
    out = np.empty(len(gen_rows), dtype=np.float64)
    batch = max(1, _EXACT_ELEMENTS // gen.shape[1])
    for s in range(0, len(gen_rows), batch):
        a = train[train_rows[s : s + batch]].astype(np.float64)  # (p, D)
        b = gen[gen_rows[s : s + batch]].astype(np.float64)
        out[s : s + batch] = _sum_squares(a - b)
        if relative:
            out[s : s + batch] /= _sum_squares(a)
    return out


__all__ = ["NoveltyReport", "novelty_report", "save_report", "QUANTILES"]



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
        As for :func:`nearest`.

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
