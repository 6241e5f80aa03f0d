"""Shared fixtures: a real drum recording for tests that need realistic audio.

Other test modules use ``drum_recording`` and ``drum_recording_path``; keep the names.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

# Under `make test` the suite runs one xdist worker per core: each worker's TensorFlow then keeps to one
# thread, as two workers with a pool of two threads each (and the processes some tests start) oversubscribe
# two cores. Set before any test module imports TensorFlow; a variable already set is left alone.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    for _name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# The amen break from Debian's sonic-pi-samples (CC0); the CI installs that package.
DRUM_RECORDING = Path("/usr/share/sonic-pi/samples/loop_amen.flac")
DRUM_SECONDS = 2.0  # at most this much is read (the amen loop lasts 1.75 s)
SYNTH_RATE = 44100  # Hz, rate of the stand-in signal


def synth_drums(rate: int = SYNTH_RATE, seconds: float = DRUM_SECONDS, *, seed: int = 0) -> np.ndarray:
    """A drum-like stand-in for the real recording, used only when it is missing.

    Parameters
    ----------
    rate : int
        Sample rate in Hz.
    seconds : float
        Length in seconds.
    seed : int, keyword-only
        Seed of the noise, so the signal is repeatable.

    Returns
    -------
    numpy.ndarray, shape (round(rate * seconds), 2), float64
        Kicks (decaying 110 -> 45 Hz sine), snares (decaying noise bursts) and hi-hats
        (differenced noise) at 120 bpm, panned differently per channel, peak 0.9.
    """
    rng = np.random.default_rng(seed)
    frames = int(round(rate * seconds))
    out = np.zeros((frames, 2))
    t = np.arange(int(0.3 * rate)) / rate  # one 0.3 s hit
    kick = np.sin(2 * np.pi * (45 * t + 65 * (1 - np.exp(-t / 0.03)) * 0.03)) * np.exp(-t / 0.08)
    beat = int(0.5 * rate)  # 120 bpm
    for start in range(0, frames, beat // 2):
        n = min(len(t), frames - start)
        hit = np.diff(rng.standard_normal(n + 1)) * 0.15 * np.exp(-t[:n] / 0.02)  # hi-hat
        if start % (2 * beat) == 0:
            hit = hit + kick[:n]
        elif start % beat == 0:
            hit = hit + rng.standard_normal(n) * 0.6 * np.exp(-t[:n] / 0.06)  # snare
        pan = rng.uniform(0.6, 1.0, size=2)
        out[start:start + n] += hit[:, None] * pan
    return 0.9 * out / np.max(np.abs(out))


@pytest.fixture(scope="session")
def drum_recording_path() -> Path | None:
    """Path of the real drum recording (a FLAC file), or None where it is not installed."""
    return DRUM_RECORDING if DRUM_RECORDING.is_file() else None


def load_drum_recording(path: Path | None) -> tuple[int, np.ndarray]:
    """Read the first :data:`DRUM_SECONDS` of a recording, or synthesize drums if ``path`` is None.

    Parameters
    ----------
    path : pathlib.Path or None
        An audio file soundfile can read; None means the recording is missing, which
        gives :func:`synth_drums` at :data:`SYNTH_RATE` and a ``UserWarning``.

    Returns
    -------
    rate : int
        Sample rate in Hz.
    data : numpy.ndarray, shape (frames, 2), float64, read-only
        Mono is duplicated to two channels; channels beyond two are dropped.
    """
    if path is None:
        warnings.warn(f"real drum recording {DRUM_RECORDING} is missing (install the Debian "
                      "package sonic-pi-samples); using a synthetic drum-like signal instead",
                      stacklevel=2)
        rate, data = SYNTH_RATE, synth_drums()
    else:
        import soundfile

        with soundfile.SoundFile(path) as f:
            rate = f.samplerate
            data = f.read(int(DRUM_SECONDS * rate), dtype="float64", always_2d=True)
        if data.shape[1] == 1:
            data = np.repeat(data, 2, axis=1)
        data = np.ascontiguousarray(data[:, :2])
    data.flags.writeable = False
    return rate, data


@pytest.fixture(scope="session")
def drum_recording(drum_recording_path) -> tuple[int, np.ndarray]:
    """``(rate, data)``: the first ~2 s of a real drum recording.

    ``data`` is float64 of shape (frames, 2) in [-1, 1], read with soundfile from
    :data:`DRUM_RECORDING`; it is read-only because the fixture is shared by the whole
    session (copy it before changing it). Where the recording is missing, a synthetic
    drum-like signal at 44.1 kHz stands in and a warning says so.
    """
    return load_drum_recording(drum_recording_path)


EXPLORE_WORKER = Path(__file__).with_name("_explore_worker.py")  # run as a script under the other backend too


def explore_worker():
    """``tests/_explore_worker.py`` imported as a module: the tiny seeded generators of explore and recover."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_explore_worker", EXPLORE_WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny():
    """A seeded mono generator of width 2."""
    return explore_worker().tiny_generator(channels=1)


# Seconds each heavy test file took on one worker of `make test` (summed from `--junitxml`, 2026-12-05); the
# others take under 20 s. `make test` hands whole files to its workers (--dist loadfile) in collection order
# (--no-loadscope-reorder: xdist's own order, most tests first, leaves heavy files of few tests to the end),
# so the heaviest go first and the many short files fill in behind them.
HEAVY_FILES = {
    "test_run.py": 294, "test_gan.py": 290, "test_evaluate.py": 157, "test_shipped_weights.py": 128,
    "test_backend.py": 121, "test_distributed.py": 121, "test_corpus.py": 115, "test_notebook.py": 98,
    "test_cli_play_and_evaluate.py": 66, "test_recover.py": 37, "test_finetune.py": 26,
}


def pytest_collection_modifyitems(session, config, items):
    """Run the heaviest test files first (a stable sort: each file's own order is kept)."""
    items.sort(key=lambda item: -HEAVY_FILES.get(item.path.name, 0))
