"""Training runs: a run directory, starting or resuming, and the training driver.

A run directory ``RUN`` holds::

    config.json           model and train config, data path, backend
    checkpoints/step_000500/{variables.npz,state.json}   the newest keep_checkpoints
    weights/{config.json,generator.npz}                   float16 generator, for `beatgan generate`
    metrics.jsonl         one line per logged step (losses, steps/s, time)
    previews/step_000500/preview_00.wav                   24-bit audio of a fixed latent batch
    tensorboard/          scalars and audio, when tensorflow and tensorboard are installed

:func:`train` starts a run, or resumes it from its newest usable checkpoint
with nothing lost but the steps after it: the data order and every random
stream are keyed on the generator step or saved in the checkpoint. Checkpoints
are written every ``checkpoint_every`` steps and at exit: at the end, on
Ctrl-C (SIGINT) and on SIGTERM. The first signal stops training after the
current step; a second Ctrl-C interrupts at once, and a checkpoint is still
written. ``fit`` drives the steps, with Keras' progress bar and callbacks.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import warnings
from pathlib import Path

import numpy as np

from beatgan.atomic import write_json_atomic
from beatgan.config import ModelConfig, TrainConfig
from beatgan.errors import CheckpointError, ConfigError, DatasetError
from beatgan.rundir import (  # noqa: F401  (re-exported: the run's public names)
    BACKENDS, CONFIG_FILE, METRIC_NAMES, METRICS_FILE, PREVIEW_COUNT, PREVIEWS_DIR, WEIGHTS_DIR,
    check_resume, load_metrics, read_jsonl, read_run_config, resolve_configs, run_lock, select_backend,
)


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
    from beatgan.data import load_training_audio

    path = Path(data)
    audio = load_training_audio(
        path, sample_rate=model_config.sample_rate, slice_len=model_config.slice_len,
        channels=model_config.channels, seed=train_config.seed, progress=progress,
    )
    return audio, str(path.resolve())


def train(data, run_dir, *, model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
          backend: str | None = None, progress: bool = True, log_every: int = 100,
          tensorboard: bool = True, devices: int = 1, steps_per_execution: int = 1) -> TrainResult:
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
        Keras backend; must be chosen before Keras is imported (see :func:`select_backend`).
    progress : bool, optional
        Keras' progress bar (on a terminal or in a notebook) and a line per log.
    log_every : int, optional
        Generator steps between lines of ``metrics.jsonl``.
    tensorboard : bool, optional
        Also write TensorBoard summaries to ``RUN/tensorboard`` (needs the tensorflow
        and tensorboard packages; without them only ``metrics.jsonl`` and the WAVs).
    devices : int, optional
        Data-parallel devices (see :mod:`beatgan.distribute`); ``train_config.batch_size``
        is the global batch and must be a multiple. Not saved with the run: a run
        may be resumed on another number of devices.
    steps_per_execution : int, optional
        Generator steps per call of Keras' train function (``compile(steps_per_execution=)``):
        on TensorFlow they run in one graph call, on JAX as back-to-back dispatches of
        the one compiled step; callbacks see one batch per call. Not saved with the run.

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
    active_backend = select_backend(backend)
    for name, value in (("log_every", log_every), ("steps_per_execution", steps_per_execution)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name}={value!r} must be a positive integer")
    run_dir = Path(run_dir)
    stored = read_run_config(run_dir)
    model_config = model_config or (stored["model"] if stored else ModelConfig())
    train_config = train_config or (stored["train"] if stored else TrainConfig())
    if stored:
        check_resume(run_dir, stored, model_config, train_config)
    from beatgan.distribute import check_devices

    check_devices(devices, batch_size=train_config.batch_size)  # before loading any data
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        audio, data_path = _load_audio(data, model_config, train_config, progress)
        if stored and stored["data"] and data_path and stored["data"] != data_path:
            warnings.warn(f"run {run_dir} was trained on {stored['data']}; continuing on {data_path}", stacklevel=2)
        write_json_atomic(run_dir / CONFIG_FILE, {
            "model": model_config.to_dict(), "train": train_config.to_dict(),
            "data": data_path or (stored or {}).get("data"), "backend": active_backend,
        })
        from beatgan.distribute import data_parallel

        with data_parallel(devices, batch_size=train_config.batch_size):
            return _drive(audio, run_dir, model_config, train_config, progress=progress, log_every=log_every,
                          tensorboard=tensorboard, steps_per_execution=steps_per_execution)


def _next_boundary(step: int, intervals, total: int) -> int:
    """First step after ``step`` where something is due: a multiple of an interval, or the end."""
    return min([total] + [(step // every + 1) * every for every in intervals])


def _interactive() -> bool:
    return bool(getattr(sys.stdout, "isatty", lambda: False)()) or "ipykernel" in sys.modules


def _drive(audio, run_dir: Path, model_config: ModelConfig, train_config: TrainConfig, *, progress: bool,
           log_every: int, tensorboard: bool, steps_per_execution: int = 1) -> TrainResult:
    """Build the GAN, restore the newest checkpoint, run ``fit`` chunk by chunk, checkpoint at exit."""
    from beatgan import callbacks as cb
    from beatgan.checkpoint import CHECKPOINTS_DIR, restore_latest, save_checkpoint
    from beatgan.train import LoopBatches, WaveGAN
    from beatgan.weights import export_generator

    tc = train_config
    gan = WaveGAN(model_config, tc)
    gan.compile(steps_per_execution=steps_per_execution)
    restored = restore_latest(gan, run_dir / CHECKPOINTS_DIR)
    start = restored["step"] if restored else 0
    if cb.generator_step(gan) != start:
        raise CheckpointError(f"checkpoint {restored['path']} says step {start} but its generator "
                              f"optimizer counted {cb.generator_step(gan)} steps")
    if progress:
        if restored:
            print(f"resumed {run_dir} from step {start} (checkpoint {Path(restored['path']).name}); "
                  f"training to step {tc.steps}", flush=True)
        else:
            print(f"new run {run_dir}: {len(audio)} examples, training to step {tc.steps}", flush=True)

    saved = {"step": start if restored else None}
    state = {"model": model_config.to_dict(), "train": tc.to_dict()}

    def save(step: int) -> None:
        save_checkpoint(gan, run_dir / CHECKPOINTS_DIR, step=step, state=state, keep=tc.keep_checkpoints)
        export_generator(gan.generator, model_config, run_dir / WEIGHTS_DIR)
        saved["step"] = step

    writer = cb.SummaryWriter(run_dir / "tensorboard", enabled=tensorboard)
    logger = cb.MetricsLogger(run_dir / METRICS_FILE, every=log_every, total=tc.steps, writer=writer,
                              echo=progress, resume_step=start)
    latents = cb.preview_latents(model_config.latent_dim, count=PREVIEW_COUNT, seed=tc.seed)
    stop = cb.StopRequest(echo=progress)
    callbacks = [
        cb.StopOnRequest(stop),
        logger,
        cb.AudioPreviews(run_dir / PREVIEWS_DIR, latents, sample_rate=model_config.sample_rate,
                         every=tc.preview_every, writer=writer),
        cb.PeriodicCheckpoint(save, every=tc.checkpoint_every),
    ]
    verbose = 1 if progress and _interactive() else 0  # off a terminal the logger's lines are the progress
    if verbose:  # the bar first, so it ends its line before the logger prints
        import keras

        callbacks.insert(0, keras.callbacks.ProgbarLogger())
    intervals = (log_every, tc.checkpoint_every, tc.preview_every)
    step = start
    try:
        with stop:
            while step < tc.steps and not stop():
                # one fit per chunk: Keras resets the loss means each epoch, and callbacks fire at its end
                end = _next_boundary(step, intervals, tc.steps)
                batches = LoopBatches(audio, batch_size=tc.batch_size, d_steps=tc.d_steps, seed=tc.seed,
                                      steps=end, start_step=step)
                # shuffle=False: fit would otherwise reorder the batches, and with them the data order
                gan.fit(batches, epochs=1, shuffle=False, verbose=verbose, callbacks=callbacks)
                step = cb.generator_step(gan)
            if saved["step"] != step:  # still under the handlers: a signal now cannot cut the write short
                save(step)
    except KeyboardInterrupt:
        _save_at_exit(save, gan, saved, progress)
        raise
    finally:
        writer.close()
    if stop() and progress:
        print(f"stopped by {stop()} at step {step}; checkpoint written, run the same command to resume",
              flush=True)
    return TrainResult(step=step, run_dir=run_dir, weights_dir=run_dir / WEIGHTS_DIR, metrics=logger.last,
                       resumed_from=start if restored else None, stopped_by=stop())


def _save_at_exit(save, gan, saved: dict, progress: bool) -> None:
    """Checkpoint after a hard Ctrl-C, ignoring further Ctrl-C while writing."""
    from beatgan.callbacks import generator_step

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

