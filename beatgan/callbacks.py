"""The training run's callbacks: the step log, audio previews, checkpoints on schedule, cheap evaluation, stops.

:func:`beatgan.run.train` drives ``fit`` one *chunk* of generator steps at a time, each ending
where something is due, so these callbacks act in ``on_epoch_end``, when Keras' JAX trainer has
already written the step's state back into the variables. Everything is keyed on the generator
step (:func:`generator_step`, the counter the checkpoints store), so a resumed run logs, previews
and saves at the same steps as an uninterrupted one.

- :class:`MetricsLogger`: mean losses over every ``log_every`` steps to ``metrics.jsonl``,
  TensorBoard and stdout;
- :class:`AudioPreviews`: a fixed latent batch (:func:`preview_latents`) rendered to 24-bit WAVs;
- :class:`PeriodicCheckpoint`: calls the driver's save every ``checkpoint_every`` steps;
- :class:`CheapEvaluation`: the cheap metrics of :mod:`beatgan.evaluate` on a fixed batch;
- :class:`StopRequest` / :class:`StopOnRequest`: SIGINT, SIGTERM or a time limit end training
  after the current step;
- :class:`SummaryWriter`: TensorBoard through ``tf.summary`` when TensorFlow is installed.

Importing this module imports Keras: choose the backend first
(:func:`beatgan.backend.select_backend` or ``KERAS_BACKEND``).
"""

from __future__ import annotations

import json
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

import wavfile24
from beatgan import distributed
from beatgan.atomic import atomic_write
from beatgan.backend import host_array, keras, native_stderr_silenced
from beatgan.config import UNTIL_STOPPED
from beatgan.losses import METRIC_NAMES

__all__ = ["AudioPreviews", "CheapEvaluation", "CollapseWarning", "CollapseWatch", "MetricsLogger", "PeriodicCheckpoint",
           "StopOnRequest", "StopRequest", "SummaryWriter", "format_clock", "generator_step", "preview_latents",
           "read_jsonl"]


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


def format_clock(seconds: float) -> str:
    """``seconds`` of wall time as ``M:SS`` (``12:05``; negative as ``0:00``)."""
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


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
    deadline : float, optional
        A :func:`time.monotonic` time the run stops at (``--minutes``): each line says the time left.
    """

    def __init__(self, path, *, every: int, total: int, writer: SummaryWriter | None = None, echo: bool = True,
                 resume_step: int = 0, deadline: float | None = None):
        super().__init__()
        self.path = None if path is None else Path(path)
        self.every, self.total, self.writer, self.echo, self.deadline = every, total, writer, echo, deadline
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
            left = ""
            if self.deadline is not None:
                left = f"  {format_clock(self.deadline - time.monotonic())} left"
            goal = f"/{self.total}" if self.total < UNTIL_STOPPED else ""  # a run the clock stops has no last step
            print(f"step {step}{goal}  {losses}  {record['steps_per_sec']:.2f} steps/s{left}", flush=True)
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


SATURATING_LOSSES = ("dcgan", "lsgan", "hinge")  # critic losses with a floor at 0, which a critic that wins sits on
COLLAPSE_LOSS = 0.01  # a critic loss under this ...
COLLAPSE_STEPS = 250  # ... for this many steps in a row: in 13 runs of issues 25-26 only a collapsed one did so
COLLAPSE_FALL = 0.5  # a run from weights whose diversity ratio falls under this share of its best is collapsing


class CollapseWarning(UserWarning):
    """The critic has won outright: training has likely collapsed (:class:`CollapseWatch`)."""


class CollapseWatch(keras.callbacks.Callback):
    """Warn once when a run shows the signs of collapse: the critic's loss at its floor, or its diversity halved.

    From random weights, with ``--loss dcgan`` (also lsgan, hinge), a run can collapse: the critic
    separates real from generated loops perfectly, its loss falls to 0, the generator's gradient
    vanishes and its loops stop changing (issue 26's nearest + dcgan, seed 1: critic loss 0.000
    from step 1250, diversity 0). Healthy runs of this CPU's recipes dip under
    :data:`COLLAPSE_LOSS` for at most 50 steps at a time; this warns (:class:`CollapseWarning`)
    when the mean critic loss of every fit chunk stays under it for :data:`COLLAPSE_STEPS` steps,
    again only after the loss has recovered.

    A run that starts from trained weights (fine-tuning, ``--init-from``) starts with a critic that
    already wins: on the demo pack of ``benchmarks/FINETUNE.md`` the shipped critic's dcgan loss
    sat at 0.002-0.01 from step 300 on in every fine-tuning run, including those whose loops kept
    their diversity. There the loss says nothing, and the watch looks at the cheap evaluation's
    diversity ratio instead (:meth:`observe_diversity`, fed by :class:`CheapEvaluation`): it warns
    when the ratio falls under :data:`COLLAPSE_FALL` of the best it has had in the run, the start
    included (the recipe's learning rates: 0.65 at step 200, 0.38 at step 700).

    Parameters
    ----------
    loss : str
        The run's ``TrainConfig.loss``; the loss rule only looks at :data:`SATURATING_LOSSES`.
    steps : int, optional
        Generator steps the loss must stay low before the warning (default :data:`COLLAPSE_STEPS`).
    from_weights : bool, optional
        The run started from trained weights: the diversity rule instead of the loss rule.
    best : tuple of (float, int), optional
        A resumed run's best diversity ratio so far and its step (from its ``metrics.jsonl``).
    """

    def __init__(self, loss: str, *, steps: int | None = None, from_weights: bool = False,
                 best: tuple[float, int] | None = None):
        super().__init__()
        self.loss, self.steps = loss, COLLAPSE_STEPS if steps is None else steps
        self.from_weights = from_weights
        self.low_since: int | None = None  # first step of the current stretch under the floor
        self.warned = False
        self.best = best  # the highest diversity ratio so far, and its step
        self.fell = False

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = generator_step(self.model)

    def on_epoch_end(self, epoch, logs=None):
        self.observe(self._begin, generator_step(self.model), float((logs or {}).get("d_loss", np.nan)))

    def observe(self, begin: int, end: int, d_loss: float) -> None:
        """Take the mean critic loss ``d_loss`` of generator steps ``begin`` to ``end``; warn when due."""
        if self.from_weights or self.loss not in SATURATING_LOSSES or end <= begin:
            return
        if not d_loss < COLLAPSE_LOSS:  # NaN too: not a sign of this
            self.low_since, self.warned = None, False
            return
        if self.low_since is None:
            self.low_since = begin
        if end - self.low_since >= self.steps and not self.warned:
            self.warned = True
            warnings.warn(
                f"the critic's {self.loss} loss has stayed under {COLLAPSE_LOSS} since step {self.low_since} "
                f"({end - self.low_since} steps): the critic wins outright and the generator has likely collapsed "
                "(its loops stop changing; listen to the previews). Restart with another --seed, or train with "
                "--loss wgan-gp (the paper's, which does not saturate)", CollapseWarning, stacklevel=2)

    def observe_diversity(self, step: int, diversity: float) -> None:
        """Take the cheap evaluation's diversity ratio at generator step ``step``; warn when due (runs from weights)."""
        if not self.from_weights or not np.isfinite(diversity):
            return
        if self.best is None or diversity > self.best[0]:
            self.best = (float(diversity), step)
        best, at = self.best
        if diversity >= COLLAPSE_FALL * best:
            self.fell = False
        elif not self.fell:
            self.fell = True
            warnings.warn(
                f"the diversity ratio of the generated loops has fallen from {best:.2f} (step {at}) to {diversity:.2f} "
                f"(step {step}), under {COLLAPSE_FALL:g} of its best: the generator is collapsing onto fewer loops "
                f"(listen to the previews). An earlier step keeps more variety (beatgan export --run-dir RUN --step "
                f"{at}); lower --g-learning-rate and --d-learning-rate slow it", CollapseWarning, stacklevel=2)


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
    watch : CollapseWatch, optional
        Given each diversity ratio (:meth:`CollapseWatch.observe_diversity`).
    """

    def __init__(self, path, latents: np.ndarray, reference, *, sample_rate: int, every: int,
                 writer: SummaryWriter | None = None, echo: bool = True, watch: CollapseWatch | None = None):
        super().__init__()
        self.path, self.latents, self.reference = None if path is None else Path(path), latents, reference
        self.sample_rate, self.every, self.writer, self.echo = sample_rate, every, writer, echo
        self.watch = watch

    def on_epoch_end(self, epoch, logs=None):
        step = generator_step(self.model)
        if step and step % self.every == 0:
            self.score(self.model, step)

    def score(self, gan, step: int) -> dict[str, float]:
        """Score ``gan``'s generator now and log it as generator step ``step``; return the values.

        The driver also calls it at the start and end of a run that asks for them (fine-tuning).
        """
        from beatgan.evaluate import cheap_metrics  # here: the evaluation needs librosa, training does not

        audio = np.asarray(host_array(gan.generator(self.latents, training=False)), dtype=np.float32)
        values = {f"eval/{k}": float(v) for k, v in
                  cheap_metrics(audio, self.reference, sample_rate=self.sample_rate).items()}
        if self.path is not None:  # every process scores (the generator spans them all); the writer writes
            with open(self.path, "a") as f:
                f.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            self.writer.scalars(step, values)
        if self.echo:
            print(f"step {step}  " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()), flush=True)
        if self.watch is not None:
            self.watch.observe_diversity(step, values["eval/diversity"])
        return values
