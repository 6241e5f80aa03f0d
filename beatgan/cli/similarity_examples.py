"""``beatgan similarity-examples``: listening examples of the similarity score."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``similarity-examples`` verb."""
    from beatgan.cli._loop_sets import add_source_arguments

    parser = subparsers.add_parser(
        "similarity-examples",
        help="write generated loops with their nearest training loops and scores",
        description=(
            "Pick -n generated loops spread from the closest to the most novel, and write each "
            "to its own folder with its -k nearest training loops (24-bit WAV) and a README of scores."
        ),
    )
    add_source_arguments(parser)
    parser.add_argument("-n", "--examples", type=int, default=4, help="examples to write (default: 4)")
    parser.add_argument("--pool", dest="count", type=int, default=100,
                        help="loops generated with --weights to pick the examples from (default: 100)")
    parser.add_argument("-o", "--output", default="similarity_metric_examples", metavar="DIR",
                        help="output folder (default: similarity_metric_examples)")
    parser.add_argument("-k", type=int, default=3, help="nearest training loops per example (default: 3)")
    parser.add_argument("--no-training-audio", dest="training_audio", action="store_false",
                        help="name the nearest training loops without writing their audio "
                             "(for examples shipped where the training audio may not be)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the examples; print one line per example. Returns 0."""
    import json

    from beatgan.cli._loop_sets import load_sets
    from beatgan.examples import write_similarity_examples

    generated, gen_names, training, train_names, rate = load_sets(args)
    folders = write_similarity_examples(
        generated, training, args.output, sample_rate=rate, n=args.examples, k=args.k,
        generated_names=gen_names, training_names=train_names, threshold=args.threshold,
        training_audio=args.training_audio,
    )
    summary = json.loads((folders[0].parent / "examples.json").read_text())
    for folder, record in zip(folders, summary["examples"]):
        best = record["nearest"][0]
        print(f"{folder}: {record['generated']} <- {best['training']} score {best['score']:.4g}")
    return 0
