"""Loops per second of :func:`beatgan.data.load_loops` against ``librosa.load``, on one folder.

    python benchmarks/prepare.py                 # 100 generated 4 s, 44.1 kHz, 24-bit stereo WAVs
    python benchmarks/prepare.py FOLDER          # your own loops
    python benchmarks/prepare.py --count 434 --seconds 3.84   # the original pack's shape

Both sides do the same job: decode each file and resample it to 14.7 kHz with
soxr 'HQ' (librosa's default ``res_type="soxr_hq"``). ``load_loops`` runs with
the cache off, so it decodes every file; on a generated folder its cached load\nis printed too.
Each figure is the best of ``--repeat`` interleaved runs, after one warm-up run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

SONIC_PI = Path("/usr/share/sonic-pi/samples")


def make_folder(folder: Path, count: int, seconds: float) -> None:
    """Write ``count`` 44.1 kHz 24-bit stereo WAVs of ``seconds`` s, cut from the sonic-pi loops."""
    import soundfile

    import wavfile24

    sources = []
    for path in sorted(SONIC_PI.glob("loop_*.flac")):
        x, rate = soundfile.read(path, dtype="float64", always_2d=True)
        if rate == 44100:
            sources.append(np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2])
    if not sources:
        raise SystemExit(f"no sonic-pi loops in {SONIC_PI}; give a FOLDER of loops instead")
    frames = int(round(seconds * 44100))
    rng = np.random.default_rng(0)
    for i in range(count):
        x = sources[i % len(sources)]
        start = int(rng.integers(0, len(x)))
        loop = np.resize(np.roll(x, -start, axis=0), (frames, 2)) * rng.uniform(0.5, 1.0)
        wavfile24.write(folder / f"loop_{i:04d}.wav", 44100, loop, bits=24)


def best_times(jobs: dict, repeat: int) -> dict:
    """Best wall time in seconds of each job over ``repeat`` rounds, the jobs interleaved.

    Interleaving makes a burst of load from other processes hit both sides alike.
    """
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(repeat):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder of loops (default: generate one)")
    parser.add_argument("--count", type=int, default=100, help="loops to generate (default: 100)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of generated loops (default: 4.0)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per method (default: 5)")
    args = parser.parse_args(argv)

    import librosa

    from beatgan.audio import find_audio_files
    from beatgan.data import load_loops

    with tempfile.TemporaryDirectory(prefix="beatgan-bench-") as tmp:
        if args.folder:
            folder = Path(args.folder)
        else:
            folder = Path(tmp)
            make_folder(folder, args.count, args.seconds)
        files = find_audio_files(folder)
        n = len(load_loops(folder, cache=False, progress=False))  # warm-up: imports, page cache

        def with_librosa():
            for path in files:
                librosa.load(path, sr=14700, mono=False)

        with_librosa()  # warm-up
        best = best_times(
            {"ours": lambda: load_loops(folder, cache=False, progress=False), "librosa": with_librosa}, args.repeat
        )
        ours, theirs = n / best["ours"], len(files) / best["librosa"]
        cached = None
        if not args.folder:  # a given folder is left untouched: no cache written into it
            load_loops(folder, progress=False)  # fills the cache
            cached = n / best_times({"cached": lambda: load_loops(folder, progress=False)}, args.repeat)["cached"]

    print(f"folder: {args.folder or f'{args.count} generated {args.seconds:g} s 44.1 kHz 24-bit stereo WAVs'}"
          f" ({len(files)} audio files, {n} loaded)")
    print(f"load_loops, cache off     : {ours:8.1f} loops/s")
    print(f"librosa.load(sr=14700)    : {theirs:8.1f} loops/s")
    if cached is not None:
        print(f"load_loops, cached        : {cached:8.1f} loops/s")
    print(f"speed-up over librosa     : {ours / theirs:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
