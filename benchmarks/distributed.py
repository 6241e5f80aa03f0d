"""Scaling over processes: two processes of one core each against one process of one core, same per-process batch.

Each process is pinned to its own core (``taskset``) and trains the same small
WaveGAN on JAX; the two-process run talks through gloo on 127.0.0.1, as two hosts
would over their network. Steps per second come from each run's ``metrics.jsonl``
(the mean of its lines after the first, which holds the compilation). With the
per-process batch fixed, perfect scaling keeps steps per second (and doubles the
examples per second); the efficiency is ``steps/s(2) / steps/s(1)``.

It also prints the bytes every process all-reduces per generator step (the
float32 gradients: ``d_steps`` critic updates and one generator update) for the
benchmarked size and for the paper's full size, and what a ring all-reduce of them
costs between two hosts at 100 Gb/s.

    python benchmarks/distributed.py [--model-dim 4] [--batch-size 4] [--d-steps 5] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK_GBPS = 100.0  # Gb/s between hosts, for the arithmetic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rate(run_dir: Path) -> float:
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    later = [l["steps_per_sec"] for l in lines[1:]] or [lines[0]["steps_per_sec"]]
    return sum(later) / len(later)


def train(dataset: Path, run_dir: Path, args, processes: int) -> float:
    env = {**os.environ, "KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("XLA_FLAGS", None)
    common = [sys.executable, "-m", "beatgan", "train", str(dataset), "--run-dir", str(run_dir), "--backend", "jax",
              "--model-dim", str(args.model_dim), "--batch-size", str(args.batch_size * processes),
              "--d-steps", str(args.d_steps), "--steps", str(args.steps), "--log-every", str(args.log_every),
              "--eval-every", "0", "--no-tensorboard", "--checkpoint-every", str(args.steps), "--quiet"]
    port = free_port()
    launched = []
    for i in range(processes):
        extra = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes), "--process-id", str(i)] \
            if processes > 1 else []
        launched.append(subprocess.Popen(["taskset", "-c", str(i % os.cpu_count()), *common, *extra], cwd=REPO,
                                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in launched:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"a training process failed:\n{err[-3000:]}")
    return rate(run_dir)


def gradient_bytes(model_dim: int, d_steps: int) -> tuple[int, int, int]:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from beatgan.config import ModelConfig
    from beatgan.model import build_discriminator, build_generator

    config = ModelConfig(model_dim=model_dim)
    g, d = build_generator(config).count_params(), build_discriminator(config).count_params()
    return g, d, 4 * (d_steps * d + g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dim", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4, help="examples per process per update")
    parser.add_argument("--d-steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--log-every", type=int, default=5)
    args = parser.parse_args()
    import numpy as np

    from beatgan.data import save_dataset

    work = Path(tempfile.mkdtemp(prefix="beatgan-distributed-"))
    try:
        audio = np.random.default_rng(0).uniform(-0.5, 0.5, (64, 16384, 2)).astype(np.float32)
        dataset = save_dataset(work / "data.npz", audio, [f"loop_{i}" for i in range(64)], sample_rate=14700)
        began = time.time()
        one = train(dataset, work / "one", args, 1)
        two = train(dataset, work / "two", args, 2)
        print(f"model_dim {args.model_dim}, {args.batch_size} examples per process per update, d_steps "
              f"{args.d_steps}, {args.steps} steps, JAX on CPU, each process pinned to one core "
              f"({time.time() - began:.0f} s in all)")
        print(f"1 process  x 1 core : {one:.3f} G steps/s  ({one * args.batch_size:.2f} examples/s)")
        print(f"2 processes x 1 core: {two:.3f} G steps/s  ({two * 2 * args.batch_size:.2f} examples/s)")
        print(f"scaling efficiency  : {two / one:.1%} (steps/s of 2 processes over 1, same per-process batch)")
        for label, dim in (("benchmarked", args.model_dim), ("full size", 64)):
            g, d, total = gradient_bytes(dim, args.d_steps)
            seconds = 2 * (2 - 1) / 2 * total / (LINK_GBPS * 1e9 / 8)
            print(f"gradients, {label} (d={dim}): G {g:,} + {args.d_steps} x D {d:,} parameters -> "
                  f"{total / 1e6:.1f} MB all-reduced per G step; ring all-reduce between 2 hosts at "
                  f"{LINK_GBPS:g} Gb/s: {seconds * 1e3:.1f} ms per G step")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
