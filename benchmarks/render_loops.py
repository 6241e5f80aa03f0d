"""Seconds to render the open drum-loop corpus, and how well its loops keep time.

    python benchmarks/render_loops.py                  # 434 loops into a temporary folder
    python benchmarks/render_loops.py --count 48 --check
    python benchmarks/render_loops.py --kits synth     # the fallback kit alone
    python benchmarks/render_loops.py -o data/open_loops --check

Prints the wall time of :func:`beatgan.corpus.render_corpus` (one process,
kit samples read from disk on first use, as a first ``make run`` does), the
kits and patterns used, and with ``--check`` the share of loops whose exact
length, librosa tempo estimate and onsets match their stated tempo
(:func:`beatgan.corpus.check_corpus`, about 0.25 s per loop).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout


def main(argv=None) -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", help="folder to render into (default: a temporary one)")
    parser.add_argument("--count", type=int, default=434, help="loops to render (default 434)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--kits", nargs="+", help="kits to use (default: all installed)")
    parser.add_argument("--check", action="store_true", help="also measure tempo and grid")
    args = parser.parse_args(argv)

    from beatgan.corpus import check_corpus, render_corpus

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(args.output or temporary)
        report = render_corpus(folder, count=args.count, seed=args.seed, kits=args.kits,
                               progress=False, overwrite=True)
        print(f"rendered {len(report.files)} loops in {report.seconds:.1f} s "
              f"({len(report.files) / report.seconds:.1f} loops/s)"
              + (" [already up to date]" if report.up_to_date else ""))
        print(f"kits: {len(report.kits)}{' (fallback synthesised kit)' if report.fallback else ''}; "
              f"patterns: {len(report.patterns)}")
        if args.check:
            check = check_corpus(folder)
            print(f"exact length: {check.exact_length:.1%}; tempo agrees (or half/double, 4 %): "
                  f"{check.tempo_agreement:.1%}; onsets within 25 ms of the 16th grid: "
                  f"{check.onsets_on_grid:.1%} ({check.loops} loops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
