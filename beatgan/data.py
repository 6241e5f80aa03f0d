"""Loops as training data: load a folder, augment it, store it (dataset files and the load cache).

Every audio file under the folder (found and head-decoded by :mod:`beatgan.audio`:
WAV through :mod:`wavfile24`, FLAC/AIFF/OGG/MP3 through soundfile, only the head
the slice needs) is mixed to the asked channel count, resampled with soxr's
anti-aliased resampler, cut to its first ``slice_len`` samples and zero-padded.
Broken files are skipped with a warning. ``resample="stride"`` keeps the original
BeatGAN's ``x[::3]``, which folds everything above 7.35 kHz back into the band;
the original also chose the slice length from the file name, which this never
does. :func:`augment` makes seeded noisy copies (the original's 434 loops gave
2170 examples).

On disk, both stores are ``.npz`` files written atomically and read without
pickle: :func:`save_dataset` / :func:`load_dataset` handle the file
``beatgan prepare`` writes, and the load cache keeps the result of
:func:`load_loops`, keyed on everything that decides it:

- the load settings (sample rate, slice length, channels, resampler),
- :data:`CACHE_FORMAT_VERSION`, bumped whenever decoding changes,
- every audio file's relative path, size and modification time (ns).

One cache file per folder and settings; a changed file changes the key stored
inside it, so the next load decodes again and overwrites the stale entry. The
cache lives in ``FOLDER/.beatgan-cache/`` when that folder is writable, else in
``$XDG_CACHE_HOME/beatgan`` (default ``~/.cache/beatgan``). Unreadable or
corrupt cache files are ignored and rebuilt; a cache that cannot be written is
a warning, never an error, since it only saves time.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from beatgan.atomic import write_npz_atomic
from beatgan.audio import AUDIO_EXTENSIONS, find_audio_files, read_head
from beatgan.config import AUGMENT_AMPLITUDE, AUGMENT_COPIES, LOOP_RATE, SAMPLE_RATE, check_positive_int, check_range, check_seed
from beatgan.errors import AudioError, ConfigError, DatasetError
from beatgan.extras import require

__all__ = [
    "Loops", "SkippedFileWarning", "load_loop", "load_loops", "augment", "augment_loops",
    "save_dataset", "load_dataset", "load_loops_file", "load_training_audio",
]

RESAMPLERS = ("polyphase", "stride")
# beatgan.audio.head_frames sizes its margin for this quality.
SOXR_QUALITY = "HQ"  # 20-bit: stopband from the new Nyquist on, below -120 dB; librosa's default too
STRIDE_RATES = (LOOP_RATE, SAMPLE_RATE)  # the only conversion x[::3] is right for


class SkippedFileWarning(UserWarning):
    """An audio file could not be used and was left out of the load."""


@dataclasses.dataclass(frozen=True, eq=False)
class Loops:
    """Loops ready for training, with where each came from.

    Attributes
    ----------
    audio : numpy.ndarray
        float32, shape (N, slice_len, channels), values in [-1, 1].
    names : list of str
        Source file of each row of ``audio``, relative to the loop folder (POSIX separators).
    skipped : list of (str, str)
        Every audio file that could not be used, with the reason.
    sample_rate : int
        Hz of ``audio``.
    settings : dict
        How the loops were made (load options, and augmentation options once augmented).
    sources : numpy.ndarray or None
        int64 (N, 3), one row per loop as its file held it: sample rate in Hz, channels, and
        1 when the file was shorter than ``slice_len`` at the loaded rate (zero-padded), else 0.
        None where unknown (loops not read from files).
    """

    audio: np.ndarray
    names: list
    skipped: list
    sample_rate: int
    settings: dict = dataclasses.field(default_factory=dict)
    sources: np.ndarray | None = None

    @property
    def slice_len(self) -> int:
        """Samples per example."""
        return int(self.audio.shape[1])

    @property
    def channels(self) -> int:
        """Channels per example (1 or 2)."""
        return int(self.audio.shape[2])

    @property
    def seconds(self) -> float:
        """Total duration of all examples, in seconds."""
        return self.audio.shape[0] * self.audio.shape[1] / self.sample_rate

    def __len__(self) -> int:
        return int(self.audio.shape[0])

    def adaptations(self) -> list[str]:
        """What loading changed to make the files training examples, one line per kind of change.

        Returns
        -------
        list of str
            Resampling (from which rates), channel mapping (mono duplicated to stereo, stereo
            mixed to mono, extra channels dropped), padding of short files and cutting of the
            others, each with its count of loops; empty when ``sources`` is unknown.
        """
        if self.sources is None or not len(self.sources) or (self.sources < 0).any():  # -1: written without them
            return []
        rates, channels, short = self.sources.T
        lines = []
        others = sorted(collections.Counter(int(r) for r in rates if r != self.sample_rate).items())
        if others:
            listed = ", ".join(f"{_loops(n)} from {rate} Hz" for rate, n in others)
            how = "every third sample" if self.settings.get("resample") == "stride" else f"soxr {SOXR_QUALITY}"
            lines.append(f"resampled to {self.sample_rate} Hz ({how}): {listed}")
        seconds = f"{self.slice_len} samples ({self.slice_len / self.sample_rate:.2f} s)"
        mono_to_stereo = (channels == 1) & (self.channels == 2)
        if mono_to_stereo.any():
            lines.append(f"mono duplicated to stereo: {_loops(int(mono_to_stereo.sum()))}")
        for held, change in (((channels > 1) & (self.channels == 1), "mixed to mono"),
                             ((channels > 2) & (self.channels == 2), "first two channels kept")):
            if held.any():
                counts = sorted(collections.Counter(channels[held]).items())
                lines.append(f"{change}: " + ", ".join(f"{_loops(n)} with {c} channels" for c, n in counts))
        if short.any():
            lines.append(f"zero-padded to {seconds}: {_loops(int(short.sum()))} shorter than that")
        if (short == 0).any():
            lines.append(f"cut to their first {seconds}: {_loops(int((short == 0).sum()))}")
        return lines


def _loops(n: int) -> str:
    return f"{n} loop{'s' if n != 1 else ''}"


def _check_settings(sample_rate, slice_len, channels, resample) -> dict:
    check_positive_int("sample_rate", sample_rate)
    check_positive_int("slice_len", slice_len)
    if not isinstance(channels, (int, np.integer)) or isinstance(channels, bool) or channels not in (1, 2):
        raise ConfigError(f"channels={channels!r} must be 1 or 2")
    if resample not in RESAMPLERS:
        raise ConfigError(f"resample={resample!r} must be one of {RESAMPLERS}")
    if resample == "stride" and sample_rate != STRIDE_RATES[1]:
        raise ConfigError(
            f"resample='stride' takes every third sample, 44100 Hz to 14700 Hz only; "
            f"sample_rate={sample_rate!r} needs resample='polyphase'"
        )
    return {"sample_rate": int(sample_rate), "slice_len": int(slice_len),
            "channels": int(channels), "resample": resample}


def to_slice(data: np.ndarray, rate: int, name: str, settings: dict) -> np.ndarray:
    """Mix, resample, cut and pad one decoded head to float32 (slice_len, channels), as every loader does.

    Parameters
    ----------
    data : numpy.ndarray
        float32 (frames, channels) at ``rate`` Hz, as :func:`beatgan.audio.read_head` decodes it.
    rate : int
        Its sample rate in Hz.
    name : str
        The file, for messages.
    settings : dict
        ``sample_rate``, ``slice_len``, ``channels`` and ``resample`` (see :func:`load_loops`).
    """
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(f"no audio frames (shape {data.shape})")
    if rate <= 0:
        raise AudioError(f"sample rate {rate} Hz is not positive")
    if not np.isfinite(data).all():
        raise AudioError("contains NaN or infinite samples")
    channels = settings["channels"]
    if channels == 1 and data.shape[1] > 1:
        data = data.mean(axis=1, keepdims=True, dtype=np.float32)
    elif data.shape[1] > 2:
        data = data[:, :2]
    if settings["resample"] == "stride":
        if rate != STRIDE_RATES[0]:
            raise ConfigError(
                f"resample='stride' needs 44100 Hz input but {name} is {rate} Hz; "
                f"use resample='polyphase' for any input rate"
            )
        data = data[::3]
    elif rate != settings["sample_rate"]:
        soxr = require("soxr", f"resampling {name} from {rate} Hz")
        data = soxr.resample(np.ascontiguousarray(data), rate, settings["sample_rate"], quality=SOXR_QUALITY)
    out = np.zeros((settings["slice_len"], channels), dtype=np.float32)
    head = data[: settings["slice_len"]]
    out[: len(head)] = head  # broadcasts a mono file across both channels
    # The resampler's ringing can overshoot a full-scale input slightly.
    return np.clip(out, -1.0, 1.0, out=out)


def _decode_folder(folder: Path, files: list[Path], settings: dict, progress: bool):
    audio = np.empty((len(files), settings["slice_len"], settings["channels"]), dtype=np.float32)
    names, skipped, sources = [], [], []
    for path in tqdm(files, desc="loading loops", unit="file", disable=not progress):
        name = path.relative_to(folder).as_posix()
        try:
            rate, data = read_head(path, sample_rate=settings["sample_rate"],
                                            slice_len=settings["slice_len"], resample=settings["resample"])
            audio[len(names)] = to_slice(data, rate, name, settings)
        except ConfigError:
            raise
        except (OSError, RuntimeError, ValueError, EOFError) as error:  # wavfile24, libsndfile, AudioError
            skipped.append((name, str(error) or type(error).__name__))
            continue
        names.append(name)
        short = len(data) * settings["sample_rate"] / rate < settings["slice_len"] - 0.5  # at the loaded rate
        sources.append((rate, data.shape[1], int(short)))
    return audio[: len(names)], names, skipped, np.asarray(sources, dtype=np.int64).reshape(-1, 3)


def load_loop(loop, *, sample_rate: int, slice_len: int, channels: int, input_rate: int | None = None):
    """Read or take one loop and make it a training-shaped example, saying what changed.

    Files are decoded as the training data is (:func:`beatgan.audio.read_head`) and go
    through the same mixing, anti-aliased resampling (soxr), cutting to the first
    ``slice_len`` samples and zero-padding.

    Parameters
    ----------
    loop : path-like or array_like
        An audio file (WAV, FLAC, AIFF, OGG, ...), or float audio (frames,) or
        (frames, channels) in [-1, 1] at ``input_rate``.
    sample_rate, slice_len, channels : int
        What the generator makes (Hz, samples, 1 or 2).
    input_rate : int or None
        Hz of an array ``loop``; None means ``sample_rate``. Ignored for files.

    Returns
    -------
    audio : numpy.ndarray
        float32, shape (slice_len, channels), in [-1, 1].
    notes : list of str
        One line per change made (resampled, mixed, cut, padded); empty when the loop
        already had the generator's shape and rate.

    Raises
    ------
    AudioError
        An unreadable file, an array of the wrong shape, NaN or infinite samples, or a loop
        that is silent after slicing.
    """
    settings = {"sample_rate": sample_rate, "slice_len": slice_len, "channels": channels, "resample": "polyphase"}
    if isinstance(loop, (str, os.PathLike)):
        name = str(loop)
        if not Path(loop).is_file():
            raise AudioError(f"loop {name!r} does not exist or is not a file")
        try:
            rate, data = read_head(loop, sample_rate=sample_rate, slice_len=slice_len, resample="polyphase")
        except (OSError, RuntimeError, ValueError, EOFError) as error:  # wavfile24, libsndfile
            raise AudioError(f"cannot read loop {name!r}: {error}") from None
    else:
        name = "the loop"
        data = np.asarray(loop)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or not np.issubdtype(data.dtype, np.floating) or data.shape[1] > 8:
            raise AudioError(f"loop must be float audio (frames,) or (frames, channels), got {data.dtype} {data.shape}")
        data = data.astype(np.float32)
        rate = sample_rate if input_rate is None else check_positive_int("input_rate", input_rate)
    if data.ndim != 2 or data.shape[0] == 0:
        raise AudioError(f"{name} holds no audio frames (shape {data.shape})")
    try:
        audio = to_slice(data, rate, name, settings)
    except AudioError as error:
        raise AudioError(f"{name}: {error}") from None
    notes = []
    if rate != sample_rate:
        notes.append(f"resampled from {rate} Hz to {sample_rate} Hz (soxr {SOXR_QUALITY}), as training data is")
    if data.shape[1] != channels:
        notes.append(f"{'mixed' if channels == 1 else 'mapped'} {data.shape[1]} channel(s) to {channels}")
    frames = data.shape[0] * sample_rate / rate  # at the model's rate
    if frames > slice_len + 0.5:
        notes.append(f"cut to its first {slice_len} samples ({slice_len / sample_rate:.2f} s) as training data is")
    elif frames < slice_len - 0.5:
        notes.append(f"zero-padded from {frames:.0f} to {slice_len} samples as training data is")
    if not np.any(audio):
        raise AudioError(f"{name} is silent in its first {slice_len} samples at {sample_rate} Hz")
    return audio, notes


def load_loops(
    folder: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    slice_len: int = 16384,
    channels: int = 2,
    resample: str = "polyphase",
    cache: bool = True,
    progress: bool = True,
) -> Loops:
    """Load the first ``slice_len`` samples of every loop under ``folder``.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder searched recursively for audio files (see :func:`find_audio_files`).
    sample_rate : int, default 14700
        Target rate in Hz (the original's 44.1 kHz / 3); files may have any rate.
    slice_len : int, default 16384
        Samples kept per loop at ``sample_rate``; shorter loops are zero-padded at the end.
    channels : {1, 2}, default 2
        Mono files are duplicated to stereo; stereo and multichannel files are averaged to
        mono; a multichannel file gives its first two channels for stereo.
    resample : {"polyphase", "stride"}, default "polyphase"
        "polyphase": soxr's anti-aliased resampler ('HQ'). "stride": the original's
        ``x[::3]``, no anti-alias filter; only 44100 Hz files to 14700 Hz.
    cache : bool, default True
        Reuse and store the decoded result (see the load cache below).
    progress : bool, default True
        Show a tqdm progress bar while decoding.

    Returns
    -------
    Loops
        ``audio`` float32 (N, slice_len, channels) in [-1, 1], ``names`` (relative paths, in
        sorted order) and ``skipped`` ((file, reason) for every unusable audio file).

    Raises
    ------
    ConfigError
        For an invalid option, or ``resample="stride"`` meeting a file that is not 44100 Hz.
    DatasetError
        When ``folder`` is missing or holds no usable loop.

    Warns
    -----
    SkippedFileWarning
        Once per broken audio file, naming it and the reason.
    """
    settings = _check_settings(sample_rate, slice_len, channels, resample)
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"loop folder {str(folder)!r} does not exist or is not a folder")
    files = find_audio_files(folder)
    if not files:
        raise DatasetError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {str(folder)!r}")
    key = cache_key(folder, files, settings) if cache else None
    entry = read_cache(folder, key, settings) if key else None
    if entry is None:
        audio, names, skipped, sources = _decode_folder(folder, files, settings, progress)
        if key and names:
            write_cache(folder, key, settings, audio, names, skipped, sources)
    else:
        audio, names, skipped, sources = entry["audio"], entry["names"], entry["skipped"], entry["sources"]
    for name, reason in skipped:
        warnings.warn(f"skipped {name}: {reason}", SkippedFileWarning, stacklevel=2)
    if not names:
        listing = "; ".join(f"{name}: {reason}" for name, reason in skipped)
        raise DatasetError(f"no usable loops under {str(folder)!r}; skipped {len(skipped)} file(s): {listing}")
    return Loops(audio=audio, names=names, skipped=skipped, sample_rate=settings["sample_rate"], settings=settings,
                 sources=sources)


def augment(audio: np.ndarray, *, copies: int = AUGMENT_COPIES, amplitude: float = AUGMENT_AMPLITUDE, seed: int = 0) -> np.ndarray:
    """Return ``copies`` noisy copies of every loop, as the original's augmentation.

    Each copy adds independent uniform noise in [-amplitude, amplitude] to every sample
    and channel, then clips to [-1, 1]. The originals are not kept (as in BeatGAN, whose
    434 loops became 2170 = 434 * 5 examples).

    Parameters
    ----------
    audio : numpy.ndarray
        Float, shape (N, slice_len, channels), values in [-1, 1].
    copies : int, default 5
        Noisy copies per loop, >= 1.
    amplitude : float, default 0.0011
        Largest noise magnitude, as a fraction of full scale (0.11 %; the original added up
        to 10000 in 24-bit units, 0.12 %). 0 gives exact copies.
    seed : int, default 0
        Seeds :func:`numpy.random.default_rng`; the same seed gives the same result.

    Returns
    -------
    numpy.ndarray
        float32, shape (N * copies, slice_len, channels), in [-1, 1]. Row ``i * copies + k``
        is copy ``k`` of loop ``i`` (copies of one loop are adjacent).

    Raises
    ------
    ConfigError
        For an invalid option or an ``audio`` that is not 3-D.
    """
    audio = np.asarray(audio)
    if audio.ndim != 3 or not np.issubdtype(audio.dtype, np.floating):
        raise ConfigError(f"audio must be a float array (N, slice_len, channels), got {audio.dtype} {audio.shape}")
    check_positive_int("copies", copies)
    check_range("amplitude", amplitude, 0.0, 1.0)  # a fraction of full scale
    check_seed(seed)
    out = np.repeat(audio.astype(np.float32, copy=False), copies, axis=0)
    rng = np.random.default_rng(seed)
    rows = max(1, (1 << 22) // max(1, int(np.prod(out.shape[1:]))))  # about 16 MB of noise at a time
    for start in range(0, len(out), rows):
        block = out[start : start + rows]
        noise = rng.random(block.shape, dtype=np.float32)  # [0, 1)
        noise *= np.float32(2 * amplitude)
        noise -= np.float32(amplitude)
        block += noise
    return np.clip(out, -1.0, 1.0, out=out)


def augment_loops(loops: Loops, *, copies: int = AUGMENT_COPIES, amplitude: float = AUGMENT_AMPLITUDE, seed: int = 0) -> Loops:
    """Return :func:`augment` of ``loops.audio`` with ``names`` repeated to match its rows.

    Row ``i * copies + k`` is copy ``k`` of ``loops.names[i]``; ``skipped`` and
    ``sample_rate`` are kept and ``settings`` gains ``copies``, ``amplitude`` and ``seed``.
    """
    audio = augment(loops.audio, copies=copies, amplitude=amplitude, seed=seed)
    names = [name for name in loops.names for _ in range(copies)]
    settings = {**loops.settings, "copies": int(copies), "amplitude": float(amplitude), "seed": int(seed)}
    return Loops(audio=audio, names=names, skipped=list(loops.skipped), sample_rate=loops.sample_rate, settings=settings)


def load_training_audio(
    path_or_folder: str | Path,
    *,
    sample_rate: int | None = None,
    slice_len: int | None = None,
    channels: int | None = None,
    resample: str = "polyphase",
    copies: int = AUGMENT_COPIES,
    amplitude: float = AUGMENT_AMPLITUDE,
    seed: int = 0,
    cache: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """Return training examples from a dataset ``.npz`` or from a folder of loops.

    A file is read with :func:`load_dataset` (already augmented, as ``beatgan prepare``
    wrote it); a folder is loaded with :func:`load_loops` and then :func:`augment`-ed.

    Parameters
    ----------
    path_or_folder : str or pathlib.Path
        A ``.npz`` made by :func:`save_dataset`, or a folder of loops.
    sample_rate, slice_len, channels : int or None
        For a folder, the load options (``None``: 14700, 16384, 2). For a dataset file,
        ``None`` accepts what the file holds and a value must match it.
    resample, cache, progress
        As for :func:`load_loops` (folders only).
    copies, amplitude, seed
        As for :func:`augment` (folders only).

    Returns
    -------
    numpy.ndarray
        float32, shape (N, slice_len, channels), in [-1, 1].

    Raises
    ------
    DatasetError
        When the path is missing, is a file that is not a dataset, or holds no loops.
    ConfigError
        For invalid options, or a dataset file made with other settings than asked.
    """
    path = Path(path_or_folder)
    if path.is_dir():
        loops = load_loops(
            path,
            sample_rate=SAMPLE_RATE if sample_rate is None else sample_rate,
            slice_len=16384 if slice_len is None else slice_len,
            channels=2 if channels is None else channels,
            resample=resample, cache=cache, progress=progress,
        )
        if progress:  # what loading changed, said once: a user's pack may hold any rate, channels and length
            print(f"loaded {len(loops)} loops from {str(path)!r}", *(f"  {line}" for line in loops.adaptations()),
                  sep="\n", flush=True)
        return augment(loops.audio, copies=copies, amplitude=amplitude, seed=seed)
    if not path.exists():
        raise DatasetError(f"{str(path)!r} is neither a dataset file nor a folder of loops: it does not exist")
    dataset = load_dataset(path)
    for name, asked in (("sample_rate", sample_rate), ("slice_len", slice_len), ("channels", channels)):
        held = getattr(dataset, name)
        if asked is not None and asked != held:
            raise ConfigError(f"{name}={asked!r} was asked but dataset {str(path)!r} holds {name}={held}")
    return dataset.audio


def load_loops_file(path: str | os.PathLike, *, sample_rate: int | None = None, slice_len: int | None = None,
                    channels: int | None = None) -> Loops:
    """Read loops that were stored without augmentation, to augment them elsewhere.

    Such a file is what ``beatgan prepare FOLDER --copies 1 --amplitude 0`` (or
    :func:`save_dataset` of :func:`load_loops`) writes: the loops as loaded, e.g. as
    int16 to carry 434 loops to a GPU machine in 28 MB, where ``beatgan prepare
    LOOPS.npz --copies 5`` makes the training set without decoding any audio.

    Parameters
    ----------
    path : path-like
        A dataset ``.npz`` (:func:`save_dataset`).
    sample_rate, slice_len, channels : int or None
        None accepts what the file holds; a value must match it.

    Returns
    -------
    Loops
        As :func:`load_loops` returns them (float32 (N, slice_len, channels) in [-1, 1]).

    Raises
    ------
    DatasetError
        The file is not a dataset, or holds noisy copies already (naming their count and amplitude).
    ConfigError
        A given setting differs from the file's.
    """
    loops = load_dataset(path)
    copies, amplitude = loops.settings.get("copies", 1), loops.settings.get("amplitude", 0.0)
    if copies != 1 or amplitude != 0:
        raise DatasetError(f"{str(path)!r} is already augmented ({copies} noisy copies per loop, amplitude "
                           f"{amplitude}); give a folder of loops, or a file written with --copies 1 --amplitude 0")
    for name, asked in (("sample_rate", sample_rate), ("slice_len", slice_len), ("channels", channels)):
        held = getattr(loops, name)
        if asked is not None and asked != held:
            raise ConfigError(f"{name}={asked!r} was asked but loops file {str(path)!r} holds {name}={held}")
    settings = {k: v for k, v in loops.settings.items() if k not in ("copies", "amplitude", "seed")}
    return dataclasses.replace(loops, settings=settings)


CACHE_FORMAT_VERSION = 2  # bump when decoding or the cache layout changes
CACHE_DIR_NAME = ".beatgan-cache"  # inside the loop folder; hidden, so the scan skips it

log = logging.getLogger(__name__)


def user_cache_dir() -> Path:
    """Return ``$XDG_CACHE_HOME/beatgan``, or ``~/.cache/beatgan`` when it is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "beatgan"


def _digest(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(folder: Path, files: Sequence[Path], settings: Mapping[str, object]) -> str | None:
    """Return the hex digest of settings, format version and the files' path, size and mtime.

    Take the key before decoding, so a file changed during a load is decoded again next time.

    Parameters
    ----------
    folder : pathlib.Path
        The loop folder; paths are keyed relative to it, so moving the folder keeps the key.
    files : sequence of pathlib.Path
        The audio files found in ``folder``, in load order.
    settings : mapping
        JSON-serialisable load settings.

    Returns
    -------
    str or None
        64 hex digits, or ``None`` (no caching) when a file cannot be stat-ed.
    """
    stamps = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            return None
        stamps.append([file.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns])
    return _digest({"version": CACHE_FORMAT_VERSION, "settings": dict(settings), "files": stamps})


def cache_paths(folder: Path, settings: Mapping[str, object]) -> list[Path]:
    """Return the candidate cache files, preferred first: in the folder, then per user.

    The per-user name also hashes the folder's absolute path, since one user
    cache serves every folder.
    """
    name = _digest({"settings": dict(settings)})[:16]
    user_name = _digest({"settings": dict(settings), "folder": str(folder.resolve())})[:16]
    return [folder / CACHE_DIR_NAME / f"loops-{name}.npz", user_cache_dir() / f"loops-{user_name}.npz"]


def _read_entry(path: Path, key: str, slice_len: int, channels: int) -> dict | None:
    with np.load(path, allow_pickle=False) as npz:
        if str(npz["key"]) != key or int(npz["version"]) != CACHE_FORMAT_VERSION:
            return None  # stale: files or settings changed since it was written
        audio = npz["audio"]
        names = [str(n) for n in npz["names"]]
        skipped = list(zip(map(str, npz["skipped_files"]), map(str, npz["skipped_reasons"])))
        sources = npz["sources"].astype(np.int64)
    if audio.dtype != np.float32 or audio.shape != (len(names), slice_len, channels):
        raise ValueError(f"audio has dtype {audio.dtype} and shape {audio.shape}")
    if sources.shape != (len(names), 3):
        raise ValueError(f"sources have shape {sources.shape}")
    return {"audio": audio, "names": names, "skipped": skipped, "sources": sources}


def read_cache(folder: Path, key: str, settings: Mapping[str, object]) -> dict | None:
    """Return the cached load of ``folder`` if one matches, else ``None``.

    Parameters
    ----------
    folder : pathlib.Path
        The loop folder.
    key : str
        :func:`cache_key` of its audio files and ``settings``.
    settings : mapping
        Load settings; must hold ``slice_len`` and ``channels``.

    Returns
    -------
    dict or None
        ``{"audio": float32 (N, slice_len, channels), "names": list of str,
        "skipped": list of (str, str), "sources": int64 (N, 3)}`` (see :class:`Loops`), or ``None`` when no cache matches.
        A corrupt cache file is logged and treated as missing.
    """
    for path in cache_paths(folder, settings):
        if not path.is_file():
            continue
        try:
            entry = _read_entry(path, key, int(settings["slice_len"]), int(settings["channels"]))
        except Exception as error:  # any damage (truncated zip, missing key, bad shape) means rebuild
            log.warning("ignoring corrupt dataset cache %s (%s); it will be rebuilt", path, error)
            continue
        if entry is not None:
            return entry
    return None


def write_cache(
    folder: Path,
    key: str,
    settings: Mapping[str, object],
    audio: np.ndarray,
    names: Sequence[str],
    skipped: Sequence[tuple[str, str]],
    sources: np.ndarray | None = None,
) -> Path | None:
    """Store a load of ``folder``; return the cache file, or ``None`` when nothing was writable.

    Parameters
    ----------
    folder, key, settings
        As for :func:`read_cache`; ``key`` taken before decoding.
    audio : numpy.ndarray
        float32, shape (N, slice_len, channels), in [-1, 1].
    names : sequence of str
        Source file of each row of ``audio``, relative to ``folder``.
    skipped : sequence of (str, str)
        Files that could not be used, with the reason.
    sources : numpy.ndarray, optional
        int64 (N, 3): each loop's file rate, channels and whether it was padded
        (:attr:`Loops.sources`); None stores -1 (unknown) rows.
    """
    if sources is None:
        sources = np.full((len(names), 3), -1, dtype=np.int64)
    arrays = {
        "version": np.int64(CACHE_FORMAT_VERSION),
        "key": np.str_(key),
        "settings_json": np.str_(json.dumps(dict(settings), sort_keys=True)),
        "audio": np.asarray(audio, dtype=np.float32),
        "names": np.asarray(list(names), dtype=np.str_),
        "skipped_files": np.asarray([f for f, _ in skipped], dtype=np.str_),
        "skipped_reasons": np.asarray([r for _, r in skipped], dtype=np.str_),
        "sources": np.asarray(sources, dtype=np.int64).reshape(-1, 3),
    }
    errors = []
    for path in cache_paths(folder, settings):
        try:
            write_npz_atomic(path, arrays)
            return path
        except OSError as error:  # read-only loop folder: fall back to the user cache
            errors.append(f"{path}: {error.strerror or error}")
    warnings.warn(f"could not write the dataset cache ({'; '.join(errors)})", stacklevel=3)
    return None


DATASET_FORMAT = "beatgan-dataset"  # marks files written by save_dataset
DATASET_VERSION = 1
DATASET_DTYPES = ("float32", "float16", "int16")
_INT16_SCALE = 32767.0  # symmetric, so +1.0 and -1.0 both fit


def save_dataset(
    path: str | os.PathLike,
    audio: np.ndarray,
    names: Sequence[str],
    *,
    sample_rate: int,
    settings: Mapping[str, object] | None = None,
    skipped: Sequence[tuple[str, str]] = (),
    dtype: str = "float32",
) -> Path:
    """Write training examples and their metadata to an ``.npz`` file, atomically, without pickle.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; its folder is created. The name is used as given (no ``.npz`` appended).
    audio : numpy.ndarray
        Float, shape (N, slice_len, channels), channels 1 or 2, values in [-1, 1] (clipped).
    names : sequence of str
        Source file of each row, length N.
    sample_rate : int
        Hz of ``audio``.
    settings : mapping, optional
        JSON-serialisable options that made the data (stored as a JSON string).
    skipped : sequence of (str, str), default ()
        Files left out when loading, with the reason.
    dtype : {"float32", "float16", "int16"}, default "float32"
        Storage type of the audio; "int16" (scaled by 32767, rounded) and "float16" halve
        the file, e.g. to carry it to a GPU machine. :func:`load_dataset` returns float32.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ConfigError
        For an unknown ``dtype`` or a non-positive ``sample_rate``.
    DatasetError
        When ``audio`` and ``names`` do not fit together or ``audio`` is not finite.
    """
    if dtype not in DATASET_DTYPES:
        raise ConfigError(f"dtype={dtype!r} must be one of {DATASET_DTYPES}")
    check_positive_int("sample_rate", sample_rate)
    audio = np.asarray(audio)
    names = [str(n) for n in names]
    if audio.ndim != 3 or audio.shape[2] not in (1, 2) or not np.issubdtype(audio.dtype, np.floating):
        raise DatasetError(f"audio must be float (N, slice_len, channels 1 or 2), got {audio.dtype} {audio.shape}")
    if len(names) != len(audio):
        raise DatasetError(f"{len(names)} names for {len(audio)} rows of audio")
    if not np.isfinite(audio).all():
        raise DatasetError("audio contains NaN or infinite samples")
    clipped = np.clip(audio, -1.0, 1.0)
    if dtype == "int16":
        stored = np.round(clipped * _INT16_SCALE).astype(np.int16)
    else:
        stored = clipped.astype(dtype, copy=False)
    write_npz_atomic(path, {
        "format": np.str_(DATASET_FORMAT),
        "version": np.int64(DATASET_VERSION),
        "audio": stored,
        "sample_rate": np.int64(sample_rate),
        "slice_len": np.int64(audio.shape[1]),
        "channels": np.int64(audio.shape[2]),
        "names": np.asarray(names, dtype=np.str_),
        "skipped_files": np.asarray([f for f, _ in skipped], dtype=np.str_),
        "skipped_reasons": np.asarray([r for _, r in skipped], dtype=np.str_),
        "settings_json": np.str_(json.dumps(dict(settings or {}), sort_keys=True)),
    })
    return Path(path)


def load_dataset(path: str | os.PathLike):
    """Read a file written by :func:`save_dataset`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.

    Returns
    -------
    beatgan.data.Loops
        ``audio`` float32 (N, slice_len, channels) in [-1, 1] whatever the stored dtype,
        ``names``, ``skipped``, ``sample_rate`` and ``settings`` as saved.

    Raises
    ------
    DatasetError
        Naming the file, when it is missing, not an ``.npz``, needs pickle, or its arrays are
        missing or inconsistent.
    """

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"dataset file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["format"]) != DATASET_FORMAT:
                raise ValueError(f"format is {str(npz['format'])!r}, not {DATASET_FORMAT!r}")
            if int(npz["version"]) > DATASET_VERSION:
                raise ValueError(f"version {int(npz['version'])} is newer than this code's {DATASET_VERSION}")
            stored = npz["audio"]
            sample_rate, slice_len, channels = (int(npz[k]) for k in ("sample_rate", "slice_len", "channels"))
            names = [str(n) for n in npz["names"]]
            skipped = list(zip(map(str, npz["skipped_files"]), map(str, npz["skipped_reasons"])))
            settings = json.loads(str(npz["settings_json"]))
    except Exception as error:  # zip, key, pickle and JSON errors all mean the same to the user
        raise DatasetError(f"{str(path)!r} is not a valid BeatGAN dataset file: {error}") from None
    problem = None
    if stored.dtype.name not in DATASET_DTYPES:
        problem = f"audio dtype {stored.dtype} is not one of {DATASET_DTYPES}"
    elif stored.shape != (len(names), slice_len, channels) or channels not in (1, 2) or sample_rate <= 0:
        problem = (f"audio shape {stored.shape} does not match {len(names)} names, slice_len={slice_len}, "
                   f"channels={channels} (sample_rate={sample_rate})")
    elif stored.dtype.kind == "f" and not (np.isfinite(stored).all() and np.abs(stored).max(initial=0) <= 1):
        problem = "audio is not finite or lies outside [-1, 1]"
    if problem:
        raise DatasetError(f"{str(path)!r} is not a valid BeatGAN dataset file: {problem}")
    if stored.dtype == np.int16:
        audio = np.maximum(stored, -32767).astype(np.float32) / np.float32(_INT16_SCALE)
    else:
        audio = stored.astype(np.float32, copy=False)
    return Loops(audio=audio, names=names, skipped=skipped, sample_rate=sample_rate, settings=settings)
