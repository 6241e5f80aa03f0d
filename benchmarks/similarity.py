"""Pairs per second of :func:`beatgan.novelty.nearest` against a plain pair-by-pair loop.

    python benchmarks/similarity.py                     # 100 generated x 2170 training, 16384 x 2
    python benchmarks/similarity.py --training data.npz # your own training set (prepare's .npz or a folder)
    python benchmarks/similarity.py --generated 20      # a quicker run
    python benchmarks/similarity.py --blas-threads 1    # one BLAS thread (faster on a busy machine)

The baseline is what the original notebook did: for every generated loop, for every
training loop, the similarity score (:func:`beatgan.novelty.similarity_score`, numpy,
float64), keeping the lowest with a strict ``<``. Both run on the same data in one
process; ``nearest`` is timed as the best of ``--repeat`` runs after a warm-up run, the
baseline (tens of seconds) once. The synthetic training set mimics
BeatGAN's: drum-like loops (kick, snare, hi-hat on a 16th grid at 120-125 bpm, random
levels), each in five noisy copies (+/-0.11 % of full scale), so near-copies abound; a
fraction of the generated loops are training loops plus fresh noise of the same size,
the case where float32 cancellation would hurt. Prints both rates, the speed-up, the
largest relative difference of the best scores and whether the indices agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

RATE = 14700


def drum_loops(count: int, *, length: int = 16384, seed: int = 0) -> np.ndarray:
    """``count`` synthetic stereo drum loops, float32 (count, length, 2) in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.25 * RATE)) / RATE  # one hit lasts at most 0.25 s
    out = np.zeros((count, length + len(t), 2), dtype=np.float32)
    for n in range(count):
        bpm = rng.uniform(120, 125)
        step = 60 / bpm / 4 * RATE  # a 16th note, in samples
        f0 = rng.uniform(40, 60)
        kick = np.sin(2 * np.pi * (f0 * t + rng.uniform(40, 90) * 0.03 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / rng.uniform(0.05, 0.12))
        snare_env = np.exp(-t / rng.uniform(0.03, 0.08))
        hat_env = np.exp(-t / rng.uniform(0.005, 0.03))
        pattern = rng.random((3, int(length / step) + 1)) < np.array([[0.3], [0.2], [0.6]])
        for k in range(pattern.shape[1]):
            start = int(round(k * step))
            pan = rng.uniform(0.5, 1.0, 2).astype(np.float32)
            hit = np.zeros(len(t))
            if pattern[0, k] or k % 8 == 0:
                hit += kick
            if pattern[1, k] or k % 8 == 4:
                hit += rng.standard_normal(len(t)) * 0.5 * snare_env
            if pattern[2, k]:
                hit += np.diff(rng.standard_normal(len(t) + 1)) * 0.2 * hat_env
            out[n, start : start + len(t)] += (hit[:, None] * pan).astype(np.float32)
    out = out[:, :length]
    out *= (rng.uniform(0.3, 0.95, (count, 1, 1)) / np.maximum(np.abs(out).max(axis=(1, 2), keepdims=True), 1e-9)).astype(np.float32)
    return out


def noisy(audio: np.ndarray, rng, amplitude: float = 0.0011) -> np.ndarray:
    """BeatGAN's augmentation: uniform noise of at most ``amplitude``, clipped to [-1, 1]."""
    return np.clip(audio + rng.uniform(-amplitude, amplitude, audio.shape).astype(np.float32), -1, 1)


def pairwise(generated: np.ndarray, training: np.ndarray):
    """The original's pair-by-pair loop (strict <), skipping silent training loops."""
    from beatgan.novelty import similarity_score

    index = np.empty(len(generated), dtype=np.int64)
    score = np.empty(len(generated))
    silent = ~training.reshape(len(training), -1).any(axis=1)
    for i, b in enumerate(generated):
        best, best_j = np.inf, -1
        for j, a in enumerate(training):
            if silent[j]:
                continue
            s = similarity_score(a, b)
            if s < best:
                best, best_j = s, j
        index[i], score[i] = best_j, best
    return index, score


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", type=int, default=100, help="generated loops (default: 100)")
    parser.add_argument("--base", type=int, default=434, help="synthetic source loops (default: 434, x5 copies = 2170)")
    parser.add_argument("--training", metavar="PATH", help="a dataset .npz or folder of loops instead of synthetic ones")
    parser.add_argument("--near-copies", type=float, default=0.3, help="fraction of generated loops that are noisy training copies")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of nearest, best kept (default: 3)")
    parser.add_argument("--blas-threads", type=int, help="limit BLAS threads (threadpoolctl); default: BLAS's own")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads, user_api="blas")

    from beatgan.novelty import nearest

    rng = np.random.default_rng(args.seed)
    if args.training:
        from beatgan.data import load_training_audio

        training = load_training_audio(args.training, progress=False)
    else:
        base = drum_loops(args.base, seed=args.seed)
        training = np.repeat(base, 5, axis=0)
        training = noisy(training, rng)  # five noisy copies per loop, as BeatGAN's data set
    copies = int(round(args.near_copies * args.generated))
    generated = np.concatenate([
        noisy(training[rng.choice(len(training), copies, replace=False)], rng),
        drum_loops(args.generated - copies, length=training.shape[1], seed=args.seed + 1)[..., : training.shape[2]],
    ])
    pairs = len(generated) * len(training)
    print(f"{len(generated)} generated x {len(training)} training loops of {training.shape[1:]} "
          f"({copies} generated near-copies): {pairs} pairs")

    index, score = nearest(generated, training)  # warm-up
    fast = np.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        index, score = nearest(generated, training)
        fast = min(fast, time.perf_counter() - start)
    print(f"nearest (chunked GEMM + exact rescoring): {fast:.2f} s, {pairs / fast:,.0f} pairs/s")

    start = time.perf_counter()
    want_index, want_score = pairwise(generated, training)
    slow = time.perf_counter() - start
    print(f"pair-by-pair numpy loop:                  {slow:.2f} s, {pairs / slow:,.0f} pairs/s")

    rel = np.abs(score - want_score) / np.maximum(np.abs(want_score), np.finfo(float).tiny)
    print(f"speed-up: {slow / fast:.1f}x")
    print(f"max relative difference of best scores: {rel.max():.3g} (near-copies: {rel[:copies].max() if copies else 0:.3g})")
    print(f"same best training loop: {int((index == want_index).sum())} of {len(index)}; "
          f"near-copy scores {score[:copies].min():.3g}..{score[:copies].max():.3g}" if copies else "")
    return 0 if rel.max() <= 1e-4 and np.array_equal(index, want_index) else 1


if __name__ == "__main__":
    sys.exit(main())
