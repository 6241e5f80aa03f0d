"""Figures of a :class:`~beatgan.report.NoveltyReport`.

Built on :class:`matplotlib.figure.Figure` directly, never through ``pyplot``, so they
need no display and leave the global backend alone (saving a PNG uses Agg); a notebook
shows a returned figure with ``display(fig)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["score_histogram", "closest_pairs_figure"]


def score_histogram(report):
    """Histogram of the best scores on a log axis, the threshold marked.

    Parameters
    ----------
    report : beatgan.report.NoveltyReport

    Returns
    -------
    matplotlib.figure.Figure
        One panel (two with the log-mel distances): counts of generated loops per best
        score, near-copies left of the dashed threshold line.
    """
    from matplotlib.figure import Figure

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
    report : beatgan.report.NoveltyReport
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
    from matplotlib.figure import Figure

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
