"""``beatgan similarity``: how many generated loops are near-copies of training loops."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``similarity`` verb."""
    from beatgan.cli._loop_sets import add_source_arguments

    parser = subparsers.add_parser(
        "similarity",
        help="novelty report: nearest training loop of every generated loop",
        description=(
            "For every generated loop, find its most similar training loop by BeatGAN's score "
            "sum((a-b)^2)/sum(a^2) (a = training loop; <= threshold means near-copy) and by log-mel "
            "distance. Prints the report and writes report.json, report.txt and figures."
        ),
    )
    add_source_arguments(parser)
    parser.add_argument("-n", "--count", type=int, default=200, help="loops to generate with --weights (default: 200)")
    parser.add_argument("-o", "--output", default="similarity_report", metavar="DIR",
                        help="report folder (default: similarity_report)")
    parser.add_argument("--no-logmel", dest="logmel", action="store_false", help="skip the log-mel distance")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Build, print and save the novelty report. Returns 0."""
    from beatgan.cli._loop_sets import load_sets
    from beatgan.report import novelty_report, save_report

    generated, gen_names, training, train_names, rate = load_sets(args)
    report = novelty_report(
        generated, training, sample_rate=rate, threshold=args.threshold, generated_names=gen_names,
        training_names=train_names, logmel=args.logmel, progress=not args.quiet,
    )
    paths = save_report(report, args.output, generated=generated, training=training)
    print(report.to_text())
    print(f"wrote {', '.join(str(p) for p in paths.values() if p is not None)}")
    return 0
