"""Render a pack-like folder of drum loops, with its CREDITS and manifest.

Loop ``i`` (from 0) is fully determined by the seed and ``i``: its kit and
pattern come from seeded shuffles that cycle through every kit and every
pattern before repeating one, its tempo, instrument choices and humanising
from ``numpy.random.default_rng([seed, i])``. So a 24-loop corpus is exactly
the first 24 files of the 434-loop corpus with the same seed and kits.

File names: ``loop_<n>_<kit>_<pattern>_<bpm>bpm.wav``, e.g.
``loop_0007_GMRockKit_GM-kit-demo-1-main-2-1_123bpm.wav``; fields are
separated by ``_`` and contain only letters, digits and ``-``; ``<bpm>`` is a
whole number, as sample packs name tempos, and the exact tempo rendered, so the file holds
``round(bars * 4 * 60 / bpm * rate)`` frames.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import wavfile24
from beatgan.atomic import atomic_write
from beatgan.audio import loop_frames
from beatgan.corpus.grooves import GROOVE_SOURCE
from beatgan.corpus.hydrogen import song_credits
from beatgan.corpus.library import find_kits, find_songs, load_patterns, select_kits
from beatgan.corpus.mix import Humanize, render_loop
from beatgan.corpus.structs import KitSpec, Pattern
from beatgan.corpus.synthkit import SYNTH_KIT_NAME, synth_kit
from beatgan.errors import CorpusError

MANIFEST = "manifest.csv"
CREDITS = "CREDITS"
_COLUMNS = ["file", "kit", "pattern", "source", "bpm", "bars", "frames"]
_FORMAT_VERSION = 3  # bump when the mixing changes, so old folders re-render


@dataclass(frozen=True)
class CorpusReport:
    """What :func:`render_corpus` did.

    Attributes
    ----------
    output : pathlib.Path
        The folder written.
    files : tuple of pathlib.Path
        The loops, in order.
    kits : tuple of str
        Names of the kits played, in order of first use.
    patterns : tuple of str
        Names of the patterns played, in order of first use.
    fallback : bool
        True when no kit was installed and the synthesised kit stood in.
    seconds : float
        Wall time of the call.
    up_to_date : bool
        True when the folder already held this exact corpus and nothing was
        rendered.
    """

    output: Path
    files: tuple[Path, ...]
    kits: tuple[str, ...]
    patterns: tuple[str, ...]
    fallback: bool
    seconds: float
    up_to_date: bool = False


def _cycle(items: list, index: int, seed: int, stream: int):
    # The n-th pass over `items` uses its own seeded shuffle: every item is
    # played once per pass, and item `index` does not depend on the count.
    rounds, position = divmod(index, len(items))
    order = np.random.default_rng([seed, stream, rounds]).permutation(len(items))
    return items[int(order[position])]


def _choose_kits(kits, kit_paths) -> tuple[list[KitSpec], bool]:
    installed = find_kits(kit_paths)
    if kits is None:
        if installed:
            return installed, False
        warnings.warn("no drum kit installed (looked in BEATGAN_DRUMKIT_PATH or the Hydrogen and "
                      "Sonic Pi folders); using beatgan's built-in synthesised kit", stacklevel=3)
        return [synth_kit()], True
    names = [kits] if isinstance(kits, str) else list(kits)
    if not names:
        raise CorpusError("kits=[] must name at least one kit (or be None for all installed)")
    chosen = [synth_kit()] if any(str(n).lower() == SYNTH_KIT_NAME for n in names) else []
    rest = [n for n in names if str(n).lower() != SYNTH_KIT_NAME]
    return chosen + select_kits(installed, rest), False


def _validate(count, bpm, bars, sample_rate) -> tuple[float, float]:
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise CorpusError(f"count={count!r} must be a positive integer")
    if not isinstance(bars, (int, np.integer)) or not 1 <= bars <= 16:
        raise CorpusError(f"bars={bars!r} must be an integer from 1 to 16")
    if not isinstance(sample_rate, (int, np.integer)) or not 8000 <= sample_rate <= 192000:
        raise CorpusError(f"sample_rate={sample_rate!r} must be an integer from 8000 to 192000 Hz")
    low, high = (bpm, bpm) if np.isscalar(bpm) else (tuple(bpm) + (None, None))[:2]
    if len(np.atleast_1d(bpm)) > 2 or not all(isinstance(v, (int, float, np.number)) for v in (low, high)) \
            or not 30 <= low <= high <= 300:
        raise CorpusError(f"bpm={bpm!r} must be a tempo or a (low, high) range within 30-300")
    if math.ceil(low) > math.floor(high):
        raise CorpusError(f"bpm={bpm!r} holds no whole-number tempo; loops are rendered at whole-number tempos, "
                          "as sample packs name them")
    return float(low), float(high)


def render_corpus(output, *, count: int = 434, seed: int = 0, bpm=(120.0, 125.0), bars: int = 2,
                  kits=None, sample_rate: int = 44100, progress: bool = True,
                  overwrite: bool = False, kit_paths=None, song_paths=None,
                  humanize: Humanize = Humanize()) -> CorpusReport:
    """Render ``count`` drum loops into ``output`` as 24-bit stereo WAV files.

    Parameters
    ----------
    output : str or pathlib.Path
        Folder to write (created if missing).
    count : int, optional
        Number of loops, >= 1 (the original pack had 434).
    seed : int, optional
        Seed of every random choice; the same seed gives the same bytes.
    bpm : float or (float, float), optional
        Tempo, or range the tempo of each loop is drawn from: uniformly among
        the whole numbers in it (a pack names ``124bpm``), so the range must hold one.
    bars : int, optional
        Bars (4/4) per loop; each bar plays the loop's pattern once.
    kits : sequence of str, optional
        Kit names, slugs or folder names to use (``"synth"`` for the
        built-in kit); default every installed kit, or the built-in one when
        none is installed.
    sample_rate : int, optional
        Output rate in Hz.
    progress : bool, optional
        Show a progress bar.
    overwrite : bool, optional
        Replace an existing, different corpus in ``output`` (its ``loop_*.wav``,
        manifest and CREDITS; other files are left alone).
    kit_paths, song_paths : sequence of str, optional
        Where to look for kits and songs (see :mod:`beatgan.corpus.library`).
    humanize : Humanize, optional
        Timing and velocity variation, and the output peak.

    Returns
    -------
    CorpusReport
        Files, kits and patterns used, whether the fallback kit was used.

    Raises
    ------
    CorpusError
        Invalid options, an unknown kit name, no pattern, or ``output``
        holding another corpus while ``overwrite`` is False.
    """
    started = time.perf_counter()
    low, high = _validate(count, bpm, bars, sample_rate)
    output = Path(output)
    chosen, fallback = _choose_kits(kits, kit_paths)
    songs = find_songs(song_paths, kit_paths=kit_paths)
    patterns = load_patterns(songs)
    settings = {"version": _FORMAT_VERSION, "count": int(count), "seed": int(seed), "bpm": [low, high],
                "bars": int(bars), "sample_rate": int(sample_rate), "kits": [k.name for k in chosen],
                "patterns": len(patterns), "humanize": asdict(humanize),
                "digest": _digest(chosen, patterns)}
    current = _existing(output, settings, overwrite)
    if current is not None:
        return CorpusReport(output, tuple(output / r["file"] for r in current),
                            tuple(dict.fromkeys(r["kit"] for r in current)),
                            tuple(dict.fromkeys(r["pattern"] for r in current)),
                            fallback, time.perf_counter() - started, up_to_date=True)
    output.mkdir(parents=True, exist_ok=True)
    _write_manifest(output / MANIFEST, [], settings)  # marks the folder as this corpus, in progress
    width = max(4, len(str(count)))
    rows = []
    for index in tqdm(range(count), desc="render-loops", unit="loop", disable=not progress):
        kit: KitSpec = _cycle(chosen, index, seed, 1)
        pattern: Pattern = _cycle(patterns, index, seed, 2)
        rng = np.random.default_rng([seed, 0, index])
        tempo = int(rng.integers(math.ceil(low), math.floor(high) + 1))  # whole bpm, as packs name them
        audio = render_loop(pattern, kit, bpm=tempo, bars=bars, sample_rate=sample_rate, rng=rng,
                            humanize=humanize)
        name = f"loop_{index + 1:0{width}d}_{kit.slug}_{pattern.name}_{tempo}bpm.wav"
        wavfile24.write(output / name, sample_rate, audio, bits=24)
        rows.append({"file": name, "kit": kit.name, "pattern": pattern.name,
                     "source": pattern.source, "bpm": str(tempo), "bars": bars,
                     "frames": loop_frames(tempo, bars, sample_rate)})
    _write_credits(output / CREDITS, rows, chosen, songs, fallback)
    _write_manifest(output / MANIFEST, rows, settings)
    return CorpusReport(output, tuple(output / r["file"] for r in rows),
                        tuple(dict.fromkeys(r["kit"] for r in rows)),
                        tuple(dict.fromkeys(r["pattern"] for r in rows)),
                        fallback, time.perf_counter() - started)


def _digest(kits: list[KitSpec], patterns: list[Pattern]) -> str:
    # Catches a changed kit, role mapping or pattern set between two calls;
    # a change to the mixing code itself is marked by _FORMAT_VERSION.
    text = repr([(k.name, [(i.name, i.role, len(i.layers)) for i in k.instruments]) for k in kits])
    text += repr([(p.name, p.key()) for p in patterns])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


DEMO_BPM = (90.0, 95.0)  # the demo pack's tempo range: the open corpus (and the shipped model) is 120-125 bpm
DEMO_SEED = 2027  # the demo pack's seed: other kits' takes and patterns than the corpus's seed 0


def render_demo_pack(output, *, count: int = 24, seed: int = DEMO_SEED, progress: bool = False) -> CorpusReport:
    """Render a pack in a style the shipped model never heard: the open corpus's renderer at 90-95 bpm.

    At :data:`DEMO_BPM` the model's 1.11 s slice holds under two beats where the corpus's
    120-125 bpm loops hold more than two, so the rhythm it must learn is new. Fine-tuning
    demonstrations and ``benchmarks/finetune.py`` use it as "your own loops".

    Parameters
    ----------
    output : path-like
        Created when missing; a folder that already holds this pack is kept as it is.
    count : int, optional
        Loops (44.1 kHz, 16-bit stereo, two bars each).
    seed : int, optional
        The renderer's seed: the same seed gives the same bytes.

    Returns
    -------
    CorpusReport
        As :func:`render_corpus`.
    """
    return render_corpus(output, count=count, seed=seed, bpm=DEMO_BPM, progress=progress)


def _existing(output: Path, settings: dict, overwrite: bool) -> list[dict] | None:
    # Up to date: the manifest has these settings and lists exactly the files
    # present. Same settings but other files: an interrupted render of this
    # corpus, redone. Anything else in the way needs `overwrite`.
    old = sorted(output.glob("loop_*.wav")) if output.is_dir() else []
    manifest = output / MANIFEST
    same = False
    if manifest.is_file():
        with manifest.open(newline="") as handle:
            header = handle.readline()
            rows = list(csv.DictReader(handle))
        same = header.startswith("# ") and _loads(header[2:]) == settings
        if same and rows and {r["file"] for r in rows} == {p.name for p in old}:
            return rows
    if old and not (same or overwrite):
        raise CorpusError(f"{output} already holds {len(old)} loop_*.wav files of another corpus; "
                          "pass overwrite=True (--force) to replace them, or choose another folder")
    for path in old:
        path.unlink()
    return None


def _loads(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _write_manifest(path: Path, rows: list[dict], settings: dict) -> None:
    with atomic_write(path, "w", newline="") as handle:
        handle.write("# " + json.dumps(settings, sort_keys=True) + "\n")
        writer = csv.DictWriter(handle, fieldnames=_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _write_credits(path: Path, rows: list[dict], kits: list[KitSpec], songs, fallback: bool) -> None:
    used_kits = {r["kit"] for r in rows}
    used_sources = {r["source"] for r in rows}
    lines = ["Drum loops rendered by `beatgan render-loops` (beatgan.corpus).",
             "The audio is derived from the drum samples below; it is distributed under their",
             "licenses (GPL-2, CC-BY-SA, CC-BY, CC0 as stated), not the project's MIT license.", ""]
    if fallback:
        lines += ["NOTE: no drum kit was installed; every loop uses beatgan's built-in",
                  "synthesised kit (numpy), not real recordings.", ""]
    lines.append("Kits (sampled instruments):")
    for kit in kits:
        if kit.name in used_kits:
            n = sum(r["kit"] == kit.name for r in rows)
            lines += [f"- {kit.name} ({n} loops)", f"    author:  {kit.author}",
                      f"    license: {kit.license}", f"    source:  {kit.source}, {kit.path}"]
    lines += ["", "Patterns (drum parts, one bar each):"]
    for song in songs:
        if song.name in used_sources:
            info = song_credits(song)
            n = sum(r["source"] == song.name for r in rows)
            license_text = info["license"]
            if license_text.lower() in ("unknown", "unknown license") and "/usr/share/hydrogen" in str(song):
                package = "hydrogen-drumkits" if "/drumkits/" in str(song) else "hydrogen-data"
                license_text = f"GPL-2+ (Debian copyright of {package})"
            lines.append(f"- {info['name']} by {info['author']}; {license_text}; {song} ({n} loops)")
    if GROOVE_SOURCE in used_sources:
        n = sum(r["source"] == GROOVE_SOURCE for r in rows)
        lines.append(f"- classic grooves written for BeatGAN (beatgan/corpus/grooves.py), MIT ({n} loops)")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
