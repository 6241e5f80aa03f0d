"""Read Hydrogen drum kits (``drumkit.xml``) and demo songs (``.h2song``).

Both are XML, written by Hydrogen versions from 0.9 to 1.2, which differ:

- kits: a new-style instrument holds ``<instrumentComponent>`` s with
  ``<layer>`` s; an old-style one holds ``<layer>`` s directly, or a single
  ``<filename>`` for a one-sample instrument. Pan is ``<pan>`` in [-1, 1]
  (new) or ``<pan_L>``/``<pan_R>`` in [0, 1] (old). Newer files carry an XML
  namespace, older ones none.
- songs: notes sit in ``<pattern>/<noteList>`` (new) or in
  ``<pattern>/<sequenceList>/<sequence>/<noteList>`` (0.9). A pattern of
  ``<size>192</size>`` is one 4/4 bar at 48 ticks per beat.

Instruments whose samples are missing, and patterns that are empty, not one
bar long or have no kick or snare, are skipped rather than failing the set.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from beatgan.corpus.roles import classify_instrument
from beatgan.corpus.structs import STEPS_PER_BAR, Hit, Instrument, KitSpec, Layer, Pattern, slug

#: Ticks in one 4/4 bar of a Hydrogen pattern (48 per beat).
TICKS_PER_BAR = 192

# Debian's copyright file states these where the kit's own XML does not.
_KNOWN_LICENSES = {
    "ColomboAcousticDrumkit": "GPL-2+ with composition exception (Debian hydrogen-drumkits copyright)",
    "Millo-Drums_v.1": "GPL-2 (Debian hydrogen-drumkits copyright)",
    "Millo_MultiLayered2": "GPL-2 (Debian hydrogen-drumkits copyright)",
    "Millo_MultiLayered3": "GPL-2 (Debian hydrogen-drumkits copyright)",
}

# Roles that make a bar a groove rather than a cymbal swell or a lone note.
_BACKBONE = {"kick", "snare", "rimshot", "sidestick", "clap"}
_MIN_HITS = 6
# A pack holds grooves, not song sections: these pattern names mark fills,
# intros, endings and one-off riffs.
_NOT_A_GROOVE = ("fill", "intro", "end", "break", "riff", "crash")
# A song swung this much (Hydrogen's swing_factor, 0-1) has no straight-16th
# version; its patterns are left out rather than straightened.
_MAX_SWING = 0.4
# Some drum must keep time: strokes on at least this many of the 8 eighth-note steps.
_MIN_PULSE = 4
_TIMEKEEPERS = {"kick", "hihat_closed", "hihat_open", "hihat_pedal", "ride", "ride_bell", "shaker",
                "cowbell"}


def _parse_xml(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    for element in root.iter():  # drop "{http://www.hydrogen-music.org/drumkit}"
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.rsplit("}", 1)[1]
    return root


def _text(element: ET.Element, tag: str, default: str = "") -> str:
    value = element.findtext(tag)
    return value.strip() if value and value.strip() else default


def _number(element: ET.Element, tag: str, default: float) -> float:
    try:
        return float(element.findtext(tag))
    except (TypeError, ValueError):
        return default


def _pan(element: ET.Element) -> tuple[float, float]:
    if element.find("pan") is not None:
        pan = min(max(_number(element, "pan", 0.0), -1.0), 1.0)
        return min(1.0, 1.0 - pan), min(1.0, 1.0 + pan)
    left, right = _number(element, "pan_L", 1.0), _number(element, "pan_R", 1.0)
    top = max(left, right, 1e-6)
    return left / top, right / top


def _layers(instrument: ET.Element, folder: Path) -> tuple[Layer, ...]:
    components = instrument.findall("instrumentComponent")
    elements = [layer for c in components for layer in c.findall("layer")]
    if not components:
        elements = instrument.findall("layer")
    layers = []
    for element in elements:
        path = folder / _text(element, "filename")
        if path.is_file():
            layers.append(Layer(vmin=_number(element, "min", 0.0), vmax=_number(element, "max", 1.0),
                                gain=_number(element, "gain", 1.0), path=path))
    single = _text(instrument, "filename")
    if not elements and single and (folder / single).is_file():
        layers.append(Layer(vmin=0.0, vmax=1.0, path=folder / single))
    return tuple(sorted(layers, key=lambda layer: (layer.vmin, layer.vmax)))


def parse_drumkit(path: str | Path, *, source: str = "") -> KitSpec | None:
    """Read a Hydrogen kit.

    Parameters
    ----------
    path : str or pathlib.Path
        The kit's ``drumkit.xml``, or the folder holding it.
    source : str, optional
        How the kit was obtained, for the credits (e.g. a Debian package).

    Returns
    -------
    KitSpec or None
        The kit with every instrument that has a role and at least one
        existing sample; ``None`` when the file is unreadable or no usable
        instrument is left.
    """
    path = Path(path)
    xml_path = path / "drumkit.xml" if path.is_dir() else path
    try:
        root = _parse_xml(xml_path)
    except (OSError, ET.ParseError):
        return None
    folder = xml_path.parent
    instruments = []
    for element in root.iter("instrument"):
        name = _text(element, "name")
        role = classify_instrument(name)
        if role is None or _text(element, "isMuted") == "true":
            continue
        layers = _layers(element, folder)
        if layers:
            gain = _number(element, "volume", 1.0) * _number(element, "gain", 1.0)
            instruments.append(Instrument(name=name, role=role, gain=gain, pan=_pan(element),
                                          layers=layers))
    if not instruments:
        return None
    name = _text(root, "name", folder.name)
    license_text = _text(root, "license") or _KNOWN_LICENSES.get(folder.name, "unknown")
    return KitSpec(name=name, slug=slug(name), author=_text(root, "author", "unknown"),
                   license=" ".join(license_text.split()), path=str(folder), source=source,
                   instruments=tuple(instruments))


def song_credits(path: str | Path) -> dict[str, str]:
    """Return a song's credits.

    Parameters
    ----------
    path : str or pathlib.Path
        An ``.h2song`` file.

    Returns
    -------
    dict
        ``name``, ``author`` and ``license`` as the song states them,
        ``"unknown"`` where absent or unreadable.
    """
    try:
        root = _parse_xml(Path(path))
    except (OSError, ET.ParseError):
        return {"name": Path(path).stem, "author": "unknown", "license": "unknown"}
    return {key: _text(root, key, "unknown") for key in ("name", "author", "license")}


def _pattern_hits(pattern: ET.Element, roles: dict[str, str]) -> tuple[Hit, ...] | None:
    if int(_number(pattern, "size", TICKS_PER_BAR)) != TICKS_PER_BAR:
        return None
    ticks_per_step = TICKS_PER_BAR // STEPS_PER_BAR
    strongest: dict[tuple[int, str], Hit] = {}
    for note in pattern.iter("note"):
        role = roles.get(_text(note, "instrument"))
        velocity = _number(note, "velocity", 0.8)
        if role is None or velocity <= 0.0 or _text(note, "note_off") == "true":
            continue
        # Flams and 32nd-note drags are snapped to the 16th grid; a stroke
        # landing where its drum already plays merges with it (loudest wins).
        position = int(_number(note, "position", 0))
        step = (position + ticks_per_step // 2) // ticks_per_step % STEPS_PER_BAR
        hit = Hit(step=step, role=role, velocity=min(velocity, 1.0),
                  lead_lag=min(max(_number(note, "leadlag", 0.0), -1.0), 1.0))
        if (step, role) not in strongest or strongest[step, role].velocity < hit.velocity:
            strongest[step, role] = hit
    hits = tuple(sorted(strongest.values(), key=lambda h: (h.step, h.role)))
    if len(hits) < _MIN_HITS or not _BACKBONE.intersection(h.role for h in hits):
        return None
    pulse = max((len({h.step for h in hits if h.role == role and h.step % 2 == 0})
                 for role in _TIMEKEEPERS), default=0)
    return hits if pulse >= _MIN_PULSE else None


def parse_song(path: str | Path) -> list[Pattern]:
    """Return the usable one-bar patterns of a Hydrogen song.

    Parameters
    ----------
    path : str or pathlib.Path
        An ``.h2song`` file.

    Returns
    -------
    list of Pattern
        One per groove of the song: a pattern that is one 4/4 bar (192
        ticks), is not named as a fill, intro, ending, break or riff, has at
        least six strokes after snapping to the 16th grid, plays a kick,
        snare, rim or clap, and keeps time (a kick, hat, ride, shaker or bell
        on at least four of the eight 8th-note steps). Notes of instruments
        without a role are dropped. Empty when the file cannot be read or
        the song is swung (``swing_factor`` >= 0.4: no straight version).
    """
    path = Path(path)
    try:
        root = _parse_xml(path)
    except (OSError, ET.ParseError):
        return []
    instrument_list = root.find("instrumentList")
    roles = {}
    for element in (instrument_list if instrument_list is not None else []):
        role = classify_instrument(_text(element, "name"))
        if role is not None:
            roles[_text(element, "id")] = role
    if _number(root, "swing_factor", 0.0) >= _MAX_SWING:
        return []
    song = slug(_text(root, "name", path.stem), max_len=24)
    patterns = []
    for element in root.iter("pattern"):
        if any(word in _text(element, "name").lower() for word in _NOT_A_GROOVE):
            continue
        hits = _pattern_hits(element, roles)
        if hits is not None:
            name = f"{song}-{slug(_text(element, 'name', str(len(patterns))), max_len=20)}"
            patterns.append(Pattern(name=name, source=path.name, hits=hits))
    return patterns
