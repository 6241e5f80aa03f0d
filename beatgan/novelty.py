"""Novelty: how close generated loops are to the training loops, and the report.

The score of a training loop ``a`` and a generated loop ``b`` of the same shape is
BeatGAN's ``sum((a - b)**2) / sum(a**2)`` over all samples and channels
(:func:`similarity_score`): 0 for a copy, about 1 for silence or an unrelated quiet
loop, about 2 for an unrelated loop of the same loudness; not symmetric. A generated
loop whose best score over the training set is <= 0.1 counts as memorised.

**The search.** :func:`nearest` and :func:`top_k` find, for every generated loop, its
best training loops, equal to a pair-by-pair loop over :func:`similarity_score` (ties to
the lowest training index), but with matrix products in bounded memory and rigorous error
bounds: :mod:`beatgan.search`.

Silent training loops (all zeros) have no defined score: they are skipped, and a training
set of only silent loops raises :class:`~beatgan.errors.AudioError`.
:func:`logmel_nearest` does the same search on log-mel spectrograms with a Euclidean
distance, as WaveGAN's evaluation does, which a small time shift barely changes.

**The report.** :func:`novelty_report` runs both searches and keeps, for every generated
loop, its best training loop under both. The :class:`NoveltyReport` gives the fraction of
generated loops whose best score is <= the threshold (0.1: "almost the same loop"), the
quantiles of the best scores, and the closest pairs, as text
(:meth:`NoveltyReport.text`) or JSON (:meth:`NoveltyReport.to_dict`);
:meth:`NoveltyReport.save` writes them with the figures of :mod:`beatgan.plots`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from beatgan import search
from beatgan.atomic import write_json_atomic, write_text_atomic
from beatgan.config import check_positive_int
from beatgan.errors import AudioError, ConfigError
from beatgan.extras import require

librosa = require("librosa", "the similarity measure")

DEFAULT_THRESHOLD = 0.1  # BeatGAN: a best score <= 0.1 means "almost the same loop"
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


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
    energy = search.sum_squares(a)[0]
    if energy == 0:
        raise AudioError("the training loop is silent (all zeros): its similarity score is undefined")
    return float(search.sum_squares(a - b)[0] / energy)


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
    return search.search(gen, train, int(k), relative=True, chunk=chunk, progress=progress)


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
    index, squared = search.search(gen, train, 1, relative=False, chunk=chunk, progress=progress)
    return index[:, 0], np.sqrt(squared[:, 0] / gen.shape[1])


__all__ = ["NoveltyReport", "novelty_report", "QUANTILES"]


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

    def text(self, *, closest: int = 5) -> str:
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


    def save(self, folder, *, generated=None, training=None, pairs: int = 4) -> dict:
        """Write ``report.json`` (:meth:`to_dict`), ``report.txt`` (:meth:`text`) and the figures (PNG).

        Parameters
        ----------
        folder : path-like
            Created if missing; the files are written atomically.
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
        from beatgan.plots import closest_pairs_figure, score_histogram  # here: matplotlib only when saving

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"json": folder / "report.json", "text": folder / "report.txt"}
        write_json_atomic(paths["json"], self.to_dict())
        write_text_atomic(paths["text"], self.text() + "\n")
        paths["histogram"] = folder / "best_scores.png"
        score_histogram(self).savefig(paths["histogram"], dpi=100)
        paths["pairs"] = None
        if generated is not None and training is not None:
            paths["pairs"] = folder / "closest_pairs.png"
            closest_pairs_figure(self, generated, training, n=pairs).savefig(paths["pairs"], dpi=100)
        return paths


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

