"""Time beatgan.evaluate: seconds per 100 loops for each metric, and the total for 500 vs 434.

Without ``--reference`` both sets are synthesised drum loops (the test suite's renderer,
14.7 kHz, 16384 samples, stereo); with it, the reference is loaded like training data with
:func:`beatgan.data.load_loops` and the generated stand-ins are synthesised at its length.
The per-metric figures time each stage on the generated loops alone (against the reference
half A where the metric needs it); the total is one :func:`beatgan.evaluate.evaluate` call,
which scores four sets (generated, real, collapsed, noise) of ``min(500, 434 // 2)`` loops.

Usage::

    python benchmarks/evaluate.py [--generated 500] [--reference-loops 434] [--reference FOLDER]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout
sys.path.insert(0, str(ROOT / "tests"))

RATE = 14700


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=500, help="generated loops (synthesised)")
    parser.add_argument("--reference-loops", type=int, default=434, help="synthesised reference loops")
    parser.add_argument("--reference", type=Path, default=None, help="folder of real loops instead")
    args = parser.parse_args(argv)

    from test_metrics import synth_loops

    from beatgan import evaluate as ev
    from beatgan import metrics, musicnn

    t0 = time.perf_counter()
    if args.reference is not None:
        from beatgan.data import load_loops

        reference = load_loops(args.reference, sample_rate=RATE, slice_len=16384, channels=2).audio
    else:
        reference = synth_loops(args.reference_loops, seed=1)
    generated = synth_loops(args.generated, seed=2)
    print(f"{len(generated)} generated vs {len(reference)} reference loops ({time.perf_counter() - t0:.1f} s to make)")

    t0 = time.perf_counter()
    musicnn.embedder()
    print(f"musicnn load (once per process): {time.perf_counter() - t0:.2f} s")

    gen = generated.mean(axis=2)
    a = reference.mean(axis=2)[: len(reference) - len(reference) // 2]
    per100 = 100.0 / len(gen)

    def timed(label, fn):
        start = time.perf_counter()
        out = fn()
        print(f"  {label:<34s} {(time.perf_counter() - start) * per100:7.2f} s / 100 loops")
        return out

    print("per metric, on the generated loops:")
    mel = timed("log-mel features", lambda: metrics.mel_db(gen, RATE))
    ref = ev.reference_features(a[:, :, None], sample_rate=RATE, n_bins=20, seed=0)
    timed("musicnn embedding (FAD)", lambda: musicnn.embed(gen, sample_rate=RATE))
    emb = musicnn.embed(gen[:300], sample_rate=RATE)
    timed("Frechet distance (200-d)",
          lambda: metrics.frechet_distance(*metrics.fit_gaussian(emb, 0), *metrics.fit_gaussian(emb, 0)))
    timed("NDB/K, JSD, diversity, floor", lambda: ev.score_set(gen, mel, ref, RATE))
    timed("rhythm (onsets + grid fit)", lambda: metrics.rhythm(metrics.onset_times(gen, RATE), (118.0, 127.0)))
    timed("novelty (score + log-mel nearest)",
          lambda: (ev.novelty.nearest(gen, a), ev.novelty.logmel_nearest(gen, a, sample_rate=RATE)))

    t0 = time.perf_counter()
    report = ev.evaluate(generated, reference, sample_rate=RATE, seed=0)
    total = time.perf_counter() - t0
    print(f"total evaluate({len(generated)} generated, {len(reference)} reference): {total:.1f} s "
          f"(sets of {report.n_loops} loops, musicnn already loaded)")
    print()
    print(report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
