"""Find the installed kits and songs, and gather the patterns to play.

Kits are looked for in the folders of ``BEATGAN_DRUMKIT_PATH`` (separated
by ``os.pathsep``) when it is set, else in :data:`DEFAULT_KIT_PATHS`: each
folder may be a Hydrogen kit (holding ``drumkit.xml``), a folder of kits, or
Sonic Pi's sample folder, whose CC0 acoustic one-shots (``drum_*.flac``)
make one more kit. Songs come from ``BEATGAN_SONG_PATH`` or
:data:`DEFAULT_SONG_PATHS`, plus any ``.h2song`` shipped inside a kit.
Setting a variable to an empty folder hides the installed files, which is
how the fallback kit is tested.
"""

from __future__ import annotations

import os
from pathlib import Path

from beatgan.corpus.grooves import classic_grooves
from beatgan.corpus.hydrogen import parse_drumkit, parse_song
from beatgan.corpus.structs import Instrument, KitSpec, Layer, Pattern, slug
from beatgan.errors import CorpusError

DEFAULT_KIT_PATHS = (
    "~/.hydrogen/data/drumkits",
    "/usr/local/share/hydrogen/data/drumkits",
    "/usr/share/hydrogen/data/drumkits",
    "/usr/share/sonic-pi/samples",
)
DEFAULT_SONG_PATHS = (
    "~/.hydrogen/data/songs",
    "/usr/local/share/hydrogen/data/demo_songs",
    "/usr/share/hydrogen/data/demo_songs",
)
KIT_PATH_VARIABLE = "BEATGAN_DRUMKIT_PATH"
SONG_PATH_VARIABLE = "BEATGAN_SONG_PATH"

# Sonic Pi's acoustic one-shots (freesound.org, CC0): role -> (sample, vmin, vmax) layers.
_SONIC_PI_KIT = {
    "kick": (("drum_bass_soft", 0.0, 0.6), ("drum_bass_hard", 0.6, 1.0)),
    "snare": (("drum_snare_soft", 0.0, 0.6), ("drum_snare_hard", 0.6, 1.0)),
    "hihat_closed": (("drum_cymbal_closed", 0.0, 1.0),),
    "hihat_pedal": (("drum_cymbal_pedal", 0.0, 1.0),),
    "hihat_open": (("drum_cymbal_open", 0.0, 1.0),),
    "tom_low": (("drum_tom_lo_soft", 0.0, 0.6), ("drum_tom_lo_hard", 0.6, 1.0)),
    "tom_mid": (("drum_tom_mid_soft", 0.0, 0.6), ("drum_tom_mid_hard", 0.6, 1.0)),
    "tom_high": (("drum_tom_hi_soft", 0.0, 0.6), ("drum_tom_hi_hard", 0.6, 1.0)),
    "crash": (("drum_cymbal_soft", 0.0, 0.6), ("drum_cymbal_hard", 0.6, 1.0)),
    "cowbell": (("drum_cowbell", 0.0, 1.0),),
}
SONIC_PI_KIT_NAME = "Sonic Pi acoustic"


def _paths(search_paths, variable: str, defaults: tuple[str, ...]) -> list[Path]:
    if search_paths is None:
        value = os.environ.get(variable)
        search_paths = value.split(os.pathsep) if value is not None else defaults
    return [Path(p).expanduser() for p in search_paths if str(p)]


def _sonic_pi_kit(folder: Path) -> KitSpec | None:
    instruments = []
    for role, layers in _SONIC_PI_KIT.items():
        found = tuple(Layer(vmin=lo, vmax=hi, path=folder / f"{name}.flac")
                      for name, lo, hi in layers if (folder / f"{name}.flac").is_file())
        if found:
            instruments.append(Instrument(name=found[-1].path.stem, role=role, gain=0.8,
                                          pan=(1.0, 1.0), layers=found))
    if not {"kick", "snare"} <= {i.role for i in instruments}:
        return None
    return KitSpec(name=SONIC_PI_KIT_NAME, slug="SonicPi", author="freesound.org contributors "
                   "(menegass, Zajo, Neotone), collected by Sonic Pi", license="CC0-1.0",
                   path=str(folder), source="sonic-pi-samples", instruments=tuple(instruments))


def _package(folder: Path) -> str:
    # Credits name the Debian package; hydrogen-data ships only these two kits.
    if str(folder).startswith("/usr/share/hydrogen"):
        return "hydrogen-data" if folder.name in ("GMRockKit", "TR808EmulationKit") else "hydrogen-drumkits"
    return "user-installed"


def find_kits(search_paths=None) -> list[KitSpec]:
    """Return every usable drum kit installed on this machine.

    Parameters
    ----------
    search_paths : sequence of str or pathlib.Path, optional
        Folders to search; default the ``BEATGAN_DRUMKIT_PATH`` variable if
        set, else :data:`DEFAULT_KIT_PATHS`. Missing folders are skipped.

    Returns
    -------
    list of KitSpec
        Kits that can play a groove (they have a kick and a snare or clap),
        sorted by name, the first of any two with the same name kept.
        Empty when nothing is installed (the renderer then falls back to
        :func:`beatgan.corpus.synthkit.synth_kit`).
    """
    kits: dict[str, KitSpec] = {}
    for root in _paths(search_paths, KIT_PATH_VARIABLE, DEFAULT_KIT_PATHS):
        if not root.is_dir():
            continue
        if (root / "drum_bass_hard.flac").is_file():
            candidates = [_sonic_pi_kit(root)]
        elif (root / "drumkit.xml").is_file():
            candidates = [parse_drumkit(root, source=_package(root))]
        else:
            candidates = [parse_drumkit(d, source=_package(d)) for d in sorted(root.iterdir())
                          if (d / "drumkit.xml").is_file()]
        for kit in candidates:
            if kit is not None and "kick" in kit.roles and kit.roles & {"snare", "clap"}:
                kits.setdefault(kit.name, kit)
    return sorted(kits.values(), key=lambda k: k.name.lower())


def find_songs(search_paths=None, *, kit_paths=None) -> list[Path]:
    """Return the Hydrogen song files whose patterns the corpus plays.

    Parameters
    ----------
    search_paths : sequence of str or pathlib.Path, optional
        Song folders; default ``BEATGAN_SONG_PATH`` if set, else
        :data:`DEFAULT_SONG_PATHS`.
    kit_paths : sequence of str or pathlib.Path, optional
        Kit folders (as for :func:`find_kits`) whose kits' demo songs are
        added.

    Returns
    -------
    list of pathlib.Path
        ``.h2song`` files, sorted by name, without duplicates.
    """
    songs = set()
    for root in _paths(search_paths, SONG_PATH_VARIABLE, DEFAULT_SONG_PATHS):
        if root.is_dir():
            songs.update(root.glob("*.h2song"))
    for root in _paths(kit_paths, KIT_PATH_VARIABLE, DEFAULT_KIT_PATHS):
        if root.is_dir():
            songs.update(root.glob("*.h2song"))
            songs.update(root.glob("*/*.h2song"))
    return sorted(songs, key=lambda p: (p.name, str(p)))


def load_patterns(songs=None, *, grooves: bool = True) -> list[Pattern]:
    """Return the distinct one-bar patterns of the songs, plus the classic grooves.

    Parameters
    ----------
    songs : sequence of str or pathlib.Path, optional
        ``.h2song`` files; default :func:`find_songs`.
    grooves : bool, optional
        Add :func:`beatgan.corpus.grooves.classic_grooves` after the songs'.

    Returns
    -------
    list of Pattern
        Songs' patterns in file order, then grooves; a pattern identical to
        an earlier one (same steps, roles and velocities) is left out, and
        names are made unique with a numeric suffix.
    """
    songs = find_songs() if songs is None else [Path(s) for s in songs]
    candidates = [p for song in songs for p in parse_song(song)]
    if grooves:
        candidates += classic_grooves()
    patterns, seen, names = [], set(), set()
    for pattern in candidates:
        if pattern.key() in seen:
            continue
        seen.add(pattern.key())
        name, n = pattern.name, 2
        while name in names:
            name, n = f"{pattern.name}-{n}", n + 1
        names.add(name)
        patterns.append(Pattern(name=name, source=pattern.source, hits=pattern.hits))
    return patterns


def select_kits(kits: list[KitSpec], names) -> list[KitSpec]:
    """Return the kits named in ``names``.

    Parameters
    ----------
    kits : list of KitSpec
        The kits to choose from, e.g. :func:`find_kits`.
    names : iterable of str
        Kit names, slugs or folder names, in any case (``"GMRockKit"``,
        ``"the black pearl 1.0"``, ``"BJA_Pacific"``).

    Returns
    -------
    list of KitSpec
        The matching kits, in the order named, each once.

    Raises
    ------
    beatgan.errors.CorpusError
        If a name matches no kit; the message lists the available ones.
    """
    chosen = []
    for wanted in names:
        key = slug(str(wanted)).lower()
        match = [k for k in kits if key in (k.slug.lower(), slug(Path(k.path).name).lower(),
                                           slug(k.name).lower())]
        if not match:
            available = ", ".join(k.slug for k in kits) or "none installed"
            raise CorpusError(f"kit {wanted!r} not found; available: {available}, synth")
        chosen.extend(k for k in match if k not in chosen)
    return chosen
