"""Read kit samples once, at the corpus rate, and keep them for the next loop.

Kit samples come as WAV, FLAC or AIFF at 44.1 or 48 kHz, mono or stereo,
16 or 24 bit. :func:`load_layer` returns each as float32 at the render rate
(resampled with soxr's high-quality filter), leading silence trimmed so the
stroke starts on its grid step, and long cymbal tails cut with a short fade
(a loop wraps its tails anyway; beyond a few seconds they only cost time).
Arrays are cached per process, so a second corpus renders without reading
the kits again.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from beatgan.corpus.structs import Layer
from beatgan.errors import CorpusError
from beatgan.extras import require

soundfile = require("soundfile", "rendering the open corpus")
soxr = require("soxr", "rendering the open corpus")

#: Longest sample kept, in seconds; the rest of a tail is faded out.
MAX_SECONDS = 4.0
_FADE_SECONDS = 0.05
# Leading samples below this fraction of the peak (-60 dB) are trimmed.
_SILENCE = 1e-3
_CACHE_BYTES = 768 * 2**20

_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
_cache_bytes = 0


def _prepare(audio: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    audio = audio[:, :2]
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate, quality="HQ").astype(np.float32)
        audio = audio.reshape(-1, audio.shape[-1] if audio.ndim == 2 else 1)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return np.zeros((1, audio.shape[1]), dtype=np.float32)
    loud = np.flatnonzero(np.max(np.abs(audio), axis=1) > peak * _SILENCE)
    audio = audio[loud[0]:]
    limit = int(MAX_SECONDS * sample_rate)
    if len(audio) > limit:
        audio = audio[:limit].copy()
        fade = int(_FADE_SECONDS * sample_rate)
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return np.ascontiguousarray(audio)


def load_layer(layer: Layer, sample_rate: int) -> np.ndarray:
    """Return a layer's sample, ready to mix.

    Parameters
    ----------
    layer : Layer
        A layer with a ``path`` to a WAV/FLAC/AIFF file, or with ``audio``.
    sample_rate : int
        The rate to return, in Hz.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(frames, channels)`` with 1 or 2 channels, values
        as stored in the file (full scale is 1.0), at most
        :data:`MAX_SECONDS` long, starting at the stroke.

    Raises
    ------
    CorpusError
        If the sample file cannot be read.
    """
    global _cache_bytes
    if layer.path is None:
        if layer.rate == sample_rate and layer.audio.ndim == 2:
            return layer.audio  # built-in samples are made ready at this rate
        return _prepare(layer.audio, layer.rate, sample_rate)
    key = (str(layer.path), sample_rate)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    try:
        audio, rate = soundfile.read(str(layer.path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as error:
        raise CorpusError(f"cannot read kit sample {layer.path}: {error}") from error
    audio = _prepare(audio, rate, sample_rate)
    audio.setflags(write=False)
    _cache[key] = audio
    _cache_bytes += audio.nbytes
    while _cache_bytes > _CACHE_BYTES and len(_cache) > 1:
        _, old = _cache.popitem(last=False)
        _cache_bytes -= old.nbytes
    return audio
