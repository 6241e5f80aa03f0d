"""Generate new loops from trained generator weights, and write them for a DAW.

:func:`generate` draws ``z ~ U(-1, 1)`` from a seed and runs the generator, giving
float32 clips (N, slice_len, channels) at the model's rate (14.7 kHz). :func:`write_clips`
writes them as 24-bit WAV files, either as generated (``"raw"``) or as tempo-locked loops
(``"loop"``, made by :func:`make_loop`).

Loops and tempo: 16384 samples at 14.7 kHz last 1.11 s, about two beats at 120-125 bpm,
not a bar. :func:`make_loop` resamples a clip to 44.1 kHz with soxr, cuts it to its
whole number of beats at the asked tempo (two beats at 124 bpm = 0.968 s; a clip shorter
than one beat is padded with silence to one beat) and repeats that segment to fill
``bars`` bars of 4/4. A beat is rarely a whole number of samples (60 / 124 * 44100 =
21338.7), so repeat ``k`` starts at frame ``round(k * segment)`` with ``segment`` the exact
fractional length: rounding never accumulates, every repeat starts within half a sample
of the beat grid, repeats differ in length by at most one frame, and the file has
exactly ``round(bars * 4 * 60 / bpm * rate)`` frames. Each repeat gets a short fade-in
and fade-out (half cosine) so the joins do not click.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import wavfile24
from beatgan.audio import loop_frames
from beatgan.backend import ops  # Keras imported quietly, after the backend is chosen
from beatgan.checkpoint import load_generator
from beatgan.config import LOOP_RATE, check_positive_int, check_seed
from beatgan.errors import AudioError, ConfigError
from beatgan.extras import require

FORMATS = ("raw", "loop")
BPM_RANGE = (40.0, 300.0)  # accepted tempi
NATURAL_BPM = (100.0, 150.0)  # outside this, a 1.11 s clip holds one or three-plus beats: warn
BEATS_PER_BAR = 4  # 4/4, as the training loops
MAX_BARS = 64

__all__ = [
    "FORMATS", "sample_latents", "generate", "check_tempo", "make_loop",
    "clip_names", "write_clips",
]


def sample_latents(n: int, latent_dim: int, *, seed: int = 0) -> np.ndarray:
    """Draw ``n`` latent vectors ``z ~ U(-1, 1)``, as WaveGAN samples them.

    Parameters
    ----------
    n : int
        Number of vectors, >= 1.
    latent_dim : int
        Size of each vector (100 for WaveGAN).
    seed : int, default 0
        Seeds :func:`numpy.random.default_rng`; row ``i`` depends only on ``seed`` and ``i``'s
        position, never on a batch size.

    Returns
    -------
    numpy.ndarray
        float32, shape (n, latent_dim), values in [-1, 1).
    """
    check_positive_int("n", n)
    check_positive_int("latent_dim", latent_dim)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(n, latent_dim)).astype(np.float32)


def generate(weights_or_generator, n: int, *, seed: int = 0, batch_size: int = 64) -> np.ndarray:
    """Generate ``n`` clips from a weights directory or a built generator.

    Parameters
    ----------
    weights_or_generator : path-like or keras.Model
        A directory written by :func:`beatgan.checkpoint.export_generator` (``config.json`` and
        ``generator.npz``), or a generator mapping (B, latent_dim) to (B, slice_len, channels).
    n : int
        Number of clips, >= 1.
    seed : int, default 0
        Seeds the latent vectors (see :func:`sample_latents`); the same seed and weights give
        the same clips.
    batch_size : int, default 64
        Latent vectors per forward pass; bounds memory, does not change the result.

    Returns
    -------
    numpy.ndarray
        float32, shape (n, slice_len, channels), values in [-1, 1] (tanh output).

    Raises
    ------
    CheckpointError
        When the weights directory is missing, has no ``config.json`` or does not match it.
    ConfigError
        For an invalid ``n``, ``seed`` or ``batch_size``.
    """
    check_positive_int("batch_size", batch_size)
    if isinstance(weights_or_generator, (str, os.PathLike)):
        generator, _ = load_generator(weights_or_generator)
    else:
        generator = weights_or_generator
    latent_dim = int(generator.input_shape[-1])
    z = sample_latents(n, latent_dim, seed=seed)
    batches = [
        np.asarray(ops.convert_to_numpy(generator(z[i : i + batch_size], training=False)), dtype=np.float32)
        for i in range(0, n, batch_size)
    ]
    return np.concatenate(batches, axis=0)


def check_tempo(bpm: float, bars: int) -> None:
    """Validate a tempo and a bar count; warn when ``bpm`` is outside 100-150.

    Raises
    ------
    ConfigError
        ``bpm`` not a number in [40, 300] or ``bars`` not an integer in [1, 64].
    """
    lo, hi = BPM_RANGE
    if isinstance(bpm, bool) or not isinstance(bpm, (int, float, np.number)) or not lo <= bpm <= hi:
        raise ConfigError(f"bpm={bpm!r} must be a number in [{lo:g}, {hi:g}]; the model's natural range is 120-125")
    if isinstance(bars, bool) or not isinstance(bars, (int, np.integer)) or not 1 <= bars <= MAX_BARS:
        raise ConfigError(f"bars={bars!r} must be an integer in [1, {MAX_BARS}]")
    if not NATURAL_BPM[0] <= bpm <= NATURAL_BPM[1]:
        warnings.warn(
            f"bpm={bpm:g} is far from the 120-125 bpm the loops were trained at; the clip is cut to "
            "whole beats at this tempo, which may not match its rhythm",
            stacklevel=2,
        )


def _fade(length: int, fade: int) -> np.ndarray:
    """Gain (length,): a half-cosine rise over ``fade`` frames, 1, then the mirrored fall."""
    gain = np.ones(length, dtype=np.float64)
    fade = min(fade, length // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)  # half cosine, 0 -> 1
        gain[:fade] = ramp
        gain[length - fade :] = ramp[::-1]
    return gain


def make_loop(
    clip: np.ndarray,
    *,
    sample_rate: int,
    bpm: float,
    bars: int = 4,
    rate: int = LOOP_RATE,
    fade_ms: float = 2.0,
) -> np.ndarray:
    """Turn a generated clip into a tempo-locked loop of ``bars`` bars.

    Parameters
    ----------
    clip : numpy.ndarray
        Float, shape (frames, channels) or (frames,), values in [-1, 1], at ``sample_rate``.
    sample_rate : int
        Hz of ``clip`` (14700 for the model).
    bpm : float
        Tempo in beats per minute, in [40, 300].
    bars : int, default 4
        Bars of 4/4 in the loop, in [1, 64].
    rate : int, default 44100
        Hz of the result; the clip is resampled with soxr (very high quality).
    fade_ms : float, default 2.0
        Length in milliseconds of the half-cosine fade at each end of every repeat.

    Returns
    -------
    numpy.ndarray
        float32, shape (round(bars * 4 * 60 / bpm * rate), channels). Not clipped: the
        resampler may overshoot [-1, 1] slightly; writers clip.

    Raises
    ------
    AudioError
        When ``clip`` is empty or not 1-D / 2-D.
    ConfigError
        For an invalid tempo, bar count, rate or fade.
    """
    check_tempo(bpm, bars)
    check_positive_int("sample_rate", sample_rate)
    check_positive_int("rate", rate)
    if not isinstance(fade_ms, (int, float)) or not 0 <= fade_ms <= 50:
        raise ConfigError(f"fade_ms={fade_ms!r} must be a number of milliseconds in [0, 50]")
    clip = np.asarray(clip, dtype=np.float64)
    if clip.ndim == 1:
        clip = clip[:, None]
    if clip.ndim != 2 or clip.shape[0] == 0:
        raise AudioError(f"clip must have shape (frames, channels) with frames > 0, got {clip.shape}")
    if sample_rate != rate:
        resampled = require("soxr", f"resampling loops to {rate} Hz").resample(clip, sample_rate, rate, quality="VHQ")
    else:
        resampled = clip
    beat = 60.0 / bpm * rate  # frames per beat, fractional
    beats = max(1, int(math.floor(resampled.shape[0] / beat + 1e-9)))  # whole beats in the clip
    segment = beats * beat  # fractional frames per repeat
    need = int(math.ceil(segment)) + 1
    if resampled.shape[0] < need:  # a clip shorter than one beat: pad with silence
        resampled = np.concatenate([resampled, np.zeros((need - resampled.shape[0], resampled.shape[1]))])
    total = loop_frames(bpm, bars, rate=rate)
    out = np.zeros((total, resampled.shape[1]), dtype=np.float64)
    fade = int(round(fade_ms * 1e-3 * rate))
    for k in range(int(math.ceil(total / segment))):
        start = int(round(k * segment))
        stop = min(int(round((k + 1) * segment)), total)  # start <= stop: k * segment < total
        piece = resampled[: stop - start]  # empty where a repeat rounds to no frame (segment < 1 frame)
        out[start:stop] = piece * _fade(stop - start, fade)[:, None]
    return out.astype(np.float32)


def clip_names(count: int, *, format: str = "raw", bpm: float | None = None, prefix: str = "beatgan") -> list[str]:
    """File names of ``count`` clips: ``beatgan_0001.wav`` or ``beatgan_0001_124bpm.wav``."""
    width = max(4, len(str(count)))
    tempo = f"_{bpm:g}bpm" if format == "loop" else ""
    return [f"{prefix}_{i + 1:0{width}d}{tempo}.wav" for i in range(count)]


def write_clips(
    audio: np.ndarray,
    output: str | os.PathLike,
    *,
    sample_rate: int,
    format: str = "raw",
    bpm: float = 124.0,
    bars: int = 4,
    prefix: str = "beatgan",
    progress: bool = False,
) -> list[Path]:
    """Write generated clips as 24-bit WAV files.

    Parameters
    ----------
    audio : numpy.ndarray
        Float, shape (N, slice_len, channels), values in [-1, 1].
    output : path-like
        Folder, created if missing; files of the same name are replaced.
    sample_rate : int
        Hz of ``audio``.
    format : {"raw", "loop"}, default "raw"
        "raw": each clip as generated, at ``sample_rate``. "loop": :func:`make_loop` at
        44.1 kHz, ``bars`` bars at ``bpm``, the tempo in the file name.
    bpm : float, default 124.0
        Tempo of the loop format.
    bars : int, default 4
        Bars of the loop format.
    prefix : str, default "beatgan"
        Start of every file name (see :func:`clip_names`).
    progress : bool, default False
        Show a tqdm progress bar.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``audio``. Samples are clipped to [-1, 1] and
        rounded to 24 bits, so a full-scale +1.0 is written as the largest code, never
        wrapped to negative.

    Raises
    ------
    AudioError
        When ``audio`` is not (N, frames, channels) or holds NaN or infinity.
    ConfigError
        For an unknown format or an invalid tempo.
    """
    if format not in FORMATS:
        raise ConfigError(f"format={format!r} must be one of {FORMATS}")
    audio = np.asarray(audio)
    if audio.ndim != 3 or audio.shape[0] == 0 or audio.shape[1] == 0:
        raise AudioError(f"audio must have shape (N, frames, channels) with N, frames > 0, got {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise AudioError("audio holds NaN or infinite samples; the generator weights may be broken")
    if format == "loop":
        check_tempo(bpm, bars)  # warns once here; make_loop's warnings are silenced below
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    paths = []
    names = clip_names(len(audio), format=format, bpm=bpm, prefix=prefix)
    for clip, name in zip(tqdm(audio, desc="writing", unit="clip", disable=not progress), names):
        if format == "loop":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data, rate = make_loop(clip, sample_rate=sample_rate, bpm=bpm, bars=bars), LOOP_RATE
        else:
            data, rate = clip, sample_rate
        path = output / name
        wavfile24.write(path, rate, np.clip(data, -1.0, 1.0), bits=24)
        paths.append(path)
    return paths
