"""Drum roles: the common vocabulary that lets any pattern play on any kit.

Hydrogen kits and songs name their instruments freely ("Kick (Tama Superstar
22")", "VariBreaks Hat 1 Cl", "c3 - bass drum 1", "Djembe1 Bass"). Patterns
and kits are both translated to a small set of roles by keywords in those
names, so a pattern written for the GM kit plays on the TR-808 kit or on a
cajon. A note whose role a kit lacks goes to the first stand-in listed in
:data:`FALLBACKS` that the kit has, or is dropped.
"""

from __future__ import annotations

import re

#: Every role a pattern note or kit instrument can have, in mixing order.
ROLES = (
    "kick",
    "snare",
    "rimshot",
    "sidestick",
    "clap",
    "hihat_closed",
    "hihat_pedal",
    "hihat_open",
    "tom_low",
    "tom_mid",
    "tom_high",
    "crash",
    "ride",
    "ride_bell",
    "cowbell",
    "shaker",
    "perc",
)

#: Roles that cut each other off, as a drummer's hi-hat does: an open hat
#: stops ringing when the closed or pedal hat next sounds.
CHOKE_GROUPS = {"hihat_closed": "hihat", "hihat_pedal": "hihat", "hihat_open": "hihat"}

#: Stand-ins, tried in order, for a role a kit does not have.
FALLBACKS = {
    "kick": ("tom_low",),
    "snare": ("clap", "rimshot"),
    "rimshot": ("snare",),
    "sidestick": ("rimshot", "perc"),
    "clap": ("snare",),
    "hihat_closed": ("shaker", "hihat_pedal", "ride", "perc"),
    "hihat_pedal": ("hihat_closed", "shaker", "perc"),
    "hihat_open": ("hihat_closed", "shaker", "perc"),
    "tom_low": ("tom_mid", "tom_high", "perc"),
    "tom_mid": ("tom_low", "tom_high", "perc"),
    "tom_high": ("tom_mid", "tom_low", "perc"),
    "crash": ("ride", "hihat_open"),
    "ride": ("ride_bell", "hihat_closed", "shaker"),
    "ride_bell": ("ride", "cowbell"),
    "cowbell": ("perc", "ride_bell"),
    "shaker": ("hihat_closed",),
    "perc": ("cowbell",),
}

# Instruments that are not part of a groove: effects, rolls, chokes, silence.
_SKIP = {"roll", "fx", "zap", "whistle", "swish", "choke", "flink", "waterglasshi",
         "waterglasslo", "noise"}
_CYMBAL_BRANDS = {"paiste", "sabian", "zildjian", "meinl"}


def _words(name: str) -> list[str]:
    # "Kick (Tama 22\")" -> ["kick", "tama", "22"]; "Hi-Hat" -> ["hi", "hat"]
    return re.findall(r"[a-z]+|\d+", name.lower())


def classify_instrument(name: str) -> str | None:
    """Return the role an instrument plays, judged from its name.

    Parameters
    ----------
    name : str
        The instrument name from a ``drumkit.xml`` or ``.h2song``, e.g.
        ``"Hi-Hat Closed (Paiste Alpha 14\")"``.

    Returns
    -------
    str or None
        One of :data:`ROLES`, or ``None`` when the name matches no role (an
        effect, a roll, an unnamed slot), in which case the instrument is
        not used.

    Examples
    --------
    >>> classify_instrument("VariBreaks Hat 1 Op")
    'hihat_open'
    >>> classify_instrument("c3 - bass drum 1")
    'kick'
    """
    words = _words(name)
    if not words or _SKIP.intersection(words):
        return None
    if "click" in words and "rim" not in words:  # a metronome click, not a rim click
        return None
    text = " ".join(words)
    joined = "".join(words)
    is_hat = (any(w in ("hat", "hh", "chh", "ohh", "hihat", "hats") for w in words)
              or "hihat" in joined)
    if is_hat:
        if any(w in ("pedal", "pd", "foot") for w in words):
            return "hihat_pedal"
        if any(w in ("open", "opened", "op", "ohh", "semi", "semiopen", "free") for w in words):
            return "hihat_open"
        return "hihat_closed"
    if any(w in ("kick", "bassdrum", "bd", "thump") for w in words) or "bass drum" in text:
        return "kick"
    if "djembe" in words or "dununba" in joined or "sangban" in joined or "kenkeni" in joined:
        return _hand_drum_role(words)
    if "stick" in words or "sidestick" in words:
        return "sidestick"
    if "snare" in words or "snr" in words:
        return "rimshot" if any(w.startswith("rim") for w in words) else "snare"
    if "rim" in words:
        return "sidestick"
    if any(w in ("clap", "claps", "snaps", "snap") for w in words):
        return "clap"
    if "slap" in words:
        return "snare"
    if "tom" in words or any(w.startswith("tom") for w in words):
        return _tom_role(words)
    if "ride" in words or "cup" in words:
        return "ride_bell" if ("bell" in words or "cup" in words) and "crash" not in words else "ride"
    if any(w in ("crash", "splash", "china", "cymbal", "crashride") for w in words):
        return "crash"
    if "bell" in words and _CYMBAL_BRANDS.intersection(words):
        return "ride_bell"
    if any(w in ("cowbell", "bell", "agogo") for w in words):
        return "cowbell"
    if any(w in ("shaker", "maraca", "maracas", "tambourine", "cabasa") for w in words):
        return "shaker"
    if any(w in ("clave", "woodblock", "conga", "bongo", "block", "drum", "wood") for w in words):
        return "perc"
    return None


def _tom_role(words: list[str]) -> str:
    if any(w.startswith("tomhi") for w in words):  # "tomhi2": a second high tom
        return "tom_high"
    if any(w in ("floor", "low", "lo", "16") for w in words):
        return "tom_low"
    if any(w in ("mid", "middle", "2", "13") for w in words):
        return "tom_mid"
    if any(w in ("hi", "high", "1", "12") for w in words):
        return "tom_high"
    return "tom_mid"


def _hand_drum_role(words: list[str]) -> str:
    # A West African ensemble played as a kit: bass strokes and the big
    # dununba are the kick, slaps the snare, tones the toms, bells the bell.
    if "bell" in words:
        return "cowbell"
    if "bass" in words or any(w.startswith("dununba") for w in words):
        return "kick"
    if "slap" in words:
        return "snare"
    if "mute" in words:
        return "perc"
    return "tom_high" if "tone" in words else "tom_mid"


def resolve_role(role: str, available: set[str] | frozenset[str]) -> str | None:
    """Return the role that plays ``role`` on a kit offering ``available``.

    Parameters
    ----------
    role : str
        The role a pattern note asks for, one of :data:`ROLES`.
    available : set of str
        The roles the kit has.

    Returns
    -------
    str or None
        ``role`` itself if the kit has it, else its first stand-in from
        :data:`FALLBACKS` that the kit has, else ``None`` (drop the note).
    """
    if role in available:
        return role
    for stand_in in FALLBACKS.get(role, ()):
        if stand_in in available:
            return stand_in
    return None
