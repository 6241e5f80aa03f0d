"""``beatgan train``: train WaveGAN in a run directory, or resume it.

Every field of :class:`~beatgan.config.ModelConfig` and
:class:`~beatgan.config.TrainConfig` is an option (``model_dim`` is
``--model-dim``), with the field's comment as its help, so the command line
cannot drift from the configs. Options not given come from the run's
``config.json`` when the run exists, else from the defaults; a given option
that disagrees with the run is an error naming the fields, except ``--steps``,
which may be raised to train longer. Re-running the same command after an
interruption resumes from the newest checkpoint.

Example::

    beatgan train loops.npz --run-dir runs/first --steps 20000 --batch-size 32
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import re

from beatgan.config import ModelConfig, TrainConfig

_EXIT_STATUS = {None: 0, "SIGINT": 130, "SIGTERM": 143}  # 128 + signal number, as shells report
_FIELD_COMMENT = re.compile(r"^\s+(\w+):\s*[\w\[\], |]+=\s*[^#]+#\s*(.+)$")


def _field_help(config_class) -> dict[str, str]:
    """The comment after each field of a config dataclass, used as the option's help."""
    try:
        source = inspect.getsource(config_class)
    except (OSError, TypeError):  # no source (a frozen build): options still work, without help
        return {}
    return {m.group(1): m.group(2).strip() for line in source.splitlines() if (m := _FIELD_COMMENT.match(line))}


def _add_config_options(parser: argparse.ArgumentParser, config_class, title: str) -> None:
    group = parser.add_argument_group(title)
    helps = _field_help(config_class)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        text = f"{helps.get(field.name, field.name)} (default {field.default!r})".replace("%", "%%")
        kind = type(field.default)
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            group.add_argument(flag, type=kind, default=None, metavar=field.name.upper(), help=text)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``train`` verb."""
    parser = subparsers.add_parser(
        "train",
        help="train WaveGAN (WGAN-GP) in a run directory, or resume it",
        description=(
            "Train WaveGAN (WGAN-GP) in a run directory, or resume it: re-running the same command after an "
            "interruption continues from the newest checkpoint. Options not given come from the run's "
            "config.json (or the defaults for a new run); a given option that disagrees with the run is an "
            "error, except --steps, which may be raised to train longer."
        ),
    )
    parser.add_argument("data", nargs="?", metavar="DATASET_OR_FOLDER",
                        help="a dataset .npz from `beatgan prepare` or a folder of loops; "
                             "may be left out when resuming (the run's data is used)")
    parser.add_argument("--run-dir", required=True, metavar="RUN",
                        help="run directory: config.json, checkpoints/, weights/, metrics.jsonl, previews/")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default=None,
                        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--log-every", type=int, default=100, metavar="STEPS",
                        help="generator steps between lines of metrics.jsonl and progress lines (default 100)")
    parser.add_argument("--no-tensorboard", action="store_true", help="write no TensorBoard summaries")
    parser.add_argument("--devices", type=int, default=1, metavar="N",
                        help="data-parallel devices (GPUs, else host CPUs); --batch-size is the global batch "
                             "and must be a multiple of N; may change when resuming (default 1)")
    parser.add_argument("--steps-per-execution", type=int, default=1, metavar="STEPS",
                        help="generator steps per call of the compiled train function, fewer host round "
                             "trips; callbacks see one batch per call (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    _add_config_options(parser, ModelConfig, "model (fixed for a run)")
    _add_config_options(parser, TrainConfig, "training (fixed for a run, except --steps)")
    parser.set_defaults(run=run)
    return parser


def _given(args, config_class) -> dict:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)}
    return {name: value for name, value in values.items() if value is not None}


def run(args) -> int:
    """Train or resume; return 0, or 130 / 143 when SIGINT / SIGTERM stopped it (checkpoint written)."""
    from beatgan.run import select_backend

    select_backend(args.backend)  # sets KERAS_BACKEND before anything imports keras
    from beatgan.errors import ConfigError
    from beatgan.run import read_run_config, resolve_configs, train

    model_config, train_config = resolve_configs(
        args.run_dir, model_options=_given(args, ModelConfig), train_options=_given(args, TrainConfig)
    )
    data = args.data
    if data is None:
        stored = read_run_config(args.run_dir)
        data = stored and stored["data"]
        if not data:
            raise ConfigError(f"give DATASET_OR_FOLDER: run directory {args.run_dir} holds no run to resume "
                              "from its recorded data")
    result = train(
        os.path.expanduser(data), args.run_dir, model_config=model_config, train_config=train_config,
        backend=args.backend, progress=not args.quiet, log_every=args.log_every,
        tensorboard=not args.no_tensorboard, devices=args.devices, steps_per_execution=args.steps_per_execution,
    )
    if not args.quiet and result.stopped_by is None:
        print(f"done: step {result.step}; generator weights in {result.weights_dir}")
    return _EXIT_STATUS[result.stopped_by]
