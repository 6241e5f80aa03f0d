"""The main job behind ``make run``: execute ``beat_gan.ipynb`` headless into ``outputs/``.

The notebook does the work (load, augment, build, train briefly, generate with
the shipped weights, vary, morph and recover loops, measure novelty and quality)
and writes its WAVs, reports and figures under the output folder; this script
runs it with papermill, saves the executed notebook and an HTML copy next to
them, and prints where they are.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/open_loops", help="open corpus folder (used when ULTIMATE_DRUM_LOOPS/ is empty)")
    parser.add_argument("--out", default="outputs", help="output folder")
    parser.add_argument("--notebook", default=str(ROOT / "beat_gan.ipynb"))
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="override a notebook parameter (value parsed as Python literal)")
    args = parser.parse_args(argv)

    import ast

    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from beatgan.notebook import kernel_config

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the kernel inherits it: no TensorFlow start-up chatter
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    parameters = {"corpus_folder": str(Path(args.data).resolve()), "output_dir": str(out)}
    for item in args.parameter:
        name, _, value = item.partition("=")
        try:
            parameters[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parameters[name] = value
    executed = out / "beat_gan.ipynb"
    start = time.perf_counter()
    print(f"main job: executing {args.notebook} -> {executed}", flush=True)
    papermill.execute_notebook(
        args.notebook, str(executed), parameters=parameters, cwd=str(ROOT), progress_bar=True, kernel_name="python3",
        config=kernel_config(),  # the kernel's connection encrypted (CurveZMQ): no "running over TCP" warning
    )
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    (out / "beat_gan.html").write_text(body)
    minutes = (time.perf_counter() - start) / 60
    print(f"\nmain job done in {minutes:.1f} min. Outputs in {out}:")
    for label, path in (
        ("executed notebook", executed), ("HTML copy", out / "beat_gan.html"),
        ("generated loops (14.7 kHz clips)", out / "generated" / "raw"),
        ("generated 4-bar loops (44.1 kHz)", out / "generated" / "loops"),
        ("novelty report", out / "similarity" / "report.txt"),
        ("recovery report", out / "similarity" / "recovery.txt"),
        ("quality metrics and anchors", out / "evaluation" / "evaluation.txt"), ("figures", out / "figures"),
    ):
        print(f"  {label:34s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
