"""Data-parallel checks, run in a subprocess by tests/test_distribute.py.

The Keras backend and the device count are fixed per process, so the test
runs this script once per backend with two host devices::

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 python tests/_distribute_worker.py OUT
    KERAS_BACKEND=tensorflow python tests/_distribute_worker.py OUT   # splits the CPU into 2 logical devices

It trains one tiny WaveGAN on one device and the same model on two devices
(same initial weights, global batches and noise; then the default step with
drawn noise, phase shuffle and Adam from one seed) and writes the runs' losses
and weights to ``OUT/results.npz``; under JAX it also counts how often the
train step is traced.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np


def split_cpu(count: int) -> None:
    """Give TensorFlow ``count`` logical CPU devices; must run before TensorFlow initialises."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def main(out_dir: Path) -> None:
    if os.environ.get("KERAS_BACKEND") == "tensorflow":
        split_cpu(2)
    import keras

    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.backend import available_devices, data_parallel
    from beatgan.gan import LoopBatches, WaveGAN

    backend = keras.backend.backend()
    results: dict[str, np.ndarray] = {"backend": np.array(backend), "devices": np.array(available_devices())}
    audio = np.random.default_rng(0).uniform(-0.9, 0.9, (16, 16384, 2)).astype("float32")
    model_config = ModelConfig(model_dim=2, phase_shuffle=0)
    train_config = TrainConfig(batch_size=4, d_steps=2, seed=3)
    steps = 3
    rng = np.random.default_rng(1)
    noise = (
        rng.uniform(-1, 1, (2, 4, 100)).astype("float32"),
        rng.uniform(0, 1, (2, 4, 1, 1)).astype("float32"),
        rng.uniform(-1, 1, (4, 100)).astype("float32"),
    )

    class FixedNoise(WaveGAN):
        """Feeds the same global-batch latents and penalty weights at every step."""

        def draw_step_noise(self, batch_size):
            return noise

    class StepLogs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append([float(logs[k]) for k in ("d_loss", "g_loss", "gp", "wasserstein")])

    def weights(gan):
        return {f"{net.name}/{v.path}": np.array(keras.ops.convert_to_numpy(v.value))
                for net in (gan.generator, gan.discriminator) for v in net.trainable_variables}

    init = None
    for devices in (1, 2):
        with data_parallel(devices, batch_size=train_config.batch_size):
            gan = FixedNoise(model_config, train_config)
            if init is None:
                init = weights(gan)
            for net in (gan.generator, gan.discriminator):
                for v in net.trainable_variables:
                    v.assign(init[f"{net.name}/{v.path}"])
            # SGD: a weight's change is proportional to its gradient, so equal weights mean equal gradients
            gan.compile(d_optimizer=keras.optimizers.SGD(1e-2), g_optimizer=keras.optimizers.SGD(1e-2))
            logs = StepLogs()
            batches = LoopBatches(audio, batch_size=4, d_steps=2, seed=5, steps=steps)
            history = gan.fit(batches, epochs=1, verbose=0, shuffle=False, callbacks=[logs])
        results[f"logs_{devices}"] = np.array(logs.rows)
        results[f"epoch_{devices}"] = np.array([history.history[k][-1] for k in ("d_loss", "g_loss", "gp", "wasserstein")])
        results[f"iterations_{devices}"] = np.array(
            [int(keras.ops.convert_to_numpy(o.iterations)) for o in (gan.d_optimizer, gan.g_optimizer)])
        for key, value in weights(gan).items():
            results[f"weights_{devices}/{key}"] = value

    # The default step (drawn noise, phase shuffle, Adam): the same seeds give the same run on two devices.
    for devices in (1, 2):
        with data_parallel(devices, batch_size=4):
            gan = WaveGAN(ModelConfig(model_dim=2), TrainConfig(batch_size=4, d_steps=2, seed=3))
            gan.compile()
            logs = StepLogs()
            gan.fit(LoopBatches(audio, batch_size=4, d_steps=2, seed=5, steps=2), epochs=1, verbose=0,
                    shuffle=False, callbacks=[logs])
        results[f"default_logs_{devices}"] = np.array(logs.rows)
        results[f"default_weights_{devices}"] = np.concatenate([w.ravel() for w in weights(gan).values()])

    if backend == "jax":  # the whole step is traced (and compiled) once, whatever the chunks and devices
        import beatgan.gan_jax as gan_jax

        traced = []
        original = gan_jax.train_step_jax

        def counting(*args):
            traced.append(1)
            return original(*args)

        gan_jax.train_step_jax = counting
        with data_parallel(2, batch_size=4):
            gan = WaveGAN(ModelConfig(model_dim=2), TrainConfig(batch_size=4, d_steps=2, seed=3, steps=6))
            gan.compile(steps_per_execution=2)
            for start, end in ((0, 3), (3, 6)):
                gan.fit(LoopBatches(audio, batch_size=4, d_steps=2, seed=5, steps=end, start_step=start),
                        epochs=1, verbose=0, shuffle=False)
        results["traces"] = np.array(len(traced))
        results["traced_steps"] = np.array(int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations)))

    np.savez(out_dir / "results.npz", **results)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
