"""Play one pattern on one kit: a seamless, peak-normalised stereo loop.

Each stroke is placed on its 16th-note step, shifted by Hydrogen's lead/lag
(up to :data:`LEAD_LAG_MS`) plus a seeded human jitter, both together kept
within ``max_shift_ms`` of the grid. Its velocity is varied a little, which
also varies the velocity layer the kit plays (drawn once per stroke of the
pattern, so the bars of a loop match; only their loudness varies). Hi-hats
choke each other (an open hat stops when the next closed or pedal hat
sounds). Whatever rings past the loop's end is added back at its start, as
it would be when the loop repeats, so the file loops without a click.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beatgan.audio import loop_frames
from beatgan.corpus.roles import CHOKE_GROUPS, resolve_role
from beatgan.corpus.samples import load_layer
from beatgan.corpus.structs import STEPS_PER_BAR, Instrument, KitSpec, Layer, Pattern
from beatgan.errors import CorpusError

#: Lead/lag of +-1 in a Hydrogen note shifts the stroke by this many ms.
LEAD_LAG_MS = 5.0
_CHOKE_FADE_S = 0.015


@dataclass(frozen=True)
class Humanize:
    """How far a rendered loop strays from the machine grid.

    Attributes
    ----------
    jitter_ms : float
        Standard deviation of the random timing shift of each stroke, ms.
    max_shift_ms : float
        Largest total shift (jitter plus lead/lag) from the grid, ms.
    velocity_spread : float
        Standard deviation of the relative velocity change of each stroke of
        the pattern (which picks its velocity layer for the whole loop); the
        loudness of each repeat varies by half as much again.
    peak : float
        Peak amplitude the loop is normalised to, in (0, 1] (0.944 = -0.5 dBFS).
    """

    jitter_ms: float = 3.0
    max_shift_ms: float = 8.0
    velocity_spread: float = 0.08
    peak: float = 0.944


def _pick_layer(instrument: Instrument, velocity: float, rng: np.random.Generator) -> Layer:
    fitting = [l for l in instrument.layers if l.vmin <= velocity <= l.vmax]
    if fitting:
        return fitting[int(rng.integers(len(fitting)))]
    # Gaps between layer ranges: take the closest layer.
    return min(instrument.layers, key=lambda l: min(abs(velocity - l.vmin), abs(velocity - l.vmax)))


def render_loop(pattern: Pattern, kit: KitSpec, *, bpm: float, bars: int = 2,
                sample_rate: int = 44100, rng: np.random.Generator,
                humanize: Humanize = Humanize()) -> np.ndarray:
    """Render ``bars`` repeats of a one-bar pattern on a kit.

    Parameters
    ----------
    pattern : Pattern
        The bar to play; roles the kit lacks go to a stand-in
        (:func:`beatgan.corpus.roles.resolve_role`) or are dropped.
    kit : KitSpec
        The kit; where it has several instruments for a role (e.g. twelve
        kicks), one is drawn for the whole loop.
    bpm : float
        Tempo in beats per minute, > 0.
    bars : int, optional
        Number of 4/4 bars, >= 1.
    sample_rate : int, optional
        Output rate in Hz.
    rng : numpy.random.Generator
        Source of every random choice (instrument, layer, jitter, velocity).
    humanize : Humanize, optional
        Timing and velocity variation and the output peak.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(loop_frames(bpm, bars, sample_rate), 2)``, peak
        ``humanize.peak``.

    Raises
    ------
    CorpusError
        If ``bpm`` or ``bars`` is out of range, or nothing in the pattern
        can be played on the kit.
    """
    if not bpm > 0 or bars < 1:
        raise CorpusError(f"bpm={bpm} must be > 0 and bars={bars} must be >= 1")
    frames = loop_frames(bpm, bars, sample_rate)
    step_frames = frames / (bars * STEPS_PER_BAR)
    chosen: dict[str, Instrument | None] = {}
    strokes = []  # per pattern hit: (hit, instrument, layer, velocity), the same in every bar
    for hit in pattern.hits:
        if hit.role not in chosen:
            role = resolve_role(hit.role, kit.roles)
            options = kit.by_role(role) if role else ()
            chosen[hit.role] = options[int(rng.integers(len(options)))] if options else None
        instrument = chosen[hit.role]
        if instrument is not None:
            # The layer is drawn once per stroke of the pattern, so the bars of
            # a loop sound alike (multi-layered kits jump in level between layers).
            velocity = float(np.clip(hit.velocity * (1.0 + rng.normal(0.0, humanize.velocity_spread)),
                                     0.02, 1.0))
            strokes.append((hit, instrument, _pick_layer(instrument, velocity, rng), velocity))
    events = []  # (start frame, sample, (left, right) gain, choke group)
    for bar in range(bars):
        for hit, instrument, layer, velocity in strokes:
            shift_ms = hit.lead_lag * LEAD_LAG_MS + rng.normal(0.0, humanize.jitter_ms)
            shift_ms = float(np.clip(shift_ms, -humanize.max_shift_ms, humanize.max_shift_ms))
            start = round((bar * STEPS_PER_BAR + hit.step) * step_frames + shift_ms * sample_rate / 1000)
            # Each stroke's loudness still varies a little from bar to bar.
            loudness = velocity * (1.0 + rng.normal(0.0, humanize.velocity_spread / 2))
            amplitude = max(loudness, 0.01) * layer.gain * instrument.gain
            gains = np.array(instrument.pan, dtype=np.float32) * np.float32(amplitude)
            events.append((start % frames, load_layer(layer, sample_rate), gains,
                           CHOKE_GROUPS.get(instrument.role)))
    if not events:
        raise CorpusError(f"pattern {pattern.name!r} has nothing kit {kit.name!r} can play")
    return _mix(events, frames, sample_rate, humanize.peak)


def _choke_lengths(events, frames: int, sample_rate: int) -> list[int]:
    lengths = [len(sample) for _, sample, _, _ in events]
    fade = int(_CHOKE_FADE_S * sample_rate)
    groups: dict[str, list[int]] = {}
    for index, (_, _, _, group) in enumerate(events):
        if group:
            groups.setdefault(group, []).append(index)
    for members in groups.values():
        members.sort(key=lambda i: events[i][0])
        for position, index in enumerate(members):
            following = members[(position + 1) % len(members)]
            gap = (events[following][0] - events[index][0]) % frames or frames
            lengths[index] = min(lengths[index], gap + fade)
    return lengths


def _mix(events, frames: int, sample_rate: int, peak: float) -> np.ndarray:
    lengths = _choke_lengths(events, frames, sample_rate)
    fade = int(_CHOKE_FADE_S * sample_rate)
    buffer = np.zeros((frames + max(lengths), 2), dtype=np.float32)
    for (start, sample, gains, _), length in zip(events, lengths):
        piece = sample[:length] * gains  # (length, 1 or 2) * (2,) -> (length, 2)
        if length < len(sample) and length > fade:  # choked: fade out instead of clicking
            piece[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        buffer[start:start + length] += piece
    loop = buffer[:frames]
    for offset in range(frames, len(buffer), frames):  # wrap tails onto the start
        tail = buffer[offset:offset + frames]
        loop[:len(tail)] += tail
    top = float(np.max(np.abs(loop)))
    if top == 0.0:
        raise CorpusError("rendered loop is silent")
    return loop * np.float32(peak / top)
