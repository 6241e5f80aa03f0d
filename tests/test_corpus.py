"""Tests of beatgan.corpus: kits, songs, grooves, mixing, the rendered corpus and its CLI.

The rendered-corpus tests use the Debian kits where installed (the CI installs
them) and the built-in synthesised kit otherwise; the fallback is also forced
explicitly. The fast part takes about 30 s; the full 434-loop run is marked slow.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from beatgan.audio import loop_frames
from beatgan.cli import main
from beatgan.corpus import (
    Hit, Humanize, Pattern, check_corpus, classic_grooves, classify_instrument, find_kits,
    load_patterns, parse_drumkit, parse_groove, parse_loop_name, parse_song,
    render_corpus, render_loop, synth_kit,
)
from beatgan.corpus.roles import resolve_role
from beatgan.errors import CorpusError

# The Debian kits, unless the kit search path is redirected (as on a machine without them).
KITS_INSTALLED = (Path("/usr/share/hydrogen/data/drumkits/GMRockKit/drumkit.xml").is_file()
                  and "BEATGAN_DRUMKIT_PATH" not in os.environ)
needs_kits = pytest.mark.skipif(not KITS_INSTALLED, reason="hydrogen-drumkits/hydrogen-data not installed")
TEST_COUNT = 48  # loops in the fast test corpus: enough for the 80 % tempo criterion to mean something


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A test-size corpus rendered once for this module: (folder, report)."""
    folder = tmp_path_factory.mktemp("open_loops")
    report = render_corpus(folder, count=TEST_COUNT, seed=0, progress=False)
    return folder, report


# --- names to roles -----------------------------------------------------------------------

@pytest.mark.parametrize("name, role", [
    ("Kick (Tama Superstar 22\")", "kick"), ("c3 - bass drum 1", "kick"), ("BassDrum", "kick"),
    ("Cajon Thump", "kick"), ("Djembe1 Bass", "kick"), ("Snare Rimshot", "rimshot"),
    ("Pearl Side Stick", "sidestick"), ("Rim Click (Pearl)", "sidestick"), ("Snare Jazz", "snare"),
    ("Hand Clap", "clap"), ("VariBreaks Hat 1 Cl", "hihat_closed"), ("Hat Pedal", "hihat_pedal"),
    ("Sabian Hat Semi-Open", "hihat_open"), ("Side OHH", "hihat_open"), ("Floor Tom", "tom_low"),
    ("Tom 2", "tom_mid"), ("tomhi2", "tom_high"), ("d4 - high tom", "tom_high"),
    ("Crash/Ride (Paiste Rude 18\")", "ride"), ("Paiste Bell", "ride_bell"), ("Splash", "crash"),
    ("Cowbell", "cowbell"), ("Maraca", "shaker"), ("Clave", "perc"),
    ("Snare Roll", None), ("Click", None), ("Sabian Hat Choke", None), ("17", None), ("", None),
])
def test_classify_instrument(name, role):
    assert classify_instrument(name) == role


@pytest.mark.parametrize("role, available, expected", [
    ("snare", {"snare", "clap"}, "snare"),
    ("clap", {"kick", "snare"}, "snare"),
    ("hihat_open", {"kick", "hihat_closed"}, "hihat_closed"),
    ("tom_low", {"tom_high"}, "tom_high"),
    ("crash", {"kick"}, None),
])
def test_resolve_role(role, available, expected):
    assert resolve_role(role, available) == expected


# --- grooves ------------------------------------------------------------------------------

def test_parse_groove():
    pattern = parse_groove("x", "BD X...|x...|....|..o.\nCH g.g.|g.g.|g.g.|g.g.")
    assert pattern.name == "groove-x"
    kicks = [(h.step, h.velocity) for h in pattern.hits if h.role == "kick"]
    assert kicks == [(0, 1.0), (4, 0.8), (14, 0.55)]
    assert sum(h.role == "hihat_closed" for h in pattern.hits) == 8


@pytest.mark.parametrize("text, problem", [
    ("ZZ x...|x...|x...|x...", "role code"),
    ("BD x...|x...|x...|x..", "15 steps"),
    ("BD x...|x...|x...|x..?", "step '?'"),
])
def test_parse_groove_errors(text, problem):
    with pytest.raises(CorpusError, match=re.escape(problem)):
        parse_groove("bad", text)


def test_classic_grooves_are_full_grooves():
    grooves = classic_grooves()
    assert len(grooves) >= 20
    assert len({g.key() for g in grooves}) == len(grooves)
    for groove in grooves:
        assert "kick" in groove.roles and len(groove.hits) >= 6, groove.name


# --- Hydrogen files -----------------------------------------------------------------------

def _wav(path: Path, rate=48000, channels=1):
    t = np.arange(int(0.2 * rate)) / rate
    tone = (np.sin(2 * np.pi * 200 * t) * np.exp(-t / 0.03)).astype(np.float32)
    soundfile.write(str(path), np.repeat(tone[:, None], channels, axis=1), rate, subtype="PCM_24")


NEW_KIT = """<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
 <name>New Kit</name><author>A. Author</author><license>CC0</license>
 <instrumentList>
  <instrument><id>0</id><name>Kick</name><volume>0.5</volume><pan>-0.5</pan><gain>1</gain>
   <instrumentComponent><component_id>0</component_id>
    <layer><filename>k_soft.wav</filename><min>0</min><max>0.5</max><gain>1</gain></layer>
    <layer><filename>k_hard.wav</filename><min>0.5</min><max>1</max><gain>0.9</gain></layer>
   </instrumentComponent></instrument>
  <instrument><id>1</id><name>Snare</name><volume>1</volume><pan>0</pan>
   <instrumentComponent><layer><filename>missing.wav</filename><min>0</min><max>1</max></layer>
   </instrumentComponent></instrument>
  <instrument><id>2</id><name>Whistle</name><volume>1</volume>
   <instrumentComponent><layer><filename>k_soft.wav</filename><min>0</min><max>1</max></layer>
   </instrumentComponent></instrument>
 </instrumentList>
</drumkit_info>"""

OLD_KIT = """<drumkit_info><name>Old Kit</name><author>B</author>
 <instrumentList>
  <instrument><id>0</id><filename>k_soft.wav</filename><name>Kick</name><volume>1</volume>
   <pan_L>1</pan_L><pan_R>0.5</pan_R></instrument>
  <instrument><id>1</id><name>Snare</name><volume>1</volume><pan_L>1</pan_L><pan_R>1</pan_R>
   <layer><filename>k_hard.wav</filename><min>0</min><max>1</max><gain>1</gain></layer></instrument>
 </instrumentList></drumkit_info>"""


def test_parse_drumkit_new_format(tmp_path):
    _wav(tmp_path / "k_soft.wav")
    _wav(tmp_path / "k_hard.wav", channels=2)
    (tmp_path / "drumkit.xml").write_text(NEW_KIT)
    kit = parse_drumkit(tmp_path, source="test")
    assert (kit.name, kit.author, kit.license, kit.slug) == ("New Kit", "A. Author", "CC0", "New-Kit")
    assert [i.role for i in kit.instruments] == ["kick"]  # snare: file missing; whistle: no role
    kick = kit.instruments[0]
    assert kick.gain == pytest.approx(0.5) and kick.pan == pytest.approx((1.0, 0.5))
    assert [(l.vmin, l.vmax, l.gain) for l in kick.layers] == [(0, 0.5, 1), (0.5, 1, 0.9)]


def test_parse_drumkit_old_format(tmp_path):
    _wav(tmp_path / "k_soft.wav", rate=44100)
    _wav(tmp_path / "k_hard.wav")
    (tmp_path / "drumkit.xml").write_text(OLD_KIT)
    kit = parse_drumkit(tmp_path / "drumkit.xml")
    assert kit.license == "unknown"
    assert [(i.role, len(i.layers)) for i in kit.instruments] == [("kick", 1), ("snare", 1)]
    assert kit.instruments[0].pan == pytest.approx((1.0, 0.5))


def test_parse_drumkit_broken(tmp_path):
    (tmp_path / "drumkit.xml").write_text("<drumkit_info><name>x</name")
    assert parse_drumkit(tmp_path) is None
    assert parse_drumkit(tmp_path / "absent") is None


def _song(patterns: str, swing="0") -> str:
    return f"""<song><name>Test Song</name><swing_factor>{swing}</swing_factor>
 <instrumentList>
  <instrument><id>0</id><name>Kick</name></instrument>
  <instrument><id>1</id><name>Snare</name></instrument>
  <instrument><id>2</id><name>Hat Closed</name></instrument>
 </instrumentList><patternList>{patterns}</patternList></song>"""


def _pattern(name, notes, size=192, old=False):
    body = "".join(f"<note><position>{p}</position><velocity>{v}</velocity><leadlag>0</leadlag>"
                   f"<instrument>{i}</instrument></note>" for p, i, v in notes)
    body = f"<sequenceList><sequence><noteList>{body}</noteList></sequence></sequenceList>" if old \
        else f"<noteList>{body}</noteList>"
    return f"<pattern><name>{name}</name><size>{size}</size>{body}</pattern>"


BEAT = [(0, 0, 0.8), (48, 1, 0.8), (96, 0, 0.8), (144, 1, 0.8)] + [(t, 2, 0.5) for t in range(0, 192, 24)]


@pytest.mark.parametrize("old", [False, True])
def test_parse_song(tmp_path, old):
    flam = BEAT + [(141, 1, 0.3), (150, 0, 0.9)]  # 141 snaps onto the snare at 144; 150 -> step 13
    patterns = "".join([
        _pattern("verse", BEAT, old=old), _pattern("groove 2", flam, old=old),
        _pattern("fill 1", BEAT, old=old), _pattern("long", BEAT, size=384, old=old),
        _pattern("sparse", BEAT[:4], old=old), _pattern("hats only", BEAT[4:], old=old),
    ])
    path = tmp_path / "t.h2song"
    path.write_text(_song(patterns))
    found = parse_song(path)
    assert [p.name for p in found] == ["Test-Song-verse", "Test-Song-groove-2"]
    steps = {(h.step, h.role): h.velocity for h in found[1].hits}
    assert steps[12, "snare"] == 0.8 and steps[13, "kick"] == 0.9 and (11, "snare") not in steps
    assert all(h.step in range(16) for p in found for h in p.hits)


def test_parse_song_swung_or_broken(tmp_path):
    (tmp_path / "swung.h2song").write_text(_song(_pattern("a", BEAT), swing="0.5"))
    (tmp_path / "broken.h2song").write_text("<song>")
    assert parse_song(tmp_path / "swung.h2song") == []
    assert parse_song(tmp_path / "broken.h2song") == []


def test_load_patterns_dedupes(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.h2song").write_text(_song(_pattern("verse", BEAT)))
    patterns = load_patterns(sorted(tmp_path.glob("*.h2song")), grooves=False)
    assert len(patterns) == 1
    with_grooves = load_patterns(sorted(tmp_path.glob("*.h2song")))
    assert len(with_grooves) == 1 + len(classic_grooves())
    assert len({p.name for p in with_grooves}) == len(with_grooves)


@needs_kits
def test_installed_kits_and_patterns():
    kits = find_kits()
    patterns = load_patterns()
    assert len(kits) >= 10
    assert sum(p.source.endswith(".h2song") for p in patterns) >= 60
    assert len(patterns) >= 60
    for kit in kits:
        assert "kick" in kit.roles, kit.name


# --- mixing -------------------------------------------------------------------------------

@pytest.mark.parametrize("bpm, bars", [(120.0, 2), (124.3, 2), (125.0, 1), (97.5, 4)])
def test_render_loop_length_and_peak(bpm, bars):
    pattern = classic_grooves()[0]
    audio = render_loop(pattern, synth_kit(), bpm=bpm, bars=bars, rng=np.random.default_rng(0))
    assert audio.shape == (loop_frames(bpm, bars, 44100), 2) == (round(bars * 240 / bpm * 44100), 2)
    assert audio.dtype == np.float32
    assert np.max(np.abs(audio)) == pytest.approx(Humanize().peak, rel=1e-5)


def test_render_loop_wraps_tails():
    # One crash on the last 16th: its tail must continue at the loop's start.
    pattern = Pattern("crash", "test", (Hit(15, "crash", 1.0),))
    quiet = Humanize(jitter_ms=0.0, velocity_spread=0.0)
    audio = render_loop(pattern, synth_kit(), bpm=120, bars=1, rng=np.random.default_rng(0), humanize=quiet)
    step = len(audio) // 16
    assert np.max(np.abs(audio[:step])) > 0.05  # the wrapped tail
    assert np.max(np.abs(audio[step:15 * step - 10])) > 0.0  # tail of the crash still ringing


def test_render_loop_hats_choke():
    pattern = Pattern("hats", "test", (Hit(0, "hihat_open", 1.0), Hit(2, "hihat_closed", 0.3)))
    quiet = Humanize(jitter_ms=0.0, velocity_spread=0.0)
    audio = render_loop(pattern, synth_kit(), bpm=120, bars=1, rng=np.random.default_rng(0), humanize=quiet)
    step = len(audio) // 16
    # After the closed hat the open hat is cut: only the soft closed hat rings.
    assert np.max(np.abs(audio[3 * step:4 * step])) < 0.2 * np.max(np.abs(audio[:step]))


def test_render_loop_errors():
    with pytest.raises(CorpusError, match="bpm"):
        render_loop(classic_grooves()[0], synth_kit(), bpm=0, rng=np.random.default_rng(0))
    nothing = Pattern("x", "test", (Hit(0, "perc", 1.0),))
    kit = synth_kit()
    kit = type(kit)(**{**kit.__dict__, "instruments": tuple(i for i in kit.instruments
                                                           if i.role not in ("perc", "cowbell"))})
    with pytest.raises(CorpusError, match="nothing"):
        render_loop(nothing, kit, bpm=120, rng=np.random.default_rng(0))


# --- the rendered corpus ------------------------------------------------------------------

def test_corpus_format_and_names(corpus):
    folder, report = corpus
    files = sorted(folder.glob("loop_*.wav"))
    assert [f.name for f in files] == [f.name for f in report.files] and len(files) == TEST_COUNT
    for path in files:
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (44100, 2, "PCM_24", "WAV")
        fields = parse_loop_name(path.name)
        assert 120.0 <= fields["bpm"] <= 125.0
        assert fields["bpm"] == int(fields["bpm"]) and path.name.endswith(f"_{int(fields['bpm'])}bpm.wav")  # pack-like
        assert info.frames == round(2 * 4 * 60 / fields["bpm"] * 44100), path.name
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", path.name)
    assert not report.up_to_date
    if KITS_INSTALLED:
        assert not report.fallback and len(report.kits) >= 10 and len(report.patterns) >= 40


def test_corpus_credits_and_manifest(corpus):
    folder, report = corpus
    credits = (folder / "CREDITS").read_text()
    for kit in report.kits:
        assert f"- {kit} (" in credits
    assert "license:" in credits and "author:" in credits
    manifest = (folder / "manifest.csv").read_text().splitlines()
    assert manifest[0].startswith("# {") and manifest[1].startswith("file,kit,pattern")
    assert len(manifest) == 2 + TEST_COUNT


def test_corpus_is_deterministic_and_count_independent(corpus, tmp_path):
    folder, _ = corpus
    again = render_corpus(tmp_path / "a", count=5, seed=0, progress=False)
    for path in again.files:  # the first loops of a larger corpus with the same seed
        assert path.read_bytes() == (folder / path.name).read_bytes()
    other = render_corpus(tmp_path / "b", count=5, seed=1, progress=False)
    assert [p.read_bytes() for p in other.files] != [p.read_bytes() for p in again.files]


def test_corpus_tempo_and_grid(corpus):
    folder, _ = corpus
    check = check_corpus(folder)
    assert check.loops == TEST_COUNT
    assert check.exact_length == 1.0
    assert check.tempo_agreement >= 0.8, check
    assert check.onsets_on_grid >= 0.9, check


def test_corpus_up_to_date_and_overwrite(tmp_path):
    first = render_corpus(tmp_path, count=3, seed=0, kits=["synth"], progress=False)
    second = render_corpus(tmp_path, count=3, seed=0, kits=["synth"], progress=False)
    assert second.up_to_date and second.files == first.files
    manifest = tmp_path / "manifest.csv"  # as an interrupted render leaves it: settings, no rows
    manifest.write_text(manifest.read_text().splitlines()[0] + "\n")
    resumed = render_corpus(tmp_path, count=3, seed=0, kits=["synth"], progress=False)
    assert not resumed.up_to_date and resumed.files == first.files
    with pytest.raises(CorpusError, match="overwrite"):
        render_corpus(tmp_path, count=2, seed=0, kits=["synth"], progress=False)
    third = render_corpus(tmp_path, count=2, seed=0, kits=["synth"], progress=False, overwrite=True)
    assert len(list(tmp_path.glob("loop_*.wav"))) == 2 and not third.up_to_date


@pytest.mark.parametrize("options, message", [
    ({"count": 0}, "count"), ({"bpm": (125, 120)}, "bpm"), ({"bpm": (120, 122, 124)}, "bpm"),
    ({"bars": 0}, "bars"), ({"sample_rate": 100}, "sample_rate"), ({"kits": ["no-such-kit"]}, "not found"),
    ({"kits": []}, "at least one"), ({"bpm": (124.2, 124.8)}, "whole-number tempo"),
])
def test_render_corpus_errors(tmp_path, options, message):
    with pytest.raises(CorpusError, match=message):
        render_corpus(tmp_path, progress=False, **{"count": 2, **options})


def test_fallback_kit_when_nothing_installed(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("BEATGAN_DRUMKIT_PATH", str(empty))
    monkeypatch.setenv("BEATGAN_SONG_PATH", str(empty))
    assert find_kits() == []
    with pytest.warns(UserWarning, match="synthesised kit"):
        report = render_corpus(tmp_path / "out", count=6, seed=0, progress=False)
    assert report.fallback and report.kits == ("synth",)
    assert all(p.startswith("groove-") for p in report.patterns)
    assert "synthesised kit" in (tmp_path / "out" / "CREDITS").read_text()
    for path in report.files:
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_24")
        assert info.frames == round(8 * 60 / parse_loop_name(path.name)["bpm"] * 44100)
    check = check_corpus(tmp_path / "out")
    assert check.exact_length == 1.0 and check.onsets_on_grid >= 0.9, check


# --- command line -------------------------------------------------------------------------

def test_cli_render_loops(tmp_path, capsys):
    out = tmp_path / "loops"
    args = ["render-loops", "-o", str(out), "--count", "4", "--seed", "3", "--bpm", "122-124",
            "--kits", "synth", "--no-progress"]
    assert main(args) == 0
    files = sorted(out.glob("loop_*.wav"))
    assert len(files) == 4 and all(122 <= parse_loop_name(f.name)["bpm"] <= 124 for f in files)
    assert "4 loops" in capsys.readouterr().out
    assert main(args) == 0 and "up to date" in capsys.readouterr().out
    assert main(args[:3] + ["--count", "2", "--kits", "synth", "--no-progress"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(args + ["--force", "--bars", "1"]) == 0
    assert main(["render-loops", "-o", str(out), "--kits", "nope", "--no-progress"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_list_kits(capsys):
    assert main(["render-loops", "--list-kits"]) == 0
    assert "patterns" in capsys.readouterr().out


# --- full size ----------------------------------------------------------------------------

@pytest.mark.slow
@needs_kits
def test_full_corpus(tmp_path):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        report = render_corpus(tmp_path, count=434, seed=0, progress=False)
    seconds = time.perf_counter() - started
    assert len(report.files) == 434 and seconds < 60
    assert len(report.kits) >= 10 and len(report.patterns) >= 60
    check = check_corpus(tmp_path)
    assert check.exact_length == 1.0
    assert check.tempo_agreement >= 0.8, check
    assert check.onsets_on_grid >= 0.9, check


# --- the checker itself catches loops off tempo or off the grid ------------------------------------

from beatgan.corpus.analysis import onset_grid_offsets, tempo_agrees  # noqa: E402

CHECK_RATE = 44100


def _rendered(bpm, count=4):
    quiet = Humanize(jitter_ms=0.0, velocity_spread=0.0)
    return [render_loop(pattern, synth_kit(), bpm=bpm, bars=2, rng=np.random.default_rng(i), humanize=quiet)
            for i, pattern in enumerate(classic_grooves()[:count])]


def _write_loops(folder: Path, loops, named_bpm) -> Path:
    folder.mkdir()
    for i, audio in enumerate(loops):
        soundfile.write(str(folder / f"loop_{i + 1:04d}_synth_groove-{i}_{named_bpm}bpm.wav"), audio, CHECK_RATE,
                        subtype="FLOAT")
    return folder


def test_checker_passes_good_loops_and_flags_wrong_tempo_and_shifted_onsets(tmp_path):
    bpm = 120
    loops = _rendered(bpm)
    good = check_corpus(_write_loops(tmp_path / "good", loops, bpm))
    assert good.exact_length == 1.0 and good.tempo_agreement >= 0.75 and good.onsets_on_grid >= 0.9, good

    wrong_name = check_corpus(_write_loops(tmp_path / "tempo", loops, 97))  # 120/97: no factor 1/2, 1 or 2
    assert wrong_name.exact_length == 0.0 and wrong_name.tempo_agreement == 0.0, wrong_name

    half_step = round(60 / bpm / 4 / 2 * CHECK_RATE)  # half a 16th: 62.5 ms off the grid
    shifted = check_corpus(_write_loops(tmp_path / "shifted", [np.roll(a, half_step, axis=0) for a in loops], bpm))
    assert shifted.exact_length == 1.0  # the length is right, only the onsets moved
    assert shifted.onsets_on_grid <= 0.2, shifted


def test_onset_grid_offsets_measure_a_known_shift():
    bpm = 120
    audio = _rendered(bpm, count=1)[0]
    step = 60 / bpm / 4
    assert np.median(onset_grid_offsets(audio, CHECK_RATE, bpm)) < 0.015
    for shift in (0.03, 0.05):
        moved = np.roll(audio, round(shift * CHECK_RATE), axis=0)
        offsets = onset_grid_offsets(moved, CHECK_RATE, bpm)
        assert np.all((offsets >= 0) & (offsets <= step / 2 + 1e-9))
        assert np.median(offsets) == pytest.approx(shift, abs=0.015)


@pytest.mark.parametrize("estimate, bpm, agrees", [
    (120.0, 120, True), (60.0, 120, True), (240.0, 120, True), (124.0, 120, True), (126.0, 120, False),
    (97.0, 120, False), (180.0, 120, False), (90.0, 120, False),
])
def test_tempo_agrees_up_to_octave_errors_only(estimate, bpm, agrees):
    assert tempo_agrees(estimate, bpm) is agrees
