"""Every figure of the package, and the notebook's inline audio players.

Every function returns a matplotlib ``Figure`` or an IPython display object and
draws nothing at import time, so it is easy to test headless (matplotlib's Agg
backend). The figures of the novelty report, the evaluation and the latent
recovery are built on :class:`matplotlib.figure.Figure` directly, never through
``pyplot``, so they need no display and leave the global backend alone (saving a
PNG uses Agg); a notebook shows a returned figure with ``display(fig)``. Only the
notebook's two training figures (:func:`waveform_and_spectrogram`,
:func:`loss_curves`) use ``pyplot``, imported when they are drawn: importing this
module (and so :mod:`beatgan.evaluate` or :mod:`beatgan.novelty`) does not import it.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Sequence

import numpy as np

from beatgan.errors import AudioError
from beatgan.extras import require

_FIGURES = "drawing figures"
librosa = require("librosa", _FIGURES)
Figure = require("matplotlib.figure", _FIGURES).Figure
soundfile = require("soundfile", _FIGURES)


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
    plt = require("matplotlib.pyplot", _FIGURES)  # here: pyplot picks a GUI backend; only these figures need it
    require("librosa.display", _FIGURES)  # here: librosa.display imports pyplot
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
    plt = require("matplotlib.pyplot", _FIGURES)  # here: pyplot picks a GUI backend; only these figures need it
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
    from IPython.display import HTML  # here: IPython comes with the notebook extra only

    cells = [audio_html(audio, rate, label=label) for label, audio, rate in clips]
    rows = ["".join(cells[i : i + columns]) for i in range(0, len(cells), columns)]
    return HTML("<div>" + "<br>".join(rows) + "</div>")


def score_histogram(report):
    """Histogram of the best scores on a log axis, the threshold marked.

    Parameters
    ----------
    report : beatgan.novelty.NoveltyReport

    Returns
    -------
    matplotlib.figure.Figure
        One panel (two with the log-mel distances): counts of generated loops per best
        score, near-copies left of the dashed threshold line.
    """
    panels = 1 if report.logmel_distance is None else 2
    fig = Figure(figsize=(6 * panels, 3.6), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    scores = np.maximum(report.best_score, 1e-8)  # exact copies (0) on the log axis
    low = min(scores.min(), report.threshold) / 2
    high = max(scores.max(), report.threshold) * 2
    ax = axes[0]
    ax.hist(scores, bins=np.geomspace(low, high, 40), color="tab:blue", edgecolor="white")
    ax.axvline(report.threshold, color="tab:red", linestyle="--", label=f"threshold {report.threshold:g}")
    ax.set_xscale("log")
    ax.set_xlabel("best score sum((a-b)^2)/sum(a^2), lower = closer")
    ax.set_ylabel("generated loops")
    ax.set_title(f"{100 * report.fraction_similar:.1f} % of {len(scores)} loops <= {report.threshold:g}")
    ax.legend()
    if panels == 2:
        ax = axes[1]
        ax.hist(report.logmel_distance, bins=40, color="tab:green", edgecolor="white")
        ax.set_xlabel("log-mel distance to nearest training loop (dB RMS)")
        ax.set_ylabel("generated loops")
        ax.set_title("log-mel nearest neighbour")
    return fig


def closest_pairs_figure(report, generated, training, *, n: int = 4):
    """Waveforms of the ``n`` closest pairs: generated over its best training loop.

    Parameters
    ----------
    report : beatgan.novelty.NoveltyReport
    generated, training : array_like
        Float (G, samples, channels) and (T, samples, channels): the audio of the report.
    n : int, default 4
        Pairs drawn, closest first.

    Returns
    -------
    matplotlib.figure.Figure
        ``n`` rows; each shows the training loop (grey) and the generated loop (blue,
        mid channel = mean of the channels) against time in seconds, titled with the score.
    """
    pairs = report.closest_pairs(n)
    fig = Figure(figsize=(10, 1.9 * max(1, len(pairs))), layout="constrained")
    axes = fig.subplots(max(1, len(pairs)), 1, squeeze=False)[:, 0]
    for ax, pair in zip(axes, pairs):
        a = np.asarray(training[pair["training"]], dtype=np.float32)
        b = np.asarray(generated[pair["generated"]], dtype=np.float32)
        a = a.mean(axis=-1) if a.ndim == 2 else a
        b = b.mean(axis=-1) if b.ndim == 2 else b
        t = np.arange(len(a)) / report.sample_rate
        ax.plot(t, a, color="0.6", linewidth=0.6, label=f"training: {pair['training_name']}")
        ax.plot(t, b, color="tab:blue", linewidth=0.5, alpha=0.8, label=f"generated: {pair['generated_name']}")
        peak = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-3)
        ax.set_ylim(-1.1 * peak, 1.1 * peak)  # quiet loops stay visible
        ax.set_title(f"score {pair['score']:.4g}", fontsize=9)
        ax.legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time (s)")
    return fig


# ---------------------------------------------------------------- evaluation (beatgan.evaluate)

def metrics_figure(report):
    """One bar panel per metric: generated beside the real, collapsed and noise anchors, with 95 % intervals.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(report.metrics["generated"])
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows), layout="constrained")
    colours = ("tab:blue", "tab:green", "tab:red", "tab:gray")
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        values = np.array([report.metrics[s][name] for s in report.sets])
        errors = None
        if getattr(report, "intervals", None):  # 95 % bootstrap intervals as error bars
            bounds = np.array([report.intervals[s][name] for s in report.sets])  # (sets, 2)
            errors = np.maximum(np.stack([values - bounds[:, 0], bounds[:, 1] - values]), 0.0)
        ax.bar(range(len(report.sets)), values, color=colours, yerr=errors, capsize=3)
        ax.set_xticks(range(len(report.sets)), report.sets, fontsize=7)
        ax.set_title(f"{name} ({report.direction(name)})", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    return fig


def ndb_figure(report):
    """Share of loops per k-means bin (bins ordered by reference share), reference vs each set."""
    ref = report.ndb_counts["reference"] / report.ndb_counts["reference"].sum()
    order = np.argsort(-ref)
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    for i, s in enumerate(report.sets):
        ax = fig.add_subplot(1, len(report.sets), i + 1)
        counts = report.ndb_counts[s]
        ax.bar(np.arange(len(ref)) - 0.2, ref[order], 0.4, label="reference", color="tab:green")
        ax.bar(np.arange(len(ref)) + 0.2, (counts / counts.sum())[order], 0.4, label=s, color="tab:blue")
        ax.set_title(f"{s}: NDB/K {report.metrics[s]['ndb_k']:.2f}", fontsize=9)
        ax.set_xlabel("bin", fontsize=8)
        ax.legend(fontsize=7)
    return fig


def pairwise_figure(report):
    """Histograms of the pairwise log-mel distances (dB) within the generated and real sets."""
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    values = [report.pairwise[k] for k in ("generated", "real")]
    hi = max(float(np.max(v)) if len(v) else 1.0 for v in values)
    bins = np.linspace(0, hi, 40)
    for k, v in zip(("generated", "real"), values):
        ax.hist(v, bins=bins, alpha=0.6, density=True, label=k)
    ax.set_xlabel("pairwise RMS log-mel distance (dB)")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def spectrogram_grid_figure(report):
    """Log-mel spectrograms (dB) of a few generated (left) and real (right) loops."""
    gen, real = report.examples["generated"], report.examples["real"]
    rows = max(len(gen), len(real), 1)
    fig = Figure(figsize=(8, 1.8 * rows), layout="constrained")
    for col, (label, mels) in enumerate((("generated", gen), ("real", real))):
        for row, mel in enumerate(mels):
            ax = fig.add_subplot(rows, 2, 2 * row + col + 1)
            ax.imshow(mel, origin="lower", aspect="auto", vmin=-60, vmax=0, cmap="magma")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label)
    return fig


def evaluation_figures(report) -> dict:
    """Every figure of an :class:`~beatgan.evaluate.EvaluationReport`, by file stem."""
    return {"metrics": metrics_figure(report), "ndb_bins": ndb_figure(report),
            "pairwise_distances": pairwise_figure(report), "spectrograms": spectrogram_grid_figure(report)}


# ---------------------------------------------------------------- latent recovery (beatgan.recover)

def recovery_figure(report: RecoveryReport):
    """Box plots and histograms of the training and held-out recovery distances.

    Built on :class:`matplotlib.figure.Figure` directly (no pyplot, no display needed; saving
    a PNG uses Agg).

    Parameters
    ----------
    report : RecoveryReport

    Returns
    -------
    matplotlib.figure.Figure
        Left: box plots with every loop as a dot; right: overlaid histograms; distances in dB,
        lower = reconstructed more closely. The title gives the verdict and the p-value.
    """
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    data = [report.training_db, report.heldout_db]
    labels = ["training", "held-out"]
    left.boxplot(data, showfliers=False)  # vertical: matplotlib 3.8-3.12 agree on the default
    left.set_xticks([1, 2], labels)
    jitter = np.random.default_rng(0)
    for row, values in enumerate(data, start=1):
        left.plot(row + jitter.uniform(-0.12, 0.12, len(values)), values, "o", alpha=0.6, markersize=4)
    left.set_ylabel("log-mel distance of the best\nreconstruction (dB), lower = closer")
    edges = np.histogram_bin_edges(np.concatenate(data), bins=20)
    for values, label, colour in zip(data, labels, ("tab:blue", "tab:orange")):
        right.hist(values, bins=edges, alpha=0.6, label=f"{label} (median {np.median(values):.2f} dB)", color=colour)
    right.set_xlabel("log-mel distance (dB)")
    right.set_ylabel("loops")
    right.legend(fontsize="small")
    fig.suptitle(f"{report.verdict}: one-sided Mann-Whitney p={report.p_value:.3g}, "
                 f"effect {report.effect:+.2f}, gap {report.gap_db:+.2f} dB", fontsize="medium")
    return fig


def metrics_over_steps_figure(rows, directions: dict):
    """The evaluation metrics of a run's checkpoints against the generator step, one panel per metric.

    Parameters
    ----------
    rows : list of dict
        ``{"step": int, metric: float, ...}`` per checkpoint, in step order.
    directions : dict of str to str
        Which way is better for each metric to draw ("lower", "higher", ...), shown in the titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(directions)
    cols = 4
    fig = Figure(figsize=(3.2 * cols, 2.4 * math.ceil(len(names) / cols)), layout="constrained")
    steps = [r["step"] for r in rows]
    for i, name in enumerate(names):
        ax = fig.add_subplot(math.ceil(len(names) / cols), cols, i + 1)
        ax.plot(steps, [r[name] for r in rows], marker="o")
        ax.set_title(f"{name} ({directions[name]})", fontsize=8)
        ax.set_xlabel("generator step", fontsize=7)
        ax.tick_params(labelsize=7)
    return fig
