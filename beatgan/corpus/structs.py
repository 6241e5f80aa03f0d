"""The plain records the corpus is built from: hits, patterns, layers, kits.

A :class:`Pattern` is one 4/4 bar of :class:`Hit` s on a 16-step grid, each
naming a drum *role* (see :mod:`beatgan.corpus.roles`), never a particular
kit's instrument. A :class:`KitSpec` is a kit as its ``drumkit.xml`` describes
it: instruments with a role, a gain, a pan and velocity :class:`Layer` s whose
audio is read lazily (or held in memory, for the synthesised kit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Steps per bar: the grid every pattern is quantised to (16th notes in 4/4).
STEPS_PER_BAR = 16


def slug(text: str, *, max_len: int = 32) -> str:
    """Return ``text`` reduced to a file-name-safe token.

    Parameters
    ----------
    text : str
        Any name, e.g. ``"The Black Pearl 1.0"``.
    max_len : int, optional
        Longest token returned, in characters.

    Returns
    -------
    str
        Letters, digits and dashes only, no leading/trailing dash, e.g.
        ``"The-Black-Pearl-1-0"``; ``"x"`` if nothing usable is left.
    """
    token = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:max_len].strip("-")
    return token or "x"


@dataclass(frozen=True)
class Hit:
    """One drum stroke in a pattern.

    Attributes
    ----------
    step : int
        Position in the bar, 0 to 15, in 16th notes.
    role : str
        The drum played, one of :data:`beatgan.corpus.roles.ROLES`.
    velocity : float
        Loudness in (0, 1], as Hydrogen stores it.
    lead_lag : float
        Hydrogen's lead/lag in [-1, 1]: negative plays early, positive late.
    """

    step: int
    role: str
    velocity: float
    lead_lag: float = 0.0


@dataclass(frozen=True)
class Pattern:
    """One bar of drums on the 16-step grid.

    Attributes
    ----------
    name : str
        File-name-safe identifier, unique in a pattern set, e.g.
        ``"GM-kit-demo-1-main-2-1"`` or ``"groove-house"``.
    source : str
        Where it comes from: an ``.h2song`` file name or ``"beatgan grooves"``.
    hits : tuple of Hit
        The strokes, sorted by step then role.
    """

    name: str
    source: str
    hits: tuple[Hit, ...]

    def key(self) -> tuple:
        """Return a hashable summary used to find duplicate patterns."""
        return tuple(sorted((h.step, h.role, round(h.velocity, 2)) for h in self.hits))

    @property
    def roles(self) -> frozenset[str]:
        """The set of roles the pattern plays."""
        return frozenset(h.role for h in self.hits)


@dataclass(frozen=True, eq=False)
class Layer:
    """One velocity layer of an instrument: a sample and the velocities it covers.

    Attributes
    ----------
    vmin, vmax : float
        The velocity range in [0, 1] this layer plays.
    gain : float
        Linear gain of the layer.
    path : pathlib.Path or None
        The sample file (WAV/FLAC/AIFF), read on first use.
    audio : numpy.ndarray or None
        For built-in samples instead of ``path``: float32, shape
        ``(frames, channels)``, at :attr:`rate`.
    rate : int
        Sample rate of ``audio`` in Hz (ignored for ``path``).
    """

    vmin: float
    vmax: float
    gain: float = 1.0
    path: Path | None = None
    audio: np.ndarray | None = None
    rate: int = 44100


@dataclass(frozen=True)
class Instrument:
    """A kit instrument usable in a groove.

    Attributes
    ----------
    name : str
        Its name in the kit.
    role : str
        What it plays, one of :data:`beatgan.corpus.roles.ROLES`.
    gain : float
        Linear gain (Hydrogen's volume times gain).
    pan : tuple of float
        (left, right) linear gains in [0, 1].
    layers : tuple of Layer
        Velocity layers, at least one.
    """

    name: str
    role: str
    gain: float
    pan: tuple[float, float]
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class KitSpec:
    """A drum kit ready to play patterns.

    Attributes
    ----------
    name : str
        The kit's own name, e.g. ``"The Black Pearl 1.0"``.
    slug : str
        File-name-safe form of ``name``.
    author, license : str
        Credits, as the kit states them (``"unknown"`` when absent).
    path : str
        Folder the kit was read from, or ``"built-in"``.
    source : str
        How it was obtained, e.g. the Debian package name.
    instruments : tuple of Instrument
        Every instrument with a role, in kit order.
    """

    name: str
    slug: str
    author: str
    license: str
    path: str
    source: str
    instruments: tuple[Instrument, ...] = field(repr=False)

    @property
    def roles(self) -> frozenset[str]:
        """The set of roles this kit can play directly."""
        return frozenset(i.role for i in self.instruments)

    def by_role(self, role: str) -> tuple[Instrument, ...]:
        """Return the kit's instruments that play ``role`` (maybe none)."""
        return tuple(i for i in self.instruments if i.role == role)
