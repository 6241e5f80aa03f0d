"""Backend-specific checks of beatgan.explore, run by tests/test_explore.py.

A Keras backend is fixed per process, so the test runs this script in a subprocess with
``KERAS_BACKEND=jax`` (and TensorFlow in its own process when pytest runs under another
backend)::

    python tests/_explore_worker.py OUT.json

It builds a tiny seeded generator, makes a loop from a known latent, recovers it and writes
the distances (and whether the morph's end points are exact) as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STEPS, RESTARTS = 150, 3  # tiny model: a few seconds


def tiny_generator(channels: int = 1, seed: int = 0):
    """A seeded random generator of width 2 (slice_len 16384)."""
    import keras

    from beatgan.config import ModelConfig
    from beatgan.model import build_generator

    keras.utils.set_random_seed(seed)
    return build_generator(ModelConfig(model_dim=2, channels=channels))


def run() -> dict:
    """Recover a generated loop and a morph's end points under this process's backend."""
    import keras

    from beatgan import explore, recover
    from beatgan.generate import sample_latents

    generator = tiny_generator()
    z_true, z_other, z_random = sample_latents(3, 100, seed=11)
    target = explore.render(generator, z_true[None])[0]
    recovery = recover.recover(generator, target, steps=STEPS, restarts=RESTARTS, seed=0)
    random_clip = explore.render(generator, z_random[None])
    ends = explore.interpolate(generator, z_true, z_other, 4, mode="slerp")
    exact = explore.render(generator, np.stack([z_true, z_other]))
    return {
        "backend": keras.backend.backend(),
        "distance_db": recovery.distance_db,
        "score": recovery.score,
        "restart_distances_db": [float(d) for d in recovery.restart_distances_db],
        "random_db": float(recover.distance_db(target, random_clip, recovery.sample_rate)[0]),
        "random_score": float(np.sum((target - random_clip[0]) ** 2) / np.sum(target**2)),
        "latent_in_prior": bool(np.all(np.abs(recovery.latent) <= 1)),
        "reconstruction_exact": bool(np.array_equal(explore.render(generator, recovery.latent[None])[0], recovery.audio)),
        "ends_exact": bool(np.array_equal(ends[0], exact[0]) and np.array_equal(ends[-1], exact[1])),
    }


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(run()))
