"""``beatgan prepare FOLDER -o dataset.npz``: turn a folder of loops into a training file.

Loads every loop (:func:`beatgan.data.load_loops`), makes the noisy copies
(:func:`beatgan.data.augment_loops`), writes the ``.npz`` that ``beatgan train``
reads (:func:`beatgan.data.save_dataset`) and prints what it did, skipped
files included.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUTPUT = "data/dataset.npz"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``prepare`` verb to the top-level sub-parsers."""
    parser = subparsers.add_parser(
        "prepare",
        help="load, augment and save a folder of loops as a training dataset (.npz)",
        description=(
            "Load the first SLICE_LEN samples of every audio file under FOLDER (recursively; "
            "WAV, FLAC, AIFF, OGG, MP3; any sample rate, mono or stereo), resample them, "
            "make COPIES noisy copies of each and save them as one .npz file for `beatgan train`. "
            "Broken audio files are skipped and listed; other files are ignored."
        ),
    )
    parser.add_argument("folder", metavar="FOLDER", help="folder of drum loops, searched recursively")
    parser.add_argument(
        "-o", "--output", default=DEFAULT_OUTPUT, metavar="PATH",
        help=f"dataset file to write (default: {DEFAULT_OUTPUT})",
    )
    data = parser.add_argument_group("loading")
    data.add_argument("--sample-rate", type=int, default=14700, metavar="HZ",
                      help="target sample rate in Hz (default: 14700, the original's 44.1 kHz / 3)")
    data.add_argument("--slice-len", type=int, default=16384, metavar="SAMPLES",
                      help="samples kept per loop, zero-padded when shorter (default: 16384)")
    data.add_argument("--channels", type=int, default=2, choices=(1, 2),
                      help="1 averages to mono, 2 duplicates mono files to stereo (default: 2)")
    data.add_argument("--resample", default="polyphase", choices=("polyphase", "stride"),
                      help="polyphase: anti-aliased (soxr); stride: the original's x[::3], "
                           "44.1 kHz input only, aliases above 7.35 kHz (default: polyphase)")
    data.add_argument("--no-cache", dest="cache", action="store_false",
                      help="decode every file again instead of reusing the folder's cache")
    aug = parser.add_argument_group("augmentation")
    aug.add_argument("--copies", type=int, default=5,
                     help="noisy copies per loop; the originals are not kept (default: 5)")
    aug.add_argument("--amplitude", type=float, default=0.0011,
                     help="largest noise value as a fraction of full scale (default: 0.0011)")
    aug.add_argument("--seed", type=int, default=0, help="seed of the noise (default: 0)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "int16"),
                        help="storage type of the audio; int16 and float16 halve the file (default: float32)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def _summary(folder: str, loops, examples, dtype: str, output: Path) -> str:
    lines = [
        f"loaded {len(loops)} loop(s) from {folder}: "
        f"{loops.seconds:.1f} s of audio at {loops.sample_rate} Hz "
        f"({loops.slice_len} samples = {loops.slice_len / loops.sample_rate:.2f} s each, "
        f"{loops.channels} channel(s))",
        f"skipped {len(loops.skipped)} file(s)" + (":" if loops.skipped else ""),
    ]
    lines += [f"  {name}: {reason}" for name, reason in loops.skipped]
    lines += [
        f"augmented: {examples.settings['copies']} noisy copies per loop -> "
        f"{len(examples)} examples, {examples.seconds:.1f} s",
        f"shape {tuple(examples.audio.shape)} (examples, samples, channels), stored as {dtype}",
        f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Load, augment and save ``args.folder``; print a summary. Returns 0."""
    import warnings

    from beatgan.data import SkippedFileWarning, augment_loops, load_loops, save_dataset

    with warnings.catch_warnings():
        # The summary lists skipped files; a warning per file on top would say it twice.
        warnings.simplefilter("ignore", SkippedFileWarning)
        loops = load_loops(
            args.folder, sample_rate=args.sample_rate, slice_len=args.slice_len, channels=args.channels,
            resample=args.resample, cache=args.cache, progress=not args.quiet,
        )
    examples = augment_loops(loops, copies=args.copies, amplitude=args.amplitude, seed=args.seed)
    output = save_dataset(
        args.output, examples.audio, examples.names, sample_rate=examples.sample_rate,
        settings={**examples.settings, "source": str(args.folder)}, skipped=examples.skipped, dtype=args.dtype,
    )
    print(_summary(str(args.folder), loops, examples, args.dtype, Path(output)))
    return 0
