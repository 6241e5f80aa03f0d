"""The loop lab: a local web page to audition, vary, morph and export generated loops (``beatgan lab``).

``beatgan lab --weights weights`` serves one page (plain HTML, CSS and JavaScript from
``beatgan/lab_static/``, no build step) with the standard library's threading HTTP server,
on 127.0.0.1 unless ``--host`` says otherwise. The page shows a grid of generated loops
(a seed and a count; "more" adds a page), each a tile with its spectrogram, played in a loop
through Web Audio at a chosen tempo (the server fits the clip to the tempo with
:func:`beatgan.generate.make_loop`); "more like this" shows a tile's variations
(:mod:`beatgan.explore`); two tiles make a morph, heard as one loop with its steps as tiles;
starred tiles make a pack, exported as a zip of DAW-ready WAVs (44.1 kHz, 24-bit, tempo in the
names) and ``seeds.txt``, the names and latents that reproduce them bit-for-bit. With
``--training`` every tile shows its nearest training loop (:mod:`beatgan.novelty`).

**Tile names.** Every tile is named by how its latent is made, in the command line's terms,
so a loop found in the page is made again by ``beatgan generate`` / ``variations`` / ``morph``
and a loop of those commands opens in the page (:func:`parse_tile`):

* ``INDEX@SEED``: loop ``INDEX + 1`` of ``beatgan generate --seed SEED`` (the CLI's latent spec);
* ``var(NAME,SPREAD,NOISE_SEED,J)``: variation ``J + 1`` of ``beatgan variations --seed NAME
  --spread SPREAD --noise-seed NOISE_SEED``;
* ``morph(A,B,STEPS,K)``: step ``K + 1`` of ``beatgan morph --from A --to B --steps STEPS``.

**Batching.** One thread owns the generator (:class:`Renderer`): a request for a page of N
loops is one generator call on N latents, and pages asked for at the same time are joined
into one call of at most :data:`MAX_BATCH` latents. Pages are for listening: a batched product
rounds differently from a batch of one (about 1e-9). The export renders every latent as its own
batch of one, as the command line does, so its files are the command line's, bit for bit.

**Requests.** Every input is checked (numbers, ranges, tile names, folders); a bad one gets a
4xx answer with a message and the server goes on. Only the files of ``lab_static/`` (read once
at start) and the packs this session exported are served, never a path taken from a request.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import dataclasses
import http.server
import ipaddress
import json
import math
import queue
import re
import shlex
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

import wavfile24
from beatgan import explore
from beatgan.backend import ops  # Keras imported quietly, after the backend is chosen
from beatgan.config import LOOP_RATE, ModelConfig
from beatgan.data import SkippedFileWarning, load_dataset, load_loops
from beatgan.errors import AudioError, BeatGANError, ConfigError, DatasetError
from beatgan.generate import BPM_RANGE, make_loop, sample_latents, write_clips

__all__ = [
    "MAX_COUNT", "MAX_INDEX", "MAX_SEED", "MAX_SPREAD", "MAX_STEPS", "MAX_PACK", "MAX_EXPORT_BARS", "MAX_BATCH",
    "MAX_DEPTH", "MAX_NAME", "MAX_TILES", "MAX_BODY", "DEFAULT_HOST", "DEFAULT_PORT", "STATIC", "SEEDS_FILE",
    "RequestError", "Loop", "Variation", "MorphStep", "parse_tile", "Renderer", "Novelty", "load_training",
    "spectrogram_thumbnail", "wav_bytes", "PackSeeds", "read_seeds", "Lab", "LabServer", "make_server", "serve",
]

MAX_COUNT = 64  # loops per page, variations per request
MAX_INDEX = 9999  # INDEX of INDEX@SEED: the four digits of beatgan_NNNN.wav
MAX_SEED = 2**32 - 1
MAX_SPREAD = 2.0  # latent units; the prior spans [-1, 1]
MAX_STEPS = 16  # steps of a morph (bars of its loop)
MAX_PACK = 32  # loops in one exported pack
MAX_EXPORT_BARS = 16  # bars of 4/4 per exported loop
MAX_BATCH = 64  # latents per generator call
MAX_DEPTH = 4  # nesting of var(...) and morph(...) in a tile name
MAX_NAME = 400  # characters of a tile name
MAX_TILES = 512  # tiles whose audio the server keeps (about 128 KB each at full size); older ones are made again
MAX_BODY = 64 * 1024  # bytes of a request body
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
PREVIEW_BARS = 1  # bars of the loop the page plays
STATIC = Path(__file__).with_name("lab_static")
SEEDS_FILE = "seeds.txt"
_STOP = object()  # tells the generator's thread to end
_TIMEOUT = 300.0  # seconds a request waits for the generator
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                  ".js": "text/javascript; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


class RequestError(ConfigError):
    """A request the lab refuses, with its HTTP status (4xx) and a message for the page."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# --- tile names ----------------------------------------------------------------------------------------


def _check_int(name: str, value, low: int, high: int, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise RequestError(f"{name}={value!r} must be an integer in [{low}, {high}]{what}")
    return int(value)


def _check_float(name: str, value, low: float, high: float, what: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise RequestError(f"{name}={value!r} must be a number in [{low:g}, {high:g}]{what}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Loop:
    """``INDEX@SEED``: loop ``index + 1`` of ``beatgan generate --seed seed`` (``index`` 0-based)."""

    index: int
    seed: int

    def __post_init__(self):
        _check_int("INDEX", self.index, 0, MAX_INDEX, " (INDEX@SEED)")
        _check_int("SEED", self.seed, 0, MAX_SEED, " (INDEX@SEED)")

    @property
    def name(self) -> str:
        """The canonical name, e.g. ``"17@0"``."""
        return f"{self.index}@{self.seed}"

    @property
    def depth(self) -> int:
        """How many var(...) and morph(...) the name nests: none."""
        return 0

    def latent(self, latent_dim: int) -> np.ndarray:
        """float32 (latent_dim,) in [-1, 1): ``sample_latents(index + 1, latent_dim, seed=seed)[index]``."""
        return sample_latents(self.index + 1, latent_dim, seed=self.seed)[self.index]

    def command(self, weights: str) -> str:
        """The ``beatgan`` command whose output holds this loop, and the file."""
        return (f"beatgan generate --weights {weights} --seed {self.seed} -n {self.index + 1} --batch-size 1 -o out"
                f"  # out/beatgan_{self.index + 1:04d}.wav")


@dataclasses.dataclass(frozen=True)
class Variation:
    """``var(NAME,SPREAD,NOISE_SEED,J)``: variation ``number + 1`` of ``beatgan variations``.

    Its latent is row ``number`` of :func:`beatgan.explore.variations` of the source's latent:
    ``reflect(z + spread * e)``, ``e`` row ``number`` of ``default_rng(noise_seed).standard_normal``.
    """

    source: Loop | Variation | MorphStep
    spread: float
    noise_seed: int
    number: int

    def __post_init__(self):
        _check_float("spread", self.spread, 0.0, MAX_SPREAD, " (latent units)")
        _check_int("noise seed", self.noise_seed, 0, MAX_SEED)
        _check_int("variation", self.number, 0, MAX_COUNT - 1)
        if self.depth > MAX_DEPTH:
            raise RequestError(f"tile names nest at most {MAX_DEPTH} var(...) or morph(...)")

    @property
    def depth(self) -> int:
        """How many var(...) and morph(...) the name nests."""
        return self.source.depth + 1

    @property
    def name(self) -> str:
        """The canonical name, e.g. ``"var(17@0,0.1,0,3)"`` (the spread as Python's shortest repr)."""
        return f"var({self.source.name},{float(self.spread)!r},{self.noise_seed},{self.number})"

    def latent(self, latent_dim: int) -> np.ndarray:
        """float32 (latent_dim,) in [-1, 1], equal to ``explore.variations(...).latents[number]``."""
        z = self.source.latent(latent_dim)
        noise = np.random.default_rng(self.noise_seed).standard_normal((self.number + 1, latent_dim))
        return explore.reflect(z[None, :].astype(np.float64) + float(self.spread) * noise[self.number:])[0]

    def command(self, weights: str) -> str:
        """The ``beatgan variations`` command whose output holds this clip, and the file."""
        if not isinstance(self.source, Loop):
            return _latent_command(weights)
        return (f"beatgan variations --weights {weights} --seed {self.source.name} --spread {float(self.spread)!r} "
                f"--noise-seed {self.noise_seed} -n {self.number + 1} -o out"
                f"  # out/variation_{self.number + 1:04d}.wav")


@dataclasses.dataclass(frozen=True)
class MorphStep:
    """``morph(A,B,STEPS,K)``: step ``number + 1`` of ``beatgan morph --from A --to B --steps STEPS`` (slerp)."""

    start: Loop | Variation | MorphStep
    end: Loop | Variation | MorphStep
    steps: int
    number: int

    def __post_init__(self):
        _check_int("steps", self.steps, 2, MAX_STEPS, " (steps of a morph)")
        _check_int("step", self.number, 0, self.steps - 1)
        if self.start.name == self.end.name:
            raise RequestError(f"a morph needs two different tiles, got {self.start.name} twice")
        if self.depth > MAX_DEPTH:
            raise RequestError(f"tile names nest at most {MAX_DEPTH} var(...) or morph(...)")

    @property
    def depth(self) -> int:
        """How many var(...) and morph(...) the name nests."""
        return max(self.start.depth, self.end.depth) + 1

    @property
    def name(self) -> str:
        """The canonical name, e.g. ``"morph(3@0,17@0,8,2)"``."""
        return f"morph({self.start.name},{self.end.name},{self.steps},{self.number})"

    def latent(self, latent_dim: int) -> np.ndarray:
        """float32 (latent_dim,): row ``number`` of :func:`beatgan.explore.interpolation_latents` (slerp)."""
        a, b = self.start.latent(latent_dim), self.end.latent(latent_dim)
        return explore.interpolation_latents(a, b, self.steps, mode="slerp")[self.number]

    def command(self, weights: str) -> str:
        """The ``beatgan morph`` command whose output holds this clip, and the file."""
        if not (isinstance(self.start, Loop) and isinstance(self.end, Loop)):
            return _latent_command(weights)
        return (f"beatgan morph --weights {weights} --from {self.start.name} --to {self.end.name} "
                f"--steps {self.steps} -o out  # out/morph_{self.number + 1:04d}.wav")


def _latent_command(weights: str) -> str:
    return (f"python -c \"import numpy; numpy.save('z.npy', numpy.array(LATENT, 'float32'))\"; "
            f"beatgan variations --weights {weights} --seed z.npy --spread 0 -n 1 -o out  # out/variation_0001.wav")


_NUMBER = re.compile(r"\d{1,20}")
_FLOAT = re.compile(r"\d{1,10}(?:\.\d{0,20})?(?:[eE][-+]?\d{1,3})?")


class _Parser:
    """Recursive descent over a tile name (spaces removed)."""

    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def fail(self, why: str):
        raise RequestError(
            f"unknown tile {self.text!r}: {why} (tiles are INDEX@SEED, var(NAME,SPREAD,NOISE_SEED,J) or "
            "morph(A,B,STEPS,K))", status=404)

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str) -> None:
        if not self.take(literal):
            self.fail(f"expected {literal!r} at character {self.pos + 1}")

    def match(self, pattern: re.Pattern, what: str) -> str:
        found = pattern.match(self.text, self.pos)
        if not found:
            self.fail(f"expected {what} at character {self.pos + 1}")
        self.pos = found.end()
        return found.group()

    def tile(self):
        if self.take("var("):
            source = self.tile()
            self.expect(",")
            spread = float(self.match(_FLOAT, "a spread"))
            self.expect(",")
            noise = int(self.match(_NUMBER, "a noise seed"))
            self.expect(",")
            number = int(self.match(_NUMBER, "a variation number"))
            self.expect(")")
            return Variation(source, spread, noise, number)
        if self.take("morph("):
            start = self.tile()
            self.expect(",")
            end = self.tile()
            self.expect(",")
            steps = int(self.match(_NUMBER, "a number of steps"))
            self.expect(",")
            number = int(self.match(_NUMBER, "a step number"))
            self.expect(")")
            return MorphStep(start, end, steps, number)
        index = int(self.match(_NUMBER, "INDEX@SEED"))
        self.expect("@")
        return Loop(index, int(self.match(_NUMBER, "INDEX@SEED")))


def parse_tile(name) -> Loop | Variation | MorphStep:
    """Read a tile name.

    Parameters
    ----------
    name : str
        ``INDEX@SEED``, ``var(NAME,SPREAD,NOISE_SEED,J)`` or ``morph(A,B,STEPS,K)``, nested at most
        :data:`MAX_DEPTH` deep; spaces are ignored. ``INDEX`` in [0, 9999], seeds in [0, 2**32 - 1],
        ``SPREAD`` in [0, 2], ``J`` in [0, 63], ``STEPS`` in [2, 16], ``K`` in [0, STEPS - 1].

    Returns
    -------
    Loop, Variation or MorphStep
        Its ``name`` is the canonical spelling (``"var(17@0,0.1,0,3)"``).

    Raises
    ------
    RequestError
        Status 404 for a name that is none of these, 400 for a value out of its range.

    Examples
    --------
    >>> parse_tile(" var( 17@0 , 0.10, 0, 3)").name
    'var(17@0,0.1,0,3)'
    """
    if not isinstance(name, str) or not name.strip():
        raise RequestError(f"tile name {name!r} must be a non-empty string", status=404)
    if len(name) > MAX_NAME:
        raise RequestError(f"tile name of {len(name)} characters: at most {MAX_NAME}", status=404)
    parser = _Parser(re.sub(r"\s+", "", name))
    tile = parser.tile()
    if parser.pos != len(parser.text):
        parser.fail(f"unexpected {parser.text[parser.pos:parser.pos + 10]!r} at character {parser.pos + 1}")
    return tile


# --- the generator's thread ----------------------------------------------------------------------------


@dataclasses.dataclass
class _Job:
    kind: str  # "batch": latents (n, latent_dim) to run together with others; "call": a function of the generator
    payload: object
    future: concurrent.futures.Future


class Renderer:
    """Runs every generator call of the lab on one thread, joining concurrent pages into one batch.

    Parameters
    ----------
    generator : keras.Model
        (B, latent_dim) -> (B, slice_len, channels).
    max_batch : int, default :data:`MAX_BATCH`
        Latents per generator call; jobs queued while the generator runs are joined up to this.

    Attributes
    ----------
    calls : int
        Batched generator calls made so far; ``latents`` the latents they rendered and
        ``largest`` the largest batch.
    """

    def __init__(self, generator, *, max_batch: int = MAX_BATCH):
        self.generator = generator
        self.max_batch = int(max_batch)
        self.calls = self.latents = self.largest = self.jobs = 0
        self._queue: queue.Queue = queue.Queue()
        self._held = None  # a job taken from the queue that did not fit the last batch
        self._thread = threading.Thread(target=self._work, name="beatgan-lab-generator", daemon=True)
        self._thread.start()

    def batch(self, latents) -> np.ndarray:
        """Render latents (n, latent_dim) with other waiting requests; float32 (n, slice_len, channels)."""
        latents = np.asarray(latents, dtype=np.float32)
        return self._submit("batch", latents)

    def exact(self, latents) -> np.ndarray:
        """Render each latent as its own batch of one (:func:`beatgan.explore.render`), as the CLI does."""
        latents = np.asarray(latents, dtype=np.float32)
        return self.run(lambda generator: explore.render(generator, latents))

    def run(self, function):
        """Call ``function(generator)`` on the generator's thread and return what it returns."""
        return self._submit("call", function)

    @property
    def pending(self) -> int:
        """Jobs waiting for the generator (not counting the one it runs)."""
        return self._queue.qsize() + (self._held is not None)

    def close(self) -> None:
        """Stop the thread once the jobs already queued are done."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _submit(self, kind: str, payload):
        if not self._thread.is_alive():
            raise RequestError("the lab is shutting down", status=503)
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put(_Job(kind, payload, future))
        try:
            return future.result(timeout=_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise RequestError(f"the generator is busy: no answer within {_TIMEOUT:g} s", status=503) from None

    def _work(self) -> None:
        while True:
            job = self._queue.get() if self._held is None else self._held
            self._held = None
            if job is _STOP:
                return
            if job.kind == "call":
                self._settle([job], lambda: [job.payload(self.generator)])
                continue
            group, total = [job], len(job.payload)
            while total < self.max_batch:  # join the pages that arrived while the generator ran
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is _STOP or waiting.kind != "batch" or total + len(waiting.payload) > self.max_batch:
                    self._held = waiting
                    break
                group.append(waiting)
                total += len(waiting.payload)
            self._settle(group, lambda: self._forward(group))

    def _forward(self, group: list[_Job]) -> list[np.ndarray]:
        z = np.concatenate([job.payload for job in group], axis=0)  # (total, latent_dim)
        out = []
        for start in range(0, len(z), self.max_batch):
            part = z[start : start + self.max_batch]
            out.append(np.asarray(ops.convert_to_numpy(self.generator(part, training=False)), dtype=np.float32))
            self.calls += 1
            self.latents += len(part)
            self.largest = max(self.largest, len(part))
        audio = np.concatenate(out, axis=0)  # (total, slice_len, channels)
        bounds = np.cumsum([0] + [len(job.payload) for job in group])
        return [audio[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def _settle(self, group: list[_Job], compute) -> None:
        self.jobs += len(group)
        try:
            results = compute()
        except BaseException as error:  # handed to the waiting requests, which answer for it
            for job in group:
                job.future.set_exception(error)
            return
        for job, result in zip(group, results):
            job.future.set_result(result)


# --- what a tile shows ---------------------------------------------------------------------------------


def spectrogram_thumbnail(clip, sample_rate: int, *, bands: int = 48, frames: int = 64) -> np.ndarray:
    """A small log-frequency spectrogram of a clip, as 8-bit levels for the page's canvas.

    Parameters
    ----------
    clip : array_like
        Float, shape (samples, channels) or (samples,), at ``sample_rate`` Hz (mixed to mono).
    sample_rate : int
        Hz of ``clip``.
    bands, frames : int
        Rows (log-spaced from 30 Hz to Nyquist, lowest first) and columns (equal slices of time).

    Returns
    -------
    numpy.ndarray
        uint8, shape (bands, frames): 0 is 70 dB or more below the clip's loudest cell, 255 the loudest.
    """
    mono = np.asarray(clip, dtype=np.float64)
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono  # (samples,)
    n_fft = 512
    hop = max(1, len(mono) // frames)
    padded = np.concatenate([mono, np.zeros(n_fft)])
    window = np.hanning(n_fft)
    starts = np.arange(frames) * hop
    segments = padded[starts[:, None] + np.arange(n_fft)[None, :]] * window  # (frames, n_fft)
    power = np.abs(np.fft.rfft(segments, axis=1)) ** 2  # (frames, n_fft // 2 + 1)
    width = sample_rate / n_fft  # Hz per bin
    edges = np.geomspace(30.0, sample_rate / 2, bands + 1)
    rows = np.empty((bands, frames))
    for band in range(bands):
        low = min(int(edges[band] / width), power.shape[1] - 1)
        high = max(low + 1, int(math.ceil(edges[band + 1] / width)))
        rows[band] = power[:, low:high].mean(axis=1)
    db = 10.0 * np.log10(rows + 1e-12)
    level = np.clip((db - (db.max() - 70.0)) / 70.0, 0.0, 1.0)
    return np.round(level * 255).astype(np.uint8)


def wav_bytes(audio, rate: int, *, bits: int = 16) -> bytes:
    """A WAV file in memory (what the page plays).

    Parameters
    ----------
    audio : array_like
        Float, shape (frames, channels) or (frames,), clipped to [-1, 1].
    rate : int
        Hz.
    bits : {16, 24}, default 16
        PCM bits per sample.

    Returns
    -------
    bytes
        RIFF/WAVE, PCM, the samples as :func:`wavfile24.write` would store them.
    """
    data = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    data = data[:, None] if data.ndim == 1 else data  # (frames, channels)
    channels = data.shape[1]
    block = channels * bits // 8
    payload = wavfile24.encode_block(data, bits, "pcm")
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(payload), b"WAVE", b"fmt ", 16, 1, channels,
                         int(rate), int(rate) * block, block, bits, b"data", len(payload))
    return header + payload


class Novelty:
    """The nearest training loop of every tile, by BeatGAN's score and by log-mel distance.

    The same two searches as :func:`beatgan.novelty.nearest` and :func:`beatgan.novelty.logmel_nearest`,
    with the training loops' log-mel features computed once.

    Parameters
    ----------
    training : beatgan.data.Loops
        float32 audio (T, slice_len, channels) and its names.
    """

    def __init__(self, training):
        from beatgan import novelty, search  # here: librosa is imported only when --training is given

        self._novelty, self._search = novelty, search
        self.training = training
        self.features = novelty.logmel_features(training.audio, sample_rate=training.sample_rate)  # (T, width)

    def __call__(self, clips: np.ndarray) -> list[dict]:
        """For clips (n, slice_len, channels): per clip the nearest loop's index, name, score and log-mel nearest."""
        index, score = self._novelty.nearest(clips, self.training.audio)
        features = self._novelty.logmel_features(clips, sample_rate=self.training.sample_rate)
        mel_index, squared = self._search.search(features, self.features, 1, relative=False, chunk=None,
                                                 progress=False)
        distance = np.sqrt(squared[:, 0] / features.shape[1])
        names = self.training.names
        return [{"index": int(i), "name": str(names[i]), "score": float(s), "near_copy": bool(s <= 0.1),
                 "logmel_index": int(m), "logmel_name": str(names[m]), "logmel_db": float(d)}
                for i, s, m, d in zip(index, score, mel_index[:, 0], distance)]


def load_training(path, config: ModelConfig):
    """The training loops of ``--training``, in the generator's format, one copy of each.

    Parameters
    ----------
    path : path-like
        A folder of loops (decoded, resampled and sliced as for training; cached) or a dataset
        ``.npz`` of ``beatgan prepare`` (its noisy copies reduced to the first of each loop).
    config : ModelConfig
        The generator's config: rate, slice length and channels.

    Returns
    -------
    beatgan.data.Loops

    Raises
    ------
    DatasetError
        A path that does not exist, or holds no loop.
    AudioError
        A dataset of another rate, length or channel count.
    """
    location = Path(path)
    if location.is_dir():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedFileWarning)
            loops = load_loops(location, sample_rate=config.sample_rate, slice_len=config.slice_len,
                                    channels=config.channels, progress=False)
    elif location.is_file():
        loops = load_dataset(location)
        names = list(loops.names)
        first = sorted({name: i for i, name in reversed(list(enumerate(names)))}.values())
        loops = dataclasses.replace(loops, audio=loops.audio[first], names=[names[i] for i in first])
    else:
        raise DatasetError(f"training set {str(path)!r} does not exist (expected a folder of loops or a dataset .npz)")
    held = (loops.sample_rate, loops.slice_len, loops.channels)
    if held != (config.sample_rate, config.slice_len, config.channels):
        raise AudioError(f"training set {path} holds {held[1]} samples x {held[2]} channel(s) at {held[0]} Hz; the "
                         f"generator makes {config.slice_len} x {config.channels} at {config.sample_rate} Hz")
    if len(loops) == 0:
        raise DatasetError(f"training set {path} holds no loop")
    return loops


# --- packs ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PackSeeds:
    """What ``seeds.txt`` of an exported pack says.

    Attributes
    ----------
    bpm : float
        Tempo of every loop.
    bars : int
        Bars of 4/4 per loop.
    files, names, commands : list of str
        Per loop: its WAV file in the zip, its tile name and a command that makes it or its raw clip.
    latents : numpy.ndarray
        float32, shape (loops, latent_dim): the latent of each loop, exactly.
    """

    bpm: float
    bars: int
    files: list
    names: list
    commands: list
    latents: np.ndarray


def read_seeds(text: str) -> PackSeeds:
    """Read the text of a pack's ``seeds.txt``.

    Each loop is ``make_loop(generator(latent[None])[0], bpm=bpm, bars=bars)`` written by
    :func:`beatgan.generate.write_clips`; ``latent`` is stored as float32 values that read back exactly.

    Raises
    ------
    DatasetError
        A file without its ``bpm:`` or ``bars:`` line, or a malformed loop line.
    """
    header, rows = {}, []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep and key.strip() in ("bpm", "bars"):
                header[key.strip()] = value.strip()
            continue
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise DatasetError(f"seeds line {number}: expected 4 tab-separated fields, got {len(fields)}")
        rows.append(fields)
    if "bpm" not in header or "bars" not in header:
        raise DatasetError("seeds file has no '# bpm:' or '# bars:' line")
    try:
        latents = np.array([[np.float32(v) for v in row[3].split()] for row in rows], dtype=np.float32)
    except ValueError as error:
        raise DatasetError(f"seeds file: a latent is not numbers ({error})") from None
    return PackSeeds(bpm=float(header["bpm"]), bars=int(header["bars"]), files=[r[0] for r in rows],
                     names=[r[1] for r in rows], commands=[r[2] for r in rows], latents=latents)


def _seeds_text(pack: str, tiles, latents: np.ndarray, files, *, weights: str, bpm: float, bars: int,
                config: ModelConfig) -> str:
    head = [
        f"# BeatGAN loop lab {pack}: {len(tiles)} loop(s), {bars} bar(s) of 4/4 at {bpm:g} bpm, {LOOP_RATE} Hz "
        f"24-bit WAV, {config.channels} channel(s)",
        f"# weights: {weights} (latent_dim {config.latent_dim}; the generator makes {config.slice_len} samples at "
        f"{config.sample_rate} Hz)",
        f"# bpm: {bpm!r}",
        f"# bars: {bars}",
        "#",
        "# One line per file, tab-separated: the file, its tile name, a command that makes it (or its raw clip),",
        f"# and its latent ({config.latent_dim} float32 values). Each file is generate.make_loop(clip, bpm, bars),",
        "# written by generate.write_clips, of the clip the generator makes for the latent alone (a batch of one,",
        "# as `beatgan generate --batch-size 1`, `variations` and `morph` do): beatgan.lab.read_seeds reads this.",
        "#   INDEX@SEED                 loop INDEX+1 of `beatgan generate --seed SEED` (INDEX counts from 0)",
        "#   var(NAME,SPREAD,NOISE,J)   variation J+1 of `beatgan variations --seed NAME --spread SPREAD "
        "--noise-seed NOISE`",
        "#   morph(A,B,STEPS,K)         step K+1 of `beatgan morph --from A --to B --steps STEPS` (slerp)",
        "#   any latent: save it as z.npy, then `beatgan variations --seed z.npy --spread 0 -n 1` makes its clip",
    ]
    lines = []
    quoted = shlex.quote(weights)
    for tile, z, name in zip(tiles, latents, files):
        if isinstance(tile, Loop):
            command = (f"beatgan generate --weights {quoted} --seed {tile.seed} -n {tile.index + 1} --batch-size 1 "
                       f"--format loop --bpm {bpm!r} --bars {bars} -o out  # out/beatgan_{tile.index + 1:04d}_"
                       f"{bpm:g}bpm.wav")
        else:
            command = tile.command(quoted) + f", then make_loop(clip, bpm={bpm!r}, bars={bars})"
        values = " ".join(np.format_float_positional(v, unique=True, trim="-") for v in z.astype(np.float32))
        lines.append("\t".join([name, tile.name, command, values]))
    return "\n".join(head + lines) + "\n"


# --- the lab -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _Tile:
    name: str
    latent: np.ndarray  # float32 (latent_dim,)
    clip: np.ndarray  # float32 (slice_len, channels)
    spectrogram: str  # base64 of uint8 (bands, frames)
    novelty: dict | None


class Lab:
    """What the page asks of the generator, without HTTP: tiles, audio and packs.

    Parameters
    ----------
    generator : keras.Model
        (B, latent_dim) -> (B, slice_len, channels).
    config : ModelConfig
        The generator's config.
    output : path-like
        Folder of this session's exported packs (created).
    weights : str, default "weights"
        How the commands in tiles and ``seeds.txt`` name the weights directory.
    training : beatgan.data.Loops or None
        Training loops for the novelty of every tile.
    max_tiles : int, default :data:`MAX_TILES`
        Tiles whose audio is kept; the oldest are dropped and made again when asked for.
    """

    def __init__(self, generator, config: ModelConfig, *, output, weights: str = "weights", training=None,
                 max_tiles: int = MAX_TILES):
        self.config = config
        self.weights = str(weights)
        self.output = Path(output)
        self.output.mkdir(parents=True, exist_ok=True)
        self.renderer = Renderer(generator)
        self.novelty = Novelty(training) if training is not None else None
        self.training = training
        self.max_tiles = max_tiles
        self._tiles: OrderedDict[str, _Tile] = OrderedDict()
        self._lock = threading.Lock()
        self._packs: dict[str, Path] = {}
        kept = (re.fullmatch(r"pack_(\d+)(?:\.zip)?", path.name) for path in self.output.iterdir())
        numbers = [int(match.group(1)) for match in kept if match]
        self._last_pack = max(numbers, default=0)  # a kept --output folder: new packs never replace old ones
        self.counts = {"pages": 0, "tiles_made": 0, "exports": 0, "requests": 0, "client_errors": 0, "server_errors": 0}

    # tiles

    def tiles(self, specs, latents: np.ndarray | None = None) -> list[dict]:
        """The tiles of ``specs`` (Loop, Variation, MorphStep), made in one generator call where missing.

        ``latents`` (len(specs), latent_dim) saves computing them again. Returns one dict per tile:
        name, kind, command, spectrogram (bands, frames, base64 levels) and novelty (or None).
        """
        names = [spec.name for spec in specs]
        with self._lock:
            known = {name: self._tiles[name] for name in names if name in self._tiles}
        missing = [i for i, name in enumerate(names) if name not in known]
        if missing:
            d = self.config.latent_dim
            z = np.stack([latents[i] if latents is not None else specs[i].latent(d) for i in missing])  # (m, d)
            clips = self.renderer.batch(z)  # (m, slice_len, channels): one generator call
            novelty = self.novelty(clips) if self.novelty is not None else [None] * len(missing)
            for row, i in enumerate(missing):
                level = spectrogram_thumbnail(clips[row], self.config.sample_rate)  # (48, 64) uint8
                known[names[i]] = _Tile(names[i], z[row], clips[row], base64.b64encode(level.tobytes()).decode(),
                                        novelty[row])
            with self._lock:
                for i in missing:
                    self._tiles[names[i]] = known[names[i]]
                self.counts["tiles_made"] += len(missing)
                while len(self._tiles) > self.max_tiles:
                    self._tiles.popitem(last=False)
        with self._lock:
            for name in names:
                if name in self._tiles:
                    self._tiles.move_to_end(name)
        return [self._describe(spec, known[spec.name]) for spec in specs]

    def _describe(self, spec, tile: _Tile) -> dict:
        kind = {Loop: "loop", Variation: "variation", MorphStep: "morph"}[type(spec)]
        return {"name": tile.name, "kind": kind, "command": spec.command(shlex.quote(self.weights)),
                "spectrogram": {"bands": 48, "frames": 64, "levels": tile.spectrogram}, "novelty": tile.novelty}

    def loops(self, seed: int, start: int, count: int) -> list[dict]:
        """Loops ``start`` to ``start + count - 1`` of ``seed`` (names ``INDEX@SEED``), latents drawn once."""
        seed = _check_int("seed", seed, 0, MAX_SEED)
        count = _check_int("count", count, 1, MAX_COUNT, " (loops per page)")
        start = _check_int("start", start, 0, MAX_INDEX + 1 - count, f" (INDEX stops at {MAX_INDEX})")
        z = sample_latents(start + count, self.config.latent_dim, seed=seed)[start:]  # (count, latent_dim)
        with self._lock:
            self.counts["pages"] += 1
        return self.tiles([Loop(i, seed) for i in range(start, start + count)], z)

    def variations(self, name: str, spread: float, noise_seed: int, count: int) -> list[dict]:
        """``count`` variations of tile ``name`` (``var(name,spread,noise_seed,j)``)."""
        source = parse_tile(name)
        count = _check_int("count", count, 1, MAX_COUNT, " (variations per request)")
        return self.tiles([Variation(source, spread, noise_seed, j) for j in range(count)])

    def morph(self, start: str, end: str, steps: int) -> list[dict]:
        """The ``steps`` tiles of a morph from tile ``start`` to tile ``end``."""
        a, b = self._morph_ends(start, end, steps)
        return self.tiles([MorphStep(a, b, steps, k) for k in range(steps)])

    def _morph_ends(self, start: str, end: str, steps: int):
        if not start or not end:
            raise RequestError("a morph needs two tiles: 'from' and 'to'")
        a, b = parse_tile(start), parse_tile(end)
        MorphStep(a, b, steps, 0)  # checks steps, depth and two different tiles
        return a, b

    def tile(self, name: str) -> dict:
        """One tile by name (a loop found with the command line)."""
        return self.tiles([parse_tile(name)])[0]

    # audio

    def _clip(self, name: str) -> np.ndarray:
        spec = parse_tile(name)
        with self._lock:
            tile = self._tiles.get(spec.name)
        if tile is None:
            self.tiles([spec])
            with self._lock:
                tile = self._tiles.get(spec.name)
        if tile is None:  # dropped at once by a flood of other tiles: render it alone
            return self.renderer.batch(spec.latent(self.config.latent_dim)[None])[0]
        return tile.clip

    def audio(self, name: str, bpm: float) -> bytes:
        """WAV (44.1 kHz, 16-bit) of tile ``name`` as a one-bar loop at ``bpm``."""
        bpm = _check_float("bpm", bpm, *BPM_RANGE)
        return self._loop_wav(self._clip(name), bpm)

    def training_audio(self, index: int, bpm: float) -> bytes:
        """WAV (44.1 kHz, 16-bit) of training loop ``index`` as a one-bar loop at ``bpm``."""
        if self.training is None:
            raise RequestError("no training loops: start the lab with --training FOLDER", status=404)
        index = _check_int("index", index, 0, len(self.training) - 1, " (training loop)")
        return self._loop_wav(self.training.audio[index], _check_float("bpm", bpm, *BPM_RANGE))

    def _loop_wav(self, clip: np.ndarray, bpm: float) -> bytes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the page chose a tempo far from 120-125 bpm: its choice
            loop = make_loop(clip, sample_rate=self.config.sample_rate, bpm=bpm, bars=PREVIEW_BARS)
        return wav_bytes(loop, LOOP_RATE)

    def morph_audio(self, start: str, end: str, steps: int, bpm: float) -> bytes:
        """WAV (44.1 kHz, 16-bit) of the morph as one loop, one bar per step (:func:`beatgan.explore.morph_loop`)."""
        a, b = self._morph_ends(start, end, steps)
        bpm = _check_float("bpm", bpm, *BPM_RANGE)
        c = self.config
        za, zb = a.latent(c.latent_dim), b.latent(c.latent_dim)

        def render(generator):
            model = explore.LoadedGenerator(generator, c.latent_dim, c.slice_len, c.channels, c.sample_rate)
            return explore.morph_loop(model, za, zb, steps, bpm=bpm)  # (steps bars of frames, channels)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the page chose a tempo far from 120-125 bpm: its choice
            audio = self.renderer.run(render)
        return wav_bytes(audio, LOOP_RATE)

    # packs

    def export(self, names, bpm: float, bars: int) -> dict:
        """Write a pack of tiles: 24-bit 44.1 kHz loops at ``bpm`` and ``seeds.txt``, zipped.

        Every latent is rendered as its own batch of one, so each file is what the command on its line
        of ``seeds.txt`` makes, bit for bit. Returns the zip's URL, name and the files in it.
        """
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RequestError("'tiles' must be a list of tile names")
        if not 1 <= len(names) <= MAX_PACK:
            raise RequestError(f"a pack holds 1 to {MAX_PACK} tiles, got {len(names)}")
        bpm = _check_float("bpm", bpm, *BPM_RANGE)
        bars = _check_int("bars", bars, 1, MAX_EXPORT_BARS, " (bars per loop)")
        specs = [parse_tile(name) for name in names]
        if len({s.name for s in specs}) < len(specs):
            raise RequestError("a pack names a tile twice")
        latents = np.stack([s.latent(self.config.latent_dim) for s in specs])  # (n, latent_dim)
        audio = self.renderer.exact(latents)  # (n, slice_len, channels), batches of one
        with self._lock:
            self.counts["exports"] += 1
            self._last_pack += 1
            pack = f"pack_{self._last_pack:04d}"
        folder = self.output / pack
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            paths = write_clips(audio, folder, sample_rate=self.config.sample_rate, format="loop", bpm=bpm, bars=bars,
                                prefix="lab")
        seeds = _seeds_text(pack, specs, latents, [p.name for p in paths], weights=self.weights, bpm=bpm, bars=bars,
                            config=self.config)
        (folder / SEEDS_FILE).write_text(seeds)
        archive = self.output / f"{pack}.zip"
        partial = archive.with_suffix(".zip.part")
        with zipfile.ZipFile(partial, "w") as zipped:
            for path in paths:
                zipped.write(path, f"{pack}/{path.name}", compress_type=zipfile.ZIP_STORED)
            zipped.write(folder / SEEDS_FILE, f"{pack}/{SEEDS_FILE}", compress_type=zipfile.ZIP_DEFLATED)
        partial.replace(archive)
        with self._lock:
            self._packs[archive.name] = archive
        return {"url": f"/exports/{archive.name}", "zip": archive.name,
                "files": [f"{pack}/{p.name}" for p in paths] + [f"{pack}/{SEEDS_FILE}"]}

    def pack_path(self, name: str) -> Path:
        """The zip of a pack this session exported, by its file name; nothing else."""
        with self._lock:
            path = self._packs.get(name)
        if path is None:
            raise RequestError(f"no exported pack named {name[:80]!r} in this session", status=404)
        return path

    def info(self) -> dict:
        """What the page needs to know: the model, the limits, whether there is novelty."""
        c = self.config
        return {"weights": self.weights, "latent_dim": c.latent_dim, "sample_rate": c.sample_rate,
                "slice_len": c.slice_len, "channels": c.channels, "seconds": c.slice_len / c.sample_rate,
                "training": None if self.training is None else len(self.training),
                "limits": {"count": MAX_COUNT, "index": MAX_INDEX, "seed": MAX_SEED, "spread": MAX_SPREAD,
                           "steps": MAX_STEPS, "pack": MAX_PACK, "bars": MAX_EXPORT_BARS, "bpm": list(BPM_RANGE)},
                "defaults": {"bpm": 124, "count": 12, "spread": 0.1, "steps": 8, "bars": 4}}

    def count(self, status: int) -> None:
        """Count one answered request of HTTP ``status``."""
        with self._lock:
            self.counts["requests"] += 1
            if 400 <= status < 500:
                self.counts["client_errors"] += 1
            elif status >= 500:
                self.counts["server_errors"] += 1

    def stats(self) -> dict:
        """Counters: generator calls and latents, pages, tiles made and kept, exports, requests and errors."""
        r = self.renderer
        with self._lock:
            return {**self.counts, "generator_calls": r.calls, "latents_rendered": r.latents,
                    "largest_batch": r.largest, "jobs": r.jobs, "pending": r.pending, "tiles_kept": len(self._tiles)}

    def close(self) -> None:
        """Stop the generator's thread."""
        self.renderer.close()


# --- HTTP ----------------------------------------------------------------------------------------------


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every file of ``lab_static/``, read once: name -> (bytes, content type)."""
    files = {}
    for path in sorted(STATIC.iterdir()):
        if path.is_file() and path.suffix in _CONTENT_TYPES:
            files[path.name] = (path.read_bytes(), _CONTENT_TYPES[path.suffix])
    if "index.html" not in files:
        raise ConfigError(f"the lab's page is missing: {STATIC / 'index.html'} (a broken install?)")
    return files


def _int_param(params: dict, name: str, default: int | None = None) -> int:
    text = params.get(name)
    if text is None:
        if default is None:
            raise RequestError(f"missing parameter {name!r}")
        return default
    if not re.fullmatch(r"\s*\d{1,20}\s*", text):
        raise RequestError(f"{name}={text[:40]!r} is not a whole number")
    return int(text)


def _float_param(params: dict, name: str, default: float | None = None) -> float:
    text = params.get(name)
    if text is None:
        if default is None:
            raise RequestError(f"missing parameter {name!r}")
        return default
    try:
        value = float(text)
    except ValueError:
        raise RequestError(f"{name}={text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise RequestError(f"{name}={text[:40]!r} is not a finite number")
    return value


class _Handler(http.server.BaseHTTPRequestHandler):
    """One request: routed to the server's :class:`Lab`; every refusal a 4xx with a JSON message."""

    protocol_version = "HTTP/1.1"
    server_version = "beatgan-lab"
    timeout = 120  # seconds an idle kept-alive connection holds its thread
    server: LabServer

    # routes: path -> (allowed parameters, function of (lab, params) -> (content type, body))
    ROUTES = {
        "/api/info": ((), lambda lab, p: lab.info()),
        "/api/stats": ((), lambda lab, p: lab.stats()),
        "/api/loops": (("seed", "start", "count"), lambda lab, p: {"tiles": lab.loops(
            _int_param(p, "seed"), _int_param(p, "start", 0), _int_param(p, "count", 12))}),
        "/api/tile": (("name",), lambda lab, p: lab.tile(p.get("name", ""))),
        "/api/variations": (("tile", "spread", "noise_seed", "count"), lambda lab, p: {"tiles": lab.variations(
            p.get("tile", ""), _float_param(p, "spread", 0.1), _int_param(p, "noise_seed", 0),
            _int_param(p, "count", 8))}),
        "/api/morph": (("from", "to", "steps"), lambda lab, p: {"tiles": lab.morph(
            p.get("from", ""), p.get("to", ""), _int_param(p, "steps", 8))}),
        "/api/audio": (("tile", "bpm"), lambda lab, p: lab.audio(p.get("tile", ""), _float_param(p, "bpm", 124.0))),
        "/api/morph-audio": (("from", "to", "steps", "bpm"), lambda lab, p: lab.morph_audio(
            p.get("from", ""), p.get("to", ""), _int_param(p, "steps", 8), _float_param(p, "bpm", 124.0))),
        "/api/training-audio": (("index", "bpm"), lambda lab, p: lab.training_audio(
            _int_param(p, "index"), _float_param(p, "bpm", 124.0))),
    }

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        """Quiet: the lab prints its address, not a line per request."""

    def do_GET(self):  # noqa: N802 (the base class's name)
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self._answer("POST")

    def _refuse(self):
        self.close_connection = True  # no body is read, and a HEAD answer carries one
        self._answer(self.command)

    def __getattr__(self, name: str):
        if name.startswith("do_"):  # any other method (HEAD, PUT, ...): 405, not the base class's 501
            return self._refuse
        raise AttributeError(name)

    def _answer(self, method: str) -> None:
        lab = self.server.lab
        try:
            status, kind, body, extra = 200, *self._route(method, lab)
        except RequestError as error:
            status, kind, body, extra = error.status, "application/json", {"error": str(error)}, {}
        except (BeatGANError, ValueError) as error:
            status, kind, body, extra = 400, "application/json", {"error": str(error)}, {}
        except Exception as error:  # a bug: answered, logged, and the server goes on
            traceback.print_exc(file=sys.stderr)
            status, kind, body = 500, "application/json", {"error": f"internal error: {type(error).__name__}: {error}"}
            extra = {}
        lab.count(status)
        if kind == "application/json":
            body = json.dumps(body, allow_nan=False).encode()
        self._send(status, kind, body, extra)

    def _route(self, method: str, lab: Lab):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        self._check_host()
        if method not in ("GET", "POST"):
            raise RequestError(f"method {method} is not allowed here: GET, or POST for /api/export", status=405)
        if method == "POST":
            if path != "/api/export":
                raise RequestError(f"POST {path[:80]!r}: only /api/export takes a POST", status=405)
            request = self._json_body()
            return "application/json", lab.export(request.get("tiles"), request.get("bpm", 124.0),
                                                  request.get("bars", 4)), {}
        if path in ("/", "/index.html"):
            return self.server.static["index.html"][1], self.server.static["index.html"][0], {}
        if path.startswith("/static/"):
            name = path[len("/static/"):]
            if name not in self.server.static:
                raise RequestError(f"no file {name[:80]!r} among the page's files", status=404)
            body, kind = self.server.static[name]
            return kind, body, {}
        if path.startswith("/exports/"):
            archive = lab.pack_path(path[len("/exports/"):])
            return "application/zip", archive.read_bytes(), {
                "Content-Disposition": f'attachment; filename="{archive.name}"'}
        if path not in self.ROUTES:
            raise RequestError(f"no page or API at {path[:80]!r}", status=404)
        allowed, function = self.ROUTES[path]
        params = self._params(url.query, allowed)
        result = function(lab, params)
        if isinstance(result, bytes):
            return "audio/wav", result, {}
        return "application/json", result, {}

    def _params(self, query: str, allowed) -> dict:
        try:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query),
                                           max_num_fields=20)
        except ValueError as error:
            raise RequestError(f"malformed query string: {error}") from None
        params = dict(pairs)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise RequestError(f"unknown parameter(s) {', '.join(repr(u[:40]) for u in unknown)}; this API takes "
                               f"{', '.join(allowed) or 'none'}")
        return params

    def _json_body(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError("a POST needs a Content-Length", status=411)
        if int(length) > MAX_BODY:
            if int(length) <= 16 * MAX_BODY:
                self.rfile.read(int(length))  # read and dropped, so the client reads the answer, not a reset
            else:
                self.close_connection = True
            raise RequestError(f"request body of {length} bytes: at most {MAX_BODY}", status=413)
        raw = self.rfile.read(int(length))
        try:
            request = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            raise RequestError(f"the body is not JSON: {error}") from None
        if not isinstance(request, dict):
            raise RequestError("the body must be a JSON object: {\"tiles\": [...], \"bpm\": 124, \"bars\": 4}")
        return request

    def _check_host(self) -> None:
        """On a loopback address, answer only requests made to it by name (no DNS rebinding from a web site)."""
        if not self.server.loopback:
            return
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        if host not in ("localhost", "127.0.0.1", "::1", ""):
            raise RequestError(f"host {host[:60]!r} is not this machine's loopback name", status=403)

    def _send(self, status: int, kind: str, body: bytes, extra: dict) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the page went away; nothing to answer
            self.close_connection = True


class LabServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server holding a :class:`Lab` (one thread per connection, daemon threads).

    Attributes
    ----------
    lab : Lab
        What requests are answered from.
    url : str
        ``http://HOST:PORT/`` to open (127.0.0.1 for a server on every interface).
    """

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, lab: Lab, address: tuple[str, int]):
        self.lab = lab
        self.static = _static_files()
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # every interface: open it on this one
        self.url = f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
        self.loopback = _is_loopback(address[0])


class _LabServer6(LabServer):
    address_family = socket.AF_INET6


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(lab: Lab, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> LabServer:
    """Bind the lab's HTTP server (not yet serving: call ``serve_forever``).

    Parameters
    ----------
    lab : Lab
    host : str, default "127.0.0.1"
        Address to listen on; an IPv6 address (``::1``) listens on IPv6.
    port : int, default 8765
        TCP port, 0 for a free one (``server.server_address[1]`` says which).

    Raises
    ------
    ConfigError
        A port outside [0, 65535], or an address that cannot be bound (in use, not this machine's).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port={port!r} must be an integer in [0, 65535] (0: a free port)")
    server_class = _LabServer6 if ":" in host else LabServer
    try:
        return server_class(lab, (host, port))
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}"
                          + (" (try another --port, or --port 0 for a free one)" if port else "")) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve(generator, config: ModelConfig, *, weights: str = "weights", host: str = DEFAULT_HOST,
          port: int = DEFAULT_PORT, training=None, output=None) -> int:
    """Serve the lab until Ctrl-C or SIGTERM; print its address first. What ``beatgan lab`` runs.

    Parameters
    ----------
    generator : keras.Model
        (B, latent_dim) -> (B, slice_len, channels).
    config : ModelConfig
        Its config.
    weights : str, default "weights"
        The weights directory as the user named it (for the commands the page shows).
    host, port
        As for :func:`make_server`.
    training : path-like or None
        Training loops (:func:`load_training`) for the novelty of every tile.
    output : path-like or None
        Folder for exported packs, kept; None: a temporary folder removed on exit.

    Returns
    -------
    int
        0 once stopped.
    """
    loops = load_training(training, config) if training is not None else None
    with contextlib.ExitStack() as stack:
        folder = output
        if folder is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="beatgan-lab-"))
        lab = Lab(generator, config, output=folder, weights=weights, training=loops)
        stack.callback(lab.close)
        server = make_server(lab, host, port)
        stack.callback(server.server_close)
        scope = ("this machine only; --host 0.0.0.0 opens it to the network" if server.loopback
                 else "other machines can reach it too; it has no password")
        print(f"beatgan lab: serving {server.url} (listening on {host}: {scope}); Ctrl-C stops it", flush=True)
        if loops is not None:
            print(f"beatgan lab: novelty against {len(loops)} training loop(s) of {training}", flush=True)
        print(f"beatgan lab: exported packs go to {folder}" + (" (removed on exit)" if output is None else ""),
              flush=True)
        if threading.current_thread() is threading.main_thread():
            stack.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _interrupt))
        started = time.monotonic()
        try:
            server.serve_forever(poll_interval=0.25)
        except KeyboardInterrupt:
            stats = lab.stats()
            print(f"beatgan lab: stopped after {time.monotonic() - started:.0f} s: {stats['requests']} requests, "
                  f"{stats['tiles_made']} loops made in {stats['generator_calls']} generator calls, "
                  f"{stats['exports']} pack(s) exported", file=sys.stderr, flush=True)
    return 0
