"""How close generated loops are to the training loops (novelty).

The score of a training loop ``a`` and a generated loop ``b`` of the same shape is
BeatGAN's ``sum((a - b)**2) / sum(a**2)`` over all samples and channels
(:func:`similarity_score`): 0 for a copy, about 1 for silence or an unrelated quiet
loop, about 2 for an unrelated loop of the same loudness; not symmetric. A generated
loop whose best score over the training set is <= 0.1 counts as memorised.

:func:`nearest` finds, for every generated loop, its best training loop, equal to a
pair-by-pair loop over :func:`similarity_score` (ties to the lowest training index), but
with matrix products in bounded memory (:mod:`beatgan._nearest`). The expanded form
``(|a|^2 + |b|^2 - 2 a.b) / |a|^2`` in float32 cancels badly exactly where it matters
(near-copies score about 1e-5), so it only picks candidates: every pair whose approximate
score lies within the float32 error bound of the best gets scored again exactly with the
direct formula in float64. The bound is rigorous (``|fl(a.b) - a.b| <= gamma_n sum|a_k b_k|
<= gamma_n |a| |b|``, ``gamma_n = n u / (1 - n u)``, ``u = 2**-24``, over stretches of
n = 4096 samples), so no true best is ever dropped; few pairs need the exact pass.

Silent training loops (all zeros) have no defined score: they are skipped, and a training
set of only silent loops raises :class:`~beatgan.errors.AudioError`.
:func:`logmel_nearest` does the same search on log-mel spectrograms with a Euclidean
distance, as WaveGAN's evaluation does, which a small time shift barely changes.
"""

from __future__ import annotations

import numpy as np

from beatgan._nearest import _search, _sum_squares
from beatgan.errors import AudioError, ConfigError

__all__ = ["similarity_score", "nearest", "top_k", "logmel_features", "logmel_nearest", "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD = 0.1  # BeatGAN: a best score <= 0.1 means "almost the same loop"


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
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k={k!r} must be a positive integer")
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
    import librosa

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
