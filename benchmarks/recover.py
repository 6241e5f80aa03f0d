"""Seconds per latent recovery (:func:`beatgan.recover.recover`) and the distances it reaches.

    python benchmarks/recover.py                          # shipped weights, default steps/restarts
    python benchmarks/recover.py --sweep 50 100 200 400   # distance against steps
    KERAS_BACKEND=jax python benchmarks/recover.py        # the JAX step

Targets: ``--loops`` clips the generator made from known latents (seed 123; a perfect
recovery is 0 dB) and, where installed, the amen break (Debian's sonic-pi-samples, a real
loop the model never saw; resampled and sliced as training data). For each it prints the
seconds of one ``recover`` call (the first call includes tracing/compiling the step), the
log-mel distance in dB and BeatGAN's similarity score of the reconstruction, and the same
distance for random latents as the baseline.

Measured on two shared CPU cores with the shipped weights (model_dim 16, stereo, 16384
samples), 4 restarts, TensorFlow 2.21 (JAX 0.10 within the same range):

    steps   s/recovery   generated loops (0 dB = exact)   amen break   random latents
     100      5-9           0.65 / 1.22 dB                 11.2 dB      median 7.3-10.6 dB
     200      6-13          0.50 / 0.86 dB (score <= 0.015) 11.1 dB     best 3.8-6.8 dB
     400     21-35          0.40 / 0.59 dB                 11.0 dB

200 steps is the default: under a minute for ``beatgan recover`` with import and tracing.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

AMEN = Path("/usr/share/sonic-pi/samples/loop_amen.flac")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(Path(__file__).resolve().parent.parent / "weights"))
    parser.add_argument("--steps", type=int, default=None, help="Adam steps (default: recover's)")
    parser.add_argument("--restarts", type=int, default=None, help="random starts (default: recover's)")
    parser.add_argument("--loops", type=int, default=2, help="generated target loops")
    parser.add_argument("--sweep", type=int, nargs="*", default=None, help="several step counts")
    args = parser.parse_args()

    import keras

    from beatgan import explore, recover
    from beatgan.data import load_loop
    from beatgan.generate import sample_latents

    model = explore.as_generator(args.weights)
    steps_list = args.sweep or [args.steps or recover.DEFAULT_STEPS]
    restarts = args.restarts or recover.DEFAULT_RESTARTS
    known = sample_latents(args.loops, model.latent_dim, seed=123)
    targets = [(f"generated {i}", clip) for i, clip in enumerate(explore.render(model, known))]
    if AMEN.is_file():
        audio, notes = load_loop(AMEN, sample_rate=model.sample_rate, slice_len=model.slice_len,
                                         channels=model.channels)
        targets.append(("amen break", audio))
    random_clips = explore.render(model, sample_latents(16, model.latent_dim, seed=999))
    print(f"backend {keras.backend.backend()}, weights {args.weights}: "
          f"{model.slice_len} samples x {model.channels} ch, {restarts} restarts")
    recover.recover(model, targets[0][1], steps=2, restarts=restarts)  # trace/compile once
    for steps in steps_list:
        for name, target in targets:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = recover.recover(model, target, steps=steps, restarts=restarts)
            seconds = time.perf_counter() - start
            baseline = recover.distance_db(target, random_clips, model.sample_rate)
            print(f"steps {steps:4d}  {name:12s}  {seconds:6.1f} s/recovery  {seconds / steps * 1e3:5.1f} ms/step  "
                  f"distance {result.distance_db:5.2f} dB (restarts {np.round(result.restart_distances_db, 2)})  "
                  f"score {result.score:.4f}  | random latents: median {np.median(baseline):5.2f} dB, "
                  f"best {baseline.min():5.2f} dB")


if __name__ == "__main__":
    main()
