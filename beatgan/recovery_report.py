"""Does the generator reconstruct its training loops better than unseen ones? (novelty)

A generator that memorised its training set has latents that reproduce those loops, so
:func:`beatgan.explore.recover` gets closer to a training loop than to a held-out loop of the
same kind. :func:`recovery_report` recovers a seeded sample of each set and compares the two
distributions of log-mel distances with a one-sided Mann-Whitney U test;
:func:`beatgan.plots.recovery_figure` draws them. This complements :mod:`beatgan.novelty`, which asks
whether *generated* loops copy training loops: recovery asks whether training loops can be
*made* at all, including by latents that sampling rarely visits.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from scipy.stats import mannwhitneyu

from beatgan.checkpoint import load_generator
from beatgan.config import ModelConfig
from beatgan.data import load_loops
from beatgan.errors import AudioError, ConfigError
from beatgan.explore import DEFAULT_LEARNING_RATE, DEFAULT_RESTARTS, DEFAULT_STEPS, recover_many

__all__ = ["VERDICTS", "RecoveryReport", "recovery_report"]


def _positive_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


VERDICTS = ("memorised", "no evidence of memorisation")


@dataclasses.dataclass(frozen=True, eq=False)
class RecoveryReport:
    """Training loops against held-out loops: does the generator reconstruct its training set better?

    A generator that memorised its training loops has latents that reproduce them, so
    :func:`recover` gets closer to a training loop than to an unseen loop of the same kind.
    The test is one-sided Mann-Whitney U on the two samples of log-mel distances (training
    closer); the effect size is the rank-biserial correlation ``1 - 2 U / (n_t n_h)``, the
    probability that a training loop is reconstructed better than a held-out one minus the
    reverse (0: no difference, 1: every training loop closer).

    Attributes
    ----------
    training_db, heldout_db : numpy.ndarray
        float64, shapes (n_t,) and (n_h,): best log-mel distance in dB of each recovered loop.
    training_score, heldout_score : numpy.ndarray
        float64: BeatGAN's similarity score of each reconstruction.
    training_index, heldout_index : numpy.ndarray
        int64: rows of the given sets that were recovered (a seeded sample, silent loops left out).
    u : float
        Mann-Whitney U of the training sample.
    p_value : float
        One-sided p-value (training distances smaller).
    effect : float
        Rank-biserial correlation in [-1, 1]; positive when training loops are closer.
    gap_db : float
        Median held-out distance minus median training distance, dB.
    alpha, min_effect : float
        The verdict's thresholds.
    verdict : str
        "memorised" when ``p_value < alpha`` and ``effect >= min_effect``, otherwise
        "no evidence of memorisation".
    steps, restarts, seed : int
        Settings of the recoveries.
    """

    training_db: np.ndarray
    heldout_db: np.ndarray
    training_score: np.ndarray
    heldout_score: np.ndarray
    training_index: np.ndarray
    heldout_index: np.ndarray
    u: float
    p_value: float
    effect: float
    gap_db: float
    alpha: float
    min_effect: float
    verdict: str
    steps: int
    restarts: int
    seed: int

    @staticmethod
    def _summary(values: np.ndarray) -> dict:
        q25, median, q75 = np.percentile(values, [25, 50, 75])
        return {"n": int(len(values)), "median": float(median), "q25": float(q25), "q75": float(q75),
                "min": float(values.min()), "max": float(values.max())}

    def to_dict(self) -> dict:
        """Summaries, the test and the verdict as JSON-serialisable values (distances in dB)."""
        return {
            "training_db": self._summary(self.training_db), "heldout_db": self._summary(self.heldout_db),
            "training_db_values": [float(d) for d in self.training_db],
            "heldout_db_values": [float(d) for d in self.heldout_db],
            "training_score_median": float(np.median(self.training_score)),
            "heldout_score_median": float(np.median(self.heldout_score)),
            "training_index": [int(i) for i in self.training_index],
            "heldout_index": [int(i) for i in self.heldout_index],
            "mann_whitney_u": self.u, "p_value": self.p_value, "effect_rank_biserial": self.effect,
            "gap_db": self.gap_db, "alpha": self.alpha, "min_effect": self.min_effect, "verdict": self.verdict,
            "steps": self.steps, "restarts": self.restarts, "seed": self.seed,
        }

    def text(self) -> str:
        """A few lines for a terminal or a notebook."""
        t, h = self._summary(self.training_db), self._summary(self.heldout_db)
        return "\n".join([
            f"latent recovery ({self.steps} steps x {self.restarts} restarts), log-mel distance in dB:",
            f"  training  n={t['n']:3d}  median {t['median']:6.2f}  quartiles {t['q25']:6.2f} - {t['q75']:6.2f}",
            f"  held-out  n={h['n']:3d}  median {h['median']:6.2f}  quartiles {h['q25']:6.2f} - {h['q75']:6.2f}",
            f"  gap (held-out - training median) {self.gap_db:+.2f} dB; Mann-Whitney U={self.u:g}, "
            f"one-sided p={self.p_value:.3g}, rank-biserial effect {self.effect:+.2f}",
            f"  verdict: {self.verdict} (p < {self.alpha:g} and effect >= {self.min_effect:g} means memorised)",
        ])


def _generator(weights):
    """A generator and its config (a bare keras.Model gets ModelConfig's default rate)."""
    if isinstance(weights, (str, os.PathLike)):
        return load_generator(weights)
    _, slice_len, channels = weights.output_shape
    return weights, ModelConfig(slice_len=int(slice_len), channels=int(channels),
                                latent_dim=int(weights.input_shape[-1]))


def _loop_set(loops, name: str, config: ModelConfig) -> np.ndarray:
    """A set of loops as float32 (N, slice_len, channels): an array, or a folder loaded as training data."""
    if isinstance(loops, (str, os.PathLike)):
        loaded = load_loops(loops, sample_rate=config.sample_rate, slice_len=config.slice_len,
                            channels=config.channels, progress=False)
        return loaded.audio
    audio = np.asarray(loops)
    expected = (config.slice_len, config.channels)
    if audio.ndim != 3 or audio.shape[1:] != expected or not np.issubdtype(audio.dtype, np.floating):
        raise AudioError(f"{name} loops must be float (N, {expected[0]}, {expected[1]}), got {audio.dtype} {audio.shape}")
    return audio.astype(np.float32, copy=False)


def _sample(audio: np.ndarray, n: int, rng, name: str) -> np.ndarray:
    usable = np.flatnonzero(np.any(audio.reshape(len(audio), -1) != 0, axis=1))
    if len(usable) < 2:
        raise AudioError(f"{name} set holds {len(usable)} non-silent loop(s); the comparison needs at least 2")
    return np.sort(rng.choice(usable, size=min(n, len(usable)), replace=False))


def recovery_report(weights, training, heldout, *, n: int = 20, steps: int = DEFAULT_STEPS,
                    restarts: int = DEFAULT_RESTARTS, seed: int = 0, alpha: float = 0.05,
                    min_effect: float = 0.3, learning_rate: float = DEFAULT_LEARNING_RATE,
                    progress: bool = False) -> RecoveryReport:
    """Recover a sample of training and of held-out loops and compare the distances.

    Parameters
    ----------
    weights : path-like or keras.Model
        A weights directory or a built generator.
    training, heldout : path-like or array_like
        Loops the generator was trained on and loops it never saw: float arrays
        (N, slice_len, channels) at the model's rate, or folders loaded as training data
        (:func:`beatgan.data.load_loops`).
    n : int, default 20
        Loops recovered from each set (all of a smaller set), >= 2; a seeded sample without
        replacement, silent loops left out. Each takes about ``steps * 0.07`` s on two CPU
        cores with the shipped model.
    steps, restarts, learning_rate
        As for :func:`recover`; several loops share one batch.
    seed : int, default 0
        Seeds the samples and the starts.
    alpha : float, default 0.05
        Significance level of the one-sided test.
    min_effect : float, default 0.3
        Smallest rank-biserial effect called memorisation (0.3 is a medium effect), so a
        tiny but significant difference in a large sample is not a verdict.
    progress : bool, default False
        Show a tqdm progress bar over batches.

    Returns
    -------
    RecoveryReport

    Raises
    ------
    AudioError
        A set of the wrong shape or with fewer than two non-silent loops.
    ConfigError
        Invalid ``n``, ``steps``, ``restarts``, ``seed``, ``alpha`` or ``min_effect``.
    DatasetError
        A folder with no usable loops.
    """
    n = _positive_count("n", n, 2)
    steps = _positive_count("steps", steps, 1)  # checked before any loading; recover_many checks the rest
    restarts = _positive_count("restarts", restarts, 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be an integer >= 0")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r} must be a number in (0, 1)")
    if isinstance(min_effect, bool) or not isinstance(min_effect, (int, float)) or not -1 <= min_effect <= 1:
        raise ConfigError(f"min_effect={min_effect!r} must be a rank-biserial correlation in [-1, 1]")
    generator, config = _generator(weights)
    rng = np.random.default_rng(seed)
    sets = {}
    for name, loops in (("training", training), ("held-out", heldout)):
        audio = _loop_set(loops, name, config)
        index = _sample(audio, n, rng, name)
        sets[name] = (index, audio[index])
    targets = np.concatenate([sets["training"][1], sets["held-out"][1]])
    results = recover_many(generator, targets, steps=steps, restarts=restarts, seed=seed,
                           learning_rate=learning_rate, progress=progress)
    n_train = len(sets["training"][0])
    distances = np.array([r.distance_db for r in results])
    scores = np.array([r.score for r in results])
    train_db, held_db = distances[:n_train], distances[n_train:]
    test = mannwhitneyu(train_db, held_db, alternative="less")
    u, p_value = float(test.statistic), float(test.pvalue)
    effect = 1.0 - 2.0 * u / (len(train_db) * len(held_db))
    verdict = VERDICTS[0] if p_value < alpha and effect >= min_effect else VERDICTS[1]
    return RecoveryReport(
        training_db=train_db, heldout_db=held_db, training_score=scores[:n_train], heldout_score=scores[n_train:],
        training_index=sets["training"][0].astype(np.int64), heldout_index=sets["held-out"][0].astype(np.int64),
        u=u, p_value=p_value, effect=float(effect), gap_db=float(np.median(held_db) - np.median(train_db)),
        alpha=float(alpha), min_effect=float(min_effect), verdict=verdict, steps=steps, restarts=restarts, seed=seed,
    )
