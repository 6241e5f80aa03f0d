"""Generator weights as shipped and loaded by ``beatgan generate``.

A weights directory holds ``config.json`` (a :class:`~beatgan.config.ModelConfig`)
and ``generator.npz``: one array per generator variable, keyed by the
variable's path (``upconv_0/kernel``), in float16 by default so the full-size
stereo generator (19.1 M parameters) takes 38 MB on disk. The format is plain
numpy, no pickle, readable under any Keras backend. Both files are written
atomically.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from beatgan.atomic import write_npz_atomic
from beatgan.config import ModelConfig
from beatgan.errors import CheckpointError, ConfigError

WEIGHTS_FILE = "generator.npz"
CONFIG_FILE = "config.json"
_DTYPES = ("float16", "float32")


def check_arrays(arrays, shapes: dict, source, *, against: str, needed_by: str) -> None:
    """Check stored arrays against the variables that will receive them, before any is assigned.

    Parameters
    ----------
    arrays : mapping of str to numpy.ndarray
        What a file holds, by variable name.
    shapes : dict of str to tuple of int
        The names and shapes the model needs.
    source : path-like
        The file, named in the error.
    against, needed_by : str
        Words of the message: what the file must match, and who needs the shape.

    Raises
    ------
    CheckpointError
        A name missing or unexpected, or a shape that differs.
    """
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    if missing or extra:
        raise CheckpointError(f"{source} does not match {against}: missing {missing[:4]}, unexpected {extra[:4]}")
    for key, shape in shapes.items():
        if tuple(arrays[key].shape) != tuple(shape):
            raise CheckpointError(f"{source}: {key} has shape {arrays[key].shape}, {needed_by} needs {tuple(shape)}")


def export_generator(generator, config: ModelConfig, directory: str | os.PathLike, *, dtype: str = "float16") -> Path:
    """Write a generator's weights and its config to ``directory``.

    Parameters
    ----------
    generator : keras.Model
        A model built by :func:`beatgan.model.build_generator` from ``config``.
    config : ModelConfig
        The config the generator was built from; saved as ``config.json``.
    directory : path-like
        Created if missing; existing files are replaced atomically.
    dtype : {"float16", "float32"}, optional
        Storage precision. float16 halves the size; the generator is rebuilt
        in float32 on loading.

    Returns
    -------
    pathlib.Path
        The path of the weights file.
    """
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype={dtype!r} must be one of {_DTYPES}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {v.path: np.asarray(v.numpy(), dtype=dtype) for v in generator.weights}
    path = directory / WEIGHTS_FILE
    write_npz_atomic(path, arrays)
    config.save(directory / CONFIG_FILE)
    return path


def load_generator(directory: str | os.PathLike):
    """Rebuild a generator from a weights directory.

    Parameters
    ----------
    directory : path-like
        Holds ``config.json`` and ``generator.npz`` as written by :func:`export_generator`.

    Returns
    -------
    generator : keras.Model
        float32 (B, latent_dim) -> float32 (B, slice_len, channels).
    config : ModelConfig
        The model's config.

    Raises
    ------
    CheckpointError
        The directory, the config or the weights file is missing, or a
        weight's name or shape does not match the config.
    """
    from beatgan.model import build_generator

    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"weights directory {directory} does not exist")
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{directory} has no {CONFIG_FILE}; a weights directory needs the model config")
    try:
        config = ModelConfig.load(config_path)
    except ConfigError as error:
        raise CheckpointError(f"{config_path}: {error}") from None
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{directory} has no {WEIGHTS_FILE}")
    generator = build_generator(config)
    try:
        with np.load(weights_path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"{weights_path} is not a readable weights file: {error}") from None
    check_arrays(arrays, {v.path: tuple(v.shape) for v in generator.weights}, weights_path,
                 against=CONFIG_FILE, needed_by="the config")
    generator.set_weights([arrays[v.path].astype("float32") for v in generator.weights])
    return generator, config
