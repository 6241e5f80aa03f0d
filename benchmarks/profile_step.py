"""Where the time of one WaveGAN WGAN-GP step goes on TensorFlow: the step timed by its parts.

    python benchmarks/profile_step.py --model-dim 32 --batch-size 32 [--precision bfloat16] [--repeats 3]

Each part is its own ``tf.function`` (graph mode, as ``fit`` runs the step on a CPU), warmed up once and
timed in CPU seconds (user + system, all threads) as the median of ``--repeats`` calls, on the networks and optimizers of a real
:class:`beatgan.gan.WaveGAN`:

- ``G forward``: the generator on one batch of latents (each critic update makes one fake batch);
- ``D forward``: the critic on one batch;
- ``D loss grads, no penalty``: critic on real and fake, backward to its weights;
- ``D loss grads, with penalty``: the same plus the penalty (critic forward on the interpolates, its
  gradient with respect to them, and the second backward through it);
- ``D Adam apply``: one optimizer update of the critic's weights;
- ``G update``: generator and critic forward, backward to the generator, Adam;
- ``whole step``: ``WaveGAN.train_step`` (``d_steps`` critic updates and one generator update).

The penalty's share is the difference of the two ``D loss grads`` rows. The sum of the parts
(``d_steps`` x (G forward + D grads with penalty + apply) + G update) against the whole step shows the
cost outside the computation (Python, dispatch, tracking).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def op_times(logdir) -> dict[str, float]:
    """Seconds per TensorFlow op type in a profiler trace (``*.xplane.pb`` under ``logdir``).

    Host op events are named ``"name:Type"``; the executor's own events (no ``:``) are left out.
    """
    from pathlib import Path

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals: dict[str, float] = {}
    for path in Path(logdir).rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            names = {k: v.name for k, v in plane.event_metadata.items()}
            for line in plane.lines:
                for event in line.events:
                    name = names.get(event.metadata_id, "")
                    kind = name.rsplit(":", 1)[-1].strip()
                    if ":" in name and kind not in ("Run", "Process") and not kind.startswith(("ExecutorState", "__inference")):
                        totals[kind] = totals.get(kind, 0.0) + event.duration_ps * 1e-12
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--d-steps", type=int, default=5)
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trace", action="store_true",
                        help="also trace one whole step with the TensorFlow profiler and print time by op type")
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np
    import tensorflow as tf

    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.gan import WaveGAN, gradient_penalty
    from beatgan.losses import generator_loss

    model_config = ModelConfig(model_dim=args.model_dim)
    train_config = TrainConfig(batch_size=args.batch_size, d_steps=args.d_steps, precision=args.precision)
    gan = WaveGAN(model_config, train_config)
    gan.compile()
    gen, disc = gan.generator, gan.discriminator
    b, t, c = args.batch_size, model_config.slice_len, model_config.channels
    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, (b, t, c)), tf.float32)  # (B, T, C)
    z = tf.constant(rng.uniform(-1, 1, (b, model_config.latent_dim)), tf.float32)  # (B, 100)
    alpha = tf.constant(rng.uniform(0, 1, (b, 1, 1)), tf.float32)  # (B, 1, 1)
    rows = np.asarray(rng.uniform(-1, 1, (b * args.d_steps, t, c)), np.float32)
    fake = tf.constant(gen(z, training=True))
    d_vars, g_vars = disc.trainable_variables, gen.trainable_variables

    @tf.function
    def g_forward():
        return gen(z, training=True)

    @tf.function
    def d_forward():
        return disc(real, training=True)

    def d_grads(penalty: bool):
        @tf.function
        def run():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.cast(disc(fake, training=True), tf.float32)) - tf.reduce_mean(
                    tf.cast(disc(real, training=True), tf.float32))
                if penalty:
                    loss += 10.0 * gradient_penalty(disc, real, fake, alpha)
            return tape.gradient(loss, d_vars)
        return run

    zeros = [tf.zeros_like(v) for v in d_vars]

    @tf.function
    def d_apply():
        gan.d_optimizer.apply_gradients(zip(zeros, d_vars))

    @tf.function
    def g_update():
        with tf.GradientTape() as tape:
            loss = generator_loss(disc(gen(z, training=True), training=True))
        gan.g_optimizer.apply_gradients(zip(tape.gradient(loss, g_vars), g_vars))

    @tf.function
    def whole_step():
        return gan.train_step(rows)

    def timed(fn):
        fn()  # trace and warm up
        times = []
        for _ in range(args.repeats):
            start = time.process_time()  # CPU seconds, all threads: robust to other work on the cores
            out = fn()
            tf.nest.map_structure(lambda x: x.numpy() if hasattr(x, "numpy") else x, out)
            times.append(time.process_time() - start)
        return statistics.median(times)

    parts = {
        "G forward": timed(g_forward),
        "D forward": timed(d_forward),
        "D loss grads, no penalty": timed(d_grads(False)),
        "D loss grads, with penalty": timed(d_grads(True)),
        "D Adam apply": timed(d_apply),
        "G update": timed(g_update),
        "whole step": timed(whole_step),
    }
    parts_sum = (args.d_steps * (parts["G forward"] + parts["D loss grads, with penalty"] + parts["D Adam apply"])
                 + parts["G update"])
    print(f"tensorflow {tf.__version__} {args.precision} d={args.model_dim} batch={b} d_steps={args.d_steps}, "
          f"{os.environ.get('TF_NUM_INTRAOP_THREADS', 'default')} intra-op threads")
    print("| part | CPU ms | share of the step |")
    print("|---|---|---|")
    for name, seconds in parts.items():
        print(f"| {name} | {1000 * seconds:.0f} | {100 * seconds / parts['whole step']:.0f} % |")
    penalty = parts["D loss grads, with penalty"] - parts["D loss grads, no penalty"]
    print(f"| penalty (difference of the D grads rows) | {1000 * penalty:.0f} | "
          f"{100 * args.d_steps * penalty / parts['whole step']:.0f} % (x d_steps) |")
    print(f"| sum of the parts | {1000 * parts_sum:.0f} | {100 * parts_sum / parts['whole step']:.0f} % |")
    if args.trace:
        import tempfile

        with tempfile.TemporaryDirectory() as logdir:
            tf.profiler.experimental.start(logdir)
            whole_step()["d_loss"].numpy()
            tf.profiler.experimental.stop()
            totals = op_times(logdir)
        total = sum(totals.values())
        print(f"\nop types in one traced step ({total:.2f} s of op time):")
        print("| op type | s | share |")
        print("|---|---|---|")
        for kind, seconds in list(totals.items())[:25]:
            print(f"| {kind} | {seconds:.3f} | {100 * seconds / total:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
