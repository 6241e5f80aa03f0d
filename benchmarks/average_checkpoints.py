"""Average the generator weights of a run's kept checkpoints: the free stand-in for EMA (issue 25).

    python benchmarks/average_checkpoints.py RUN_DIR -o WEIGHTS_DIR [--last 5]

Reads the trained generator (not an EMA average, when the run keeps one) of the newest ``--last``
checkpoints of ``RUN_DIR/checkpoints``, averages each weight, and writes a weights directory
(``generator.npz`` float16, ``config.json``) for ``beatgan evaluate --weights``. With checkpoints
every 100 steps and five kept this is a uniform average over the last 400 steps, a crude cousin of
an EMA of decay 0.995-0.999. ``benchmarks/recipe.py --study options`` evaluates it for the baseline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--last", type=int, default=5, help="newest checkpoints to average (default 5)")
    args = parser.parse_args(argv)

    from beatgan.checkpoint import CHECKPOINTS_DIR, checkpoint_step, export_generator, list_checkpoints, read_checkpoint
    from beatgan.model import build_generator
    from beatgan.run import read_run_config

    config = read_run_config(args.run_dir)["model"]
    chosen = list_checkpoints(args.run_dir / CHECKPOINTS_DIR)[-args.last:]
    if not chosen:
        print(f"{args.run_dir} keeps no checkpoint", file=sys.stderr)
        return 1
    generator = build_generator(config)
    keys = {f"generator/{layer.name}/{v.name}": v for layer in generator.layers for v in layer.variables}
    total = {key: 0.0 for key in keys}
    for path in chosen:
        arrays, _ = read_checkpoint(path)
        for key in keys:
            total[key] = total[key] + arrays[key].astype(np.float64)
    for key, variable in keys.items():
        variable.assign((total[key] / len(chosen)).astype(np.float32))
    export_generator(generator, config, args.output)
    steps = [checkpoint_step(p) for p in chosen]
    print(f"averaged the generator of steps {steps} of {args.run_dir} into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
