"""The project's own classic grooves, written in a 16-step notation.

Hydrogen's demo songs are mostly rock, pop and jazz; a loop pack also has
house, hip-hop, breaks, electro, reggae and Latin grooves. These are the
textbook one-bar forms of those genres, written by the project (MIT), so the
corpus covers them too.

Notation: one line per drum, ``ROLE steps``, 16 steps per bar with ``|``
between beats for the eye. A step is ``.`` (rest), ``g`` (ghost, velocity
0.3), ``o`` (soft, 0.55), ``x`` (normal, 0.8) or ``X`` (accent, 1.0). Role
codes: BD kick, SD snare, RS rim shot, SS side stick, CP clap, CH/PH/OH
closed/pedal/open hi-hat, LT/MT/HT toms, CR crash, RD ride, RB ride bell,
CB cowbell, SH shaker, PC other percussion.
"""

from __future__ import annotations

from beatgan.corpus.structs import STEPS_PER_BAR, Hit, Pattern
from beatgan.errors import CorpusError

#: Source string of every groove in this module.
GROOVE_SOURCE = "beatgan grooves"

CODES = {
    "BD": "kick", "SD": "snare", "RS": "rimshot", "SS": "sidestick", "CP": "clap",
    "CH": "hihat_closed", "PH": "hihat_pedal", "OH": "hihat_open",
    "LT": "tom_low", "MT": "tom_mid", "HT": "tom_high",
    "CR": "crash", "RD": "ride", "RB": "ride_bell", "CB": "cowbell", "SH": "shaker", "PC": "perc",
}
VELOCITIES = {"g": 0.3, "o": 0.55, "x": 0.8, "X": 1.0}

GROOVES = {
    "house": """
        BD X...|x...|X...|x...
        CP ....|x...|....|x...
        CH ..x.|..x.|..x.|..x.
        SH g.o.|g.o.|g.o.|g.o.""",
    "deep-house": """
        BD X...|x...|X...|x...
        RS ....|o...|....|o..g
        OH ..x.|..x.|..x.|..x.
        CH o.g.|o.g.|o.g.|o.g.""",
    "techno": """
        BD X...|X...|X...|X...
        CH ..x.|..x.|..x.|..x.
        OH ....|....|....|..o.
        CP ....|x...|....|x...
        RD o.o.|o.o.|o.o.|o.o.""",
    "disco": """
        BD X...|x...|X...|x...
        SD ....|x...|....|x...
        OH ..x.|..x.|..x.|..x.
        CH x.g.|x.g.|x.g.|x.g.""",
    "boom-bap": """
        BD X...|....|..x.|..o.
        SD ....|X...|....|X...
        CH x.x.|x.x.|x.x.|x.xo""",
    "hip-hop-lazy": """
        BD X..x|....|x.x.|....
        SD ....|X..g|....|X...
        CH x.o.|x.o.|x.o.|x.o.""",
    "breakbeat": """
        BD X.x.|....|..xx|....
        SD ....|X..g|.g.g|X..g
        RD x.x.|x.x.|x.x.|x.x.""",
    "funk-break": """
        BD X.x.|...x|..x.|.x..
        SD ....|X..g|.g.g|X..g
        CH x.xx|x.x.|x.xx|x.o.""",
    "electro": """
        BD X...|...x|..x.|....
        CP ....|X...|....|X...
        CH x.x.|x.x.|x.x.|x.x.
        CB ....|....|....|..o.""",
    "trap": """
        BD X...|....|..x.|..x.
        CP ....|....|X...|....
        CH x.xx|x.x.|xxx.|x.xx""",
    "rock": """
        BD X...|....|x.x.|....
        SD ....|X...|....|X...
        CH x.x.|x.x.|x.x.|x.x.""",
    "rock-16ths": """
        BD X...|...o|x.x.|....
        SD ....|X...|....|X...
        CH xoxo|xoxo|xoxo|xoxo""",
    "half-time": """
        BD X...|....|..x.|....
        SD ....|....|X...|....
        CH x.x.|x.x.|x.x.|x.x.""",
    "punk": """
        BD X.x.|X.x.|X.x.|X.x.
        SD ....|X...|....|X...
        CR X...|....|....|....
        CH x.x.|x.x.|x.x.|x.x.""",
    "double-kick": """
        BD xxxx|xxxx|xxxx|xxxx
        SD ....|X...|....|X...
        RD x...|x...|x...|x...""",
    "motown": """
        BD X...|x...|X...|x...
        SD ....|X...|....|X...
        SH ....|x...|....|x...
        CH x.x.|x.x.|x.x.|x.x.""",
    "one-drop": """
        BD ....|....|X...|....
        SS ....|....|x...|....
        CH x.x.|x.x.|x.x.|x.x.
        OH ....|....|....|..o.""",
    "dembow": """
        BD X...|X...|X...|X...
        SD ...x|..x.|...x|..x.
        CH x.x.|x.x.|x.x.|x.x.""",
    "bossa-nova": """
        BD X..x|X..x|X..x|X..x
        SS x..x|..x.|..x.|.x..
        CH xxxx|xxxx|xxxx|xxxx""",
    "steppers": """
        BD X...|X...|X...|X...
        SS ....|....|x...|....
        CH x.o.|x.o.|x.o.|x.o.
        OH ....|....|....|..o.""",
    "afrobeat": """
        BD X...|..x.|.x..|x...
        SS ....|x..x|..x.|x...
        OH ..x.|..x.|..x.|..x.
        CH x.o.|x.o.|x.o.|x.o.
        CB x.x.|x.xx|.x.x|.x.x""",
    "uk-garage": """
        BD X...|....|..x.|...x
        RS ....|X...|....|X...
        CH ..x.|..x.|..x.|..x.
        SH g.o.|g.o.|g.o.|g.o.""",
    "go-go": """
        BD X..x|..x.|X..x|..x.
        SD ....|X...|....|X...
        CB x..x|..x.|..x.|x...
        PC ..o.|.o..|o..o|..o.
        CH x.x.|x.x.|x.x.|x.x.""",
    "tom-groove": """
        BD X...|..x.|x...|..x.
        LT ..x.|..x.|..x.|..x.
        MT ....|x...|....|x..o
        SD ....|X...|....|X...""",
}


def parse_groove(name: str, text: str) -> Pattern:
    """Turn one groove in step notation into a :class:`Pattern`.

    Parameters
    ----------
    name : str
        Groove name; the pattern is called ``"groove-" + name``.
    text : str
        Lines of ``ROLE steps`` as described in the module docstring.

    Returns
    -------
    Pattern
        The bar, hits sorted by step then role, source :data:`GROOVE_SOURCE`.

    Raises
    ------
    CorpusError
        If a role code is unknown, a line does not have 16 steps, or a step
        character is not one of ``.gxoX``.
    """
    hits = []
    for line in text.strip().splitlines():
        code, _, steps = line.strip().partition(" ")
        steps = steps.replace("|", "").replace(" ", "")
        if code not in CODES:
            raise CorpusError(f"groove {name!r}: role code {code!r} must be one of {sorted(CODES)}")
        if len(steps) != STEPS_PER_BAR:
            raise CorpusError(f"groove {name!r}: {code} has {len(steps)} steps, must have 16")
        for step, char in enumerate(steps):
            if char == ".":
                continue
            if char not in VELOCITIES:
                raise CorpusError(f"groove {name!r}: step {char!r} must be one of '.gxoX'")
            hits.append(Hit(step=step, role=CODES[code], velocity=VELOCITIES[char]))
    hits.sort(key=lambda h: (h.step, h.role))
    return Pattern(name=f"groove-{name}", source=GROOVE_SOURCE, hits=tuple(hits))


def classic_grooves() -> list[Pattern]:
    """Return every groove of :data:`GROOVES` as a :class:`Pattern`, in table order."""
    return [parse_groove(name, text) for name, text in GROOVES.items()]
