"""Issue 25's options on one backend, run in a subprocess by tests/test_gan.py (a backend is fixed per process).

    python tests/_options_worker.py OUT_DIR [PEER_DIR]
    python tests/_options_worker.py --resume OUT_DIR

``--resume`` trains each of :data:`RESUME_CASES` (every model option and lever at once; the wgan loss,
whose RMSProp state and clipping the others lack) for three steps in one go and for two steps then resumed to three, through
``beatgan.run.train``, and writes both runs' step losses and final checkpoint variables.

For every case of :data:`CASES` (one option of ``ModelConfig`` / ``TrainConfig`` switched on in a
tiny model) it trains two generator steps from fixed initial weights (the peer's, given PEER_DIR)
with fixed latents, interpolation weights and critic augmentations and SGD optimizers (so that
weights compare gradients), and writes ``OUT_DIR/results.npz``: the step logs, every trainable
weight after the steps and, with EMA, the generator's weights after each step and their average.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

CASES = {
    "nearest": ({"upsample": "nearest"}, {}),
    "post_filter": ({"post_filter": 16}, {}),
    "batchnorm": ({"batchnorm": True}, {}),
    "minibatch_std": ({"minibatch_std": 2}, {}),
    "wgan": ({}, {"loss": "wgan"}),
    "dcgan": ({}, {"loss": "dcgan"}),
    "lsgan": ({}, {"loss": "lsgan"}),
    "hinge": ({}, {"loss": "hinge"}),
    "gp_every": ({}, {"gp_every": 2}),
    "ema": ({}, {"ema_decay": 0.75}),
    "critic_augment": ({}, {"critic_augment": "all"}),
}
BATCH, D_STEPS, STEPS, LR = 2, 2, 2, 1e-3
RESUME_CASES = {
    "all_options": ({"upsample": "nearest", "post_filter": 8, "batchnorm": True, "minibatch_std": 2},
                    {"ema_decay": 0.9, "critic_augment": "all", "gp_every": 2}),
    "wgan": ({}, {"loss": "wgan", "ema_decay": 0.5}),
}


def resume(out_dir: Path) -> None:
    import json

    from beatgan.checkpoint import list_checkpoints, read_checkpoint
    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.run import train

    audio = np.random.default_rng(0).uniform(-0.9, 0.9, (8, 16384, 2)).astype("float32")
    results = {}
    for case, (model_options, train_options) in RESUME_CASES.items():
        model_config = ModelConfig(model_dim=2, **model_options)
        for name, stops in (("straight", (3,)), ("resumed", (2, 3))):
            run_dir = out_dir / f"{case}_{name}"
            for steps in stops:
                train_config = TrainConfig(batch_size=BATCH, d_steps=D_STEPS, steps=steps, checkpoint_every=1,
                                           preview_every=100, seed=9, **train_options)
                train(audio, run_dir, model_config=model_config, train_config=train_config, progress=False,
                      eval_every=0, tensorboard=False, log_every=1)
            rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
            results[f"{case}/{name}/logs"] = np.array(
                [[r[k] for k in ("d_loss", "g_loss", "gp", "wasserstein")] for r in rows if "d_loss" in r])
            arrays, _ = read_checkpoint(list_checkpoints(run_dir / "checkpoints")[-1])
            for key, value in arrays.items():
                results[f"{case}/{name}/variables/{key}"] = value
    np.savez(out_dir / "resume.npz", **results)



def main(out_dir: Path, peer_dir: Path | None) -> None:
    import keras

    from beatgan import critic_augment
    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.gan import LoopBatches, WaveGAN

    results: dict[str, np.ndarray] = {"backend": np.array(keras.backend.backend())}
    audio = np.random.default_rng(0).uniform(-0.9, 0.9, (8, 16384, 2)).astype("float32")
    rng = np.random.default_rng(1)
    noise = (rng.uniform(-1, 1, (D_STEPS, BATCH, 100)).astype("float32"),
             rng.uniform(0, 1, (D_STEPS, BATCH, 1, 1)).astype("float32"),
             rng.uniform(-1, 1, (BATCH, 100)).astype("float32"))
    calls = D_STEPS + 1
    augment = {  # fixed draws of every transform, so both backends see the same ones
        "sign": np.where(rng.random((calls, BATCH, 1, 1)) < 0.5, -1.0, 1.0).astype("float32"),
        "swap": (rng.random((calls, BATCH, 1, 1)) < 0.5).astype("float32"),
        "gain": rng.uniform(0.5, 2.0, (calls, BATCH, 1, 1)).astype("float32"),
        "shift": rng.integers(-256, 257, (calls, BATCH)).astype("int32"),
        "noise": rng.uniform(-0.0011, 0.0011, (calls, BATCH, 16384, 2)).astype("float32"),
    }

    class Fixed(WaveGAN):
        def draw_step_noise(self, batch_size):
            return noise

        def draw_augment(self, batch_size):
            return dict(augment) if self.train_config.augmentations else {}

    class Steps(keras.callbacks.Callback):
        def __init__(self, gan):
            super().__init__()
            self.gan, self.rows, self.generators, self.averages = gan, [], [], []

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append([float(logs[k]) for k in ("d_loss", "g_loss", "gp", "wasserstein")])
            if self.gan.ema_generator is not None:
                if hasattr(self.gan, "jax_state_sync"):  # JAX's fit keeps the values in its state until asked
                    self.gan.jax_state_sync()
                self.generators.append(np.concatenate([np.ravel(keras.ops.convert_to_numpy(v.value)) for v in self.gan.generator.weights]))
                self.averages.append(np.concatenate([np.ravel(keras.ops.convert_to_numpy(v.value)) for v in self.gan.ema_generator.weights]))

    def trainable(gan):
        return {f"{net.name}/{v.path}": np.array(keras.ops.convert_to_numpy(v.value)) for net in (gan.generator, gan.discriminator)
                for v in net.trainable_variables}

    for case, (model_options, train_options) in CASES.items():
        model_config = ModelConfig(model_dim=2, phase_shuffle=0, **model_options)
        train_config = TrainConfig(batch_size=BATCH, d_steps=D_STEPS, seed=3, **train_options)
        gan = Fixed(model_config, train_config)
        init_path = (peer_dir or out_dir) / f"{case}_init.npz"
        if peer_dir is None:
            np.savez(init_path, **trainable(gan))
        with np.load(init_path) as init:
            for net in (gan.generator, gan.discriminator):
                for v in net.trainable_variables:
                    v.assign(init[f"{net.name}/{v.path}"])
        if gan.ema_generator is not None:
            gan.ema_generator.set_weights(gan.generator.get_weights())
        gan.compile(d_optimizer=keras.optimizers.SGD(LR), g_optimizer=keras.optimizers.SGD(LR))
        steps = Steps(gan)
        if gan.ema_generator is not None:
            steps.averages.append(np.concatenate([np.ravel(keras.ops.convert_to_numpy(v.value)) for v in gan.ema_generator.weights]))
        batches = LoopBatches(audio, batch_size=BATCH, d_steps=D_STEPS, seed=5, steps=STEPS)
        gan.fit(batches, epochs=1, verbose=0, callbacks=[steps])
        results[f"{case}/logs"] = np.array(steps.rows)
        for key, value in trainable(gan).items():
            results[f"{case}/weights/{key}"] = value
        if steps.generators:
            results[f"{case}/generators"] = np.array(steps.generators)  # (STEPS, P) after each step
            results[f"{case}/averages"] = np.array(steps.averages)  # (STEPS + 1, P), the start first
    np.savez(out_dir / "results.npz", **results)
    del critic_augment


if __name__ == "__main__":
    if sys.argv[1] == "--resume":
        resume(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
