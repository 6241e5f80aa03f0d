"""Check beatgan.musicnn's eager port of MSD_musicnn against the package's own TF1 graph.

The TF1 graph (``musicnn.models.define_model`` + ``Saver.restore``) needs the legacy
tf-keras and ``disable_eager_execution()``, so it runs in a child process with
``TF_USE_LEGACY_KERAS=1``; nothing leaks into this one. Both sides get the same float32
log-mel inputs (drum-like loops and noise of several lengths), and the script prints the
largest absolute difference of the 200-d penultimate features; it fails above 1e-4.

Usage::

    pip install --no-deps --target /tmp/tfkeras_site tf-keras==2.21.0   # once, kept out of the venv
    python benchmarks/musicnn_parity.py --tf-keras-path /tmp/tfkeras_site

Exit status 0: within tolerance; 1: a larger difference; 2: tf-keras is not available.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

TOLERANCE = 1e-4


def _tf1_features(inputs: np.ndarray) -> np.ndarray:
    """Run the package's TF1 graph on (N, frames, 96) inputs (child process only)."""
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from musicnn import models

    from beatgan.musicnn import checkpoint_folder

    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, inputs.shape[1], 96])
        is_training = tf.compat.v1.placeholder(tf.bool)
        out = models.define_model(x, is_training, "MSD_musicnn", 50)
        penultimate = out[-1]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, str(checkpoint_folder()) + "/")
        return sess.run(penultimate, feed_dict={x: inputs, is_training: False})


def _inputs(frames: int, seed: int) -> np.ndarray:
    """Log-mel inputs of 8 loud synthetic drum loops and 4 noise clips, (12, frames, 96)."""
    from beatgan import musicnn

    rng = np.random.default_rng(seed)
    n = (frames - 1) * musicnn.HOP
    t = np.arange(n) / musicnn.SAMPLE_RATE
    loops = []
    for i in range(8):
        y = np.zeros(n)
        step = int(musicnn.SAMPLE_RATE * 60 / rng.uniform(90, 150) / 4)
        for s in range(0, n, step):
            tt = t[: n - s]
            if rng.random() < 0.4:
                y[s:] += np.sin(2 * np.pi * (50 * tt + 2 * (1 - np.exp(-tt / 0.03)))) * np.exp(-tt / 0.1)
            y[s:] += rng.standard_normal(n - s) * 0.3 * np.exp(-tt / rng.uniform(0.01, 0.08))
        loops.append(0.99 * y / np.abs(y).max())
    for i in range(4):
        loops.append(rng.uniform(-0.5, 0.5, n))
    return musicnn.log_mel(np.stack(loops).astype(np.float32))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf-keras-path", default=None,
                        help="folder holding tf_keras (pip --target), added to the child's PYTHONPATH")
    parser.add_argument("--child", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        np.save(args.child[1], _tf1_features(np.load(args.child[0])))
        return 0

    from beatgan import musicnn

    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (args.tf_keras_path, repo, env.get("PYTHONPATH")) if p)
    probe = subprocess.run([sys.executable, "-c", "import tf_keras"], env=env, capture_output=True)
    if probe.returncode != 0:
        print("SKIP: tf-keras is not importable; pip install --no-deps --target DIR tf-keras==2.21.0 "
              "and pass --tf-keras-path DIR")
        return 2
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for frames, seed in ((70, 0), (140, 1), (187, 2)):  # 1.11 s, 2.23 s loops; musicnn's 3 s patch
            inputs = _inputs(frames, seed)
            src, dst = Path(tmp, "in.npy"), Path(tmp, "out.npy")
            np.save(src, inputs)
            subprocess.run([sys.executable, __file__, "--child", str(src), str(dst)], env=env, check=True)
            reference = np.load(dst)
            ported = musicnn.embedder().from_log_mel(inputs)
            diff = float(np.max(np.abs(reference - ported)))
            scale = float(np.max(np.abs(reference)))
            print(f"frames={frames}: max |TF1 - port| = {diff:.3g} (features up to {scale:.3g})")
            worst = max(worst, diff)
    print(f"max abs difference {worst:.3g}; tolerance {TOLERANCE:g}: {'OK' if worst <= TOLERANCE else 'FAIL'}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
