"""The training run: its directory, the driver that starts or resumes it, and its callbacks.

A run directory ``RUN`` holds::

    config.json           model and train config, data path, backend
    checkpoints/step_000500/{variables.npz,state.json}   the newest keep_checkpoints
    weights/{config.json,generator.npz}                   float16 generator, for `beatgan generate`
    metrics.jsonl         one line per logged step (losses, steps/s, time)
    previews/step_000500/preview_00.wav                   24-bit audio of a fixed latent batch
    tensorboard/          scalars and audio, when tensorflow and tensorboard are installed

:func:`train` starts a run, or resumes it from its newest usable checkpoint
(:mod:`beatgan.checkpoint`) with nothing lost but the steps after it: the data
order and every random stream are keyed on the generator step or saved in the
checkpoint. Checkpoints are written every ``checkpoint_every`` steps and at
exit: at the end, on Ctrl-C (SIGINT) and on SIGTERM. The first signal stops
training after the current step; a second Ctrl-C interrupts at once, and a
checkpoint is still written. A run lock refuses a second process.

``fit`` drives the steps, one call per *chunk* of generator steps that ends where
something is due (a log line, a preview, a checkpoint, the end), so the
callbacks act in ``on_epoch_end``, when Keras' JAX trainer has already written
the step's state back into the variables. The WaveGAN's loss trackers are
running means that ``fit`` resets every epoch, so a chunk's epoch logs are the
mean of its steps; :class:`MetricsLogger` weights them by length to log the mean
over each ``log_every`` steps. Everything is keyed on the generator step
``g_optimizer.iterations``, the same counter the checkpoints store, so a resumed
run logs, previews and saves at the same steps as an uninterrupted one.

Importing this module imports Keras: choose the backend first
(:func:`beatgan.backend.select_backend` or ``KERAS_BACKEND``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

import wavfile24
from beatgan.atomic import atomic_write, write_json_atomic
from beatgan import distributed
from beatgan.backend import (  # Keras imported quietly
    available_devices, check_devices, data_parallel, host_array, keras, native_stderr_silenced, resolve_precision,
    select_backend,
)
from beatgan.checkpoint import CHECKPOINTS_DIR, export_networks, restore_latest, save_checkpoint
from beatgan.config import CONFIG_FILE, ModelConfig, TrainConfig, check_positive_int
from beatgan.data import load_training_audio
from beatgan.errors import CheckpointError, ConfigError, DatasetError, DistributedError
from beatgan.extras import missing
from beatgan.gan import LoopBatches, WaveGAN
from beatgan.losses import METRIC_NAMES

WEIGHTS_DIR = "weights"
METRICS_FILE = "metrics.jsonl"
PREVIEWS_DIR = "previews"
PREVIEW_COUNT = 4  # clips in each audio preview
EVAL_COUNT = 64  # fixed latents scored by the cheap metrics during training
EVAL_REFERENCE = 256  # training examples (a fixed sample) they are scored against
EVAL_MIN_EXAMPLES = 10  # fewer training examples than this: too few for NDB's bins, no cheap evaluation
# fields that may change when a run is resumed: how long it trains and its bookkeeping, not what it computes
_RESUMABLE = {"steps", "checkpoint_every", "keep_checkpoints", "preview_every"}


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    step : int
        Generator steps done, saved in the last checkpoint.
    run_dir, weights_dir : pathlib.Path
        The run directory and its exported generator (``RUN/weights``).
    metrics : dict
        The last line written to ``metrics.jsonl`` (empty when none).
    resumed_from : int or None
        Step of the checkpoint the run resumed from; None for a new run.
    stopped_by : str or None
        ``"SIGINT"`` or ``"SIGTERM"`` when a signal ended training early.
    """

    step: int
    run_dir: Path
    weights_dir: Path
    metrics: dict
    resumed_from: int | None = None
    stopped_by: str | None = None

def _load_audio(data, model_config: ModelConfig, train_config: TrainConfig, progress: bool):
    if isinstance(data, np.ndarray):
        expected = (model_config.slice_len, model_config.channels)
        if data.ndim != 3 or data.shape[1:] != expected or len(data) == 0:
            raise DatasetError(f"training audio of shape {data.shape} must be (N > 0, {expected[0]}, {expected[1]})")
        return data.astype(np.float32, copy=False), None
    path = Path(data)
    audio = load_training_audio(
        path, sample_rate=model_config.sample_rate, slice_len=model_config.slice_len,
        channels=model_config.channels, seed=train_config.seed, progress=progress,
    )
    return audio, str(path.resolve())


def train(data, run_dir, *, model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
          backend: str | None = None, progress: bool = True, log_every: int = 100,
          tensorboard: bool = True, devices: int = 1, steps_per_execution: int = 1,
          eval_every: int = 500, time_limit: float | None = None) -> TrainResult:
    """Train WaveGAN with WGAN-GP in ``run_dir``, starting or resuming the run.

    Parameters
    ----------
    data : path-like or numpy.ndarray
        A dataset ``.npz`` made by ``beatgan prepare``, a folder of loops (loaded
        and augmented with the run's seed), or float32 (N, slice_len, channels) in [-1, 1].
    run_dir : path-like
        Created when missing. When it holds a run, that run is resumed from its
        newest usable checkpoint and its configs are used.
    model_config, train_config : optional
        None takes the run's configs (or the defaults for a new run). Given ones
        must equal the run's except ``train_config.steps``, which may grow.
    backend : {"tensorflow", "jax"}, optional
        Keras backend, checked against the one Keras was imported with (choose it with
        :func:`beatgan.backend.select_backend` before importing this module).
    progress : bool, optional
        Keras' progress bar (on a terminal or in a notebook) and a line per log.
    log_every : int, optional
        Generator steps between lines of ``metrics.jsonl``.
    eval_every : int, optional
        Generator steps between cheap evaluations (diversity, NDB/K, noise floor; see
        :class:`CheapEvaluation`) of a fixed latent batch; 0 turns them off. Not saved with the run.
    tensorboard : bool, optional
        Also write TensorBoard summaries to ``RUN/tensorboard`` (needs the tensorflow
        and tensorboard packages; without them only ``metrics.jsonl`` and the WAVs).
    devices : int, optional
        Data-parallel devices (see :func:`beatgan.backend.data_parallel`); ``train_config.batch_size``
        is the global batch and must be a multiple. Not saved with the run: a run
        may be resumed on another number of devices.
    steps_per_execution : int, optional
        Generator steps per call of Keras' train function (``compile(steps_per_execution=)``):
        on TensorFlow they run in one graph call, on JAX as back-to-back dispatches of
        the one compiled step; callbacks see one batch per call. Not saved with the run.
    time_limit : float, optional
        Seconds of wall time, counted from this call (data loading and compiling
        included), after which training stops at the end of the current step (a
        call trains at least one step),
        checkpoints and exports as at the end; ``stopped_by`` is then ``"time_limit"``
        and the same call resumes. None trains to ``train_config.steps``.

    Returns
    -------
    TrainResult
        Final step, directories, last metrics; ``stopped_by`` names a signal that ended it early.

    Raises
    ------
    ConfigError
        Options that disagree with the run's ``config.json`` (naming the fields) or are invalid.
    CheckpointError
        The run directory is in use, or no checkpoint of it can be restored.
    DatasetError
        Unusable training data.
    KeyboardInterrupt
        After a second Ctrl-C, once the checkpoint is written.
    """
    deadline = None if time_limit is None else time.monotonic() + _check_time_limit(time_limit)
    active_backend = select_backend(backend)
    for name, value in (("log_every", log_every), ("steps_per_execution", steps_per_execution)):
        check_positive_int(name, value)
    if eval_every != 0:
        check_positive_int("eval_every", eval_every)
    run_dir = Path(run_dir)
    stored = read_run_config(run_dir)
    model_config = model_config or (stored["model"] if stored else ModelConfig())
    train_config = train_config or (stored["train"] if stored else TrainConfig())
    precision, precision_line = resolve_precision(train_config.precision)
    train_config = train_config.replace(precision=precision)  # the run's config.json records what was chosen
    if progress:
        print(precision_line, flush=True)
    processes, writer = distributed.process_count(), distributed.is_writer()
    if stored:
        check_resume(run_dir, stored, model_config, train_config)
        if stored["processes"] != processes:
            raise ConfigError(f"run directory {run_dir} was started with {stored['processes']} process(es), this run "
                              f"has {processes}: resume with --num-processes {stored['processes']} or choose a new "
                              "--run-dir")
    if processes > 1:  # the devices of every process; --devices may only say so
        every = len(available_devices())
        if devices not in (1, every):
            raise ConfigError(f"devices={devices}: a run over {processes} processes uses all {every} global devices")
        devices = every
    check_devices(devices, batch_size=train_config.batch_size)  # before loading any data
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir) if writer else contextlib.nullcontext():
        audio, data_path = _load_audio(data, model_config, train_config, progress)
        distributed.check_same({**{f"model.{k}": v for k, v in model_config.to_dict().items()},
                                **{f"train.{k}": v for k, v in train_config.to_dict().items()},
                                "training data": audio, "devices": devices})
        if stored and stored["data"] and data_path and stored["data"] != data_path:
            warnings.warn(f"run {run_dir} was trained on {stored['data']}; continuing on {data_path}", stacklevel=2)
        if writer:
            write_json_atomic(run_dir / CONFIG_FILE, {
                "model": model_config.to_dict(), "train": train_config.to_dict(),
                "data": data_path or (stored or {}).get("data"), "processes": processes, "backend": active_backend,
            })
        with data_parallel(devices, batch_size=train_config.batch_size):
            return _drive(audio, run_dir, model_config, train_config, progress=progress, log_every=log_every,
                          tensorboard=tensorboard, steps_per_execution=steps_per_execution,
                          eval_every=eval_every, deadline=deadline)


def _check_time_limit(seconds) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
        raise ConfigError(f"time_limit={seconds!r} must be a positive, finite number of seconds")
    return float(seconds)


def _next_boundary(step: int, intervals, total: int) -> int:
    """First step after ``step`` where something is due: a multiple of an interval, or the end."""
    return min([total] + [(step // every + 1) * every for every in intervals])


def _interactive() -> bool:
    return bool(getattr(sys.stdout, "isatty", lambda: False)()) or "ipykernel" in sys.modules


def _drive(audio, run_dir: Path, model_config: ModelConfig, train_config: TrainConfig, *, progress: bool,
           log_every: int, tensorboard: bool, steps_per_execution: int = 1, eval_every: int = 0,
           deadline: float | None = None) -> TrainResult:
    """Build the GAN, restore the newest checkpoint, run ``fit`` chunk by chunk, checkpoint at exit."""
    tc = train_config
    writer_process = distributed.is_writer()  # the one process that writes the run directory
    gan = WaveGAN(model_config, tc)
    gan.compile(steps_per_execution=steps_per_execution)
    restored = restore_latest(gan, run_dir / CHECKPOINTS_DIR, clean=writer_process)
    start = restored["step"] if restored else 0
    if generator_step(gan) != start:
        raise CheckpointError(f"checkpoint {restored['path']} says step {start} but its generator "
                              f"optimizer counted {generator_step(gan)} steps")
    if progress:
        if restored:
            print(f"resumed {run_dir} from step {start} (checkpoint {Path(restored['path']).name}); "
                  f"training to step {tc.steps}", flush=True)
        else:
            print(f"new run {run_dir}: {len(audio)} examples, training to step {tc.steps}", flush=True)

    saved = {"step": start if restored else None}
    state = {"model": model_config.to_dict(), "train": tc.to_dict()}

    def save(step: int) -> None:
        if writer_process:
            save_checkpoint(gan, run_dir / CHECKPOINTS_DIR, step=step, state=state, keep=tc.keep_checkpoints)
            export_networks(gan, model_config, run_dir / WEIGHTS_DIR)  # the average, with EMA on
        saved["step"] = step

    writer = SummaryWriter(run_dir / "tensorboard", enabled=tensorboard and writer_process)
    logger = MetricsLogger(run_dir / METRICS_FILE if writer_process else None, every=log_every, total=tc.steps,
                           writer=writer, echo=progress, resume_step=start)
    latents = preview_latents(model_config.latent_dim, count=PREVIEW_COUNT, seed=tc.seed)
    stop = StopRequest(echo=progress, deadline=deadline)
    callbacks = [
        StopOnRequest(stop),
        logger,
        AudioPreviews(run_dir / PREVIEWS_DIR if writer_process else None, latents,
                      sample_rate=model_config.sample_rate, every=tc.preview_every, writer=writer),
        PeriodicCheckpoint(save, every=tc.checkpoint_every),
    ]
    if eval_every and len(audio) < EVAL_MIN_EXAMPLES:
        warnings.warn(f"cheap evaluation off: {len(audio)} training examples, at least {EVAL_MIN_EXAMPLES} needed "
                      "for its NDB bins", stacklevel=3)
    elif eval_every and missing("librosa"):
        warnings.warn("cheap evaluation off: it needs librosa, which is not installed (pip install 'beatgan[eval]'); "
                      "--eval-every 0 turns it off without this warning", stacklevel=3)
    elif eval_every:
        from beatgan.evaluate import reference_features  # here: the evaluation needs librosa, training does not

        sample = np.random.default_rng(tc.seed).choice(len(audio), size=min(EVAL_REFERENCE, len(audio)), replace=False)
        reference = reference_features(np.asarray(audio[np.sort(sample)], dtype=np.float32),
                                       sample_rate=model_config.sample_rate, seed=tc.seed)
        callbacks.append(CheapEvaluation(
            run_dir / METRICS_FILE if writer_process else None, preview_latents(model_config.latent_dim, count=EVAL_COUNT, seed=tc.seed + 1),
            reference, sample_rate=model_config.sample_rate, every=eval_every, writer=writer, echo=progress))
    verbose = 1 if progress and _interactive() else 0  # off a terminal the logger's lines are the progress
    if verbose:  # the bar first, so it ends its line before the logger prints
        callbacks.insert(0, keras.callbacks.ProgbarLogger())
    intervals = (log_every, tc.checkpoint_every, tc.preview_every) + ((eval_every,) if eval_every else ())
    step = start
    share = distributed.local_rows(tc.batch_size * tc.d_steps)  # this process's rows of every batch (all: one)
    try:
        with stop:
            while step < tc.steps and not stop.agreed():
                # one fit per chunk: Keras resets the loss means each epoch, and callbacks fire at its end
                end = _next_boundary(step, intervals, tc.steps)
                batches = LoopBatches(audio, batch_size=tc.batch_size, d_steps=tc.d_steps, seed=tc.seed,
                                      steps=end, start_step=step, share=share)
                # shuffle=False: fit would otherwise reorder the batches, and with them the data order
                gan.fit(batches, epochs=1, shuffle=False, verbose=verbose, callbacks=callbacks)
                step = generator_step(gan)
            if saved["step"] != step:  # still under the handlers: a signal now cannot cut the write short
                save(step)
    except KeyboardInterrupt:
        _save_at_exit(save, gan, saved, progress)
        raise
    except Exception as error:
        if distributed.process_count() > 1 and type(error).__name__ in ("JaxRuntimeError", "XlaRuntimeError"):
            raise DistributedError(f"process {distributed.process_index()} lost the run's other processes at step "
                                   f"{step} ({str(error).splitlines()[0][:200]}); rerun every process with the "
                                   f"same command to resume from step {saved['step']}") from None
        raise
    finally:
        writer.close()
    if stop() == "time_limit" and progress:
        print(f"time limit reached at step {step}; checkpoint written, run the same command to train on",
              flush=True)
    elif stop() and progress:
        print(f"stopped by {stop()} at step {step}; checkpoint written, run the same command to resume",
              flush=True)
    return TrainResult(step=step, run_dir=run_dir, weights_dir=run_dir / WEIGHTS_DIR, metrics=logger.last,
                       resumed_from=start if restored else None, stopped_by=stop())


def _save_at_exit(save, gan, saved: dict, progress: bool) -> None:
    """Checkpoint after a hard Ctrl-C, ignoring further Ctrl-C while writing."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        step = generator_step(gan)
        if saved["step"] != step:
            save(step)
        if progress:
            print(f"\ninterrupted at step {step}; checkpoint written, run the same command to resume", flush=True)
    except Exception as error:  # the model may be mid-update; the last periodic checkpoint still stands
        warnings.warn(f"could not write a checkpoint at exit ({error}); resuming uses step {saved['step']}",
                      stacklevel=2)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def read_run_config(run_dir: str | os.PathLike) -> dict | None:
    """Return a run's ``config.json`` as ``{"model": ModelConfig, "train": TrainConfig, "data", "processes", "backend"}``.

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
            "processes": int(stored.get("processes", 1)),
            "backend": stored.get("backend"),
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"run config {path} is unreadable: {error}") from None


def resolve_configs(run_dir, *, model_options: dict | None = None, train_options: dict | None = None):
    """Build the configs of a run from explicitly given options.

    Fields not given come from the run's ``config.json`` when it exists, else
    from the dataclass defaults; a given field that disagrees with the run
    (other than ``steps`` and the checkpoint and preview bookkeeping) is an error.

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
    """Refuse options that differ from the run's (``_RESUMABLE`` aside); ``precision="auto"`` is compared as resolved."""
    if train_config.precision == "auto":
        train_config = train_config.replace(precision=resolve_precision("auto")[0])
    differences = [
        f"{k}: run has {old[k]!r}, given {new[k]!r}"
        for old, new in ((stored["model"].to_dict(), model_config.to_dict()),
                         (stored["train"].to_dict(), train_config.to_dict()))
        for k in old if k not in _RESUMABLE and old[k] != new[k]
    ]
    if differences:
        raise ConfigError(
            f"run directory {run_dir} was started with other options ({'; '.join(differences)}); "
            "resume with the same options (only --steps, --checkpoint-every, --keep-checkpoints and "
            "--preview-every may change) or choose a new --run-dir"
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
        ``steps_per_sec``, ``time`` (float64), one entry per logged step, in order; and, when
        the run logged cheap evaluations, ``eval/step`` and ``eval/diversity``, ``eval/ndb_k``, ...
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
    losses = [r for r in records if "d_loss" in r]
    columns = {"step": np.array([r["step"] for r in losses], dtype=np.int64)}
    for name in (*METRIC_NAMES, "steps_per_sec", "time"):
        columns[name] = np.array([r.get(name, np.nan) for r in losses], dtype=np.float64)
    evaluations = [r for r in records if "d_loss" not in r and any(k.startswith("eval/") for k in r)]
    if evaluations:
        columns["eval/step"] = np.array([r["step"] for r in evaluations], dtype=np.int64)
        for name in sorted({k for r in evaluations for k in r if k.startswith("eval/")}):
            columns[name] = np.array([r.get(name, np.nan) for r in evaluations], dtype=np.float64)
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
    with open(run_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CheckpointError(f"run directory {run_dir} is in use by another training process") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def generator_step(gan) -> int:
    """Return the generator updates done so far: ``int(gan.g_optimizer.iterations)``."""
    return int(host_array(gan.g_optimizer.iterations))


def preview_latents(latent_dim: int, *, count: int, seed: int) -> np.ndarray:
    """The fixed latent batch of a run's audio previews.

    Parameters
    ----------
    latent_dim : int
        Size of z.
    count : int
        Number of previews.
    seed : int
        The run's seed; the batch depends on nothing else, so it is the same after a resume.

    Returns
    -------
    numpy.ndarray
        float32 (count, latent_dim) in [-1, 1), like the training latents.
    """
    rng = np.random.default_rng([seed, 0x5EED])  # its own stream: drawing it never moves the training RNG
    return rng.uniform(-1.0, 1.0, size=(count, latent_dim)).astype(np.float32)


class SummaryWriter:
    """TensorBoard scalars and audio through ``tf.summary``; nothing without TensorFlow and TensorBoard.

    Parameters
    ----------
    directory : path-like
        Event files go here (``RUN/tensorboard``).
    enabled : bool, optional
        False writes nothing.

    Attributes
    ----------
    active : bool
        Whether summaries are written (TensorFlow importable and ``enabled``).
    """

    def __init__(self, directory, *, enabled: bool = True):
        self._tf = None
        self._writer = None
        if not enabled:
            return
        try:
            import tensorboard  # noqa: F401  (tf.summary's ops live in the tensorboard package)
            import tensorflow as tf  # here: summaries are optional and need TensorFlow
        except ImportError:
            return  # JAX-only install, or no tensorboard: metrics.jsonl and the WAVs hold everything
        if keras.backend.backend() != "tensorflow":
            try:  # keep TensorFlow off the GPU that JAX trains on
                tf.config.set_visible_devices([], "GPU")
            except (RuntimeError, ValueError):
                pass  # devices already initialised; summaries are tiny either way
        self._tf = tf
        with native_stderr_silenced():  # TF's summary kernels log spurious C++ lines (see scalars)
            self._writer = tf.summary.create_file_writer(str(directory))

    @property
    def active(self) -> bool:
        return self._writer is not None

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Write one scalar per entry at generator step ``step``."""
        if not self.active:
            return
        # TensorFlow's string kernels behind summaries print C++ log lines such as "oneDNN supports
        # DT_STRING only on platforms with AVX-512" (on an AVX-512 CPU too) straight to file
        # descriptor 2; Python errors still raise.
        with native_stderr_silenced(), self._writer.as_default(step=step):
            for name, value in values.items():
                self._tf.summary.scalar(name, value)
            self._writer.flush()

    def audio(self, step: int, name: str, clips: np.ndarray, sample_rate: int) -> None:
        """Write float32 clips (k, frames, channels) in [-1, 1] as one audio summary."""
        if not self.active:
            return
        with native_stderr_silenced(), self._writer.as_default(step=step):  # as in scalars
            self._tf.summary.audio(name, np.clip(clips, -1.0, 1.0), sample_rate, max_outputs=len(clips))
            self._writer.flush()

    def close(self) -> None:
        if self.active:
            self._writer.close()
            self._writer = None


_STOP_REASONS = (None, "time_limit", "SIGTERM", "SIGINT")  # a stronger reason wins when processes agree


class StopRequest:
    """While entered, SIGINT and SIGTERM ask training to stop after the current step.

    Calling the object returns the signal's name (``"SIGINT"``) once one arrived,
    ``"time_limit"`` once ``deadline`` (a :func:`time.monotonic` time) has passed
    and at least one step has ended (:meth:`step_done`), else None. A second SIGINT raises KeyboardInterrupt at once. Handlers are
    installed only in the main thread (Python allows no other) and restored on exit.
    """

    def __init__(self, *, echo: bool = True, deadline: float | None = None):
        self.reason: str | None = None
        self.echo = echo
        self.deadline = deadline
        self._stepped = False
        self._previous: dict = {}

    def __call__(self) -> str | None:
        if self.reason is None and self._stepped and self.deadline is not None and time.monotonic() >= self.deadline:
            self.reason = "time_limit"
        return self.reason

    def agreed(self) -> str | None:
        """As calling the object, agreed by every process of the run (a collective there: all must call it).

        The process that saw nothing takes the reason another saw, so all stop after the same step.
        """
        reason = self()
        if distributed.process_count() > 1:
            reason = _STOP_REASONS[distributed.agree(_STOP_REASONS.index(reason))]
            self.reason = self.reason or reason
        return reason

    def step_done(self) -> None:
        """Say a training step ended: a time limit stops training only after one (the first compiles)."""
        self._stepped = True

    def _handle(self, signum, frame):
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name
        if self.echo:
            print(f"\n{self.reason}: stopping after this step and writing a checkpoint "
                  "(Ctrl-C again to stop at once)", flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        return False


class StopOnRequest(keras.callbacks.Callback):
    """End ``fit`` after the current step once ``request()`` returns a reason (a signal name)."""

    def __init__(self, request: Callable[[], str | None]):
        super().__init__()
        self.request = request

    def on_train_batch_end(self, batch, logs=None):
        getattr(self.request, "step_done", lambda: None)()
        if getattr(self.request, "agreed", self.request)():
            # self._model, not self.model: the property forces a JAX state sync on every step
            self._model.stop_training = True


class MetricsLogger(keras.callbacks.Callback):
    """Append the mean losses over every ``every`` steps to ``metrics.jsonl``, TensorBoard and stdout.

    One JSON line per logged step: ``step``, ``d_loss``, ``g_loss``, ``gp``,
    ``wasserstein`` (means over the steps since the previous line),
    ``steps_per_sec`` (training steps over fit's wall time for them) and
    ``time`` (Unix seconds). A partial interval is logged when ``fit`` stops
    early or at the last step.

    Parameters
    ----------
    path : path-like or None
        The ``metrics.jsonl`` file, appended to; None writes no file (a process other than
        the writer of a run over several processes).
    every : int
        Generator steps between lines.
    total : int
        Last step of the run (for the printed ``step 500/40000``).
    writer : SummaryWriter, optional
        Also writes the scalars to TensorBoard.
    echo : bool, optional
        Print a line per log to stdout.
    resume_step : int, optional
        The step a resumed run starts from: lines logged after it (before a crash)
        are dropped, since the run logs those steps again.
    """

    def __init__(self, path, *, every: int, total: int, writer: SummaryWriter | None = None, echo: bool = True,
                 resume_step: int = 0):
        super().__init__()
        self.path = None if path is None else Path(path)
        self.every, self.total, self.writer, self.echo = every, total, writer, echo
        self.last = self._truncate(resume_step)
        self._reset()

    def _truncate(self, step: int) -> dict:
        """Keep the lines up to ``step`` (and drop a line cut short); return the last one kept."""
        if self.path is None or not self.path.is_file():
            return {}
        kept = [r for r in read_jsonl(self.path) if r["step"] <= step]
        text = "".join(json.dumps(r) + "\n" for r in kept)
        if text != self.path.read_text():
            with atomic_write(self.path, "w") as f:
                f.write(text)
        return kept[-1] if kept else {}

    def _reset(self):
        self._sums = dict.fromkeys(METRIC_NAMES, 0.0)
        self._steps = 0
        self._seconds = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._begin_step = generator_step(self.model)
        self._begin_time = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        step = generator_step(self.model)
        done = step - self._begin_step
        if done <= 0:
            return
        self._seconds += time.perf_counter() - self._begin_time
        for name in METRIC_NAMES:
            self._sums[name] += float((logs or {}).get(name, np.nan)) * done
        self._steps += done
        if step % self.every == 0 or step >= self.total or self.model.stop_training:
            self.flush(step)

    def flush(self, step: int) -> None:
        """Write the line for ``step`` from the steps accumulated since the last line."""
        if self._steps == 0:
            return
        record = {"step": step, **{n: self._sums[n] / self._steps for n in METRIC_NAMES}}
        record["steps_per_sec"] = self._steps / max(self._seconds, 1e-9)
        record["time"] = time.time()
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            self.writer.scalars(step, {n: record[n] for n in (*METRIC_NAMES, "steps_per_sec")})
        if self.echo:
            losses = "  ".join(f"{n} {record[n]:+.4f}" for n in METRIC_NAMES)
            print(f"step {step}/{self.total}  {losses}  {record['steps_per_sec']:.2f} steps/s", flush=True)
        self.last = record
        self._reset()


class AudioPreviews(keras.callbacks.Callback):
    """Every ``every`` steps, render a fixed latent batch to ``previews/step_000500/preview_00.wav``.

    Files are 24-bit PCM WAV at the model's sample rate (clipped and rounded by
    :func:`wavfile24.write`); the same clips go to TensorBoard when available.

    Parameters
    ----------
    directory : path-like or None
        The run's ``previews`` folder; None renders but writes nothing (a process other
        than the writer of a run over several processes).
    latents : numpy.ndarray
        float32 (k, latent_dim), see :func:`preview_latents`.
    sample_rate : int
        Hz of the generated audio.
    every : int
        Generator steps between previews.
    writer : SummaryWriter, optional
        Also writes the clips as a TensorBoard audio summary.
    """

    def __init__(self, directory, latents: np.ndarray, *, sample_rate: int, every: int,
                 writer: SummaryWriter | None = None):
        super().__init__()
        self.directory = None if directory is None else Path(directory)
        self.latents, self.sample_rate, self.every, self.writer = latents, sample_rate, every, writer

    def on_epoch_end(self, epoch, logs=None):
        step = generator_step(self.model)
        if step > 0 and step % self.every == 0:
            self.render(step)

    def render(self, step: int) -> Path | None:
        """Write the previews of generator step ``step``; return their folder (None when not writing)."""
        # every process runs the generator (its weights span all of them); only the writer writes
        clips = host_array(self.model.generator(self.latents, training=False))  # (k, T, C)
        clips = np.asarray(clips, dtype=np.float32)
        if self.directory is None:
            return None
        folder = self.directory / f"step_{step:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, clip in enumerate(clips):
            wavfile24.write(folder / f"preview_{i:02d}.wav", self.sample_rate, clip, bits=24)
        if self.writer is not None:
            self.writer.audio(step, "previews", clips, self.sample_rate)
        return folder


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Call ``save(step)`` every ``every`` generator steps (the driver writes checkpoint and weights)."""

    def __init__(self, save: Callable[[int], object], *, every: int):
        super().__init__()
        self.save, self.every = save, every

    def on_epoch_end(self, epoch, logs=None):
        step = generator_step(self.model)
        if step > 0 and step % self.every == 0:
            self.save(step)


class CheapEvaluation(keras.callbacks.Callback):
    """Every ``every`` steps, score a fixed latent batch with the cheap metrics of :mod:`beatgan.evaluate`.

    Diversity ratio, close pairs, NDB/K, JSD and the noise floor (no embedding) of the
    generator's output for ``latents`` against a fixed sample of the training examples,
    appended to ``metrics.jsonl`` as ``{"step": s, "eval/diversity": ...}`` lines and to
    TensorBoard next to the losses, so a user sees mode collapse or a noise floor while
    the run trains.

    Parameters
    ----------
    path : path-like or None
        The run's ``metrics.jsonl``; None writes nothing (see :class:`MetricsLogger`).
    latents : numpy.ndarray
        float32 (N, latent_dim), N >= 2: the fixed batch.
    reference : beatgan.evaluate.ReferenceFeatures
        Features of the training sample, computed once.
    sample_rate : int
        Hz of the generated audio.
    every : int
        Generator steps between evaluations.
    writer : SummaryWriter, optional
        Also writes the scalars to TensorBoard.
    echo : bool, optional
        Print a line per evaluation.
    """

    def __init__(self, path, latents: np.ndarray, reference, *, sample_rate: int, every: int,
                 writer: SummaryWriter | None = None, echo: bool = True):
        super().__init__()
        self.path, self.latents, self.reference = Path(path), latents, reference
        self.sample_rate, self.every, self.writer, self.echo = sample_rate, every, writer, echo

    def on_epoch_end(self, epoch, logs=None):
        step = generator_step(self.model)
        if step == 0 or step % self.every:
            return
        from beatgan.evaluate import cheap_metrics  # here: the evaluation needs librosa, training does not

        audio = np.asarray(host_array(self.model.generator(self.latents, training=False)),
                           dtype=np.float32)
        values = {f"eval/{k}": float(v) for k, v in
                  cheap_metrics(audio, self.reference, sample_rate=self.sample_rate).items()}
        if self.path is not None:  # every process scores (the generator spans them all); the writer writes
            with open(self.path, "a") as f:
                f.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            self.writer.scalars(step, values)
        if self.echo:
            print(f"step {step}  " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()), flush=True)
