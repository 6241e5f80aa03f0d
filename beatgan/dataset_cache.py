"""Loops stored on disk: the cache of decoded folders, and dataset files.

Both are ``.npz`` files written atomically and read without pickle.
:func:`save_dataset` / :func:`load_dataset` handle the file ``beatgan prepare``
writes (re-exported by :mod:`beatgan.data`); the rest is the load cache.

Decoding and resampling a few hundred loops takes seconds; training runs and
notebooks load the same folder again and again. :func:`read_cache` and
:func:`write_cache` keep the result of :func:`beatgan.data.load_loops` in an
``.npz`` file keyed on everything that decides it:

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

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from beatgan.atomic import write_npz_atomic
from beatgan.errors import ConfigError, DatasetError

CACHE_FORMAT_VERSION = 1  # bump when decoding or the cache layout changes
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
    if audio.dtype != np.float32 or audio.shape != (len(names), slice_len, channels):
        raise ValueError(f"audio has dtype {audio.dtype} and shape {audio.shape}")
    return {"audio": audio, "names": names, "skipped": skipped}


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
        "skipped": list of (str, str)}``, or ``None`` when no cache matches.
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
    """
    arrays = {
        "version": np.int64(CACHE_FORMAT_VERSION),
        "key": np.str_(key),
        "settings_json": np.str_(json.dumps(dict(settings), sort_keys=True)),
        "audio": np.asarray(audio, dtype=np.float32),
        "names": np.asarray(list(names), dtype=np.str_),
        "skipped_files": np.asarray([f for f, _ in skipped], dtype=np.str_),
        "skipped_reasons": np.asarray([r for _, r in skipped], dtype=np.str_),
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
    if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate!r} must be a positive integer (Hz)")
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
    from beatgan.data import Loops  # here, not at the top: beatgan.data imports this module

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
