"""Throughput of WaveGAN's WGAN-GP training step, in steps/s and FLOP/s.

One generator (G) step is one ``WaveGAN.train_step``: ``d_steps`` discriminator
(D) updates then one G update, so D steps/s = d_steps * G steps/s (the original
BeatGAN ran about 2.3 D steps/s on a Tesla P100). Timing goes through
``model.fit`` as training does, after ``--warmup`` steps (which include tracing
or compiling).

FLOPs are counted analytically from the layer plan, per example, with
``F_G`` / ``F_D`` the forward FLOPs of generator / critic (2 per multiply-add;
a convolution costs ``out_len * kernel * in_ch * out_ch * 2``, a transposed one
``in_len * kernel * in_ch * out_ch * 2``, a dense layer ``2 * in * out``;
activations, phase shuffle and the optimizer are ignored)::

    D update  = F_G                    generator forward, not differentiated
              + 2 F_D + 2 * 2 F_D      critic on real and fake, backward = 2x forward
              + F_D + F_D              penalty: critic forward, gradient wrt its input (1x)
              + 2 * (F_D + F_D)        double backward through both to the weights (2x)
              = F_G + 12 F_D
    G update  = 3 F_G + 2 F_D          forward both, backward D to its input (1x), G (2x)
    G step    = batch * (d_steps * (F_G + 12 F_D) + 3 F_G + 2 F_D)

``--xla-flops`` (JAX only) adds XLA's own count of a compiled step
(``jax.jit(...).lower(...).compile().cost_analysis()``) as a cross-check. XLA
counts the body of a loop once, and the JAX step runs its D updates as a
``lax.scan``, so the check compiles a step with ``d_steps=1`` and compares it
with the analytic count for ``d_steps=1``.

``--devices N`` trains data-parallel on N devices (``--batch-size`` is the
global batch; see :func:`beatgan.backend.data_parallel`); ``--steps-per-execution K`` runs
K G steps per call of the train function. ``--peak-tflops X`` (or ``--device
NAME`` from :data:`PEAK_TFLOPS`) prints the achieved share of that peak, summed
over the devices used.

Examples
--------
    python benchmarks/train_step.py --backend jax --model-dim 8 --batch-size 8 --steps 5
    python benchmarks/train_step.py --backend jax --precision bfloat16 --device h100-sxm --steps 20 --warmup 3
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

# Dense peak TFLOP/s per device from the vendors' data sheets, by compute dtype of the benchmark.
# "float32" is the non-tensor-core FP32 rate: XLA uses TF32 tensor cores for float32 matmuls and
# convolutions only when allowed (JAX's default precision does allow it on Ampere and later).
PEAK_TFLOPS = {
    "h100-sxm": {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4},
    "h100-pcie": {"float32": 51.2, "tf32": 378.0, "bfloat16": 756.0},
    "h200": {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4},  # same compute as H100 SXM
    "a100": {"float32": 19.5, "tf32": 156.0, "bfloat16": 312.0},
}


def forward_flops(model_config) -> tuple[float, float]:
    """Return the forward FLOPs of one example through the generator and the critic."""
    from beatgan.model import BASE_LENGTH, discriminator_plan, generator_plan

    k = model_config.kernel_len
    plan = generator_plan(model_config)
    width = plan[0][0] * plan[0][1]  # the dense layer's channels: 16d (32d for long slices)
    generator = 2 * model_config.latent_dim * BASE_LENGTH * width
    length, channels = BASE_LENGTH, width
    for filters, stride in plan:
        generator += 2 * length * k * channels * filters
        length, channels = length * stride, filters
    critic, length, channels = 0, model_config.slice_len, model_config.channels
    for filters, stride in discriminator_plan(model_config):
        length //= stride
        critic += 2 * length * k * channels * filters
        channels = filters
    critic += 2 * length * channels  # dense to one score
    return float(generator), float(critic)


def step_flops(model_config, train_config) -> float:
    """FLOPs of one G step (see the module docstring for the accounting)."""
    f_g, f_d = forward_flops(model_config)
    per_example = train_config.d_steps * (f_g + 12 * f_d) + 3 * f_g + 2 * f_d
    return train_config.batch_size * per_example


def xla_flops(model_config, train_config, data) -> float:
    """XLA's FLOP count of one compiled G step of a fresh model (JAX backend).

    ``data`` is float32 (d_steps * batch_size, slice_len, channels).
    """
    import jax

    from beatgan.gan import WaveGAN
    from beatgan.gan_jax import train_step_jax

    gan = WaveGAN(model_config, train_config)
    gan.compile()
    state = (
        [v.value for v in gan.trainable_variables],
        [v.value for v in gan.non_trainable_variables],
        [v.value for v in gan.optimizer.variables],
        [v.value for v in gan.metrics_variables],
    )
    compiled = jax.jit(lambda s, x: train_step_jax(gan, s, x)).lower(state, data).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis["flops"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dim", type=int, default=64, help="d, the width multiplier (64)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per update (64)")
    parser.add_argument("--slice-len", type=int, default=16384, help="samples per example (16384)")
    parser.add_argument("--channels", type=int, default=2, help="1 or 2 (2)")
    parser.add_argument("--d-steps", type=int, default=5, help="D updates per G step (5)")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow")
    parser.add_argument("--steps", type=int, default=3, help="timed G steps after warm-up (3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed G steps, tracing included (1)")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="float32",
                        help="compute precision, as `beatgan train --precision` (default float32)")
    parser.add_argument("--mixed-precision", dest="precision", action="store_const", const="bfloat16",
                        help="the same as --precision bfloat16")
    parser.add_argument("--xla-flops", action="store_true", help="also print XLA's FLOP count (JAX)")
    parser.add_argument("--devices", type=int, default=1, help="data-parallel devices; batch is global (1)")
    parser.add_argument("--steps-per-execution", type=int, default=1, help="G steps per train-function call (1)")
    parser.add_argument("--device", choices=sorted(PEAK_TFLOPS), default=None,
                        help="device whose data-sheet peak the achieved FLOP/s is compared with")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="peak TFLOP/s of one device (overrides --device)")
    args = parser.parse_args(argv)

    os.environ["KERAS_BACKEND"] = args.backend  # before keras is imported
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.backend import data_parallel
    from beatgan.gan import LoopBatches, WaveGAN

    model_config = ModelConfig(model_dim=args.model_dim, slice_len=args.slice_len, channels=args.channels)
    total = args.warmup + args.steps
    train_config = TrainConfig(batch_size=args.batch_size, d_steps=args.d_steps, steps=total,
                               precision=args.precision)
    distribution = data_parallel(args.devices, batch_size=args.batch_size)
    devices = distribution.__enter__()  # left active to the end: under JAX fit needs it
    gan = WaveGAN(model_config, train_config)
    gan.compile(steps_per_execution=args.steps_per_execution)
    rows = args.batch_size * args.d_steps
    audio = np.random.default_rng(0).uniform(-1, 1, (rows, args.slice_len, args.channels)).astype("float32")

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.cpu, self.losses = [], [], []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(float(logs["d_loss"]))  # float() waits for the step (JAX dispatches async)
            self.times.append(time.perf_counter())
            self.cpu.append(time.process_time())  # all threads: robust to other work sharing the cores

    clock = Clock()
    start = time.perf_counter()
    gan.fit(LoopBatches(audio, batch_size=args.batch_size, d_steps=args.d_steps, seed=0, steps=total),
            epochs=1, verbose=0, callbacks=[clock])
    # with steps_per_execution > 1 a callback sees one batch per execution: count executions
    spe = args.steps_per_execution
    warm_calls = -(-args.warmup // spe)
    warm = clock.times[warm_calls - 1] if warm_calls else start
    timed = total - min(total, warm_calls * spe)
    if timed <= 0:
        raise SystemExit("no timed steps left after warm-up; raise --steps")
    g_per_s = timed / (clock.times[-1] - warm)
    cpu_per_step = (clock.cpu[-1] - clock.cpu[warm_calls - 1]) / timed if warm_calls else float("nan")
    flops = step_flops(model_config, train_config)
    f_g, f_d = forward_flops(model_config)

    print(f"backend      {args.backend} (keras {keras.__version__}, jit_compile={gan.jit_compile}) "
          f"on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; devices {', '.join(devices)}; "
          f"steps_per_execution {spe}")
    print(f"model        d={args.model_dim} slice_len={args.slice_len} channels={args.channels} "
          f"G {gan.generator.count_params():,} D {gan.discriminator.count_params():,} params, "
          f"precision={gan.train_config.precision} (asked: {args.precision})")
    print(f"batch        {args.batch_size} x d_steps {args.d_steps}; warm-up {total - timed} step(s) "
          f"{warm - start:.1f} s (tracing/compiling included), timed {timed} step(s)")
    print(f"G steps/s    {g_per_s:.4g}  ({1 / g_per_s:.3g} s per G step)")
    print(f"D steps/s    {args.d_steps * g_per_s:.4g}")
    print(f"CPU time     {cpu_per_step:.3g} s per G step (user + system, all threads)")
    print(f"FLOPs/G step {flops:.4g} analytic (forward per example: G {f_g:.4g}, D {f_d:.4g})")
    print(f"achieved     {flops * g_per_s / 1e9:.4g} GFLOP/s")
    peak = args.peak_tflops
    if peak is None and args.device:
        peak = PEAK_TFLOPS[args.device]["bfloat16" if args.precision == "bfloat16" else "float32"]
    if peak:
        share = flops * g_per_s / (peak * 1e12 * args.devices)
        print(f"of peak      {100 * share:.3g} % of {args.devices} x {peak:g} TFLOP/s"
              + (f" ({args.device}, {'bfloat16' if args.precision == 'bfloat16' else 'float32 non-tensor'})"
                 if args.device and args.peak_tflops is None else ""))
    print(f"losses       d_loss {clock.losses[-1]:.4g} (finite: {all(np.isfinite(clock.losses))})")
    if args.xla_flops:
        if args.backend != "jax":
            print("xla flops    only on --backend jax", file=sys.stderr)
        else:
            one = train_config.replace(d_steps=1)
            counted = xla_flops(model_config, one, keras.ops.convert_to_tensor(audio[: args.batch_size]))
            analytic = step_flops(model_config, one)
            print(f"XLA FLOPs    {counted:.4g} per G step with d_steps=1, analytic {analytic:.4g} "
                  f"({counted / analytic:.3g}x)")
    distribution.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
