"""Find the audio files in a loop folder and decode the head of each.

WAV files go through :mod:`wavfile24` (24-bit and WAVE_FORMAT_EXTENSIBLE files as
users have them), everything else (FLAC, AIFF, OGG, MP3) through soundfile, which
is imported only then (the ``audio`` extra; WAV needs nothing beyond numpy). Only
the frames that decide the first ``slice_len`` samples after resampling are read
(:func:`head_frames`), so a long file costs what its head costs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

import wavfile24
from beatgan.config import LOOP_RATE
from beatgan.errors import AudioError
from beatgan.extras import require

__all__ = ["AUDIO_EXTENSIONS", "WAV_EXTENSIONS", "find_audio_files", "head_frames", "loop_frames", "read_audio", "read_head"]

AUDIO_EXTENSIONS = (".aif", ".aifc", ".aiff", ".flac", ".mp3", ".oga", ".ogg", ".opus", ".wav", ".wave")
WAV_EXTENSIONS = (".wav", ".wave")


def find_audio_files(folder: str | Path) -> list[Path]:
    """Return the audio files under ``folder``, recursively, sorted by relative path.

    Audio files are recognised by extension (:data:`AUDIO_EXTENSIONS`, any case). Hidden
    files and folders (a leading dot: ``.DS_Store``, macOS ``._x.wav`` resource forks, the
    ``.beatgan-cache`` folder) are ignored. Linked folders are followed, each once.

    Parameters
    ----------
    folder : str or pathlib.Path
        An existing folder.

    Returns
    -------
    list of pathlib.Path
    """
    folder = Path(folder)
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree
            dirs.clear()
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root, f) for f in files if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_EXTENSIONS]
    return sorted((p for p in found if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())


def head_frames(rate: int, *, sample_rate: int, slice_len: int, resample: str) -> int:
    """Input frames that decide the first ``slice_len`` output samples.

    Parameters
    ----------
    rate : int
        The file's sample rate in Hz, > 0.
    sample_rate : int, keyword-only
        Target rate in Hz, > 0.
    slice_len : int, keyword-only
        Samples wanted at ``sample_rate``, > 0.
    resample : {"polyphase", "stride"}, keyword-only
        "stride" (``x[::3]``) needs exactly ``3 * slice_len`` frames; "polyphase" (soxr
        'HQ') needs ``slice_len * rate / sample_rate`` plus the filter's reach.

    Returns
    -------
    int
        Frames at ``rate``; a file with fewer is used whole.
    """
    if resample == "stride":
        return 3 * slice_len
    ratio = rate / sample_rate
    # soxr HQ's filter reaches about 100 input samples per unit of decimation ratio; the
    # margin keeps head-only resampling equal to whole-file resampling (tested).
    margin = 128 * math.ceil(max(ratio, 1.0)) + 256
    return math.ceil(slice_len * ratio) + margin


def read_audio(path: str | Path, *, frames: int | Callable[[int], int] | None = None) -> tuple[int, np.ndarray]:
    """Decode an audio file at its own rate, whole or only its head.

    Parameters
    ----------
    path : str or pathlib.Path
        A WAV file (by extension, :data:`WAV_EXTENSIONS`; read by :mod:`wavfile24`) or any
        other format libsndfile reads.
    frames : int, callable or None, keyword-only
        Most frames to decode; a callable receives the file's rate in Hz and returns
        the count; None decodes the whole file.

    Returns
    -------
    rate : int
        The file's sample rate in Hz.
    data : numpy.ndarray
        float32, shape (frames, channels), scaled by the file's own sample format (full
        scale 1); fewer frames when the file is shorter.

    Raises
    ------
    AudioError
        The file is missing, cannot be opened, or is malformed or unsupported; the message
        names the file. :class:`wavfile24.WavFileError` (the standalone WAV module's own
        error) and libsndfile's errors are turned into it here, so a caller catches one
        hierarchy.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in WAV_EXTENSIONS:
            # Two header walks (a few hundred bytes) beat decoding the whole file.
            rate = wavfile24.info(path).rate
            count = frames(rate) if callable(frames) else frames
            _, data, _ = wavfile24.read(path, dtype="float32", frames=count)
            return rate, data
    except wavfile24.WavFileError as error:
        raise AudioError(str(error)) from error  # its message names the file already
    except OSError as error:
        raise AudioError(f"{path}: cannot read audio ({error.strerror or error})") from error
    soundfile = require("soundfile", f"decoding {path.suffix or 'extension-less'} files such as {path}")
    try:
        with soundfile.SoundFile(str(path)) as f:
            rate = int(f.samplerate)
            count = frames(rate) if callable(frames) else frames
            data = f.read(-1 if count is None else count, dtype="float32", always_2d=True)
        return rate, data
    except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise AudioError(f"{path}: cannot read audio ({reason})") from error


def read_head(path: str | Path, *, sample_rate: int, slice_len: int, resample: str) -> tuple[int, np.ndarray]:
    """Decode the head of one audio file: the frames :func:`head_frames` asks for.

    Parameters
    ----------
    path : str or pathlib.Path
        As for :func:`read_audio`.
    sample_rate, slice_len, resample
        The load settings, as for :func:`head_frames`.

    Returns
    -------
    rate : int
        The file's sample rate in Hz.
    data : numpy.ndarray
        float32, shape (frames, channels); ``frames`` is ``min(head_frames(rate, ...),
        frames in the file)``.

    Raises
    ------
    AudioError
        As :func:`read_audio`.
    """
    options = {"sample_rate": sample_rate, "slice_len": slice_len, "resample": resample}
    return read_audio(path, frames=lambda rate: head_frames(rate, **options))


def loop_frames(bpm: float, bars: int, rate: int = LOOP_RATE) -> int:
    """Length in frames of ``bars`` bars of 4/4 at ``bpm``, the one rule for every loop the package writes.

    Parameters
    ----------
    bpm : float
        Tempo in beats per minute.
    bars : int
        Number of 4/4 bars.
    rate : int, optional
        Sample rate in Hz (default 44100, what a DAW expects).

    Returns
    -------
    int
        ``round(bars * 4 * 60 / bpm * rate)``: 341419 frames for four bars at 124 bpm and 44.1 kHz.
    """
    return int(round(bars * 4 * 60.0 / bpm * rate))
