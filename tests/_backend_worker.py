"""Backend-specific training checks, run in a subprocess by tests/test_train.py.

A Keras backend is fixed per process, so the tests run this script once with
``KERAS_BACKEND=tensorflow`` and once with ``KERAS_BACKEND=jax``::

    python tests/_backend_worker.py OUT_DIR [PEER_DIR]

It writes ``OUT_DIR/results.npz`` (losses, weights, generator outputs) and
``OUT_DIR/generator/`` (float32 generator weights). With ``PEER_DIR`` (the other
backend's output) it starts the fixed-noise comparison from the peer's initial
weights and loads the peer's exported generator. Tiny models keep it fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(out_dir: Path, peer_dir: Path | None) -> None:
    import keras

    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.gan import LoopBatches, WaveGAN
    from beatgan.checkpoint import export_generator, load_generator

    backend = keras.backend.backend()
    results: dict[str, np.ndarray] = {}
    audio = np.random.default_rng(0).uniform(-0.9, 0.9, (8, 16384, 2)).astype("float32")

    class StepLogs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append([float(logs[k]) for k in ("d_loss", "g_loss", "gp", "wasserstein")])

    def fit(gan, config, steps):
        logs = StepLogs()
        batches = LoopBatches(audio, batch_size=config.batch_size, d_steps=config.d_steps, seed=5, steps=steps)
        gan.fit(batches, epochs=1, verbose=0, callbacks=[logs])
        return np.array(logs.rows)

    def weights(gan):
        return {f"{net.name}/{v.path}": np.array(v.numpy()) for net in (gan.generator, gan.discriminator)
                for v in net.trainable_variables}

    # 1. Same weights, real batches and noise, no phase shuffle: the two backends' steps must agree.
    model_config = ModelConfig(model_dim=2, phase_shuffle=0)
    train_config = TrainConfig(batch_size=2, d_steps=2, seed=3)
    rng = np.random.default_rng(1)
    noise = (
        rng.uniform(-1, 1, (2, 2, 100)).astype("float32"),
        rng.uniform(0, 1, (2, 2, 1, 1)).astype("float32"),
        rng.uniform(-1, 1, (2, 100)).astype("float32"),
    )

    class FixedNoise(WaveGAN):
        def draw_step_noise(self, batch_size):
            return noise

    init_path = (peer_dir or out_dir) / "init.npz"
    gan = FixedNoise(model_config, train_config)
    if peer_dir is None:
        np.savez(init_path, **weights(gan))
    init = np.load(init_path)
    for net in (gan.generator, gan.discriminator):
        for v in net.trainable_variables:
            v.assign(init[f"{net.name}/{v.path}"])
    # SGD: a weight's change is proportional to its gradient, so comparing weights compares gradients
    gan.compile(d_optimizer=keras.optimizers.SGD(1e-2), g_optimizer=keras.optimizers.SGD(1e-2))
    results["fixed_logs"] = fit(gan, train_config, steps=2)
    for key, value in weights(gan).items():
        results[f"fixed_weights/{key}"] = value

    # 2. Default step (phase shuffle on, 5 critic updates): finite and learning; on TensorFlow
    # twice with one seed, in fresh models, to check it is repeatable.
    model_config = ModelConfig(model_dim=2)
    train_config = TrainConfig(batch_size=2, seed=7)
    for run in ("a", "b") if backend == "tensorflow" else ("a",):
        gan = WaveGAN(model_config, train_config)
        gan.compile()
        before = weights(gan)
        results[f"random_{run}_logs"] = fit(gan, train_config, steps=3)
        after = weights(gan)
        results[f"random_{run}_init"] = np.concatenate([w.ravel() for w in before.values()])
        results[f"random_{run}_final"] = np.concatenate([w.ravel() for w in after.values()])
        results[f"random_{run}_iterations"] = np.array(
            [int(keras.ops.convert_to_numpy(opt.iterations)) for opt in (gan.d_optimizer, gan.g_optimizer)]
        )
    results["random_keys"] = np.array(list(after))
    results["random_changed"] = np.array([not np.array_equal(before[k], after[k]) for k in after])

    # 3. Generator weights exported here load under the other backend with the same output.
    z = np.random.default_rng(2).uniform(-1, 1, (3, 100)).astype("float32")
    export_generator(gan.generator, model_config, out_dir / "generator", dtype="float32")
    results["generator_out"] = keras.ops.convert_to_numpy(gan.generator(z, training=False))
    if peer_dir is not None:
        loaded, _ = load_generator(peer_dir / "generator")
        results["peer_generator_out"] = keras.ops.convert_to_numpy(loaded(z, training=False))

    # 4. Mixed precision (bfloat16 compute): finite losses.
    gan = WaveGAN(ModelConfig(model_dim=2), TrainConfig(batch_size=2, d_steps=1, precision="bfloat16"))
    gan.compile()
    results["mixed_logs"] = fit(gan, gan.train_config, steps=1)
    results["mixed_compute_dtype"] = np.array(gan.discriminator.get_layer("conv_0").compute_dtype)
    # after a step, weights and optimizer moments are still float32 (only the compute is bfloat16)
    floats = [v for v in gan.trainable_variables + gan.d_optimizer.variables + gan.g_optimizer.variables
              if "int" not in str(v.dtype)]
    results["mixed_variable_dtypes"] = np.array(sorted({str(v.dtype) for v in floats}))
    results["mixed_log_dtypes"] = np.array(sorted({str(keras.ops.convert_to_numpy(t.result()).dtype)
                                                    for t in gan.metrics}))

    np.savez(out_dir / "results.npz", backend=np.array(backend), **results)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
