"""Figures and inline audio players for the notebook.

Every function returns a matplotlib ``Figure`` or an IPython display object and
draws nothing at import time, so the module is cheap to import and easy to test
headless (matplotlib's Agg backend).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Sequence

import numpy as np

from beatgan.errors import AudioError


def _as_2d(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise AudioError(f"audio must have shape (frames,) or (frames, channels), got {audio.shape}")
    return audio


def waveform_and_spectrogram(clips: Sequence[tuple[str, np.ndarray, int]], *, max_hz: float | None = None):
    """Plot each clip's waveform above its log-magnitude spectrogram.

    Parameters
    ----------
    clips : sequence of (label, audio, sample_rate)
        ``audio`` float in [-1, 1], shape (frames,) or (frames, channels); stereo
        is shown as the mid channel (mean of the channels). ``sample_rate`` in Hz.
    max_hz : float, optional
        Upper limit of the frequency axis; default the highest Nyquist frequency.

    Returns
    -------
    matplotlib.figure.Figure
        Two rows (waveform, spectrogram), one column per clip.
    """
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(clips), figsize=(5 * len(clips), 6), squeeze=False)
    for column, (label, audio, rate) in enumerate(clips):
        mid = _as_2d(audio).mean(axis=1)
        time = np.arange(len(mid)) / rate
        axes[0, column].plot(time, mid, linewidth=0.5)
        axes[0, column].set(xlabel="seconds", ylim=(-1.05, 1.05))
        axes[0, column].set_title(f"{label}\n({rate} Hz)", fontsize="small")
        spectrum = np.abs(librosa.stft(mid, n_fft=1024, hop_length=256))
        db = librosa.amplitude_to_db(spectrum, ref=np.max(spectrum) + 1e-12)
        librosa.display.specshow(db, sr=rate, hop_length=256, x_axis="time", y_axis="hz", ax=axes[1, column])
        axes[1, column].set_ylim(0, max_hz or max(rate for _, _, rate in clips) / 2)
    fig.tight_layout()
    return fig


def loss_curves(metrics: dict):
    """Plot discriminator and generator losses, penalty and Wasserstein estimate by step.

    Parameters
    ----------
    metrics : dict of str to numpy.ndarray
        Columns as :func:`beatgan.run.load_metrics` returns them: ``step`` and any
        of ``d_loss``, ``g_loss``, ``gp``, ``wasserstein``, one value per logged step.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    steps = np.asarray(metrics["step"])
    for key, axis in (("d_loss", left), ("g_loss", left), ("wasserstein", right), ("gp", right)):
        if key in metrics:
            axis.plot(steps, metrics[key], label=key, marker="." if len(steps) < 50 else None)
    left.set(title="losses", xlabel="generator step")
    right.set(title="Wasserstein estimate and gradient penalty", xlabel="generator step")
    for axis in (left, right):
        axis.legend()
    fig.tight_layout()
    return fig


def audio_html(audio: np.ndarray, rate: int, *, label: str = "") -> str:
    """Return an HTML ``<audio>`` player for a clip, the WAV embedded as base64.

    The clip is written as 16-bit PCM after clipping to [-1, 1], so what you hear
    is what a 16-bit export of the array would sound like (no normalisation).
    """
    import soundfile

    buffer = io.BytesIO()
    clipped = np.clip(_as_2d(audio), -1.0, 1.0)
    soundfile.write(buffer, clipped, int(rate), format="WAV", subtype="PCM_16")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    caption = f"<div style='font-size:small'>{html.escape(label)}</div>" if label else ""
    return (
        f"<div style='display:inline-block;margin:4px'>{caption}"
        f"<audio controls src='data:audio/wav;base64,{encoded}'></audio></div>"
    )


def players(clips: Sequence[tuple[str, np.ndarray, int]], *, columns: int = 4):
    """Return an IPython HTML grid of audio players, one per ``(label, audio, sample_rate)``."""
    from IPython.display import HTML

    cells = [audio_html(audio, rate, label=label) for label, audio, rate in clips]
    rows = ["".join(cells[i : i + columns]) for i in range(0, len(cells), columns)]
    return HTML("<div>" + "<br>".join(rows) + "</div>")
