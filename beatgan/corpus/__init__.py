"""An open drum-loop corpus, rendered from real drum recordings.

The original BeatGAN trained on a commercial pack (434 loops, 2 bars at
124-125 bpm, 44.1 kHz 24-bit stereo) that cannot be shipped. This package
renders a pack like it from free material Debian ships: the multi-sampled
kits of ``hydrogen-drumkits`` and ``hydrogen-data`` (GPL-2, CC-BY-SA, CC-BY,
CC0), Sonic Pi's CC0 drum one-shots, the one-bar patterns of Hydrogen's demo
songs and the project's own classic grooves. Without those packages it falls
back to a synthesised kit, and says so.

>>> from beatgan.corpus import render_corpus
>>> report = render_corpus("data/open_loops", count=434, seed=0)  # doctest: +SKIP
>>> report.fallback, len(report.files), len(report.kits)          # doctest: +SKIP
(False, 434, 17)
"""

from beatgan.corpus.analysis import CorpusCheck, check_corpus, parse_loop_name
from beatgan.corpus.grooves import classic_grooves, parse_groove
from beatgan.corpus.hydrogen import parse_drumkit, parse_song
from beatgan.corpus.library import find_kits, find_songs, load_patterns
from beatgan.corpus.mix import Humanize, render_loop
from beatgan.corpus.render import DEMO_BPM, DEMO_SEED, CorpusReport, render_corpus, render_demo_pack
from beatgan.corpus.roles import ROLES, classify_instrument
from beatgan.corpus.structs import Hit, Instrument, KitSpec, Layer, Pattern
from beatgan.corpus.synthkit import SYNTH_KIT_NAME, synth_kit

__all__ = [
    "DEMO_BPM", "DEMO_SEED", "CorpusCheck", "CorpusReport", "Hit", "Humanize", "Instrument", "KitSpec", "Layer", "Pattern", "ROLES",
    "SYNTH_KIT_NAME", "classic_grooves", "classify_instrument", "find_kits", "find_songs",
    "check_corpus", "load_patterns", "parse_drumkit", "parse_groove",
    "parse_loop_name", "parse_song",
    "render_corpus", "render_demo_pack", "render_loop", "synth_kit",
]
