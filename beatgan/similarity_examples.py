"""Listening examples that calibrate the similarity score by ear.

:func:`write_similarity_examples` picks a few generated loops spread over the range of
their best scores (the closest, the furthest, and evenly between) and writes each to its
own folder with its ``k`` most similar training loops and a README giving the scores,
as the original repository's ``similarity_metric_examples/`` did::

    example_1/
        README.md                 scores and what they mean
        generated.wav             the generated loop (24-bit, model rate)
        nearest_1_<name>.wav      most similar training loop
        nearest_2_<name>.wav ...
    INDEX.md, examples.json       one line / record per example
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

import wavfile24
from beatgan.atomic import write_json_atomic
from beatgan.config import check_positive_int
from beatgan.errors import ConfigError
from beatgan.novelty import DEFAULT_THRESHOLD, logmel_features, top_k

__all__ = ["describe_score", "pick_examples", "write_similarity_examples"]

# (upper bound, meaning): the bands the folder's README explains
SCORE_BANDS = (
    (0.01, "practically identical: the same loop plus faint noise"),
    (0.1, "near-copy: the same loop to the ear (BeatGAN's threshold)"),
    (0.5, "related: much of the pattern or sound is shared, audibly different"),
    (1.0, "different: a few hits line up, mostly a different loop"),
    (np.inf, "unrelated: matching it costs more energy than the training loop has"),
)


def describe_score(score: float) -> str:
    """One-line meaning of a similarity score (see ``similarity_metric_examples/README.md``)."""
    return next(text for bound, text in SCORE_BANDS if score <= bound)


def pick_examples(best_score, n: int) -> np.ndarray:
    """Indices of ``n`` generated loops spread evenly over the sorted best scores.

    Parameters
    ----------
    best_score : array_like
        float, shape (G,): each generated loop's best score.
    n : int
        Examples wanted; at most G are returned.

    Returns
    -------
    numpy.ndarray
        int64, shape (min(n, G),): lowest best score first, highest last, distinct.
    """
    best_score = np.asarray(best_score)
    order = np.lexsort((np.arange(len(best_score)), best_score))
    n = min(n, len(order))
    positions = np.unique(np.round(np.linspace(0, len(order) - 1, n)).astype(np.int64))
    return order[positions]


def _safe(name: str) -> str:
    stem = Path(name).with_suffix("").as_posix()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_")[:80] or "loop"


def _readme(number, gen_name, matches, threshold, training_audio: bool = True) -> str:
    where = (
        "the `nearest_*.wav` files are the training loops"
        if training_audio
        else "the training loops named below (not included: render them with `beatgan render-loops`) are those"
    )
    lines = [
        f"# Example {number}",
        "",
        f"`generated.wav` is the generated loop `{gen_name}`; {where}",
        "most similar to it by BeatGAN's score `sum((a - b)^2) / sum(a^2)`",
        "(`a` the training loop, `b` the generated one; 0 = identical, lower = more similar).",
        "",
        "| rank | training loop | score | log-mel distance (dB RMS) | meaning |",
        "|---|---|---|---|---|",
    ]
    for rank, (name, file, score, db) in enumerate(matches, 1):
        where = f"`{file}` ({name})" if training_audio else f"`{name}`"
        lines.append(f"| {rank} | {where} | {score:.4g} | {db:.2f} | {describe_score(score)} |")
    verdict = "a near-copy (memorised)" if matches[0][2] <= threshold else "novel"
    lines += ["", f"With the threshold {threshold:g}, this generated loop counts as **{verdict}**.", ""]
    return "\n".join(lines)


def write_similarity_examples(
    generated,
    training,
    output: str | os.PathLike,
    *,
    sample_rate: int,
    n: int = 4,
    k: int = 3,
    generated_names=None,
    training_names=None,
    threshold: float = DEFAULT_THRESHOLD,
    chunk: int | None = None,
    training_audio: bool = True,
) -> list[Path]:
    """Write ``n`` listening examples, each a generated loop with its ``k`` nearest training loops.

    Parameters
    ----------
    generated : array_like
        Float, shape (G, samples, channels), values in [-1, 1].
    training : array_like
        Float, shape (T, samples, channels), same (samples, channels).
    output : path-like
        Folder, created if missing; ``example_<i>/`` folders, ``INDEX.md`` and
        ``examples.json`` in it are replaced, anything else (a README) is left alone.
    sample_rate : int
        Hz of both sets; the WAV files are written at this rate, 24-bit.
    n : int, default 4
        Examples, spread from the closest generated loop to the most novel one.
    k : int, default 3
        Training loops per example.
    generated_names, training_names : sequence of str, optional
        Labels shown in the READMEs and used in the file names.
    threshold : float, default 0.1
        Score at or below which a loop counts as a near-copy.
    chunk : int or None
        As for :func:`beatgan.novelty.top_k`.
    training_audio : bool, default True
        Write the nearest training loops as WAVs too. False names them only, for
        examples that are committed while the training audio's license forbids it.

    Returns
    -------
    list of pathlib.Path
        The example folders, closest first.

    Raises
    ------
    AudioError
        Empty, non-finite or mismatched input, or only silent training loops.
    ConfigError
        ``n`` or ``k`` not a positive integer.
    """
    for name, value in (("n", n), ("k", k)):
        check_positive_int(name, value)
    index, score = top_k(generated, training, k, chunk=chunk)
    generated, training = np.asarray(generated), np.asarray(training)
    gen_names = list(generated_names) if generated_names is not None else [f"generated_{i}" for i in range(len(generated))]
    train_names = list(training_names) if training_names is not None else [f"training_{j}" for j in range(len(training))]
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("example_*"):  # a previous run's examples, which may have been more
        if old.is_dir():
            for file in old.iterdir():
                if file.suffix in (".wav", ".md"):
                    file.unlink()
            if not any(old.iterdir()):
                old.rmdir()
    folders, records = [], []
    for number, i in enumerate(pick_examples(score[:, 0], n), 1):
        folder = output / f"example_{number}"
        folder.mkdir(exist_ok=True)
        wavfile24.write(folder / "generated.wav", sample_rate, np.clip(generated[i], -1, 1), bits=24)
        features = logmel_features(np.concatenate([generated[i : i + 1], training[index[i]]]), sample_rate=sample_rate)
        matches = []
        for rank, j in enumerate(index[i], 1):
            file = f"nearest_{rank}_{_safe(train_names[j])}.wav"
            if training_audio:
                wavfile24.write(folder / file, sample_rate, np.clip(training[j], -1, 1), bits=24)
            db = float(np.sqrt(np.mean((features[0].astype(np.float64) - features[rank]) ** 2)))
            matches.append((train_names[j], file, float(score[i, rank - 1]), db))
        (folder / "README.md").write_text(_readme(number, gen_names[i], matches, threshold, training_audio))
        records.append({
            "example": folder.name, "generated": gen_names[i],
            "nearest": [{"training": m[0], "file": m[1], "score": m[2], "logmel_distance_db": m[3]} for m in matches],
        })
        folders.append(folder)
    index_lines = ["# Similarity examples", "", "| example | generated | best score | meaning |", "|---|---|---|---|"]
    for record in records:
        best = record["nearest"][0]["score"]
        index_lines.append(f"| [{record['example']}]({record['example']}/README.md) | {record['generated']} | {best:.4g} | {describe_score(best)} |")
    (output / "INDEX.md").write_text("\n".join(index_lines) + "\n")
    write_json_atomic(output / "examples.json", {"threshold": threshold, "sample_rate": sample_rate, "examples": records})
    return folders
