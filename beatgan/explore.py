"""Explore a generator's latent space: variations, morphs and latent recovery.

Every function takes generator weights as a weights directory (``config.json`` and
``generator.npz``, as :func:`beatgan.checkpoint.export_generator` writes them) or a built
generator ``keras.Model`` (B, latent_dim) -> (B, slice_len, channels), and runs on the
TensorFlow and JAX backends.

* :func:`variations`: loops near a latent vector ``z``: ``z`` plus Gaussian noise of
  standard deviation ``spread``, folded back into the prior's support [-1, 1] by
  reflection (see :func:`reflect`).
* :func:`interpolate` and :func:`morph_loop`: a morph from ``z_a`` to ``z_b`` (spherical or
  linear), as clips or as one DAW loop, one bar per step.
* :func:`recover`: the latent whose clip is closest to a given loop, by projected Adam on
  ``z`` through the generator (log-mel plus waveform loss, several restarts in one batch).
* :func:`recover_many`: the same for a batch of loops (:mod:`beatgan.recovery_report`
  compares training and held-out loops with it).

Rendering: every latent is run through the generator as its own batch of one, so a clip
depends only on its latent. Batched matrix products round differently for each batch size
(about 1e-9 here), and ``interpolate`` promises its end points bit-for-bit equal to
``generator(z[None])``.

Latent specs (:func:`load_latent`): ``"17@0"`` is loop 17 (0-based) of seed 0, i.e.
``sample_latents(18, latent_dim, seed=0)[17]``, the latent of the file ``beatgan_0018.wav``
that ``beatgan generate --seed 0`` writes; ``"5"`` or ``5`` is loop 0 of seed 5; anything
else is the path of a ``.npy`` file holding one vector (latent_dim,) in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from beatgan.audio import loop_frames, read_head
from beatgan.backend import keras, ops  # Keras imported quietly, after the backend is chosen
from beatgan.checkpoint import load_generator
from beatgan.config import ModelConfig
from beatgan.data import SOXR_QUALITY, to_slice  # the training data's own slicing
from beatgan.errors import AudioError, ConfigError
from beatgan.extras import require
from beatgan.generate import LOOP_RATE, check_tempo, make_loop, sample_latents
from beatgan.novelty import logmel_features, similarity_score

librosa = require("librosa", "exploring the latent space")

__all__ = [
    "MODES", "Variations", "Recovery", "load_latent", "check_latent", "reflect",
    "render", "variations", "interpolation_latents", "interpolate", "morph_loop", "load_loop", "recover",
    "recover_many",
]

MODES = ("slerp", "linear")
# log-mel settings of the loss and of the reported distance: logmel_features' defaults
N_FFT, HOP, N_MELS = 1024, 256, 64
DB_FLOOR = -60.0  # logmel_features floors power at 1e-6 (-60 dB)
DEFAULT_STEPS = 200  # Adam steps of recover; see benchmarks/recover.py
DEFAULT_RESTARTS = 4  # random starts of recover, optimised as one batch
DEFAULT_LEARNING_RATE = 0.05  # Adam step on z, whose range is [-1, 1]
WAVEFORM_WEIGHT = 1.0  # weight of the relative waveform error next to the log-mel error
CHUNK_ROWS = 16  # latents per optimisation batch of recover_many (loops x restarts)


# --- inputs ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Model:
    """A generator and the shape of what it makes."""

    generator: object  # keras.Model (B, latent_dim) -> (B, slice_len, channels)
    latent_dim: int
    slice_len: int
    channels: int
    sample_rate: int  # Hz; a bare keras.Model is taken to make ModelConfig's default rate


def _model(weights) -> _Model:
    """Load a weights directory or take a built generator."""
    if isinstance(weights, _Model):
        return weights
    if isinstance(weights, (str, os.PathLike)):
        generator, config = load_generator(weights)
        rate = config.sample_rate
    else:
        generator, rate = weights, ModelConfig().sample_rate
        if not hasattr(generator, "input_shape") or not callable(generator):
            raise ConfigError(
                f"weights={type(weights).__name__} must be a weights directory or a generator keras.Model"
            )
    _, slice_len, channels = generator.output_shape
    return _Model(generator, int(generator.input_shape[-1]), int(slice_len), int(channels), int(rate))


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _count(name: str, value, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _seed(value) -> int:
    if not _is_int(value) or value < 0:
        raise ConfigError(f"seed={value!r} must be an integer >= 0")
    return int(value)


def check_latent(z, latent_dim: int, *, name: str = "z") -> np.ndarray:
    """Validate one latent vector of the prior ``U(-1, 1)``.

    Parameters
    ----------
    z : array_like
        Shape (latent_dim,) or (1, latent_dim).
    latent_dim : int
        Size the generator takes.
    name : str, optional
        What the error calls it (a variable or a file name).

    Returns
    -------
    numpy.ndarray
        float32, shape (latent_dim,), values in [-1, 1].

    Raises
    ------
    ConfigError
        Wrong shape, non-numeric, NaN or infinite values, or values outside [-1, 1] (the
        generator never saw them in training).
    """
    try:
        array = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a numeric vector of {latent_dim} values, got {type(z).__name__}") from None
    if array.shape not in ((latent_dim,), (1, latent_dim)):
        raise ConfigError(f"{name} has shape {array.shape}; the generator needs ({latent_dim},)")
    array = array.reshape(latent_dim)
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"{name} holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < -1.0 or high > 1.0:
        raise ConfigError(
            f"{name} has values in [{low:.4g}, {high:.4g}], outside the prior's support [-1, 1]"
        )
    return array.astype(np.float32)


_SEED_SPEC = re.compile(r"^\s*(\d+)\s*(?:@\s*(\d+)\s*)?$")


def load_latent(spec, latent_dim: int) -> np.ndarray:
    """Read a latent vector from a seed spec or a ``.npy`` file.

    Parameters
    ----------
    spec : int, str or path-like
        ``"INDEX@SEED"`` (e.g. ``"17@0"``): row ``INDEX`` (0-based) of
        ``sample_latents(INDEX + 1, latent_dim, seed=SEED)``, the latent of clip
        ``INDEX + 1`` (file ``beatgan_0018.wav`` for 17) of ``beatgan generate --seed SEED``.
        An int or a string of digits ``"SEED"``: the same as ``"0@SEED"``. Anything else: the
        path of a ``.npy`` file holding one vector (latent_dim,) or (1, latent_dim) in [-1, 1].
    latent_dim : int
        Size of the generator's latent vector.

    Returns
    -------
    numpy.ndarray
        float32, shape (latent_dim,), values in [-1, 1].

    Raises
    ------
    ConfigError
        A malformed spec, a missing or unreadable file, a wrong shape or values outside [-1, 1].

    Examples
    --------
    >>> load_latent("3@0", 100).shape
    (100,)
    >>> bool((load_latent(7, 100) == load_latent("0@7", 100)).all())
    True
    """
    latent_dim = _count("latent_dim", latent_dim)
    if _is_int(spec):
        index, seed = 0, _seed(spec)
        return sample_latents(1, latent_dim, seed=seed)[0]
    if isinstance(spec, str):
        match = _SEED_SPEC.match(spec)
        if match:
            first, second = match.groups()
            index, seed = (0, int(first)) if second is None else (int(first), int(second))
            return sample_latents(index + 1, latent_dim, seed=seed)[index]
        if "@" in spec and not Path(spec).exists():
            raise ConfigError(f"latent {spec!r} must be INDEX@SEED with two integers >= 0 (e.g. '17@0')")
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"latent={spec!r} must be a seed, 'INDEX@SEED' or the path of a .npy file")
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"latent {str(path)!r} is neither 'INDEX@SEED', a seed, nor an existing .npy file"
        )
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ConfigError(f"latent file {str(path)!r} is not a readable .npy array: {error}") from None
    return check_latent(array, latent_dim, name=f"latent file {str(path)!r}")


def reflect(z) -> np.ndarray:
    """Fold values back into [-1, 1] by reflection at the walls (``1.2 -> 0.8``, ``-3.5 -> 0.5``).

    Reflection, unlike clipping, piles no mass on +-1 and keeps the uniform prior: a
    uniform ``z`` plus symmetric noise, reflected, is still uniform on [-1, 1].

    Parameters
    ----------
    z : array_like
        Any shape, any real values.

    Returns
    -------
    numpy.ndarray
        Same shape, float32, in [-1, 1]; values already inside are unchanged.
    """
    z = np.asarray(z, dtype=np.float64)
    folded = np.mod(z + 1.0, 4.0)  # [0, 4): one period of the triangle wave
    folded = np.where(folded > 2.0, 4.0 - folded, folded) - 1.0
    inside = np.abs(z) <= 1.0
    return np.where(inside, z, folded).astype(np.float32)


def render(weights, latents) -> np.ndarray:
    """Run latents through the generator, each as its own batch of one.

    Parameters
    ----------
    weights : path-like or keras.Model
        A weights directory or a built generator.
    latents : array_like
        Shape (N, latent_dim), values in [-1, 1].

    Returns
    -------
    numpy.ndarray
        float32, shape (N, slice_len, channels), in [-1, 1]; row ``i`` is bit-for-bit
        ``generator(latents[i:i + 1])`` whatever N is.
    """
    model = weights if isinstance(weights, _Model) else _model(weights)
    return _render(model.generator, np.asarray(latents, dtype=np.float32))


def _render(generator, latents: np.ndarray) -> np.ndarray:
    return np.stack([
        np.asarray(ops.convert_to_numpy(generator(latents[i : i + 1], training=False))[0], dtype=np.float32)
        for i in range(len(latents))
    ])


# --- variations and morphs ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Variations:
    """Loops near one latent vector.

    Attributes
    ----------
    audio : numpy.ndarray
        float32, shape (n, slice_len, channels), in [-1, 1] at ``sample_rate``.
    latents : numpy.ndarray
        float32, shape (n, latent_dim), in [-1, 1]: ``reflect(z + spread * noise)``.
    source : numpy.ndarray
        float32, shape (latent_dim,): the ``z`` they vary.
    spread : float
        Standard deviation of the noise, in latent units.
    sample_rate : int
        Hz of ``audio``.
    """

    audio: np.ndarray
    latents: np.ndarray
    source: np.ndarray
    spread: float
    sample_rate: int


def variations(weights, z, n: int, *, spread: float = 0.1, seed: int = 0) -> Variations:
    """Make ``n`` loops near the loop of latent ``z``.

    Each latent is ``z + spread * e`` with ``e ~ N(0, I)`` seeded by ``seed``, folded back into
    the prior's support [-1, 1] by :func:`reflect` (no clipping, so no coordinate sticks to a
    wall). Small ``spread`` (0.05) keeps the groove and changes details; 0.3 and more gives
    loops that are only related; ``spread=0`` repeats the source.

    Parameters
    ----------
    weights : path-like or keras.Model
        A weights directory or a built generator.
    z : array_like or str
        The source latent, shape (latent_dim,) in [-1, 1], or a spec for :func:`load_latent`.
    n : int
        Number of variations, >= 1.
    spread : float, default 0.1
        Standard deviation of the noise in latent units (the prior spans [-1, 1]), >= 0.
    seed : int, default 0
        Seeds the noise; the same seed, ``z`` and weights give the same loops.

    Returns
    -------
    Variations
        ``audio`` (n, slice_len, channels) and ``latents`` (n, latent_dim).

    Raises
    ------
    ConfigError
        ``n < 1``, a negative or non-finite ``spread``, a bad seed or a bad latent.
    CheckpointError
        An unreadable weights directory.
    """
    n = _count("n", n)
    if isinstance(spread, bool) or not isinstance(spread, (int, float, np.number)) or not math.isfinite(spread) \
            or spread < 0:
        raise ConfigError(f"spread={spread!r} must be a finite number >= 0 (latent units; the prior spans [-1, 1])")
    seed = _seed(seed)
    model = _model(weights)
    source = _latent(z, model.latent_dim, "z")
    noise = np.random.default_rng(seed).standard_normal((n, model.latent_dim))
    latents = reflect(source[None, :].astype(np.float64) + float(spread) * noise)
    return Variations(audio=_render(model.generator, latents), latents=latents, source=source,
                      spread=float(spread), sample_rate=model.sample_rate)


def _latent(z, latent_dim: int, name: str) -> np.ndarray:
    if isinstance(z, (str, os.PathLike, int, np.integer)) and not isinstance(z, bool):
        return load_latent(z, latent_dim)
    return check_latent(z, latent_dim, name=name)


def interpolation_latents(z_a, z_b, steps: int, *, mode: str = "slerp") -> np.ndarray:
    """Latents of a morph from ``z_a`` to ``z_b``, end points exact.

    Parameters
    ----------
    z_a, z_b : array_like
        float, shape (latent_dim,), values in [-1, 1].
    steps : int
        Number of latents, >= 2 (both ends included), at ``t = i / (steps - 1)``.
    mode : {"slerp", "linear"}, default "slerp"
        "linear": ``(1 - t) z_a + t z_b``. "slerp": along the great circle between the two
        directions, the norm interpolated linearly, as in Shoemake's quaternion slerp
        (White 2016, "Sampling generative networks"); nearly parallel or opposite vectors fall
        back to linear. A slerp may bulge out of the cube [-1, 1]^d; such coordinates are
        clipped to +-1.

    Returns
    -------
    numpy.ndarray
        float32, shape (steps, latent_dim), in [-1, 1]; row 0 is exactly ``z_a`` and the last
        row exactly ``z_b``.

    Raises
    ------
    ConfigError
        ``steps < 2``, an unknown mode, or latents of different shapes.
    """
    steps = _count("steps", steps, 2)
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} must be one of {MODES}")
    a = np.asarray(z_a, dtype=np.float64).ravel()
    b = np.asarray(z_b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ConfigError(f"z_a has {a.size} values and z_b {b.size}; they must have the same size")
    t = np.linspace(0.0, 1.0, steps)[:, None]  # (steps, 1)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    linear = (1.0 - t) * a + t * b
    if mode == "linear" or norm_a == 0 or norm_b == 0:
        path = linear
    else:
        unit_a, unit_b = a / norm_a, b / norm_b
        omega = math.acos(float(np.clip(unit_a @ unit_b, -1.0, 1.0)))
        if math.sin(omega) < 1e-6:
            path = linear
        else:
            direction = (np.sin((1.0 - t) * omega) * unit_a + np.sin(t * omega) * unit_b) / math.sin(omega)
            path = direction * ((1.0 - t) * norm_a + t * norm_b)
    path = np.clip(path, -1.0, 1.0).astype(np.float32)
    path[0], path[-1] = np.asarray(z_a, dtype=np.float32).ravel(), np.asarray(z_b, dtype=np.float32).ravel()
    return path


def interpolate(weights, z_a, z_b, steps: int, *, mode: str = "slerp") -> np.ndarray:
    """Morph from the loop of ``z_a`` to the loop of ``z_b``.

    Parameters
    ----------
    weights : path-like or keras.Model
        A weights directory or a built generator.
    z_a, z_b : array_like or str
        Latents (latent_dim,) in [-1, 1], or specs for :func:`load_latent`.
    steps : int
        Clips in the morph, >= 2, both ends included.
    mode : {"slerp", "linear"}, default "slerp"
        The path between the latents (see :func:`interpolation_latents`).

    Returns
    -------
    numpy.ndarray
        float32, shape (steps, slice_len, channels), in [-1, 1]. Clip 0 is bit-for-bit
        ``generator(z_a[None])[0]`` and the last clip ``generator(z_b[None])[0]``.

    Raises
    ------
    ConfigError
        ``steps < 2``, an unknown mode or a bad latent.
    CheckpointError
        An unreadable weights directory.
    """
    steps = _count("steps", steps, 2)
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} must be one of {MODES}")
    model = _model(weights)
    a = _latent(z_a, model.latent_dim, "z_a")
    b = _latent(z_b, model.latent_dim, "z_b")
    return _render(model.generator, interpolation_latents(a, b, steps, mode=mode))


def morph_loop(weights, z_a, z_b, steps: int, *, bpm: float, mode: str = "slerp",
               rate: int = LOOP_RATE) -> np.ndarray:
    """Render a morph as one continuous DAW loop: one bar of 4/4 per step at ``bpm``.

    Each clip of :func:`interpolate` becomes a 1-bar loop (:func:`beatgan.generate.make_loop`:
    resampled to ``rate``, cut to whole beats, repeated, faded at the joins) and the bars are
    placed end to end on the exact bar grid: bar ``k`` starts at frame
    ``round(k * 4 * 60 / bpm * rate)``, so rounding never accumulates.

    Parameters
    ----------
    weights, z_a, z_b, steps, mode
        As for :func:`interpolate`.
    bpm : float
        Tempo in beats per minute, in [40, 300] (warns outside 100-150).
    rate : int, default 44100
        Hz of the result.

    Returns
    -------
    numpy.ndarray
        float32, shape (loop_frames(bpm, steps, rate=rate), channels); not clipped (the
        resampler may overshoot [-1, 1] slightly, writers clip).

    Raises
    ------
    ConfigError
        As :func:`interpolate`, or an invalid tempo or rate.
    """
    steps = _count("steps", steps, 2)
    check_tempo(bpm, 1)
    rate = _count("rate", rate)
    model = _model(weights)
    clips = interpolate(model, z_a, z_b, steps, mode=mode)
    bars = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # check_tempo warned once above
        for k, clip in enumerate(clips):
            length = loop_frames(bpm, k + 1, rate=rate) - loop_frames(bpm, k, rate=rate)
            bar = make_loop(clip, sample_rate=model.sample_rate, bpm=bpm, bars=1, rate=rate)
            if len(bar) < length:  # the grid's bar is one frame longer: the fade ends in silence
                bar = np.concatenate([bar, np.zeros((length - len(bar), bar.shape[1]), np.float32)])
            bars.append(bar[:length])
    return np.concatenate(bars, axis=0)


# --- latent recovery ------------------------------------------------------------------------------


def load_loop(loop, *, sample_rate: int, slice_len: int, channels: int, input_rate: int | None = None):
    """Read or take one loop and make it a training-shaped example, saying what changed.

    Files are decoded as the training data is (:func:`beatgan.audio.read_head`) and go
    through the same mixing, anti-aliased resampling (soxr), cutting to the first
    ``slice_len`` samples and zero-padding.

    Parameters
    ----------
    loop : path-like or array_like
        An audio file (WAV, FLAC, AIFF, OGG, ...), or float audio (frames,) or
        (frames, channels) in [-1, 1] at ``input_rate``.
    sample_rate, slice_len, channels : int
        What the generator makes (Hz, samples, 1 or 2).
    input_rate : int or None
        Hz of an array ``loop``; None means ``sample_rate``. Ignored for files.

    Returns
    -------
    audio : numpy.ndarray
        float32, shape (slice_len, channels), in [-1, 1].
    notes : list of str
        One line per change made (resampled, mixed, cut, padded); empty when the loop
        already had the generator's shape and rate.

    Raises
    ------
    AudioError
        An unreadable file, an array of the wrong shape, NaN or infinite samples, or a loop
        that is silent after slicing.
    """
    settings = {"sample_rate": sample_rate, "slice_len": slice_len, "channels": channels, "resample": "polyphase"}
    if isinstance(loop, (str, os.PathLike)):
        name = str(loop)
        if not Path(loop).is_file():
            raise AudioError(f"loop {name!r} does not exist or is not a file")
        try:
            rate, data = read_head(loop, sample_rate=sample_rate, slice_len=slice_len, resample="polyphase")
        except (OSError, RuntimeError, ValueError, EOFError) as error:  # wavfile24, libsndfile
            raise AudioError(f"cannot read loop {name!r}: {error}") from None
    else:
        name = "the loop"
        data = np.asarray(loop)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or not np.issubdtype(data.dtype, np.floating) or data.shape[1] > 8:
            raise AudioError(f"loop must be float audio (frames,) or (frames, channels), got {data.dtype} {data.shape}")
        data = data.astype(np.float32)
        rate = sample_rate if input_rate is None else _count("input_rate", input_rate)
    if data.ndim != 2 or data.shape[0] == 0:
        raise AudioError(f"{name} holds no audio frames (shape {data.shape})")
    try:
        audio = to_slice(data, rate, name, settings)
    except AudioError as error:
        raise AudioError(f"{name}: {error}") from None
    notes = []
    if rate != sample_rate:
        notes.append(f"resampled from {rate} Hz to {sample_rate} Hz (soxr {SOXR_QUALITY}), as training data is")
    if data.shape[1] != channels:
        notes.append(f"{'mixed' if channels == 1 else 'mapped'} {data.shape[1]} channel(s) to {channels}")
    frames = data.shape[0] * sample_rate / rate  # at the model's rate
    if frames > slice_len + 0.5:
        notes.append(f"cut to its first {slice_len} samples ({slice_len / sample_rate:.2f} s) as training data is")
    elif frames < slice_len - 0.5:
        notes.append(f"zero-padded from {frames:.0f} to {slice_len} samples as training data is")
    if not np.any(audio):
        raise AudioError(f"{name} is silent in its first {slice_len} samples at {sample_rate} Hz; nothing to recover")
    return audio, notes


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


def _optimise(model: _Model, step, targets: np.ndarray, *, steps: int, restarts: int, rng, learning_rate: float):
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


def _distance_db(target: np.ndarray, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS log-mel difference in dB between one target (L, C) and clips (N, L, C), as logmel_nearest."""
    features = logmel_features(np.concatenate([target[None], audio]), sample_rate=sample_rate).astype(np.float64)
    return np.sqrt(np.mean(np.square(features[1:] - features[0]), axis=1))


def _check_search(steps, restarts, seed, learning_rate):
    steps = _count("steps", steps)
    restarts = _count("restarts", restarts)
    seed = _seed(seed)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not 0 < learning_rate <= 1:
        raise ConfigError(f"learning_rate={learning_rate!r} must be a number in (0, 1] (latent units per step)")
    return steps, restarts, seed, float(learning_rate)


def _finish(model: _Model, target, latents, notes, steps, restarts) -> Recovery:
    clips = _render(model.generator, latents)  # (R, L, C), each exactly G(latent)
    distances = _distance_db(target, clips, model.sample_rate)
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
    model = _model(weights)
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
    model = _model(weights)
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
