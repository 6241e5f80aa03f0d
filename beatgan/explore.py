"""Explore a generator's latent space: variations and morphs.

Every function takes generator weights as a weights directory (``config.json`` and
``generator.npz``, as :func:`beatgan.checkpoint.export_generator` writes them) or a built
generator ``keras.Model`` (B, latent_dim) -> (B, slice_len, channels), and runs on the
TensorFlow and JAX backends.

* :func:`variations`: loops near a latent vector ``z``: ``z`` plus Gaussian noise of
  standard deviation ``spread``, folded back into the prior's support [-1, 1] by
  reflection (see :func:`reflect`).
* :func:`interpolate` and :func:`morph_loop`: a morph from ``z_a`` to ``z_b`` (spherical or
  linear), as clips or as one DAW loop, one bar per step.
* :func:`render`: latents through the generator; latent recovery, the inverse, is
  :mod:`beatgan.recover`.

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

from beatgan.audio import loop_frames
from beatgan.backend import ops  # Keras imported quietly, after the backend is chosen
from beatgan.checkpoint import load_generator
from beatgan.config import LOOP_RATE, ModelConfig, check_count, check_seed
from beatgan.errors import ConfigError
from beatgan.generate import check_tempo, make_loop, sample_latents

__all__ = [
    "MODES", "LoadedGenerator", "Variations", "as_generator", "load_latent", "check_latent", "reflect",
    "render", "variations", "interpolation_latents", "interpolate", "morph_loop",
]

MODES = ("slerp", "linear")


# --- inputs ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoadedGenerator:
    """A generator and the shape of what it makes."""

    generator: object  # keras.Model (B, latent_dim) -> (B, slice_len, channels)
    latent_dim: int
    slice_len: int
    channels: int
    sample_rate: int  # Hz; a bare keras.Model is taken to make ModelConfig's default rate


def as_generator(weights) -> LoadedGenerator:
    """Load a weights directory, or take a built generator, with the shape of what it makes.

    Parameters
    ----------
    weights : path-like, keras.Model or LoadedGenerator
        A weights directory (``config.json`` + ``generator.npz``), a built generator
        (B, latent_dim) -> (B, slice_len, channels), or an already loaded one (returned as is).

    Returns
    -------
    LoadedGenerator

    Raises
    ------
    ConfigError
        Anything else.
    CheckpointError
        An unreadable weights directory.
    """
    if isinstance(weights, LoadedGenerator):
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
    return LoadedGenerator(generator, int(generator.input_shape[-1]), int(slice_len), int(channels), int(rate))



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
    latent_dim = check_count("latent_dim", latent_dim)
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        index, seed = 0, check_seed(spec)
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
    model = as_generator(weights)
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
    n = check_count("n", n)
    if isinstance(spread, bool) or not isinstance(spread, (int, float, np.number)) or not math.isfinite(spread) \
            or spread < 0:
        raise ConfigError(f"spread={spread!r} must be a finite number >= 0 (latent units; the prior spans [-1, 1])")
    seed = check_seed(seed)
    model = as_generator(weights)
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
    steps = check_count("steps", steps, 2)
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
    steps = check_count("steps", steps, 2)
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} must be one of {MODES}")
    model = as_generator(weights)
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
    steps = check_count("steps", steps, 2)
    check_tempo(bpm, 1)
    rate = check_count("rate", rate)
    model = as_generator(weights)
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
