"""The training run: its directory and the driver that starts or resumes it.

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
callbacks (:mod:`beatgan.callbacks`) act in ``on_epoch_end``, when Keras' JAX
trainer has already written the step's state back into the variables. The WaveGAN's loss trackers are
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

import numpy as np

from beatgan.atomic import write_json_atomic
from beatgan import distributed
from beatgan.backend import (  # Keras imported quietly
    available_devices, check_devices, data_parallel, keras, resolve_precision, select_backend,
)
from beatgan.callbacks import (
    AudioPreviews, CheapEvaluation, CollapseWatch, MetricsLogger, PeriodicCheckpoint, StopOnRequest, StopRequest,
    SummaryWriter, format_clock, generator_step, preview_latents, read_jsonl,
)
from beatgan.checkpoint import (
    CHECKPOINTS_DIR, check_init_from, export_networks, init_from_weights, read_lineage, read_weights_config,
    restore_latest, save_checkpoint, total_steps,
)
from beatgan.config import CONFIG_FILE, UNTIL_STOPPED, ModelConfig, TrainConfig, check_positive_int
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
          eval_every: int = 500, time_limit: float | None = None, init_from=None,
          eval_ends: bool = False) -> TrainResult:
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
        A line per log, and Keras' progress bar on a terminal (not in a notebook, whose saved outputs would keep its
        backspaces and carriage returns).
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
    init_from : path-like, optional
        A weights directory (generator, its average, critic: ``beatgan export``) the new run
        starts from instead of random weights (:func:`beatgan.checkpoint.init_from_weights`);
        its model config must equal the run's (None takes it). Adam restarts and the run counts
        its own steps from 0; ``config.json`` and every exported ``weights/lineage.json`` record
        the weights, their recipe and steps. Once the run has a checkpoint, it resumes from that.
    eval_ends : bool, optional
        Also score the cheap evaluation at the first step of a new run and at the last step
        of this call (fine-tuning reports where it started and ended), when ``eval_every`` > 0.

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
    lineage = (stored or {}).get("init_from")
    if init_from is not None and lineage is None:
        weights_config = read_weights_config(init_from)
        model_config = model_config or (stored["model"] if stored else weights_config)
        check_init_from(init_from, model_config)
        lineage = {"weights": str(Path(init_from).resolve()), "model": weights_config.to_dict(),
                   "lineage": read_lineage(init_from)}
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
                "init_from": lineage,
            })
        with data_parallel(devices, batch_size=train_config.batch_size):
            return _drive(audio, run_dir, model_config, train_config, progress=progress, log_every=log_every,
                          tensorboard=tensorboard, steps_per_execution=steps_per_execution,
                          eval_every=eval_every, deadline=deadline, init_from=lineage, eval_ends=eval_ends)


def _check_time_limit(seconds) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
        raise ConfigError(f"time_limit={seconds!r} must be a positive, finite number of seconds")
    return float(seconds)


def _next_boundary(step: int, intervals, total: int) -> int:
    """First step after ``step`` where something is due: a multiple of an interval, or the end."""
    return min([total] + [(step // every + 1) * every for every in intervals])


def _interactive() -> bool:
    """True on a terminal: Keras' bar redraws its line with backspaces and carriage returns, which a
    notebook keeps in its saved outputs, so there (and in logs) the step lines are the progress."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)())


def _drive(audio, run_dir: Path, model_config: ModelConfig, train_config: TrainConfig, *, progress: bool,
           log_every: int, tensorboard: bool, steps_per_execution: int = 1, eval_every: int = 0,
           deadline: float | None = None, init_from: dict | None = None, eval_ends: bool = False) -> TrainResult:
    """Build the GAN, restore the newest checkpoint, run ``fit`` chunk by chunk, checkpoint at exit."""
    tc = train_config
    writer_process = distributed.is_writer()  # the one process that writes the run directory
    gan = WaveGAN(model_config, tc)
    gan.compile(steps_per_execution=steps_per_execution)
    restored = restore_latest(gan, run_dir / CHECKPOINTS_DIR, clean=writer_process)
    if not restored and init_from:
        init_from_weights(gan, init_from["weights"], model_config)
    start = restored["step"] if restored else 0
    if generator_step(gan) != start:
        raise CheckpointError(f"checkpoint {restored['path']} says step {start} but its generator "
                              f"optimizer counted {generator_step(gan)} steps")
    if progress:
        goal = f"training to step {tc.steps}" if tc.steps < UNTIL_STOPPED else "training until the clock stops it"
        if deadline is not None:
            goal += f", for at most {format_clock(deadline - time.monotonic())} (min:s)"
        if restored:
            print(f"resumed {run_dir} from step {start} (checkpoint {Path(restored['path']).name}); {goal}",
                  flush=True)
        else:
            print(f"new run {run_dir}: {len(audio)} examples, {goal}", flush=True)
        if not restored and init_from:
            steps = total_steps(init_from["lineage"])
            print(f"started from the weights in {init_from['weights']} ("
                  f"{'steps unknown' if steps is None else f'{steps} steps'} in their lineage); Adam restarts",
                  flush=True)

    saved = {"step": start if restored else None}
    state = {"model": model_config.to_dict(), "train": tc.to_dict()}

    def save(step: int) -> None:
        if writer_process:
            save_checkpoint(gan, run_dir / CHECKPOINTS_DIR, step=step, state=state, keep=tc.keep_checkpoints)
            export_networks(gan, model_config, run_dir / WEIGHTS_DIR, critic=True,  # the average, with EMA on
                            lineage={"run_dir": str(run_dir.resolve()), "step": step, "train": tc.to_dict(),
                                     "init_from": init_from})
        saved["step"] = step

    writer = SummaryWriter(run_dir / "tensorboard", enabled=tensorboard and writer_process)
    logger = MetricsLogger(run_dir / METRICS_FILE if writer_process else None, every=log_every, total=tc.steps,
                           writer=writer, echo=progress, resume_step=start, deadline=deadline)
    stop = StopRequest(echo=progress, deadline=deadline)
    callbacks = _callbacks(audio, run_dir, model_config, tc, save=save, stop=stop, logger=logger, writer=writer,
                           progress=progress, eval_every=eval_every, from_weights=init_from is not None)
    verbose = 1 if isinstance(callbacks[0], keras.callbacks.ProgbarLogger) else 0
    cheap = next((c for c in callbacks if isinstance(c, CheapEvaluation)), None) if eval_ends else None
    if cheap is not None and not restored:
        cheap.score(gan, start)  # where fine-tuning starts
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
            if cheap is not None and step % eval_every:
                cheap.score(gan, step)  # where this call ends
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


def _callbacks(audio, run_dir: Path, model_config: ModelConfig, tc: TrainConfig, *, save, stop, logger, writer,
               progress: bool, eval_every: int, from_weights: bool = False) -> list:
    """The callbacks of ``fit``: stop, log, previews, checkpoints, collapse watch, cheap evaluation; Keras' bar first
    on a terminal."""
    writer_process = distributed.is_writer()
    latents = preview_latents(model_config.latent_dim, count=PREVIEW_COUNT, seed=tc.seed)
    resumed = from_weights and (run_dir / METRICS_FILE).exists()  # only the diversity rule of a run from weights needs it
    best = max(((r["eval/diversity"], r["step"]) for r in (read_jsonl(run_dir / METRICS_FILE) if resumed else [])
                if np.isfinite(r.get("eval/diversity", np.nan))), default=None)  # a resumed run's best so far
    watch = CollapseWatch(tc.loss, from_weights=from_weights, best=best)
    callbacks = [
        StopOnRequest(stop),
        logger,
        AudioPreviews(run_dir / PREVIEWS_DIR if writer_process else None, latents,
                      sample_rate=model_config.sample_rate, every=tc.preview_every, writer=writer),
        PeriodicCheckpoint(save, every=tc.checkpoint_every),
        watch,
    ]
    if eval_every and len(audio) < EVAL_MIN_EXAMPLES:
        warnings.warn(f"cheap evaluation off: {len(audio)} training examples, at least {EVAL_MIN_EXAMPLES} needed "
                      "for its NDB bins", stacklevel=4)
    elif eval_every and missing("librosa"):
        warnings.warn("cheap evaluation off: it needs librosa, which is not installed (pip install 'beatgan[eval]'); "
                      "--eval-every 0 turns it off without this warning", stacklevel=4)
    elif eval_every:
        from beatgan.evaluate import reference_features  # here: the evaluation needs librosa, training does not

        sample = np.random.default_rng(tc.seed).choice(len(audio), size=min(EVAL_REFERENCE, len(audio)), replace=False)
        reference = reference_features(np.asarray(audio[np.sort(sample)], dtype=np.float32),
                                       sample_rate=model_config.sample_rate, seed=tc.seed)
        callbacks.append(CheapEvaluation(
            run_dir / METRICS_FILE if writer_process else None, preview_latents(model_config.latent_dim, count=EVAL_COUNT, seed=tc.seed + 1),
            reference, sample_rate=model_config.sample_rate, every=eval_every, writer=writer, echo=progress,
            watch=watch))
    verbose = 1 if progress and _interactive() else 0  # off a terminal the logger's lines are the progress
    if verbose:  # the bar first, so it ends its line before the logger prints
        callbacks.insert(0, keras.callbacks.ProgbarLogger())
    return callbacks


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
    """Return a run's ``config.json`` as ``{"model": ModelConfig, "train": TrainConfig, "data", "processes", "backend",
    "init_from"}`` (``init_from``: the weights a run started from, their config and lineage, or None).

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
            "init_from": stored.get("init_from"),
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
