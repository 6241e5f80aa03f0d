"""Latent recovery: the latent whose clip is closest to a given loop, and what it says about memorisation.

* :func:`recover`: the latent whose clip is closest to a given loop, by projected Adam on
  ``z`` through the generator (log-mel plus waveform loss, several restarts in one batch).
* :func:`recover_many`: the same for a batch of loops.
* :func:`recovery_report`: does the generator reconstruct its training loops better than unseen
  ones? A generator that memorised its training set has latents that reproduce those loops, so
  recovery gets closer to a training loop than to a held-out loop of the same kind. The report
  recovers a seeded sample of each set and compares the two distributions of log-mel distances
  with a one-sided Mann-Whitney U test; :func:`beatgan.plots.recovery_figure` draws them. This
  complements :mod:`beatgan.novelty`, which asks whether *generated* loops copy training loops:
  recovery asks whether training loops can be *made* at all, including by latents that sampling
  rarely visits.

Loops are read and shaped as training data is (:func:`beatgan.data.load_loop`). Runs on the
TensorFlow and JAX backends.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu
from tqdm.auto import tqdm

from beatgan.atomic import write_json_atomic, write_text_atomic
from beatgan.backend import keras, ops  # Keras imported quietly, after the backend is chosen
from beatgan.checkpoint import load_generator
from beatgan.config import ModelConfig, check_count, check_range, check_seed
from beatgan.data import load_loop, load_loops
from beatgan.errors import AudioError, ConfigError
from beatgan.explore import LoadedGenerator, as_generator, render
from beatgan.extras import require
from beatgan.novelty import logmel_features, similarity_score

librosa = require("librosa", "latent recovery")

__all__ = ["DEFAULT_LEARNING_RATE", "DEFAULT_RESTARTS", "DEFAULT_STEPS", "VERDICTS", "Recovery", "RecoveryReport",
           "distance_db", "recover", "recover_many", "recovery_report"]

# log-mel settings of the loss and of the reported distance: logmel_features' defaults
N_FFT, HOP, N_MELS = 1024, 256, 64
DEFAULT_STEPS = 200  # Adam steps of recover; see benchmarks/recover.py
DEFAULT_RESTARTS = 4  # random starts of recover, optimised as one batch
DEFAULT_LEARNING_RATE = 0.05  # Adam step on z, whose range is [-1, 1]
WAVEFORM_WEIGHT = 1.0  # weight of the relative waveform error next to the log-mel error
CHUNK_ROWS = 16  # latents per optimisation batch of recover_many (loops x restarts)
RECOVERY_FILES = ("recovery.txt", "recovery.json")  # what RecoveryReport.save writes, beside recovery.png


# --- one loop ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Recovery:
    """The latent whose clip is closest to a loop.

    Attributes
    ----------
    latent : numpy.ndarray
        float32, shape (latent_dim,), in [-1, 1]: the best restart's latent.
    audio : numpy.ndarray
        float32, shape (slice_len, channels): the reconstruction, ``generator(latent[None])[0]``.
    target : numpy.ndarray
        float32, shape (slice_len, channels): the loop as recovered (resampled and sliced).
    distance_db : float
        RMS difference of the log-mel spectrograms of ``target`` and ``audio`` in dB, as
        :func:`beatgan.novelty.logmel_nearest` measures (0 for a copy; unrelated loops of
        the shipped model are 7-10 dB apart).
    score : float
        BeatGAN's similarity score ``similarity_score(target, audio)`` (<= 0.1: almost the
        same loop; ~1 for an unrelated quiet one).
    restart_distances_db : numpy.ndarray
        float64, shape (restarts,): ``distance_db`` reached by each restart.
    restart_latents : numpy.ndarray
        float32, shape (restarts, latent_dim): each restart's best latent.
    notes : tuple of str
        What was done to the loop before recovery (resampled, cut, ...).
    steps, restarts : int
        Adam steps and random starts used.
    sample_rate : int
        Hz of ``audio`` and ``target``.
    """

    latent: np.ndarray
    audio: np.ndarray
    target: np.ndarray
    distance_db: float
    score: float
    restart_distances_db: np.ndarray
    restart_latents: np.ndarray
    notes: tuple
    steps: int
    restarts: int
    sample_rate: int

    def to_dict(self) -> dict:
        """The numbers (not the audio) as JSON-serialisable values."""
        return {
            "distance_db": self.distance_db, "score": self.score,
            "restart_distances_db": [float(d) for d in self.restart_distances_db],
            "latent": [float(v) for v in self.latent], "notes": list(self.notes),
            "steps": self.steps, "restarts": self.restarts, "sample_rate": self.sample_rate,
        }


def _mel_matrix(sample_rate: int) -> np.ndarray:
    return librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=N_MELS).T.astype(np.float32)  # (bins, n_mels)


def _logmel_ops(audio, mel_matrix):
    """Differentiable log-mel in dB of float (B, L, C) -> (B, frames, n_mels), as logmel_features."""
    mono = ops.mean(audio, axis=-1)  # (B, L)
    padded = ops.pad(mono, [[0, 0], [N_FFT // 2, N_FFT // 2]])  # librosa's center=True, zero padding
    real, imag = ops.stft(padded, N_FFT, HOP, N_FFT, window="hann", center=False)  # (B, frames, bins)
    mel = ops.matmul(real * real + imag * imag, mel_matrix)  # (B, frames, n_mels), power
    return 10.0 * ops.log10(mel + 1e-6)  # smooth where logmel_features floors at -60 dB


def _losses(output, target_db, target_wave, inverse_energy, mel_matrix):
    """Per-example loss (B,): log-mel MSE in (10 dB)^2 plus the relative waveform error."""
    spectral = ops.mean(ops.square((_logmel_ops(output, mel_matrix) - target_db) * 0.1), axis=(1, 2))
    waveform = ops.sum(ops.square(output - target_wave), axis=(1, 2)) * inverse_energy
    return spectral + WAVEFORM_WEIGHT * waveform


def _adam(z, grad, m, v, t, learning_rate):
    """One projected Adam step on z (beta 0.9 / 0.999), clipped back into [-1, 1]."""
    m = 0.9 * m + 0.1 * grad
    v = 0.999 * v + 0.001 * ops.square(grad)
    m_hat = m / (1.0 - ops.power(0.9, t))
    v_hat = v / (1.0 - ops.power(0.999, t))
    z = ops.clip(z - learning_rate * m_hat / (ops.sqrt(v_hat) + 1e-8), -1.0, 1.0)
    return z, m, v


def _step_function(generator, mel_matrix):
    """A compiled ``step(z, m, v, t, lr, target_db, target_wave, inverse_energy) -> (z, m, v, loss)``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf  # here: only the TensorFlow backend needs it

        @tf.function(jit_compile=True, reduce_retracing=True)
        def step(z, m, v, t, lr, target_db, target_wave, inverse_energy):
            with tf.GradientTape() as tape:
                tape.watch(z)
                per = _losses(generator(z, training=False), target_db, target_wave, inverse_energy, mel_matrix)
                total = tf.reduce_sum(per)  # restarts do not interact: each row's gradient is its own
            z, m, v = _adam(z, tape.gradient(total, z), m, v, t, lr)
            return z, m, v, per

        return step
    if backend == "jax":
        import jax  # here: only the JAX backend needs it

        trainable = [w.value for w in generator.trainable_variables]
        frozen = [w.value for w in generator.non_trainable_variables]

        def total_loss(z, trainable, frozen, target_db, target_wave, inverse_energy):
            output, _ = generator.stateless_call(trainable, frozen, z, training=False)
            per = _losses(output, target_db, target_wave, inverse_energy, mel_matrix)
            return jax.numpy.sum(per), per

        value_and_grad = jax.value_and_grad(total_loss, has_aux=True)

        @jax.jit
        def jitted(z, m, v, t, lr, trainable, frozen, target_db, target_wave, inverse_energy):
            (_, per), grad = value_and_grad(z, trainable, frozen, target_db, target_wave, inverse_energy)
            z, m, v = _adam(z, grad, m, v, t, lr)
            return z, m, v, per

        def step(z, m, v, t, lr, target_db, target_wave, inverse_energy):
            return jitted(z, m, v, t, lr, trainable, frozen, target_db, target_wave, inverse_energy)

        return step
    raise ConfigError(f"recover needs the tensorflow or jax Keras backend, this process runs {backend!r}")


def _optimise(model: LoadedGenerator, step, targets: np.ndarray, *, steps: int, restarts: int, rng, learning_rate: float):
    """Best latent of every restart for every target: (K, restarts, latent_dim)."""
    k = len(targets)
    rows = k * restarts
    mel_matrix = _mel_matrix(model.sample_rate)
    target_wave = np.repeat(targets, restarts, axis=0)  # (K * R, L, C): restarts of a target adjacent
    target_db = ops.convert_to_numpy(_logmel_ops(ops.convert_to_tensor(target_wave), mel_matrix))
    energy = np.sum(np.square(target_wave, dtype=np.float64), axis=(1, 2))
    inverse_energy = (1.0 / energy).astype(np.float32)
    z = rng.uniform(-1.0, 1.0, (rows, model.latent_dim)).astype(np.float32)
    best_z, best_loss = z.copy(), np.full(rows, np.inf)
    m = np.zeros_like(z)
    v = np.zeros_like(z)
    tensors = [ops.convert_to_tensor(a) for a in (target_db, target_wave, inverse_energy)]
    z, m, v = (ops.convert_to_tensor(a) for a in (z, m, v))
    for i in range(steps):
        # cosine decay to a tenth: big moves first, fine alignment last
        lr = learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * i / steps)))
        previous = z
        z, m, v, per = step(z, m, v, ops.convert_to_tensor(np.float32(i + 1)),
                            ops.convert_to_tensor(np.float32(lr)), *tensors)
        per = ops.convert_to_numpy(per)
        better = per < best_loss
        if better.any():
            best_loss = np.where(better, per, best_loss)
            best_z[better] = ops.convert_to_numpy(previous)[better]
    return best_z.reshape(k, restarts, model.latent_dim)


def distance_db(target: np.ndarray, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS log-mel difference in dB between one loop and clips, as :func:`beatgan.novelty.logmel_nearest`.

    Parameters
    ----------
    target : numpy.ndarray
        float, shape (L, C): the loop.
    audio : numpy.ndarray
        float, shape (N, L, C): the clips.
    sample_rate : int
        Hz of both.

    Returns
    -------
    numpy.ndarray
        float64, shape (N,): dB, 0 for a copy.
    """
    features = logmel_features(np.concatenate([target[None], audio]), sample_rate=sample_rate).astype(np.float64)
    return np.sqrt(np.mean(np.square(features[1:] - features[0]), axis=1))


def _check_search(steps, restarts, seed, learning_rate):
    steps = check_count("steps", steps)
    restarts = check_count("restarts", restarts)
    seed = check_seed(seed)
    return steps, restarts, seed, check_range("learning_rate", learning_rate, 0.0, 1.0, low_open=True)


def _finish(model: LoadedGenerator, target, latents, notes, steps, restarts) -> Recovery:
    clips = render(model, latents)  # (R, L, C), each exactly G(latent)
    distances = distance_db(target, clips, model.sample_rate)
    best = int(np.argmin(distances))
    return Recovery(
        latent=latents[best].copy(), audio=clips[best], target=target, distance_db=float(distances[best]),
        score=similarity_score(target, clips[best]), restart_distances_db=distances, restart_latents=latents,
        notes=tuple(notes), steps=steps, restarts=restarts, sample_rate=model.sample_rate,
    )


def recover(weights, audio, *, steps: int = DEFAULT_STEPS, restarts: int = DEFAULT_RESTARTS, seed: int = 0,
            learning_rate: float = DEFAULT_LEARNING_RATE, input_rate: int | None = None) -> Recovery:
    """Find the latent whose clip is closest to a given loop.

    Projected gradient descent (Adam, learning rate decayed by a cosine to a tenth) on ``z``
    through the generator, ``z`` clipped back into the prior's support [-1, 1] after every
    step. The loss is the mean squared difference of log-mel spectrograms (in units of 10 dB,
    the same 1024-point STFT, 256 hop and 64 mels as :func:`beatgan.novelty.logmel_features`)
    plus the waveform error relative to the loop's energy (BeatGAN's similarity score): the
    spectrogram finds the right sounds, the waveform aligns their phase. ``restarts`` random
    starts run as one batch; each keeps the latent of its lowest loss, and the restart whose
    clip is nearest in log-mel distance wins. Under TensorFlow the step is an XLA-compiled
    ``tf.function`` with a ``GradientTape``; under JAX a ``jax.jit`` of ``value_and_grad``
    through ``generator.stateless_call``.

    Parameters
    ----------
    weights : path-like or keras.Model
        A weights directory or a built generator.
    audio : path-like or array_like
        The loop: an audio file, or float audio (frames,) or (frames, channels) at
        ``input_rate``. It is resampled, mixed and sliced as training data is
        (:func:`load_loop`); ``notes`` says what was done.
    steps : int, default 200
        Adam steps, >= 1. 40-90 ms each for 4 restarts of the shipped model on two busy CPU
        cores, 6-13 s per recovery, reaching 0.5-0.9 dB on loops the model made (400 steps:
        0.4-0.6 dB in 21-35 s); see ``benchmarks/recover.py``.
    restarts : int, default 4
        Random starts ``z ~ U(-1, 1)``, >= 1; they share one batch.
    seed : int, default 0
        Seeds the starts; the same seed, loop and weights give the same result on one backend.
    learning_rate : float, default 0.05
        Initial Adam step in latent units, in (0, 1].
    input_rate : int or None
        Hz of an array ``audio``; None means the model's rate.

    Returns
    -------
    Recovery
        The latent (latent_dim,), the reconstruction (slice_len, channels), the log-mel
        distance in dB and the similarity score, and per-restart distances.

    Raises
    ------
    AudioError
        An unreadable, malformed or silent loop.
    ConfigError
        A non-positive ``steps`` or ``restarts``, a bad seed or learning rate, or a backend
        other than TensorFlow or JAX.
    CheckpointError
        An unreadable weights directory.
    """
    steps, restarts, seed, learning_rate = _check_search(steps, restarts, seed, learning_rate)
    model = as_generator(weights)
    target, notes = load_loop(audio, sample_rate=model.sample_rate, slice_len=model.slice_len,
                              channels=model.channels, input_rate=input_rate)
    for note in notes:
        warnings.warn(f"recover: {note}", stacklevel=2)
    step = _step_function(model.generator, _mel_matrix(model.sample_rate))
    latents = _optimise(model, step, target[None], steps=steps, restarts=restarts,
                        rng=np.random.default_rng(seed), learning_rate=learning_rate)[0]
    return _finish(model, target, latents, notes, steps, restarts)


def recover_many(weights, loops, *, steps: int = DEFAULT_STEPS, restarts: int = DEFAULT_RESTARTS, seed: int = 0,
                 learning_rate: float = DEFAULT_LEARNING_RATE, progress: bool = False) -> list:
    """Recover several loops, a few loops per optimisation batch.

    Parameters
    ----------
    weights : path-like or keras.Model
        A weights directory or a built generator.
    loops : array_like
        float, shape (N, slice_len, channels) at the model's rate, none silent.
    steps, restarts, seed, learning_rate
        As for :func:`recover`; ``loops x restarts`` rows are optimised together, at most
        16 per batch.
    progress : bool, default False
        Show a tqdm progress bar over batches.

    Returns
    -------
    list of Recovery
        One per loop, in order (``notes`` empty).

    Raises
    ------
    AudioError
        Loops of the wrong shape, or a silent loop.
    ConfigError
        As :func:`recover`.
    """
    steps, restarts, seed, learning_rate = _check_search(steps, restarts, seed, learning_rate)
    model = as_generator(weights)
    targets = np.asarray(loops)
    expected = (model.slice_len, model.channels)
    if targets.ndim != 3 or targets.shape[1:] != expected or not np.issubdtype(targets.dtype, np.floating):
        raise AudioError(f"loops must be float (N, {expected[0]}, {expected[1]}), got {targets.dtype} {targets.shape}")
    targets = targets.astype(np.float32, copy=False)
    silent = np.flatnonzero(~np.any(targets.reshape(len(targets), -1) != 0, axis=1))
    if len(silent):
        raise AudioError(f"loops {silent[:8].tolist()} are silent; nothing to recover")
    step = _step_function(model.generator, _mel_matrix(model.sample_rate))
    rng = np.random.default_rng(seed)
    per_batch = max(1, CHUNK_ROWS // restarts)
    results = []
    for start in tqdm(range(0, len(targets), per_batch), desc="recovering", unit="batch", disable=not progress):
        chunk = targets[start : start + per_batch]
        latents = _optimise(model, step, chunk, steps=steps, restarts=restarts, rng=rng, learning_rate=learning_rate)
        results += [_finish(model, target, z, [], steps, restarts) for target, z in zip(chunk, latents)]
    return results


# --- training against held-out loops ------------------------------------------------------------


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


    def save(self, folder) -> dict[str, Path]:
        """Write ``recovery.txt`` (:meth:`text`), ``recovery.json`` (:meth:`to_dict`) and ``recovery.png``.

        Parameters
        ----------
        folder : path-like
            Created if missing; the files are written atomically.

        Returns
        -------
        dict of str to pathlib.Path
            ``text``, ``json`` and ``figure``: the files written.
        """
        from beatgan.plots import recovery_figure  # here: matplotlib only when a figure is saved

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"text": folder / RECOVERY_FILES[0], "json": folder / RECOVERY_FILES[1],
                 "figure": folder / "recovery.png"}
        write_text_atomic(paths["text"], self.text() + "\n")
        write_json_atomic(paths["json"], self.to_dict())
        figure = recovery_figure(self)
        figure.savefig(paths["figure"], dpi=100)
        return paths

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
    n = check_count("n", n, 2)
    steps = check_count("steps", steps)  # checked before any loading; recover_many checks the rest
    restarts = check_count("restarts", restarts)
    seed = check_seed(seed)
    alpha = check_range("alpha", alpha, 0.0, 1.0, low_open=True, high_open=True)
    min_effect = check_range("min_effect (a rank-biserial correlation)", min_effect, -1.0, 1.0)
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
