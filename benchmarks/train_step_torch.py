"""The same WaveGAN WGAN-GP step written in PyTorch, timed on the CPU: the field's speed to compare with.

    python benchmarks/train_step_torch.py --model-dim 32 --batch-size 32 [--precision bfloat16] [--threads N]

A yardstick only, not part of the package: PyTorch is not a dependency of BeatGAN (install it in a
separate environment, ``pip install torch numpy``). The networks follow the layer plan of
:mod:`beatgan.model` (WaveGAN v1 at 16384 samples: dense to 16 x 16d, five transposed convolutions of
kernel 25 and stride 4; five convolutions, LeakyReLU 0.2, phase shuffle of radius 2 shared by the
batch with reflection padding, dense to one score), written the way PyTorch ports of WaveGAN write them
(channels first, ``padding=11`` / ``output_padding=1``). One G step is ``--d-steps`` critic updates,
each with the gradient penalty (``autograd.grad(..., create_graph=True)``, per-example norm) and Adam
(1e-4, 0.5, 0.9), then one generator update. ``--precision bfloat16`` runs the forward passes under
``torch.autocast("cpu", torch.bfloat16)`` with float32 weights, losses and penalty, as Keras'
``mixed_bfloat16`` does. Prints wall and CPU seconds per G step (medians of the timed steps) on one line, in the
same form as ``benchmarks/train_step.py``, so ``benchmarks/RESULTS.md`` can set them side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

KERNEL, BASE, LATENT = 25, 16, 100


class PhaseShuffle(nn.Module):
    """Shift the batch along time by one integer in [-radius, radius], gaps filled by reflection."""

    def __init__(self, radius: int):
        super().__init__()
        self.radius = radius

    def forward(self, x):  # (B, C, T)
        r = self.radius
        k = int(torch.randint(-r, r + 1, ()))
        padded = F.pad(x, (r, r), mode="reflect")  # (B, C, T + 2r)
        return padded[..., r - k: r - k + x.shape[-1]]  # out[t] = x[t - k]


def generator(d: int, channels: int) -> nn.Module:
    widths = [16 * d, 8 * d, 4 * d, 2 * d, d, channels]
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.ConvTranspose1d(cin, cout, KERNEL, stride=4, padding=11, output_padding=1))  # (B, cout, 4L)
        layers.append(nn.ReLU() if i < len(widths) - 2 else nn.Tanh())

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(LATENT, BASE * 16 * d)  # (B, 16 * 16d)
            self.body = nn.Sequential(*layers)  # (B, 16d, 16) -> (B, c, 16384)

        def forward(self, z):
            x = F.relu(self.dense(z).view(z.shape[0], 16 * d, BASE))  # (B, 16d, 16)
            return self.body(x)

    return Generator()


def discriminator(d: int, channels: int, radius: int = 2) -> nn.Module:
    widths = [channels, d, 2 * d, 4 * d, 8 * d, 16 * d]
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
        layers += [nn.Conv1d(cin, cout, KERNEL, stride=4, padding=11), nn.LeakyReLU(0.2)]  # (B, cout, L / 4)
        if i < len(widths) - 2:
            layers.append(PhaseShuffle(radius))
    layers += [nn.Flatten(), nn.Linear(16 * d * BASE, 1)]  # (B, 1)
    return nn.Sequential(*layers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--d-steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="timed G steps after warm-up (3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed G steps (1)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d, b, c, length = args.model_dim, args.batch_size, args.channels, 16384
    gen, disc = generator(d, c), discriminator(d, c)
    g_opt = torch.optim.Adam(gen.parameters(), 1e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(disc.parameters(), 1e-4, betas=(0.5, 0.9))
    real = torch.rand(args.d_steps, b, c, length) * 2 - 1
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bfloat16")

    def step():
        for i in range(args.d_steps):
            with torch.no_grad(), autocast:
                fake = gen(torch.rand(b, LATENT) * 2 - 1).float()  # (B, c, T)
            alpha = torch.rand(b, 1, 1)
            x_hat = (alpha * real[i] + (1 - alpha) * fake).requires_grad_(True)
            with autocast:
                d_real, d_fake, d_hat = disc(real[i]).float(), disc(fake).float(), disc(x_hat).float()
            (grad,) = torch.autograd.grad(d_hat.sum(), x_hat, create_graph=True)
            gp = ((grad.float().pow(2).sum(dim=(1, 2)) + 1e-12).sqrt() - 1).pow(2).mean()
            d_loss = d_fake.mean() - d_real.mean() + 10.0 * gp
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
        with autocast:
            g_loss = -disc(gen(torch.rand(b, LATENT) * 2 - 1)).float().mean()
        g_opt.zero_grad(set_to_none=True)
        disc.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        return float(d_loss), float(g_loss)

    for _ in range(args.warmup):
        step()
    times, cpu = [], []
    for _ in range(args.steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        losses = step()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)  # all threads: robust to other work sharing the cores
    per_step = statistics.median(times)
    finite = all(map(lambda v: v == v and abs(v) != float("inf"), losses))
    print(f"pytorch {torch.__version__} {args.precision} d={d} batch={b} d_steps={args.d_steps} "
          f"threads={torch.get_num_threads()}: {per_step:.3f} s per G step, "
          f"{args.d_steps / per_step:.3f} D steps/s, CPU time {statistics.median(cpu):.3f} s per G step, "
          f"losses finite: {finite}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
