"""Check a rendered corpus the way a listener would: tempo, grid and length.

Three measurements back the corpus's promises: every file lasts exactly the
two bars its name's tempo implies; librosa's tempo estimate agrees with that
tempo (or half or double it, the usual octave ambiguity); and the onsets
librosa detects fall on the 16th-note grid. :func:`check_corpus` runs all
three over a folder; the tests and ``benchmarks/render_loops.py`` use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beatgan.errors import CorpusError
from beatgan.extras import require

librosa = require("librosa", "rendering the open corpus")
soundfile = require("soundfile", "rendering the open corpus")

_NAME = re.compile(r"^loop_(?P<index>\d+)_(?P<kit>[A-Za-z0-9-]+)_(?P<pattern>[A-Za-z0-9-]+)_"
                   r"(?P<bpm>\d+(?:\.\d+)?)bpm\.wav$")


def parse_loop_name(name: str) -> dict:
    """Split a corpus file name into its fields.

    Parameters
    ----------
    name : str
        A file name such as ``"loop_0007_GMRockKit_GM-kit-demo-1-main-2-1_123bpm.wav"``.

    Returns
    -------
    dict
        ``index`` (int, from 1), ``kit`` and ``pattern`` (str), ``bpm`` (float).

    Raises
    ------
    CorpusError
        If the name does not follow the corpus naming.
    """
    match = _NAME.match(Path(name).name)
    if match is None:
        raise CorpusError(f"{name!r} is not named loop_<n>_<kit>_<pattern>_<bpm>bpm.wav")
    return {"index": int(match["index"]), "kit": match["kit"], "pattern": match["pattern"],
            "bpm": float(match["bpm"])}


def estimate_tempo(audio: np.ndarray, sample_rate: int) -> float:
    """Return librosa's tempo estimate of a loop, in bpm.

    The loop is played twice in a row first, as a loop is meant to be heard,
    so the estimator's analysis window sees whole repeats.

    Parameters
    ----------
    audio : numpy.ndarray
        Shape ``(frames,)`` or ``(frames, channels)``, float.
    sample_rate : int
        Rate in Hz.
    """
    mono = np.asarray(audio, dtype=np.float32)
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono
    return float(np.atleast_1d(librosa.feature.tempo(y=np.tile(mono, 2), sr=sample_rate))[0])


def tempo_agrees(estimate: float, bpm: float, *, tolerance: float = 0.04) -> bool:
    """Return whether a tempo estimate matches a loop's tempo.

    Parameters
    ----------
    estimate, bpm : float
        Estimated and stated tempo, in bpm.
    tolerance : float, optional
        Largest relative difference, e.g. 0.04 for 4 %.

    Returns
    -------
    bool
        True when ``estimate`` is within ``tolerance`` of ``bpm``, of half of
        it or of double it (the usual octave ambiguity of tempo estimation).
    """
    return any(abs(estimate / (bpm * factor) - 1.0) <= tolerance for factor in (0.5, 1.0, 2.0))


def onset_grid_offsets(audio: np.ndarray, sample_rate: int, bpm: float) -> np.ndarray:
    """Return how far each detected onset lies from the nearest 16th-note step.

    Parameters
    ----------
    audio : numpy.ndarray
        Shape ``(frames,)`` or ``(frames, channels)``, float; starts on a downbeat.
    sample_rate : int
        Rate in Hz.
    bpm : float
        The loop's tempo.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(onsets,)``, seconds, each in [0, step / 2].
    """
    mono = np.asarray(audio, dtype=np.float32)
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono
    onsets = librosa.onset.onset_detect(y=mono, sr=sample_rate, hop_length=256, units="time",
                                        backtrack=True)
    step = 60.0 / bpm / 4
    return np.abs((np.asarray(onsets) + step / 2) % step - step / 2)


@dataclass(frozen=True)
class CorpusCheck:
    """Results of :func:`check_corpus`.

    Attributes
    ----------
    loops : int
        Files checked.
    exact_length : float
        Fraction whose frame count is ``round(bars * 4 * 60 / bpm * rate)``.
    tempo_agreement : float
        Fraction whose estimated tempo agrees (see :func:`tempo_agrees`).
    onsets_on_grid : float
        Fraction of all detected onsets within ``grid_ms`` of a 16th step.
    """

    loops: int
    exact_length: float
    tempo_agreement: float
    onsets_on_grid: float


def check_corpus(folder, *, bars: int = 2, limit: int | None = None, tolerance: float = 0.04,
                 grid_ms: float = 25.0) -> CorpusCheck:
    """Measure length, tempo and grid of the loops in ``folder``.

    Parameters
    ----------
    folder : str or pathlib.Path
        A folder written by :func:`beatgan.corpus.render_corpus`.
    bars : int, optional
        Bars per loop.
    limit : int, optional
        Check only the first ``limit`` loops (by name).
    tolerance : float, optional
        Relative tempo tolerance.
    grid_ms : float, optional
        Largest distance from the grid an onset may have, in ms.

    Returns
    -------
    CorpusCheck

    Raises
    ------
    CorpusError
        If the folder holds no ``loop_*.wav``.
    """
    files = sorted(Path(folder).glob("loop_*.wav"))[:limit]
    if not files:
        raise CorpusError(f"no loop_*.wav in {folder}")
    exact = agree = on_grid = onsets = 0
    for path in files:
        bpm = parse_loop_name(path.name)["bpm"]
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        exact += len(audio) == round(bars * 4 * 60 / bpm * rate)
        agree += tempo_agrees(estimate_tempo(audio, rate), bpm, tolerance=tolerance)
        offsets = onset_grid_offsets(audio, rate, bpm)
        on_grid += int(np.sum(offsets <= grid_ms / 1000))
        onsets += len(offsets)
    n = len(files)
    return CorpusCheck(n, exact / n, agree / n, on_grid / max(onsets, 1))
