"""Loading the two sets a novelty check compares (shared by ``similarity`` and ``similarity-examples``).

Generated loops come from a weights directory (generated on the spot) or a folder of
audio files; training loops from a folder of loops (decoded, not augmented: the noisy
copies of the original score within about 1e-4 of their source anyway) or a dataset
``.npz`` made by ``beatgan prepare``. Both end up at the same sample rate, length and
channel count, or a clear error says why not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from beatgan.errors import AudioError, ConfigError, DatasetError


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--weights | --generated``, ``--training``, ``--seed``, ``--threshold`` and ``--quiet``.

    The verb adds the option that sets ``args.count`` (loops generated with ``--weights``).
    """
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="DIR", help="weights directory (config.json + generator.npz): generate from it")
    source.add_argument("--generated", metavar="FOLDER", help="folder of generated loops (WAV/FLAC...) to check instead")
    parser.add_argument("--training", required=True, metavar="FOLDER_OR_DATASET",
                        help="the training loops: a folder of loops or a dataset .npz from `beatgan prepare`")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default: 0)")
    parser.add_argument("--threshold", type=float, default=0.1,
                        help="best score at or below which a loop is a near-copy (default: 0.1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _load(path: str, *, sample_rate: int, slice_len: int, channels: int, cache: bool, progress: bool, label: str):
    from beatgan.data import load_dataset, load_loops

    location = Path(path)
    if location.is_dir():
        loops = load_loops(location, sample_rate=sample_rate, slice_len=slice_len, channels=channels,
                           cache=cache, progress=progress)
    elif location.is_file():
        loops = load_dataset(location)
    else:
        raise DatasetError(f"{label} {path!r} does not exist (expected a folder of loops or a dataset .npz)")
    return loops


def load_sets(args: argparse.Namespace):
    """Return ``(generated, generated_names, training, training_names, sample_rate)``.

    Audio float32 (N, slice_len, channels). With ``--weights`` the generator's config decides
    the format; with ``--generated`` a dataset file's format, else 14700 Hz, 16384, stereo.

    Raises
    ------
    CheckpointError, DatasetError, AudioError, ConfigError
        Bad weights directory, missing or empty folder, formats that do not match.
    """
    from beatgan.config import ModelConfig

    progress = not args.quiet
    training_path = Path(args.training)
    if args.weights is not None:
        from beatgan.generate import clip_names, generate
        from beatgan.weights import load_generator

        generator, config = load_generator(args.weights)
        fmt = (config.sample_rate, config.slice_len, config.channels)
    elif training_path.is_file():
        from beatgan.data import load_dataset

        held = load_dataset(training_path)
        fmt = (held.sample_rate, held.slice_len, held.channels)
    else:
        default = ModelConfig()
        fmt = (default.sample_rate, default.slice_len, default.channels)
    rate, slice_len, channels = fmt
    training = _load(args.training, sample_rate=rate, slice_len=slice_len, channels=channels, cache=True,
                     progress=progress, label="training set")
    held = (training.sample_rate, training.slice_len, training.channels)
    if held != fmt:
        raise AudioError(
            f"training set {args.training} holds loops of {held[1]} samples x {held[2]} channel(s) at "
            f"{held[0]} Hz, but the generated loops are {slice_len} x {channels} at {rate} Hz"
        )
    if args.weights is not None:
        if isinstance(args.count, bool) or args.count < 1:
            raise ConfigError(f"count={args.count!r} (loops to generate) must be a positive integer")
        generated = generate(generator, args.count, seed=args.seed)
        names = clip_names(args.count)
    else:
        loops = _load(args.generated, sample_rate=rate, slice_len=slice_len, channels=channels, cache=False,
                      progress=progress, label="generated folder")
        generated, names = loops.audio, list(loops.names)
    return generated, names, training.audio, list(training.names), rate
