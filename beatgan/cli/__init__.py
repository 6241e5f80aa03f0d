"""The ``beatgan`` command line.

Each verb lives in its own module in this package (``prepare.py``,
``train.py``, ...), which defines ``add_parser(subparsers)`` and
``run(args) -> int``; :func:`main` discovers them, so adding a verb never
touches this file. Verb modules import heavy libraries (TensorFlow, librosa)
inside ``run`` only, so ``beatgan --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from beatgan import __version__
from beatgan.errors import BeatGANError


def _verb_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with one sub-parser per verb."""
    parser = argparse.ArgumentParser(
        prog="beatgan",
        description="WaveGAN for drum loops: prepare a pack, train, generate, check novelty.",
    )
    parser.add_argument("--version", action="version", version=f"beatgan {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module in _verb_modules():
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status.

    User errors (:class:`beatgan.errors.BeatGANError`) print one line on
    stderr and exit with status 2; Ctrl-C exits with 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BeatGANError as error:
        print(f"beatgan {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"beatgan {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
