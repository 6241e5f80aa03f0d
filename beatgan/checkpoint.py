"""Checkpoints of a training run and the generator weights it exports: writing, checking, loading.

**Checkpoints.** A checkpoint is a folder ``RUN/checkpoints/step_000500/`` holding

- ``variables.npz``: every variable of the GAN as a plain numpy array, no pickle:
  both networks' weights, the random-stream states (the GAN's own
  :class:`keras.random.SeedGenerator` and the phase-shuffle layers'), and both
  Adam optimizers' slots and iteration counters;
- ``state.json``: the generator step, the data-order position (the data order
  is keyed on the global step), the configs, the backend and the time.

Arrays are keyed by structure, not by Keras' auto-numbered variable paths
(``seed_generator_4``, ``adam_1`` change with what else the process built):
``generator/upconv_0/kernel``, ``discriminator/phase_shuffle_0/seed_generator_state``,
``gan/seed_generator/seed_generator_state``, ``g_optimizer/dense_kernel_momentum``.
Integer dtypes differ per backend (TensorFlow stores counters as int64, JAX as
int32/uint32); restoring casts to the live variable's dtype, so a run trained
under JAX resumes under TensorFlow and back.

A checkpoint is written into a hidden temporary folder and renamed into place,
so a crash leaves either the whole checkpoint or none; leftover temporary
folders are removed by the next save or restore. Only the newest ``keep``
checkpoints are kept. :func:`restore_latest` skips a damaged newest checkpoint
with a warning and falls back to the one before.

**Generator weights**, as shipped in ``weights/`` and loaded by ``beatgan generate``:
a weights directory holds ``config.json`` (a :class:`~beatgan.config.ModelConfig`)
and ``generator.npz``: one array per generator variable, keyed by the
variable's path (``upconv_0/kernel``), in float16 by default so the full-size
stereo generator (19.1 M parameters) takes 38 MB on disk. The format is plain
numpy, no pickle, readable under any Keras backend. Both files are written
atomically. :func:`check_arrays` checks a file's names and shapes against the
model before anything is assigned, for checkpoints and weights alike.

A weights directory may also hold ``critic.npz``, the discriminator in the same
form (:func:`export_critic`, :func:`load_critic`): with it the directory carries
what a run needs to go on training, and ``beatgan export`` writes it by default.
``lineage.json`` records where the weights come from: the run, its step, its recipe and, for a
run started from other weights (:func:`init_from_weights`, ``beatgan train --init-from``),
their lineage in turn, so weights trained across several sessions say how they were made.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from beatgan.atomic import write_json_atomic, write_npz_atomic
from beatgan.backend import host_array, keras  # Keras imported quietly, after the backend is chosen
from beatgan.config import CONFIG_FILE, ModelConfig
from beatgan.errors import CheckpointError, ConfigError
from beatgan.model import build_discriminator, build_generator

CHECKPOINTS_DIR = "checkpoints"  # inside a run directory
VARIABLES_FILE = "variables.npz"
STATE_FILE = "state.json"
FORMAT_VERSION = 1  # bump when the layout of a checkpoint changes
_NAME = re.compile(r"^step_(\d{6,})$")
_TEMP_PREFIX = ".tmp-"
WEIGHTS_FILE = "generator.npz"  # in a weights directory, beside config.json
RAW_WEIGHTS_FILE = "generator_raw.npz"  # with EMA on: the trained weights; generator.npz holds their average
CRITIC_FILE = "critic.npz"  # in a weights directory, optional: the discriminator, for training on
LINEAGE_FILE = "lineage.json"  # in a weights directory, optional: the run, step and recipe the weights come from
_DTYPES = ("float16", "float32")  # storage precisions of exported weights


def checkpoint_name(step: int) -> str:
    """Return the folder name of the checkpoint at generator step ``step`` (``step_000500``)."""
    return f"step_{step:06d}"


def named_variables(gan) -> dict[str, object]:
    """Name every variable of a compiled WaveGAN by its place in the model.

    Parameters
    ----------
    gan : beatgan.gan.WaveGAN
        A compiled model (both optimizers built).

    Returns
    -------
    dict of str to keras.Variable
        Keys ``generator/<layer>/<variable>``, ``discriminator/<layer>/<variable>``,
        ``ema_generator/<layer>/<variable>`` (the generator's average, with EMA on),
        ``gan/<attribute>/<variable>`` for the GAN's own random streams and
        ``d_optimizer/<variable>``, ``g_optimizer/<variable>`` and ``optimizer/<variable>``
        for a wrapper optimizer's own counter.

    Raises
    ------
    CheckpointError
        When a variable of the model cannot be named or two get the same name.
    """
    named: dict[str, object] = {}

    def add(key, variable):
        if key in named:
            raise CheckpointError(f"two variables of the GAN would both be saved as {key!r}")
        named[key] = variable

    for part in ("generator", "discriminator", "ema_generator"):
        if getattr(gan, part, None) is None:  # ema_generator: only with ema_decay > 0
            continue
        for layer in getattr(gan, part).layers:
            for variable in layer.variables:
                add(f"{part}/{layer.name}/{variable.name}", variable)
    for attribute, value in sorted(vars(gan).items()):
        if isinstance(value, keras.random.SeedGenerator):
            add(f"gan/{attribute}/{value.state.name}", value.state)
    covered = {id(v) for v in named.values()}
    unnamed = [v.path for v in gan.variables if id(v) not in covered]
    if unnamed:
        raise CheckpointError(f"cannot name GAN variables {unnamed[:4]} for a checkpoint")
    for part in ("d_optimizer", "g_optimizer"):
        optimizer = getattr(gan, part, None)
        if optimizer is None or not optimizer.built:
            raise CheckpointError(f"the GAN's {part} is not built; compile the model before checkpointing")
        for variable in optimizer.variables:
            add(f"{part}/{variable.name}", variable)
    # a wrapper optimizer (Keras' MultiOptimizer, which the JAX trainer steps) has its own counter
    joint = getattr(gan, "optimizer", None)
    if joint is not None and getattr(joint, "built", False):
        covered = {id(v) for v in named.values()}
        for variable in joint.variables:
            if id(variable) not in covered:
                add(f"optimizer/{variable.name}", variable)
    return named


def _to_numpy(variable) -> np.ndarray:
    array = np.asarray(host_array(variable))
    if array.dtype.kind not in "biuf":
        array = array.astype(np.float32)  # e.g. bfloat16, which plain numpy cannot load
    return array


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync folders; the rename is still atomic
    finally:
        os.close(fd)


def _remove_temporaries(directory: Path) -> None:
    for leftover in directory.glob(f"{_TEMP_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Return the checkpoint folders in ``directory``, oldest (lowest step) first.

    Temporary folders of an unfinished write and other files are ignored.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def checkpoint_step(path: str | os.PathLike) -> int:
    """Return the generator step encoded in a checkpoint folder's name."""
    match = _NAME.match(Path(path).name)
    if not match:
        raise CheckpointError(f"{path} is not a checkpoint folder (expected a name like step_000500)")
    return int(match.group(1))


def save_checkpoint(gan, directory: str | os.PathLike, *, step: int, state: dict | None = None, keep: int = 3) -> Path:
    """Write a checkpoint of ``gan`` at generator step ``step`` atomically.

    Parameters
    ----------
    gan : beatgan.gan.WaveGAN
        The compiled model; every variable and both optimizers are saved.
    directory : path-like
        The checkpoints folder (``RUN/checkpoints``); created when missing.
    step : int
        Generator updates done, >= 0; names the checkpoint.
    state : dict, optional
        JSON-serialisable extras stored in ``state.json`` (configs, backend).
    keep : int, optional
        How many of the newest checkpoints to keep; older ones are deleted.

    Returns
    -------
    pathlib.Path
        The checkpoint folder.
    """
    if keep < 1:
        raise CheckpointError(f"keep={keep!r} must be at least 1")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(directory)
    arrays = {key: _to_numpy(v) for key, v in named_variables(gan).items()}
    payload = {
        **(state or {}),
        "format": FORMAT_VERSION,
        "step": int(step),
        "data_step": int(step),  # the data order is keyed on the global step
        "time": time.time(),
        "backend": keras.backend.backend(),
        "variables": len(arrays),
    }
    final = directory / checkpoint_name(step)
    temp = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{final.name}-", dir=directory))
    try:
        with open(temp / VARIABLES_FILE, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        with open(temp / STATE_FILE, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(temp)
        if final.exists():  # e.g. a damaged checkpoint at this step that a resume skipped
            stale = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}stale-", dir=directory))
            os.replace(final, stale / final.name)
        os.replace(temp, final)
        _fsync_dir(directory)
    finally:
        _remove_temporaries(directory)
    for old in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read and check a checkpoint folder without touching any model.

    Parameters
    ----------
    path : path-like
        A folder written by :func:`save_checkpoint`.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        Every saved variable by name.
    state : dict
        The contents of ``state.json`` (``step``, ``data_step``, configs, ...).

    Raises
    ------
    CheckpointError
        Naming the file, when either file is missing, truncated or corrupt.
    """
    path = Path(path)
    state_path, variables_path = path / STATE_FILE, path / VARIABLES_FILE
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint file {state_path} is missing or damaged: {error}") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise CheckpointError(f"checkpoint file {state_path} has no integer 'step'")
    try:
        with np.load(variables_path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}  # reading checks each array's CRC
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"checkpoint file {variables_path} is missing or damaged: {error}") from None
    if state.get("variables", len(arrays)) != len(arrays):
        raise CheckpointError(
            f"checkpoint file {variables_path} holds {len(arrays)} arrays, {state_path} says {state['variables']}"
        )
    return arrays, state


def _cast(array: np.ndarray, variable, key: str, path: Path) -> np.ndarray:
    dtype = np.dtype(str(variable.dtype)) if str(variable.dtype) != "bfloat16" else np.float32
    if array.dtype.kind in "iu" and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise CheckpointError(f"{path}: {key} holds values outside the range of {dtype}")
    return array.astype(dtype)


def restore_checkpoint(gan, path: str | os.PathLike) -> dict:
    """Load a checkpoint into a compiled WaveGAN built with the same configs.

    Every name and shape is checked before any variable is assigned, so a
    failed restore leaves the model as it was.

    Parameters
    ----------
    gan : beatgan.gan.WaveGAN
        The compiled model to fill.
    path : path-like
        A checkpoint folder.

    Returns
    -------
    dict
        The checkpoint's ``state.json``.

    Raises
    ------
    CheckpointError
        Naming the file, when it is damaged or its variables do not match the model.
    """
    path = Path(path)
    arrays, state = read_checkpoint(path)
    variables = named_variables(gan)
    source = path / VARIABLES_FILE
    check_arrays(arrays, {key: tuple(v.shape) for key, v in variables.items()}, source,
                 against="the model", needed_by="the model")
    values = {key: _cast(arrays[key], variable, key, source) for key, variable in variables.items()}
    for key, variable in variables.items():
        variable.assign(values[key])
    return state


def restore_latest(gan, directory: str | os.PathLike, *, clean: bool = True) -> dict | None:
    """Restore the newest usable checkpoint in ``directory``.

    A damaged checkpoint (truncated by a power loss, say) is skipped with a
    warning and the one before it is tried.

    Parameters
    ----------
    gan : beatgan.gan.WaveGAN
        The compiled model to fill.
    directory : path-like
        The checkpoints folder.
    clean : bool, optional
        Remove leftover temporary folders first; False for a process that only reads
        (a run over several processes, whose writer is process 0).

    Returns
    -------
    dict or None
        The restored checkpoint's ``state.json`` plus ``"path"``; ``None`` when the
        folder holds no checkpoint.

    Raises
    ------
    CheckpointError
        When checkpoints exist but none can be restored; the message names each.
    """
    directory = Path(directory)
    if clean and directory.is_dir():
        _remove_temporaries(directory)
    failures = []
    for path in reversed(list_checkpoints(directory)):
        try:
            state = restore_checkpoint(gan, path)
        except CheckpointError as error:
            warnings.warn(f"skipping checkpoint {path.name}: {error}", stacklevel=2)
            failures.append(str(error))
            continue
        return {**state, "path": str(path)}
    if failures:
        raise CheckpointError("no checkpoint can be restored: " + "; ".join(failures))
    return None


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
    return _write_model(generator, config, directory, WEIGHTS_FILE, dtype)


def export_networks(gan, config: ModelConfig, directory: str | os.PathLike, *, dtype: str = "float16",
                    critic: bool = False, lineage: dict | None = None) -> list[Path]:
    """Write a training GAN's generator (its average when EMA is on) and optionally its critic.

    Parameters
    ----------
    gan : beatgan.gan.WaveGAN
        The model being trained.
    config : ModelConfig
        Its model config.
    directory : path-like
        The weights directory.
    dtype : {"float16", "float32"}, optional
        Storage precision.
    critic : bool, optional
        Also write ``critic.npz``.
    lineage : dict, optional
        Written as ``lineage.json`` (see :func:`write_lineage`).

    Returns
    -------
    list of pathlib.Path
        ``generator.npz`` (the average of the generator's weights when ``ema_decay`` > 0, what
        ``generate`` and ``evaluate`` use), then ``generator_raw.npz`` (the trained weights, with
        EMA on) and ``critic.npz`` when written.
    """
    average = getattr(gan, "ema_generator", None)
    written = [export_generator(average if average is not None else gan.generator, config, directory, dtype=dtype)]
    if average is not None:
        written.append(_write_model(gan.generator, config, directory, RAW_WEIGHTS_FILE, dtype))
    if critic:
        written.append(export_critic(gan.discriminator, config, directory, dtype=dtype))
    if lineage is not None:
        write_lineage(directory, lineage)
    return written


def write_lineage(directory: str | os.PathLike, lineage: dict) -> Path:
    """Write ``lineage.json`` into a weights directory, atomically.

    Parameters
    ----------
    directory : path-like
        The weights directory.
    lineage : dict
        JSON-serialisable: ``run_dir``, ``step`` (generator steps of that run), ``train`` (its
        TrainConfig fields) and ``init_from`` (the lineage of the weights the run started from, or None).

    Returns
    -------
    pathlib.Path
    """
    path = Path(directory) / LINEAGE_FILE
    write_json_atomic(path, lineage)
    return path


def read_lineage(directory: str | os.PathLike) -> dict | None:
    """The ``lineage.json`` of a weights directory, or None when it has none (or an unreadable one)."""
    try:
        lineage = json.loads((Path(directory) / LINEAGE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return lineage if isinstance(lineage, dict) else None


def total_steps(lineage: dict | None) -> int | None:
    """Generator steps of a lineage, summed over the runs it chains; None when a link does not say.

    The shipped weights of earlier versions carry no ``lineage.json``: a chain that starts from
    them has unknown steps.
    """
    total = 0
    while True:
        if lineage is None or isinstance(lineage.get("step"), bool) or not isinstance(lineage.get("step"), int):
            return None
        total += lineage["step"]
        parent = lineage.get("init_from")
        if parent is None:
            return total
        lineage = parent.get("lineage")


def read_weights_config(directory: str | os.PathLike) -> ModelConfig:
    """The ``ModelConfig`` of a weights directory (its ``config.json``).

    Raises
    ------
    CheckpointError
        No such directory, no ``config.json``, or an invalid one.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"weights directory {directory} does not exist")
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{directory} has no {CONFIG_FILE}; a weights directory needs the model config")
    try:
        return ModelConfig.load(config_path)
    except ConfigError as error:
        raise CheckpointError(f"{config_path}: {error}") from None


def check_init_from(directory: str | os.PathLike, config: ModelConfig) -> ModelConfig:
    """Check that a run of ``config`` can start from a weights directory; return the directory's config.

    Raises
    ------
    ConfigError
        Another architecture: one line naming the differing fields and both configurations.
    CheckpointError
        No such directory, no readable ``config.json``, or no ``critic.npz``.
    """
    stored = read_weights_config(directory)
    if stored != config:
        ours, theirs = config.to_dict(), stored.to_dict()
        fields = ", ".join(f"{k}: weights have {theirs[k]!r}, run has {ours[k]!r}" for k in ours if ours[k] != theirs[k])
        raise ConfigError(f"--init-from {directory} holds another architecture ({fields}); "
                          f"weights: {theirs}; this run: {ours}")
    if not (Path(directory) / CRITIC_FILE).is_file():
        raise CheckpointError(f"--init-from {directory} has no {CRITIC_FILE}: training on needs the critic too "
                              "(`beatgan export` of a run writes it)")
    return stored


def init_from_weights(gan, directory: str | os.PathLike, config: ModelConfig) -> dict:
    """Start a new run's networks from a weights directory: the generator, its average and the critic.

    The trained generator comes from ``generator_raw.npz`` when the directory has it (weights of
    a run with EMA) and from ``generator.npz`` otherwise; the run's average, when it keeps one,
    starts from ``generator.npz``; the critic from ``critic.npz``, which must be there. The
    optimizers and step counters are left as built (Adam restarts; the run counts from 0).

    Parameters
    ----------
    gan : beatgan.gan.WaveGAN
        The new run's compiled model.
    directory : path-like
        A weights directory (``beatgan export``, or a run's ``weights/``).
    config : ModelConfig
        The run's model config; it must equal the directory's.

    Returns
    -------
    dict
        The lineage entry of the new run: ``weights`` (the directory), ``model`` (its config),
        ``lineage`` (its ``lineage.json``, or None).

    Raises
    ------
    ConfigError
        The directory's model config differs from ``config`` (both named, field by field).
    CheckpointError
        No critic, or unreadable or mismatched weights files.
    """
    directory = Path(directory)
    stored = check_init_from(directory, config)
    raw = RAW_WEIGHTS_FILE if (directory / RAW_WEIGHTS_FILE).is_file() else WEIGHTS_FILE
    trained, _ = _read_weights(directory, raw, build_generator)
    gan.generator.set_weights(trained.get_weights())
    average = getattr(gan, "ema_generator", None)
    if average is not None:
        average.set_weights(load_generator(directory)[0].get_weights())
    gan.discriminator.set_weights(load_critic(directory)[0].get_weights())
    return {"weights": str(directory.resolve()), "model": stored.to_dict(), "lineage": read_lineage(directory)}


def _write_model(model, config: ModelConfig, directory, name: str, dtype: str) -> Path:
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype={dtype!r} must be one of {_DTYPES}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {v.path: np.asarray(host_array(v), dtype=dtype) for v in model.weights}
    path = directory / name
    write_npz_atomic(path, arrays)
    config.save(directory / CONFIG_FILE)
    return path


def export_critic(discriminator, config: ModelConfig, directory: str | os.PathLike, *,
                  dtype: str = "float16") -> Path:
    """Write a discriminator's weights to ``directory/critic.npz`` (and its config), as :func:`export_generator`.

    Parameters
    ----------
    discriminator : keras.Model
        A model built by :func:`beatgan.model.build_discriminator` from ``config``.
    config : ModelConfig
        Saved as ``config.json`` (the same file the generator's export writes).
    directory : path-like
        Created if missing; existing files are replaced atomically.
    dtype : {"float16", "float32"}, optional
        Storage precision.

    Returns
    -------
    pathlib.Path
        The path of ``critic.npz``.
    """
    return _write_model(discriminator, config, directory, CRITIC_FILE, dtype)


def _read_weights(directory, name: str, build, *, missing_hint: str = ""):
    directory = Path(directory)
    config = read_weights_config(directory)
    weights_path = directory / name
    if not weights_path.is_file():
        raise CheckpointError(f"{directory} has no {name}{missing_hint}")
    model = build(config)
    try:
        with np.load(weights_path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # EOFError: an empty file
        raise CheckpointError(f"{weights_path} is not a readable weights file: {error}") from None
    check_arrays(arrays, {v.path: tuple(v.shape) for v in model.weights}, weights_path,
                 against=CONFIG_FILE, needed_by="the config")
    model.set_weights([arrays[v.path].astype("float32") for v in model.weights])
    return model, config


def load_critic(directory: str | os.PathLike):
    """Rebuild the discriminator of a weights directory that holds ``critic.npz``.

    Returns
    -------
    critic : keras.Model
        float32 (B, slice_len, channels) -> (B, 1) scores.
    config : ModelConfig

    Raises
    ------
    CheckpointError
        As :func:`load_generator`; also when the directory has no ``critic.npz``.
    """
    return _read_weights(directory, CRITIC_FILE, build_discriminator,
                         missing_hint=" (it holds a generator only; `beatgan export` of a run writes the critic too)")


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
    return _read_weights(directory, WEIGHTS_FILE, build_generator)


def load_checkpoint_generator(path: str | os.PathLike, config: ModelConfig):
    """Rebuild the generator saved in a training checkpoint (for evaluating a run's steps).

    Parameters
    ----------
    path : path-like
        A checkpoint folder written by :func:`save_checkpoint`.
    config : ModelConfig
        The run's model config (its ``config.json``).

    Returns
    -------
    keras.Model
        float32 (B, latent_dim) -> (B, slice_len, channels), the checkpoint's generator weights:
        their moving average when the run keeps one (:func:`has_average`).

    Raises
    ------
    CheckpointError
        The checkpoint is unreadable or its generator does not match ``config``.
    """
    arrays = read_checkpoint(path)[0]
    return _checkpoint_part(arrays, path, config, _generator_part(arrays), build_generator)


def has_average(path: str | os.PathLike) -> bool:
    """Whether a training checkpoint holds the generator's moving average (a run with ``ema_decay`` > 0)."""
    return _generator_part(read_checkpoint(path)[0]) == "ema_generator"


def _generator_part(arrays: dict) -> str:
    return "ema_generator" if any(key.startswith("ema_generator/") for key in arrays) else "generator"


def load_checkpoint_critic(path: str | os.PathLike, config: ModelConfig):
    """Rebuild the discriminator saved in a training checkpoint, as :func:`load_checkpoint_generator`.

    Returns
    -------
    keras.Model
        float32 (B, slice_len, channels) -> (B, 1), the checkpoint's critic weights
        (its phase-shuffle streams as saved).
    """
    return _checkpoint_part(read_checkpoint(path)[0], path, config, "discriminator", build_discriminator)


def export_checkpoint(path: str | os.PathLike, config: ModelConfig, directory: str | os.PathLike, *,
                      dtype: str = "float16", critic: bool = True, lineage: dict | None = None) -> list[Path]:
    """Write a training checkpoint's generator (and critic) as a weights directory, reading the checkpoint once.

    Parameters
    ----------
    path : path-like
        A checkpoint folder written by :func:`save_checkpoint`.
    config : ModelConfig
        The run's model config.
    directory : path-like
        The weights directory, as :func:`export_generator` writes it.
    dtype : {"float16", "float32"}, optional
        Storage precision.
    critic : bool, optional
        Also write ``critic.npz`` (:func:`export_critic`).
    lineage : dict, optional
        Written as ``lineage.json`` (:func:`write_lineage`).

    Returns
    -------
    list of pathlib.Path
        ``generator.npz`` (the average of the weights when the run keeps one), then
        ``generator_raw.npz`` (the trained weights, with EMA on) and ``critic.npz`` when written.
    """
    arrays, _ = read_checkpoint(path)
    part = _generator_part(arrays)
    written = [export_generator(_checkpoint_part(arrays, path, config, part, build_generator), config,
                                directory, dtype=dtype)]
    if part == "ema_generator":  # the trained weights beside their average, to train on from
        raw = _checkpoint_part(arrays, path, config, "generator", build_generator)
        written.append(_write_model(raw, config, directory, RAW_WEIGHTS_FILE, dtype))
    if critic:
        written.append(export_critic(_checkpoint_part(arrays, path, config, "discriminator", build_discriminator),
                                     config, directory, dtype=dtype))
    if lineage is not None:
        write_lineage(directory, lineage)
    return written


def _checkpoint_part(arrays: dict, path, config: ModelConfig, part: str, build):
    model = build(config)
    keys = {f"{part}/{layer.name}/{v.name}": v for layer in model.layers for v in layer.variables}
    stored = {key: arrays[key] for key in arrays if key.startswith(f"{part}/")}
    check_arrays(stored, {key: tuple(v.shape) for key, v in keys.items()}, Path(path) / VARIABLES_FILE,
                 against="the run's model config", needed_by="the config")
    for key, variable in keys.items():
        variable.assign(_cast(stored[key], variable, key, Path(path) / VARIABLES_FILE))
    return model
