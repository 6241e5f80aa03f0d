"""A run directory's files: names, ``config.json``, metrics, the lock, and the Keras backend choice.

What :mod:`beatgan.run` (the training driver), :mod:`beatgan.callbacks` and the
``train`` verb share about a run directory, kept apart from the driver so that
each reads in one sitting and nothing imports in a circle.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from beatgan.config import ModelConfig, TrainConfig
from beatgan.errors import CheckpointError, ConfigError

CONFIG_FILE = "config.json"
WEIGHTS_DIR = "weights"
METRICS_FILE = "metrics.jsonl"
PREVIEWS_DIR = "previews"
METRIC_NAMES = ("d_loss", "g_loss", "gp", "wasserstein")  # the WaveGAN's logs, means over each logged interval
BACKENDS = ("tensorflow", "jax")
PREVIEW_COUNT = 4  # clips in each audio preview
_RESUMABLE = {"steps"}  # fields that may change when a run is resumed


def select_backend(backend: str | None) -> str:
    """Choose the Keras backend; must run before ``keras`` is first imported.

    Parameters
    ----------
    backend : {"tensorflow", "jax"} or None
        None keeps ``KERAS_BACKEND`` (default tensorflow).

    Returns
    -------
    str
        The backend Keras uses.

    Raises
    ------
    ConfigError
        For an unknown backend, or when Keras is already imported with another one.
    """
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} must be one of {BACKENDS}")
    if "keras" in sys.modules:
        active = sys.modules["keras"].backend.backend()
        if backend is not None and active != backend:
            raise ConfigError(
                f"backend={backend!r} was asked but Keras is already imported with {active!r}; "
                f"set KERAS_BACKEND={backend} before importing keras (restart the kernel)"
            )
        return active
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def read_run_config(run_dir: str | os.PathLike) -> dict | None:
    """Return a run's ``config.json`` as ``{"model": ModelConfig, "train": TrainConfig, "data", "backend"}``.

    None when the run directory has no ``config.json`` (a new run).

    Raises
    ------
    CheckpointError
        When the file exists but cannot be read.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
        return {
            "model": ModelConfig.from_dict(stored["model"]),
            "train": TrainConfig.from_dict(stored["train"]),
            "data": stored.get("data"),
            "backend": stored.get("backend"),
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"run config {path} is unreadable: {error}") from None


def resolve_configs(run_dir, *, model_options: dict | None = None, train_options: dict | None = None):
    """Build the configs of a run from explicitly given options.

    Fields not given come from the run's ``config.json`` when it exists, else
    from the dataclass defaults; a given field that disagrees with the run
    (other than ``steps``) is an error.

    Parameters
    ----------
    run_dir : path-like
        The run directory, new or existing.
    model_options, train_options : dict, optional
        ``ModelConfig`` / ``TrainConfig`` fields set explicitly (e.g. on the command line).

    Returns
    -------
    tuple of (ModelConfig, TrainConfig)

    Raises
    ------
    ConfigError
        Naming every differing field, or for invalid values.
    """
    stored = read_run_config(run_dir)
    model_options, train_options = dict(model_options or {}), dict(train_options or {})
    base_model = stored["model"] if stored else ModelConfig()
    base_train = stored["train"] if stored else TrainConfig()
    model_config, train_config = base_model.replace(**model_options), base_train.replace(**train_options)
    if stored:
        check_resume(run_dir, stored, model_config, train_config)
    return model_config, train_config


def check_resume(run_dir, stored: dict, model_config: ModelConfig, train_config: TrainConfig) -> None:
    differences = [
        f"{k}: run has {old[k]!r}, given {new[k]!r}"
        for old, new in ((stored["model"].to_dict(), model_config.to_dict()),
                         (stored["train"].to_dict(), train_config.to_dict()))
        for k in old if k not in _RESUMABLE and old[k] != new[k]
    ]
    if differences:
        raise ConfigError(
            f"run directory {run_dir} was started with other options ({'; '.join(differences)}); "
            "resume with the same options (only --steps may change) or choose a new --run-dir"
        )


def load_metrics(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a run's ``metrics.jsonl`` into columns, for a loss plot.

    Parameters
    ----------
    run_dir : path-like
        The run directory.

    Returns
    -------
    dict of str to numpy.ndarray
        ``step`` (int64) and ``d_loss``, ``g_loss``, ``gp``, ``wasserstein``,
        ``steps_per_sec``, ``time`` (float64), one entry per logged step, in order.
        A damaged last line (a crash while writing) is skipped.

    Raises
    ------
    CheckpointError
        When the run has no ``metrics.jsonl``.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; has the run logged a step yet?")
    records = read_jsonl(path)
    columns = {"step": np.array([r["step"] for r in records], dtype=np.int64)}
    for name in (*METRIC_NAMES, "steps_per_sec", "time"):
        columns[name] = np.array([r.get(name, np.nan) for r in records], dtype=np.float64)
    return columns


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file that have an integer ``step``; damaged lines are skipped."""
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold an exclusive lock on ``RUN/.lock`` (released by the OS if the process dies)."""
    import fcntl

    with open(run_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CheckpointError(f"run directory {run_dir} is in use by another training process") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
