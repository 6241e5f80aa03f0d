"""Keras callbacks of a training run: logging, previews, checkpoints, stopping.

The driver (:mod:`beatgan.run`) calls ``fit`` once per *chunk* of generator
steps that ends where something is due (a log line, a preview, a checkpoint,
the end), so these callbacks act in ``on_epoch_end``, when Keras' JAX trainer
has already written the step's state back into the variables. The WaveGAN's
loss trackers are running means that ``fit`` resets every epoch, so a chunk's
epoch logs are the mean of its steps; :class:`MetricsLogger` weights them by
length to log the mean over each ``log_every`` steps.

Everything is keyed on the generator step ``g_optimizer.iterations``, the same
counter the checkpoints store, so a resumed run logs, previews and saves at
the same steps as an uninterrupted one.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from beatgan.atomic import atomic_write
from beatgan.rundir import METRIC_NAMES, read_jsonl


def generator_step(gan) -> int:
    """Return the generator updates done so far: ``int(gan.g_optimizer.iterations)``."""
    return int(keras.ops.convert_to_numpy(gan.g_optimizer.iterations))


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
            import tensorflow as tf
        except ImportError:
            return  # JAX-only install, or no tensorboard: metrics.jsonl and the WAVs hold everything
        if keras.backend.backend() != "tensorflow":
            try:  # keep TensorFlow off the GPU that JAX trains on
                tf.config.set_visible_devices([], "GPU")
            except (RuntimeError, ValueError):
                pass  # devices already initialised; summaries are tiny either way
        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(directory))

    @property
    def active(self) -> bool:
        return self._writer is not None

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Write one scalar per entry at generator step ``step``."""
        if not self.active:
            return
        with self._writer.as_default(step=step):
            for name, value in values.items():
                self._tf.summary.scalar(name, value)
        self._writer.flush()

    def audio(self, step: int, name: str, clips: np.ndarray, sample_rate: int) -> None:
        """Write float32 clips (k, frames, channels) in [-1, 1] as one audio summary."""
        if not self.active:
            return
        with self._writer.as_default(step=step):
            self._tf.summary.audio(name, np.clip(clips, -1.0, 1.0), sample_rate, max_outputs=len(clips))
        self._writer.flush()

    def close(self) -> None:
        if self.active:
            self._writer.close()
            self._writer = None


class StopRequest:
    """While entered, SIGINT and SIGTERM ask training to stop after the current step.

    Calling the object returns the signal's name (``"SIGINT"``) once one arrived,
    else None. A second SIGINT raises KeyboardInterrupt at once. Handlers are
    installed only in the main thread (Python allows no other) and restored on exit.
    """

    def __init__(self, *, echo: bool = True):
        self.reason: str | None = None
        self.echo = echo
        self._previous: dict = {}

    def __call__(self) -> str | None:
        return self.reason

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
        if self.request():
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
    path : path-like
        The ``metrics.jsonl`` file, appended to.
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
        self.path = Path(path)
        self.every, self.total, self.writer, self.echo = every, total, writer, echo
        self.last = self._truncate(resume_step)
        self._reset()

    def _truncate(self, step: int) -> dict:
        """Keep the lines up to ``step`` (and drop a line cut short); return the last one kept."""
        if not self.path.is_file():
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
    directory : path-like
        The run's ``previews`` folder.
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
        self.directory = Path(directory)
        self.latents, self.sample_rate, self.every, self.writer = latents, sample_rate, every, writer

    def on_epoch_end(self, epoch, logs=None):
        step = generator_step(self.model)
        if step > 0 and step % self.every == 0:
            self.render(step)

    def render(self, step: int) -> Path:
        """Write the previews of generator step ``step``; return their folder."""
        import wavfile24

        clips = keras.ops.convert_to_numpy(self.model.generator(self.latents, training=False))  # (k, T, C)
        clips = np.asarray(clips, dtype=np.float32)
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
