"""``beatgan render-loops``: render the open drum-loop corpus into a folder.

Example::

    beatgan render-loops -o data/open_loops --count 434 --seed 0 --bpm 120-125 --bars 2
    beatgan render-loops -o /tmp/loops --count 24 --kits GMRockKit TR808EmulationKit
    beatgan render-loops -o /tmp/loops --kits synth      # the built-in synthesised kit
    beatgan render-loops --list-kits
"""

from __future__ import annotations

import argparse
import sys

from beatgan.errors import ConfigError


def _bpm(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        values = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bpm {text!r} must be a tempo like 124 or a range like 120-125")
    return values


def add_parser(subparsers) -> None:
    """Add the ``render-loops`` verb to the command line."""
    parser = subparsers.add_parser(
        "render-loops",
        help="render a pack of drum loops from the installed free drum kits",
        description="Render a pack-like folder of 2-bar drum loops (44.1 kHz, 24-bit stereo WAV "
                    "named loop_<n>_<kit>_<pattern>_<bpm>bpm.wav) from Hydrogen's and Sonic Pi's "
                    "free drum kits, the patterns of Hydrogen's demo songs and BeatGAN's classic "
                    "grooves; plus CREDITS and manifest.csv. Without kits installed, a built-in "
                    "synthesised kit is used instead, and the output says so.",
    )
    parser.add_argument("-o", "--output", help="folder to write (created if missing)")
    parser.add_argument("--count", type=int, default=434,
                        help="number of loops (default 434, as the original pack)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")
    parser.add_argument("--bpm", type=_bpm, default=(120.0, 125.0), metavar="LOW-HIGH",
                        help="tempo or tempo range in bpm (default 120-125)")
    parser.add_argument("--bars", type=int, default=2, help="4/4 bars per loop (default 2)")
    parser.add_argument("--kits", nargs="+", metavar="KIT",
                        help="kits to use, by name or folder (default all installed; "
                             "'synth' for the built-in kit)")
    parser.add_argument("--sample-rate", type=int, default=44100,
                        help="output sample rate in Hz (default 44100)")
    parser.add_argument("--force", action="store_true",
                        help="replace a different corpus already in the output folder")
    parser.add_argument("--list-kits", action="store_true",
                        help="list the installed kits and patterns, then exit")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def _list_kits() -> int:
    from beatgan.corpus import find_kits, load_patterns

    kits = find_kits()
    for kit in kits:
        print(f"{kit.slug:28s} {kit.name}  [{', '.join(sorted(kit.roles))}]  ({kit.license[:50]})")
    if not kits:
        print("no drum kit installed: render-loops would use the built-in synthesised kit 'synth'")
    patterns = load_patterns()
    songs = sum(not p.name.startswith("groove-") for p in patterns)
    print(f"{len(kits)} kits, {len(patterns)} patterns ({songs} from Hydrogen songs, "
          f"{len(patterns) - songs} classic grooves)")
    return 0


def run(args) -> int:
    """Render the corpus as the parsed ``args`` ask; return the exit status."""
    from beatgan.corpus import render_corpus

    if args.list_kits:
        return _list_kits()
    if not args.output:
        raise ConfigError("render-loops needs -o/--output FOLDER (or --list-kits)")
    report = render_corpus(args.output, count=args.count, seed=args.seed, bpm=args.bpm, bars=args.bars,
                           kits=args.kits, sample_rate=args.sample_rate, progress=not args.no_progress,
                           overwrite=args.force)
    if report.fallback:
        print("render-loops: NOTE: no drum kit is installed (hydrogen-drumkits, hydrogen-data, "
              "sonic-pi-samples); the loops use the built-in synthesised kit, not real recordings",
              file=sys.stderr)
    state = "already up to date" if report.up_to_date else f"rendered in {report.seconds:.1f} s"
    print(f"{args.output}: {len(report.files)} loops from {len(report.kits)} kits and "
          f"{len(report.patterns)} patterns, {state}; credits in {args.output}/CREDITS")
    return 0
