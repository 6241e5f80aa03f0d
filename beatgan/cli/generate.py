"""``beatgan generate``: new loops from generator weights, as raw clips or DAW-ready loops."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``generate`` verb."""
    parser = subparsers.add_parser(
        "generate",
        help="generate loops from generator weights",
        description=(
            "Generate loops from a weights directory (config.json + generator.npz). 'raw' writes each "
            "clip as generated (14.7 kHz, 16384 samples = 1.11 s, 24-bit). 'loop' resamples to 44.1 kHz, "
            "cuts the clip to its whole beats at --bpm (two beats at 120-125 bpm) and repeats it to "
            "--bars bars of 4/4, tempo in the file name, ready for a DAW."
        ),
    )
    parser.add_argument("--weights", required=True, metavar="DIR", help="weights directory")
    parser.add_argument("-n", "--count", type=int, default=40, help="loops to generate (default: 40)")
    parser.add_argument("-o", "--output", default="generated", metavar="FOLDER",
                        help="output folder (default: generated)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default: 0)")
    parser.add_argument("--format", choices=("raw", "loop"), default="raw", help="raw clips or tempo loops (default: raw)")
    parser.add_argument("--bpm", type=float, default=124.0,
                        help="tempo of --format loop, 40-300; the model's natural range is 120-125 (default: 124)")
    parser.add_argument("--bars", type=int, default=4, help="bars of 4/4 per loop, 1-64 (default: 4)")
    parser.add_argument("--batch-size", type=int, default=64, help="latent vectors per forward pass (default: 64)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Generate and write the loops; print where they went. Returns 0."""
    from beatgan.generate import check_tempo, generate, loop_frames, write_clips
    from beatgan.weights import load_generator

    if args.format == "loop":
        check_tempo(args.bpm, args.bars)  # before loading anything
    generator, config = load_generator(args.weights)
    audio = generate(generator, args.count, seed=args.seed, batch_size=args.batch_size)
    paths = write_clips(audio, args.output, sample_rate=config.sample_rate, format=args.format, bpm=args.bpm,
                        bars=args.bars, progress=not args.quiet)
    if args.format == "loop":
        frames = loop_frames(args.bpm, args.bars)
        what = f"{args.bars} bar(s) at {args.bpm:g} bpm, 44100 Hz, {frames} frames ({frames / 44100:.3f} s)"
    else:
        what = f"{config.slice_len} samples at {config.sample_rate} Hz ({config.seconds:.2f} s)"
    print(f"wrote {len(paths)} loop(s) to {args.output}: {what}, {config.channels} channel(s), 24-bit")
    return 0
