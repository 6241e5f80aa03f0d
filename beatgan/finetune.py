"""Fine-tuning: a trained model trained on from its weights on a user's own pack of loops.

Starting from a trained generator *and critic* needs far fewer steps than training from
scratch (Wang et al., ECCV 2018, "Transferring GANs"); freezing the critic's first layers
helps further on small sets (Mo et al., 2020, "Freeze the Discriminator").
:func:`finetune` is :func:`beatgan.run.train` with ``init_from`` the weights, their
recipe (from ``lineage.json``), a wall-clock budget, and the cheap metrics against the
pack at the start, every ``eval_every`` steps and the end. :func:`evaluate_on_pack` ends
it with the full evaluation against the pack. :func:`beatgan.corpus.render_demo_pack`
renders a pack in a style the shipped model never heard, for the notebook and
``benchmarks/finetune.py``.

Importing this module imports Keras: choose the backend first.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from beatgan.checkpoint import load_generator, read_lineage, read_weights_config
from beatgan.config import (
    AUGMENT_COPIES, FINETUNE_LR_SCALE, FINETUNE_MINUTES, LOSS_OPTIMIZERS, UNTIL_STOPPED, ModelConfig, TrainConfig,
)
from beatgan.data import Loops, SkippedFileWarning, load_loops
from beatgan.errors import ConfigError, DatasetError
from beatgan.evaluate import EvaluationReport, evaluate
from beatgan.generate import generate
from beatgan.metrics import METRICS
from beatgan.run import TrainResult, load_metrics, read_run_config, resolve_configs, train

__all__ = ["FINETUNE_MIN_LOOPS", "METRICS_FIGURE", "evaluate_on_pack", "finetune", "finetune_configs", "fit_batch",
           "metrics_figure"]

FINETUNE_MIN_LOOPS = 2  # a GAN learns what loops share: from one it can only learn to copy it
METRICS_FIGURE = "finetune_metrics.png"
BOOKKEEPING = {"checkpoint_every": 100, "preview_every": 100, "keep_checkpoints": 3}  # a short run's, not the recipe's
RUN_FIELDS = ("steps", "checkpoint_every", "keep_checkpoints", "preview_every")  # of the weights' run, not their recipe


def fit_batch(pack: str | os.PathLike, config: ModelConfig, batch: int, *, progress: bool = True) -> int:
    """The batch a new fine-tuning run takes: ``batch``, or the pack's example count when that is smaller.

    Parameters
    ----------
    pack : path-like
        The pack's folder (loaded as training data is; the load cache makes the training's own load cheap).
    config : ModelConfig
        The weights' architecture (rate, slice length, channels).
    batch : int
        The recipe's batch.
    progress : bool, optional
        Say so when the batch shrinks.

    Returns
    -------
    int
        ``min(batch, loops * AUGMENT_COPIES)``.

    Raises
    ------
    DatasetError
        A missing or audio-free folder, or fewer than :data:`FINETUNE_MIN_LOOPS` usable loops.
    """
    with warnings.catch_warnings():  # the training's own load warns of each skipped file once
        warnings.simplefilter("ignore", SkippedFileWarning)
        loops = load_loops(os.path.expanduser(pack), sample_rate=config.sample_rate, slice_len=config.slice_len,
                           channels=config.channels, progress=False)
    if len(loops) < FINETUNE_MIN_LOOPS:
        raise DatasetError(f"pack {str(pack)!r} holds {len(loops)} usable loop(s); fine-tuning needs at least "
                           f"{FINETUNE_MIN_LOOPS} (a GAN learns what the loops share; from one it can only copy it)")
    examples = len(loops) * AUGMENT_COPIES
    if examples >= batch:
        return batch
    if progress:
        print(f"the pack gives {examples} examples ({len(loops)} loops x {AUGMENT_COPIES} noisy copies), fewer than "
              f"the batch of {batch}: the batch shrinks to {examples}", flush=True)
    return examples


def finetune_configs(pack, weights, run_dir, *, train_options: dict | None = None,
                     progress: bool = True) -> tuple[ModelConfig, TrainConfig]:
    """The configs of a fine-tuning run: the weights' architecture and recipe, or the run's own when it exists.

    A new run takes the weights' ``ModelConfig`` and the training fields of their
    ``lineage.json`` (their recipe: loss, precision, ...; not their step count or
    bookkeeping), a short run's checkpoint and preview intervals, learning rates of
    :data:`~beatgan.config.FINETUNE_LR_SCALE` times the recipe's, then ``train_options``;
    the batch shrinks to a small pack (:func:`fit_batch`). An existing run keeps its configs
    (``train_options`` may only raise ``steps``, as for any resume).

    The learning rates: at the recipe's, the shipped weights lost a third of their diversity
    on a 25-loop pack within 800 steps (five minutes here) and had collapsed by 20 minutes
    (``benchmarks/FINETUNE.md``).
    """
    given = dict(train_options or {})
    if read_run_config(run_dir) is not None:
        return resolve_configs(run_dir, train_options=given)
    model = read_weights_config(weights)
    lineage = read_lineage(weights) or {}
    recipe = {k: v for k, v in (lineage.get("train") or {}).items() if k not in RUN_FIELDS}
    options = {**recipe, **BOOKKEEPING, **given}
    loss = options.get("loss", TrainConfig().loss)
    scaled = []
    for name in ("g_learning_rate", "d_learning_rate"):
        if name not in given:
            base = recipe.get(name) if recipe.get("loss", loss) == loss else None
            options[name] = (base or LOSS_OPTIMIZERS[loss][name]) * FINETUNE_LR_SCALE
            scaled.append(f"{name} {options[name]:.3g}")
    if scaled and progress:
        print(f"fine-tuning at {FINETUNE_LR_SCALE:g} x the recipe's learning rates: {', '.join(scaled)} "
              "(--g-learning-rate / --d-learning-rate choose others)", flush=True)
    options["batch_size"] = fit_batch(pack, model, options.get("batch_size", TrainConfig.batch_size), progress=progress)
    return resolve_configs(run_dir, model_options=model.to_dict(), train_options=options)


def finetune(pack, weights, run_dir, *, minutes: float | None = None, train_options: dict | None = None,
             eval_every: int = 100, progress: bool = True, log_every: int = 25, tensorboard: bool = True,
             backend: str | None = None) -> TrainResult:
    """Train on from ``weights`` on the loops of ``pack``; the same call resumes.

    Parameters
    ----------
    pack : path-like
        A folder of loops, searched recursively; resampled, sliced and given noisy copies as
        training data is, each change said once (:meth:`beatgan.data.Loops.adaptations`).
    weights : path-like
        A weights directory with the critic (``critic.npz``): generator, its average, critic.
    run_dir : path-like
        The fine-tuning run; its ``weights/`` are the result (with the critic and lineage).
    minutes : float, optional
        Stop, checkpoint and export after this many minutes of wall time. Default
        :data:`FINETUNE_MINUTES` unless ``train_options`` gives ``steps``.
    train_options : dict, optional
        :class:`~beatgan.config.TrainConfig` fields over the weights' recipe (``steps``,
        ``freeze_critic``, ``batch_size``, ...).
    eval_every : int, optional
        Generator steps between the cheap metrics against the pack (diversity, NDB/K, tonal
        lines, silence), also scored at the start and the end; 0: none.
    progress, log_every, tensorboard, backend
        As for :func:`beatgan.run.train`.

    Returns
    -------
    TrainResult
        As :func:`beatgan.run.train`; ``RUN/finetune_metrics.png`` plots the cheap metrics.

    Raises
    ------
    DatasetError
        A pack without usable loops or with fewer than :data:`FINETUNE_MIN_LOOPS`.
    CheckpointError
        Weights without a critic, or of another architecture than the run.
    ConfigError
        A bad option (``freeze_critic`` beyond the critic's layers, a non-positive minute count).
    """
    options = dict(train_options or {})
    if minutes is None and "steps" not in options:
        minutes = FINETUNE_MINUTES
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes < float("inf"):
            raise ConfigError(f"minutes={minutes!r} must be a positive number of minutes")
        options.setdefault("steps", UNTIL_STOPPED)
    model_config, train_config = finetune_configs(pack, weights, run_dir, train_options=options, progress=progress)
    result = train(os.path.expanduser(pack), run_dir, model_config=model_config, train_config=train_config,
                   backend=backend, progress=progress, log_every=log_every, tensorboard=tensorboard,
                   eval_every=eval_every, time_limit=None if minutes is None else minutes * 60,
                   init_from=weights, eval_ends=True)
    figure = metrics_figure(run_dir)
    if figure is not None:
        figure.savefig(Path(run_dir) / METRICS_FIGURE, dpi=100)
    return result


def metrics_figure(run_dir):
    """The cheap metrics against the pack over a fine-tuning run's steps, or None before any was scored.

    Returns
    -------
    matplotlib.figure.Figure or None
        One panel per metric (diversity, NDB/K, tonal lines, silence, ...) against the step.
    """
    from beatgan.plots import metrics_over_steps_figure  # here: pyplot only when a figure is drawn

    metrics = load_metrics(run_dir)
    names = [k[len("eval/"):] for k in metrics if k.startswith("eval/") and k != "eval/step"]
    if not names:
        return None
    rows = [{"step": int(step), **{n: float(metrics[f"eval/{n}"][i]) for n in names}}
            for i, step in enumerate(metrics["eval/step"])]
    return metrics_over_steps_figure(rows, {n: METRICS[n][0] if n in METRICS else "" for n in names})


def evaluate_on_pack(weights, reference: Loops, *, count: int = 100, seed: int = 0,
                     progress: bool = True) -> EvaluationReport | None:
    """``beatgan evaluate`` of fine-tuned weights against the pack: where fine-tuning took the model.

    Parameters
    ----------
    weights : path-like
        The fine-tuned weights (``RUN/weights``).
    reference : Loops
        The pack's loops at the weights' rate and shape (one copy of each).
    count : int, optional
        Loops generated (latents of ``seed``).

    Returns
    -------
    EvaluationReport or None
        None, with a note on stderr, when the pack is too small to evaluate against (fewer
        than :func:`beatgan.evaluate.evaluate` needs); the weights are kept either way.
    """
    generator, config = load_generator(weights)
    audio = generate(generator, count, seed=seed)
    try:
        return evaluate(audio, reference.audio, sample_rate=config.sample_rate, seed=seed, progress=progress)
    except DatasetError as error:
        print(f"note: no evaluation against the pack: {error}", file=sys.stderr)
        return None
