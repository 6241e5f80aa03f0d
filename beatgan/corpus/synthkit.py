"""A small drum kit synthesised with numpy: the fallback when no kit is installed.

On a machine without Hydrogen's kits (no Debian packages, no rights to
install them) the corpus is still rendered, from these sounds: an 808-style
kick (a sine falling in pitch), a snare (a tone plus band-passed noise),
closed, pedal and open hats (high-passed noise), a clap (three noise bursts
and a tail), three toms, a rim shot, a cowbell, a crash and a ride. Each has
two velocity layers, the soft one darker. The noise is seeded, so the kit
is the same everywhere. It is an honest stand-in, not a real recording: the
renderer reports when it is used.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from beatgan.corpus.structs import Instrument, KitSpec, Layer

#: Name of the built-in kit, as ``render_corpus(kits=[...])`` accepts it.
SYNTH_KIT_NAME = "synth"


def _time(seconds: float, rate: int) -> np.ndarray:
    return np.arange(int(seconds * rate), dtype=np.float64) / rate


def _noise(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, int(seconds * rate))


def _filter(x: np.ndarray, rate: int, kind: str, cutoff) -> np.ndarray:
    sos = signal.butter(4, cutoff, btype=kind, fs=rate, output="sos")
    return signal.sosfilt(sos, x)


def _sweep(start_hz: float, end_hz: float, sweep_s: float, decay_s: float, length_s: float,
           rate: int) -> np.ndarray:
    t = _time(length_s, rate)
    freq = end_hz + (start_hz - end_hz) * np.exp(-t / sweep_s)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    return np.cos(phase) * np.exp(-t / decay_s)  # cos: full level at once, one clear onset


def _kick(rate, rng):
    # A fast pitch drop: a slow one smears into several onsets.
    body = _sweep(110.0, 50.0, 0.012, 0.25, 0.9, rate)
    click = _filter(_noise(0.9, rate, rng), rate, "highpass", 2000) * np.exp(-_time(0.9, rate) / 0.004)
    return body + 0.3 * click


def _snare(rate, rng):
    t = _time(0.5, rate)
    tone = 0.5 * _sweep(260.0, 180.0, 0.02, 0.08, 0.5, rate)
    rattle = _filter(_noise(0.5, rate, rng), rate, "bandpass", (1500, 9000)) * np.exp(-t / 0.12)
    return tone + 1.6 * rattle


def _hat(decay_s: float, length_s: float):
    def make(rate, rng):
        t = _time(length_s, rate)
        return _filter(_noise(length_s, rate, rng), rate, "highpass", 7000) * np.exp(-t / decay_s)
    return make


def _clap(rate, rng):
    t = _time(0.45, rate)
    envelope = np.exp(-t / 0.08) * 0.5
    for start in (0.0, 0.007, 0.014):  # three hands, a few ms apart
        envelope = np.maximum(envelope, np.where(t >= start, np.exp(-(t - start) / 0.006), 0.0))
    return _filter(_noise(0.45, rate, rng), rate, "bandpass", (900, 5000)) * envelope * 2.0


def _tom(start_hz: float, end_hz: float):
    def make(rate, rng):
        return _sweep(start_hz, end_hz, 0.012, 0.15, 0.8, rate)
    return make


def _rimshot(rate, rng):
    t = _time(0.15, rate)
    return (_filter(_noise(0.15, rate, rng), rate, "bandpass", (1800, 6000)) * np.exp(-t / 0.01)
            + 0.6 * np.sin(2 * np.pi * 1700 * t) * np.exp(-t / 0.02))


def _cowbell(rate, rng):
    t = _time(0.6, rate)
    tone = signal.square(2 * np.pi * 540 * t) + signal.square(2 * np.pi * 800 * t)
    return _filter(tone, rate, "bandpass", (500, 4000)) * np.exp(-t / 0.09) * 0.4


def _cymbal(decay_s: float, length_s: float, partials: tuple[float, ...]):
    def make(rate, rng):
        t = _time(length_s, rate)
        wash = _filter(_noise(length_s, rate, rng), rate, "highpass", 4000)
        ping = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in partials)
        return (wash + 0.08 * ping) * np.exp(-t / decay_s)
    return make


_VOICES = (
    ("Synth Kick", "kick", _kick, (0.0, 0.0)),
    ("Synth Snare", "snare", _snare, (0.0, 0.05)),
    ("Synth Rim", "rimshot", _rimshot, (0.0, 0.05)),
    ("Synth Clap", "clap", _clap, (0.0, -0.1)),
    ("Synth Hat Closed", "hihat_closed", _hat(0.03, 0.25), (0.0, 0.3)),
    ("Synth Hat Pedal", "hihat_pedal", _hat(0.02, 0.2), (0.0, 0.3)),
    ("Synth Hat Open", "hihat_open", _hat(0.35, 1.2), (0.0, 0.3)),
    ("Synth Tom Low", "tom_low", _tom(140.0, 80.0), (0.0, -0.3)),
    ("Synth Tom Mid", "tom_mid", _tom(200.0, 120.0), (0.0, 0.0)),
    ("Synth Tom High", "tom_high", _tom(280.0, 170.0), (0.0, 0.3)),
    ("Synth Cowbell", "cowbell", _cowbell, (0.0, -0.2)),
    ("Synth Crash", "crash", _cymbal(0.9, 2.5, (3150.0, 4370.0, 5580.0)), (0.0, -0.4)),
    ("Synth Ride", "ride", _cymbal(0.6, 2.0, (2520.0, 3810.0)), (0.0, 0.4)),
)


@lru_cache(maxsize=4)
def synth_kit(sample_rate: int = 44100) -> KitSpec:
    """Return the built-in synthesised kit.

    Parameters
    ----------
    sample_rate : int, optional
        Rate of the samples, in Hz.

    Returns
    -------
    KitSpec
        A kit named :data:`SYNTH_KIT_NAME` with the roles kick, snare,
        rimshot, clap, three hats, three toms, cowbell, crash and ride; each
        instrument has two velocity layers (soft below 0.5, darker), float32
        mono samples peaking at 0.9 (soft layer 0.5). Identical on every call
        and machine.
    """
    rng = np.random.default_rng(20180504)
    instruments = []
    for name, role, make, (_, pan) in _VOICES:
        hard = make(sample_rate, rng)
        hard = 0.9 * hard / np.max(np.abs(hard))
        soft = _filter(hard, sample_rate, "lowpass", min(6000.0, 0.45 * sample_rate))
        soft = 0.5 * soft / np.max(np.abs(soft))
        layers = tuple(
            Layer(vmin=lo, vmax=hi, audio=x.astype(np.float32)[:, None], rate=sample_rate)
            for lo, hi, x in ((0.0, 0.5, soft), (0.5, 1.0, hard))
        )
        for layer in layers:
            layer.audio.setflags(write=False)
        instruments.append(Instrument(name=name, role=role, gain=1.0,
                                      pan=(min(1.0, 1.0 - pan), min(1.0, 1.0 + pan)), layers=layers))
    return KitSpec(name=SYNTH_KIT_NAME, slug=SYNTH_KIT_NAME, author="BeatGAN contributors",
                   license="MIT (synthesised by beatgan.corpus.synthkit)", path="built-in",
                   source="beatgan", instruments=tuple(instruments))
