"""A few Adam training steps with phase shuffle on, run in a subprocess by tests/test_gan.py.

A Keras backend is fixed per process, so the test runs this script once with
``KERAS_BACKEND=tensorflow`` and once with ``KERAS_BACKEND=jax``::

    python tests/_adam_worker.py OUT_DIR MODEL_DIM BATCH D_STEPS STEPS [INIT_NPZ]

It trains a :class:`beatgan.gan.WaveGAN` with its default optimizers (Adam, the
paper's settings) and phase shuffle on, with fixed latents and interpolation
weights and the phase shifts of :func:`fixed_randint`, and writes
``OUT_DIR/results.npz``: the logged losses of every step (``logs``, (steps, 4):
d_loss, g_loss, gp, wasserstein) and both networks' weights before every step
and after the last (``w{step}/{network}/{path}``). With ``INIT_NPZ`` (the other
backend's results) it starts from that run's initial weights.

Keras' random streams differ between TensorFlow and JAX, so the shifts come from
:func:`fixed_randint`: a function of the layer's seed-generator state, which both
backends advance the same way (``[seed + i, calls so far]``). The package's own
phase-shuffle code (padding, gather) still runs; only the draw is replaced.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

LATENT = 100
SEED = 3  # TrainConfig.seed: phase-shuffle layer i is seeded SEED + i


def fixed_randint(shape, minval, maxval, dtype="int32", seed=None):
    """Stand-in for ``keras.random.randint`` (radius 2 only): ``(3 * layer seed + calls so far) % 5 - 2``."""
    from keras import ops

    assert (minval, maxval) == (-2, 3) and tuple(shape) == (), (shape, minval, maxval)
    state = ops.cast(seed.next(), "int32")  # [layer seed, calls so far], then advanced by one call
    return ops.cast((3 * state[0] + state[1]) % 5 - 2, dtype)


def fixed_noise(d_steps: int, batch: int):
    """``(z_d, alpha, z_g)`` of every step, float32: (d_steps, B, 100), (d_steps, B, 1, 1), (B, 100)."""
    rng = np.random.default_rng(11)
    return (rng.uniform(-1, 1, (d_steps, batch, LATENT)).astype("float32"),
            rng.uniform(0, 1, (d_steps, batch, 1, 1)).astype("float32"),
            rng.uniform(-1, 1, (batch, LATENT)).astype("float32"))


def audio_examples():
    """The real examples, float32 (6, 16384, 2) in [-0.5, 0.5]."""
    return np.random.default_rng(12).uniform(-0.5, 0.5, (6, 16384, 2)).astype("float32")


def main(out_dir: Path, model_dim: int, batch: int, d_steps: int, steps: int, init: Path | None) -> None:
    import keras

    keras.random.randint = fixed_randint  # before the step is traced; test-only, see the module docstring
    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.gan import LoopBatches, WaveGAN

    noise = fixed_noise(d_steps, batch)

    class FixedNoise(WaveGAN):
        def draw_step_noise(self, batch_size):
            return noise

    gan = FixedNoise(ModelConfig(model_dim=model_dim, phase_shuffle=2),
                     TrainConfig(batch_size=batch, d_steps=d_steps, seed=SEED))
    nets = (gan.generator, gan.discriminator)
    if init is not None:
        with np.load(init) as peer:
            for net in nets:
                for v in net.trainable_variables:
                    v.assign(peer[f"w0/{net.name}/{v.path}"])
    gan.compile()  # Adam(1e-4, beta_1=0.5, beta_2=0.9) for both networks
    results: dict[str, np.ndarray] = {}

    class Record(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.logs = []

        def _weights(self, step):
            _ = self.model  # on JAX, reading Callback.model copies fit's state back into the variables
            for net in nets:
                for v in net.trainable_variables:
                    results[f"w{step}/{net.name}/{v.path}"] = np.array(keras.ops.convert_to_numpy(v))

        def on_train_batch_begin(self, batch, logs=None):
            self._weights(batch)

        def on_train_batch_end(self, batch, logs=None):
            self.logs.append([float(logs[k]) for k in ("d_loss", "g_loss", "gp", "wasserstein")])

    record = Record()
    batches = LoopBatches(audio_examples(), batch_size=batch, d_steps=d_steps, seed=5, steps=steps)
    gan.fit(batches, epochs=1, shuffle=False, verbose=0, callbacks=[record])  # as run.py: batch k is step k
    record._weights(len(batches))
    # fit reports running means over the epoch; step k's own value is (k+1) m_k - k m_{k-1}
    means = np.array(record.logs, dtype=np.float64)
    counts = np.arange(1, steps + 1)[:, None]
    results["logs"] = means * counts - np.vstack([np.zeros((1, 4)), means[:-1] * counts[:-1]])
    results["shuffle_layers"] = np.array([layer.name for layer in gan.discriminator.layers
                                          if "phase_shuffle" in layer.name])
    np.savez(out_dir / "results.npz", backend=np.array(keras.backend.backend()), **results)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0]), *map(int, args[1:5]), Path(args[5]) if len(args) > 5 else None)
