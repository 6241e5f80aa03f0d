"""The ``beatgan`` command line: every verb in one explicit table.

Each verb is a :class:`Verb`: its name, a one-line help, a function that adds its
options to its sub-parser and the function that runs it. :data:`VERBS` lists them
in the order of the pipeline. The options of ``train`` come from the fields of
:class:`~beatgan.config.ModelConfig` and :class:`~beatgan.config.TrainConfig`
(``model_dim`` is ``--model-dim``, the field's ``help`` metadata its help), so the
command line cannot drift from the configs.

Heavy libraries (TensorFlow, librosa) are imported inside the verbs' functions only,
so that ``beatgan --help`` stays fast and a verb can choose the Keras backend before
Keras is imported; a verb that computes with the model prints one line naming the
backend and its device (:func:`beatgan.backend.describe`) instead of the backend
library's own start-up lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

import wavfile24
from beatgan import __version__
from beatgan.config import (
    AUGMENT_AMPLITUDE, AUGMENT_COPIES, FINETUNE_MINUTES, LOOP_RATE, ModelConfig, TrainConfig, check_positive_int,
    load_recipe,
)
from beatgan.errors import AudioError, BeatGANError, ConfigError, DatasetError

_EXIT_STATUS = {None: 0, "time_limit": 0, "SIGINT": 130, "SIGTERM": 143}  # 128 + signal number, as shells report
_DEFAULT = ModelConfig()  # the data format options default to the model's


class Verb(NamedTuple):
    """One verb of the command line."""

    name: str
    help: str
    add_options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


def _start_backend(args: argparse.Namespace, backend: str | None = None) -> None:
    """Choose the Keras backend, import it quietly and print the one line naming it (unless --quiet); once per run."""
    from beatgan.backend import describe, load_keras, select_backend  # here: fast --help (backend.py is light)

    if getattr(args, "backend_started", False):
        return
    args.backend_started = True
    select_backend(backend)
    load_keras()
    if not getattr(args, "quiet", False):
        print(describe(), file=sys.stderr, flush=True)


def _load_weights(args: argparse.Namespace):
    """Start the backend (:func:`_start_backend`, if no earlier step did) and load ``args.weights``.

    Every verb that generates opens with this; the modules that need Keras are imported after it.
    Returns (generator keras.Model, ModelConfig).
    """
    _start_backend(args)
    from beatgan.checkpoint import load_generator  # here: after the backend is chosen

    return load_generator(args.weights)


# ---------------------------------------------------------------------------------------------- prepare


def _prepare_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="FOLDER",
                        help="folder of drum loops, searched recursively; or a loops file that prepare wrote "
                             "with --copies 1 --amplitude 0 (augmented here without decoding any audio)")
    parser.add_argument("-o", "--output", default="data/dataset.npz", metavar="PATH",
                        help="dataset file to write (default: data/dataset.npz)")
    data = parser.add_argument_group("loading")
    data.add_argument("--sample-rate", type=int, default=_DEFAULT.sample_rate, metavar="HZ",
                      help=f"target sample rate in Hz (default: {_DEFAULT.sample_rate}, the original's 44.1 kHz / 3)")
    data.add_argument("--slice-len", type=int, default=_DEFAULT.slice_len, metavar="SAMPLES",
                      help=f"samples kept per loop, zero-padded when shorter (default: {_DEFAULT.slice_len})")
    data.add_argument("--channels", type=int, default=_DEFAULT.channels, choices=(1, 2),
                      help=f"1 averages to mono, 2 duplicates mono files to stereo (default: {_DEFAULT.channels})")
    data.add_argument("--resample", default="polyphase", choices=("polyphase", "stride"),
                      help="polyphase: anti-aliased (soxr); stride: the original's x[::3], "
                           "44.1 kHz input only, aliases above 7.35 kHz (default: polyphase)")
    data.add_argument("--no-cache", dest="cache", action="store_false",
                      help="decode every file again instead of reusing the folder's cache")
    aug = parser.add_argument_group("augmentation")
    aug.add_argument("--copies", type=int, default=AUGMENT_COPIES,
                     help="noisy copies per loop; the originals are not kept (default: 5)")
    aug.add_argument("--amplitude", type=float, default=AUGMENT_AMPLITUDE,
                     help=f"largest noise value as a fraction of full scale (default: {AUGMENT_AMPLITUDE})")
    aug.add_argument("--seed", type=int, default=0, help="seed of the noise (default: 0)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "int16"),
                        help="storage type of the audio; int16 and float16 halve the file (default: float32)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _prepare_summary(folder: str, loops, examples, dtype: str, output: Path) -> str:
    lines = [
        f"loaded {len(loops)} loop(s) from {folder}: "
        f"{loops.seconds:.1f} s of audio at {loops.sample_rate} Hz "
        f"({loops.slice_len} samples = {loops.slice_len / loops.sample_rate:.2f} s each, "
        f"{loops.channels} channel(s))",
    ]
    lines += [f"  {line}" for line in loops.adaptations()]
    lines += [f"skipped {len(loops.skipped)} file(s)" + (":" if loops.skipped else "")]
    lines += [f"  {name}: {reason}" for name, reason in loops.skipped]
    lines += [
        f"augmented: {examples.settings['copies']} noisy copies per loop -> "
        f"{len(examples)} examples, {examples.seconds:.1f} s",
        f"shape {tuple(examples.audio.shape)} (examples, samples, channels), stored as {dtype}",
        f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)",
    ]
    return "\n".join(lines)


def _prepare(args: argparse.Namespace) -> int:
    """Load, augment and save ``args.folder``; print a summary."""
    from beatgan.data import (  # here: fast --help
        SkippedFileWarning, augment_loops, load_loops, load_loops_file, save_dataset,
    )

    if Path(args.folder).is_file():
        loops = load_loops_file(args.folder, sample_rate=args.sample_rate, slice_len=args.slice_len,
                                channels=args.channels)
    else:
        with warnings.catch_warnings():
            # The summary lists skipped files; a warning per file on top would say it twice.
            warnings.simplefilter("ignore", SkippedFileWarning)
            loops = load_loops(
                args.folder, sample_rate=args.sample_rate, slice_len=args.slice_len, channels=args.channels,
                resample=args.resample, cache=args.cache, progress=not args.quiet,
            )
    examples = augment_loops(loops, copies=args.copies, amplitude=args.amplitude, seed=args.seed)
    output = save_dataset(
        args.output, examples.audio, examples.names, sample_rate=examples.sample_rate,
        settings={**examples.settings, "source": str(args.folder)}, skipped=examples.skipped, dtype=args.dtype,
    )
    print(_prepare_summary(str(args.folder), loops, examples, args.dtype, Path(output)))
    return 0


# ---------------------------------------------------------------------------------------------- render-loops


def _bpm(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        values = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bpm {text!r} must be a tempo like 124 or a range like 120-125")
    return values


def _render_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="folder to write (created if missing)")
    parser.add_argument("--count", type=int, default=434,
                        help="number of loops (default 434, as the original pack)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same files")
    parser.add_argument("--bpm", type=_bpm, default=(120.0, 125.0), metavar="LOW-HIGH",
                        help="tempo or tempo range in bpm; loops get whole-number tempos in it (default 120-125)")
    parser.add_argument("--bars", type=int, default=2, help="4/4 bars per loop (default 2)")
    parser.add_argument("--kits", nargs="+", metavar="KIT",
                        help="kits to use, by name or folder (default all installed; "
                             "'synth' for the built-in kit)")
    parser.add_argument("--sample-rate", type=int, default=LOOP_RATE,
                        help=f"output sample rate in Hz (default {LOOP_RATE})")
    parser.add_argument("--force", action="store_true",
                        help="replace a different corpus already in the output folder")
    parser.add_argument("--list-kits", action="store_true",
                        help="list the installed kits and patterns, then exit")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _render_loops(args: argparse.Namespace) -> int:
    """Render the corpus as the parsed ``args`` ask (or list the kits)."""
    from beatgan.corpus import find_kits, load_patterns, render_corpus  # here: fast --help

    if args.list_kits:
        kits = find_kits()
        for kit in kits:
            print(f"{kit.slug:28s} {kit.name}  [{', '.join(sorted(kit.roles))}]  ({kit.license[:50]})")
        if not kits:
            print("no drum kit installed: render-loops would use the built-in synthesised kit 'synth'")
        patterns = load_patterns()
        songs = sum(not p.name.startswith("groove-") for p in patterns)
        print(f"{len(kits)} kits, {len(patterns)} patterns ({songs} from Hydrogen songs, "
              f"{len(patterns) - songs} classic grooves)")
        return 0
    if not args.output:
        raise ConfigError("render-loops needs -o/--output FOLDER (or --list-kits)")
    report = render_corpus(args.output, count=args.count, seed=args.seed, bpm=args.bpm, bars=args.bars,
                           kits=args.kits, sample_rate=args.sample_rate, progress=not args.no_progress,
                           overwrite=args.force)
    if report.fallback:
        print("render-loops: NOTE: no drum kit is installed (hydrogen-drumkits, hydrogen-data, "
              "sonic-pi-samples); the loops use the built-in synthesised kit, not real recordings",
              file=sys.stderr)
    state = "already up to date" if report.up_to_date else f"rendered in {report.seconds:.1f} s"
    print(f"{args.output}: {len(report.files)} loops from {len(report.kits)} kits and "
          f"{len(report.patterns)} patterns, {state}; credits in {args.output}/CREDITS")
    return 0


# ---------------------------------------------------------------------------------------------- train


def _config_options(parser: argparse.ArgumentParser, config_class, title: str) -> None:
    """One option per field of a config dataclass, its help from the field's metadata."""
    group = parser.add_argument_group(title)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        default = "" if field.default is None else f" (default {field.default!r})"  # None: the help says
        text = f"{field.metadata.get('help', field.name)}{default}".replace("%", "%%")
        kind = field.metadata.get("type") or type(field.default)
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            choices = field.metadata.get("choices")
            group.add_argument(flag, type=kind, default=None, choices=choices,
                               metavar=None if choices else field.name.upper(), help=text)


def _given(args: argparse.Namespace, config_class) -> dict:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)}
    return {name: value for name, value in values.items() if value is not None}


def _train_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="?", metavar="DATASET_OR_FOLDER",
                        help="a dataset .npz from `beatgan prepare` or a folder of loops; "
                             "may be left out when resuming (the run's data is used)")
    parser.add_argument("--run-dir", required=True, metavar="RUN",
                        help="run directory: config.json, checkpoints/, weights/, metrics.jsonl, previews/")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default=None,
                        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--config", metavar="RECIPE.json", default=None,
                        help="a training recipe: a JSON file of model and train fields (configs/paper.json, "
                             "configs/cpu.json); the options below override single fields")
    parser.add_argument("--init-from", metavar="WEIGHTS", default=None,
                        help="start a new run from a weights directory (generator, its average and critic, as "
                             "`beatgan export` writes them) instead of random weights: its model config is the run's, "
                             "Adam restarts and the run counts its own steps, so --steps N trains N more")
    parser.add_argument("--log-every", type=int, default=100, metavar="STEPS",
                        help="generator steps between lines of metrics.jsonl and progress lines (default 100)")
    parser.add_argument("--no-tensorboard", action="store_true", help="write no TensorBoard summaries")
    parser.add_argument("--eval-every", type=int, default=500, metavar="STEPS",
                        help="generator steps between cheap evaluations of a fixed latent batch (diversity, NDB/K, "
                             "noise floor) logged to metrics.jsonl and TensorBoard; 0 turns them off (default 500)")
    parser.add_argument("--devices", type=int, default=1, metavar="N",
                        help="data-parallel devices (GPUs, else host CPUs); --batch-size is the global batch "
                             "and must be a multiple of N; may change when resuming (default 1)")
    parser.add_argument("--steps-per-execution", type=int, default=1, metavar="STEPS",
                        help="generator steps per call of the compiled train function, fewer host round "
                             "trips; callbacks see one batch per call (default 1)")
    several = parser.add_argument_group(
        "several processes (JAX only; see README 'Several machines')",
        "Each process of the run gets the same command with its own --process-id; process 0 serves the "
        "coordinator and writes the run directory, which must be on a filesystem all of them share. The same "
        "from BEATGAN_COORDINATOR, BEATGAN_NUM_PROCESSES and BEATGAN_PROCESS_ID, or nothing under SLURM or Open MPI.")
    several.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                         help="address of process 0's coordination service, e.g. node001:1234")
    several.add_argument("--num-processes", type=int, default=None, metavar="N", help="processes in the run")
    several.add_argument("--process-id", type=int, default=None, metavar="I", help="this process, 0..N-1")
    several.add_argument("--distributed-timeout", type=float, default=None, metavar="SECONDS",
                         help="wait this long for every process at the start, and stop when a process is silent "
                              "this long (default 120)")
    parser.add_argument("--minutes", type=float, default=None, metavar="M",
                        help="stop after M minutes of wall time (loading and compiling included), at the end of "
                             "the current step, with a checkpoint and exported weights; the same command trains on")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    _config_options(parser, ModelConfig, "model (fixed for a run)")
    _config_options(parser, TrainConfig, "training (fixed for a run, except --steps)")


def _train(args: argparse.Namespace) -> int:
    """Train or resume; 0, or 130 / 143 when SIGINT / SIGTERM stopped it (checkpoint written)."""
    from beatgan import distributed  # here: fast --help

    model_options, train_options = ({}, {}) if args.config is None else load_recipe(args.config)  # before Keras
    from beatgan.backend import select_backend  # here: fast --help (backend.py is light)

    cluster = distributed.resolve(args.coordinator, args.num_processes, args.process_id)
    timeout = distributed.DEFAULT_TIMEOUT if args.distributed_timeout is None else args.distributed_timeout
    if cluster is not None:  # before Keras: JAX must know every process before it lists devices
        select_backend(args.backend)
        distributed.start(cluster, timeout=timeout)
    _start_backend(args, args.backend)
    if cluster is not None and not args.quiet:
        print(distributed.describe(timeout), flush=True)
    from beatgan.checkpoint import read_weights_config  # here: after the backend is chosen
    from beatgan.run import read_run_config, resolve_configs, train  # here: after the backend is chosen

    if args.init_from is not None and read_run_config(args.run_dir) is None:  # the weights' architecture by default
        model_options = {**read_weights_config(args.init_from).to_dict(), **model_options}
    model_config, train_config = resolve_configs(
        args.run_dir, model_options={**model_options, **_given(args, ModelConfig)},
        train_options={**train_options, **_given(args, TrainConfig)},
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
        eval_every=args.eval_every, time_limit=None if args.minutes is None else _minutes(args.minutes) * 60,
        init_from=args.init_from,
    )
    if not args.quiet and result.stopped_by in (None, "time_limit"):
        print(f"done: step {result.step}; generator weights in {result.weights_dir}")
    return _EXIT_STATUS[result.stopped_by]


def _minutes(value: float) -> float:
    if not 0 < value < float("inf"):
        raise ConfigError(f"--minutes {value!r} must be a positive number of minutes")
    return value


def _run_checkpoints(run_dir: str, purpose: str):
    """The model config and the kept checkpoints (oldest first) of a training run directory."""
    from beatgan.checkpoint import CHECKPOINTS_DIR, list_checkpoints  # here: after the backend is chosen
    from beatgan.run import read_run_config  # here: after the backend is chosen

    stored = read_run_config(run_dir)
    if stored is None:
        raise DatasetError(f"run directory {run_dir} holds no run (no config.json)")
    checkpoints = list_checkpoints(Path(run_dir) / CHECKPOINTS_DIR)
    if not checkpoints:
        raise DatasetError(f"run directory {run_dir} holds no checkpoint {purpose}")
    return stored["model"], checkpoints


def _export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", required=True, metavar="RUN", help="a training run directory")
    parser.add_argument("--step", type=int, default=None,
                        help="generator step of the kept checkpoint to export (default: the newest)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="weights directory to write (config.json, generator.npz and critic.npz)")
    parser.add_argument("--critic", action=argparse.BooleanOptionalAction, default=True,
                        help="also write the discriminator as critic.npz, which training on from the weights "
                             "needs (default: on)")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16",
                        help="storage precision of the weights (default: float16, half the size)")
    parser.add_argument("--quiet", action="store_true", help="no backend line")


def _export(args: argparse.Namespace) -> int:
    """Write one kept checkpoint's generator as a weights directory (e.g. the best step of evaluate --run-dir)."""
    _start_backend(args)
    from beatgan.checkpoint import RAW_WEIGHTS_FILE, checkpoint_step, export_checkpoint  # here: after the backend
    from beatgan.run import read_run_config  # here: after the backend is chosen

    config, checkpoints = _run_checkpoints(args.run_dir, "to export")
    by_step = {checkpoint_step(path): path for path in checkpoints}
    step = max(by_step) if args.step is None else args.step
    if step not in by_step:
        raise ConfigError(f"--step {step}: run directory {args.run_dir} keeps no checkpoint of that step; "
                          f"kept steps: {', '.join(map(str, sorted(by_step)))}")
    stored = read_run_config(args.run_dir)
    lineage = {"run_dir": str(Path(args.run_dir).resolve()), "step": step, "train": stored["train"].to_dict(),
               "init_from": stored["init_from"]}
    path, *others = export_checkpoint(by_step[step], config, args.output, dtype=args.dtype, critic=args.critic,
                                      lineage=lineage)
    print(f"exported step {step} of {args.run_dir} to {path} ({args.dtype}, {path.stat().st_size:,} bytes)")
    raw = [p for p in others if p.name == RAW_WEIGHTS_FILE]
    critic = [p for p in others if p.name != RAW_WEIGHTS_FILE]
    if raw:
        print(f"{path.name} holds the moving average of the generator's weights (EMA); the trained weights are in "
              f"{raw[0]}")
    if critic:
        print(f"and its critic to {critic[0]} ({critic[0].stat().st_size:,} bytes)")
    return 0


# ---------------------------------------------------------------------------------------------- finetune


def _finetune_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pack", metavar="PACK_FOLDER", help="your loops: a folder, searched recursively, loaded and "
                                                          "augmented as training data (resampled, sliced, noisy copies)")
    parser.add_argument("--weights", default="weights", metavar="DIR",
                        help="weights to start from: generator, its average and critic (default: weights)")
    parser.add_argument("--run-dir", required=True, metavar="RUN",
                        help="the fine-tuning run; its weights/ are the result. The same command resumes it")
    parser.add_argument("--minutes", type=float, default=None, metavar="M",
                        help=f"stop, checkpoint and export after M minutes of wall time (default {FINETUNE_MINUTES:g} "
                             "when --steps is not given either)")
    parser.add_argument("--eval-every", type=int, default=100, metavar="STEPS",
                        help="generator steps between the cheap metrics against the pack (diversity, NDB/K, tonal "
                             "lines, silence); also at the start and the end (default 100; 0: none)")
    parser.add_argument("--log-every", type=int, default=25, metavar="STEPS", help="steps between lines (default 25)")
    parser.add_argument("--evaluate", action=argparse.BooleanOptionalAction, default=True,
                        help="end with `beatgan evaluate` of the result against the pack (default: on)")
    parser.add_argument("-n", "--count", type=int, default=100, help="loops generated for that evaluation (default 100)")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default=None,
                        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--no-tensorboard", action="store_true", help="write no TensorBoard summaries")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    _config_options(parser, TrainConfig, "training (default: the weights' recipe, from their lineage.json)")


def _finetune(args: argparse.Namespace) -> int:
    """Train on from the weights on a pack; report the cheap metrics over steps and evaluate against the pack."""
    _start_backend(args, args.backend)
    from beatgan.checkpoint import read_weights_config  # here: after the backend is chosen
    from beatgan.finetune import evaluate_on_pack, finetune  # here: after the backend is chosen

    minutes = None if args.minutes is None else _minutes(args.minutes)
    count = check_positive_int("count", args.count)
    result = finetune(args.pack, args.weights, args.run_dir, minutes=minutes,
                      train_options=_given(args, TrainConfig), eval_every=args.eval_every, progress=not args.quiet,
                      log_every=args.log_every, tensorboard=not args.no_tensorboard, backend=args.backend)
    if args.evaluate and result.stopped_by in (None, "time_limit"):
        config = read_weights_config(result.weights_dir)
        reference = _reference_set(args.pack, (config.sample_rate, config.slice_len, config.channels), not args.quiet)
        report = evaluate_on_pack(result.weights_dir, reference, count=count,
                                  progress=not args.quiet)
        if report is not None:
            report.save(Path(args.run_dir) / "evaluation")
            if not args.quiet:
                print(report.text())
                print(f"wrote {Path(args.run_dir) / 'evaluation'}/evaluation.json, evaluation.txt and figures")
    if not args.quiet:
        print(f"fine-tuned to step {result.step}; weights in {result.weights_dir}. Generate from them:\n"
              f"  beatgan generate --weights {result.weights_dir} -n 16 -o my_loops --format loop --bpm 120")
    return _EXIT_STATUS[result.stopped_by]


# ---------------------------------------------------------------------------------------------- generate


def _generate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, metavar="DIR", help="weights directory")
    parser.add_argument("-n", "--count", type=int, default=40, help="loops to generate (default: 40)")
    parser.add_argument("-o", "--output", default="generated", metavar="FOLDER",
                        help="output folder (default: generated)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default: 0)")
    parser.add_argument("--format", choices=("raw", "loop"), default="raw",
                        help="raw clips or tempo loops (default: raw)")
    parser.add_argument("--bpm", type=float, default=124.0,
                        help="tempo of --format loop, 40-300; the model's natural range is 120-125 (default: 124)")
    parser.add_argument("--bars", type=int, default=4, help="bars of 4/4 per loop, 1-64 (default: 4)")
    parser.add_argument("--batch-size", type=int, default=64, help="latent vectors per forward pass (default: 64)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _generate(args: argparse.Namespace) -> int:
    """Generate and write the loops; print where they went."""
    _start_backend(args)  # check_tempo's module needs Keras; the tempo is checked before the weights are read
    from beatgan.audio import loop_frames  # here: fast --help
    from beatgan.generate import check_tempo, generate, write_clips  # here: after the backend is chosen

    if args.format == "loop":
        check_tempo(args.bpm, args.bars)  # before loading anything
    generator, config = _load_weights(args)
    audio = generate(generator, args.count, seed=args.seed, batch_size=args.batch_size)
    paths = write_clips(audio, args.output, sample_rate=config.sample_rate, format=args.format, bpm=args.bpm,
                        bars=args.bars, progress=not args.quiet)
    if args.format == "loop":
        frames = loop_frames(args.bpm, args.bars)
        what = f"{args.bars} bar(s) at {args.bpm:g} bpm, {LOOP_RATE} Hz, {frames} frames ({frames / LOOP_RATE:.3f} s)"
    else:
        what = f"{config.slice_len} samples at {config.sample_rate} Hz ({config.seconds:.2f} s)"
    print(f"wrote {len(paths)} loop(s) to {args.output}: {what}, {config.channels} channel(s), 24-bit")
    return 0


# ---------------------------------------------------------------------------------------------- similarity


def _source_options(parser: argparse.ArgumentParser) -> None:
    """``--weights | --generated``, ``--training``, ``--seed``, ``--threshold`` and ``--quiet``.

    The verb adds the option that sets ``args.count`` (loops generated with ``--weights``).
    """
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="DIR",
                        help="weights directory (config.json + generator.npz): generate from it")
    source.add_argument("--generated", metavar="FOLDER", help="folder of generated loops (WAV/FLAC...) to check instead")
    parser.add_argument("--training", required=True, metavar="FOLDER_OR_DATASET",
                        help="the training loops: a folder of loops or a dataset .npz from `beatgan prepare`")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default: 0)")
    parser.add_argument("--threshold", type=float, default=0.1,
                        help="best score at or below which a loop is a near-copy (default: 0.1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _load_set(path: str, *, sample_rate: int, slice_len: int, channels: int, cache: bool, progress: bool,
              label: str):
    """A folder of loops (decoded, not augmented) or a dataset ``.npz``, as :class:`beatgan.data.Loops`."""
    from beatgan.data import load_dataset, load_loops  # here: fast --help

    location = Path(path)
    if location.is_dir():
        return load_loops(location, sample_rate=sample_rate, slice_len=slice_len, channels=channels,
                          cache=cache, progress=progress)
    if location.is_file():
        return load_dataset(location)
    raise DatasetError(f"{label} {path!r} does not exist (expected a folder of loops or a dataset .npz)")


def _load_sets(args: argparse.Namespace):
    """Return ``(generated, generated_names, training, training_names, sample_rate)`` of a novelty check.

    Generated loops come from a weights directory (generated on the spot) or a folder of audio
    files; training loops from a folder of loops (decoded, not augmented: the noisy copies of the
    original score within about 1e-4 of their source anyway) or a dataset ``.npz``. Both end up at
    the same sample rate, length and channel count, or a clear error says why not. With
    ``--weights`` the generator's config decides the format; with ``--generated`` a dataset
    file's format, else the model's defaults.
    """
    progress = not args.quiet
    training_path = Path(args.training)
    if args.weights is not None:
        generator, config = _load_weights(args)
        fmt = (config.sample_rate, config.slice_len, config.channels)
    elif training_path.is_file():
        from beatgan.data import load_dataset  # here: fast --help

        held = load_dataset(training_path)
        fmt = (held.sample_rate, held.slice_len, held.channels)
    else:
        fmt = (_DEFAULT.sample_rate, _DEFAULT.slice_len, _DEFAULT.channels)
    rate, slice_len, channels = fmt
    training = _load_set(args.training, sample_rate=rate, slice_len=slice_len, channels=channels, cache=True,
                         progress=progress, label="training set")
    held = (training.sample_rate, training.slice_len, training.channels)
    if held != fmt:
        raise AudioError(
            f"training set {args.training} holds loops of {held[1]} samples x {held[2]} channel(s) at "
            f"{held[0]} Hz, but the generated loops are {slice_len} x {channels} at {rate} Hz"
        )
    if args.weights is not None:
        from beatgan.generate import clip_names, generate  # here: after the backend is chosen

        check_positive_int("count (loops to generate)", args.count)
        generated = generate(generator, args.count, seed=args.seed)
        names = clip_names(args.count)
    else:
        loops = _load_set(args.generated, sample_rate=rate, slice_len=slice_len, channels=channels, cache=False,
                          progress=progress, label="generated folder")
        generated, names = loops.audio, list(loops.names)
    return generated, names, training.audio, list(training.names), rate


def _similarity_options(parser: argparse.ArgumentParser) -> None:
    _source_options(parser)
    parser.add_argument("-n", "--count", type=int, default=200,
                        help="loops to generate with --weights (default: 200)")
    parser.add_argument("-o", "--output", default="similarity_report", metavar="DIR",
                        help="report folder (default: similarity_report)")
    parser.add_argument("--no-logmel", dest="logmel", action="store_false", help="skip the log-mel distance")
    parser.add_argument("--recovery", type=int, default=0, metavar="N",
                        help="also recover N training and N held-out loops through the generator (--weights) "
                             "and compare the distances (latent recovery, Webster et al. 2019; default: 0, off)")
    parser.add_argument("--heldout", metavar="FOLDER",
                        help="held-out loops for --recovery (default: a fresh render of the open corpus with "
                             "another seed)")
    parser.add_argument("--recovery-steps", type=int, default=200, help="gradient steps per recovery (default: 200)")


def _similarity(args: argparse.Namespace) -> int:
    """Build, print and save the novelty report."""
    from beatgan.novelty import novelty_report  # here: fast --help

    generated, gen_names, training, train_names, rate = _load_sets(args)
    report = novelty_report(
        generated, training, sample_rate=rate, threshold=args.threshold, generated_names=gen_names,
        training_names=train_names, logmel=args.logmel, progress=not args.quiet,
    )
    paths = report.save(args.output, generated=generated, training=training)
    print(report.text())
    print(f"wrote {', '.join(str(p) for p in paths.values() if p is not None)}")
    if args.recovery:
        _similarity_recovery(args, training, rate)
    return 0


def _similarity_recovery(args: argparse.Namespace, training, rate: int) -> None:
    """The latent-recovery report of ``similarity --recovery N``: training against held-out loops."""
    import tempfile  # here: fast --help

    from beatgan.recover import recovery_report  # here: after the backend is chosen

    if args.weights is None:
        raise ConfigError("--recovery needs --weights: it recovers loops through the generator")
    check_positive_int("recovery", args.recovery)
    with tempfile.TemporaryDirectory() as scratch:
        heldout = args.heldout
        if heldout is None:
            from beatgan.corpus import render_corpus  # here: fast --help

            heldout = Path(scratch) / "heldout"
            render_corpus(heldout, count=args.recovery, seed=args.seed + 1000, progress=False)
            print(f"held-out loops: {args.recovery} loops of a fresh render of the open corpus (seed "
                  f"{args.seed + 1000}), which the model never saw", file=sys.stderr)
        report = recovery_report(args.weights, training, heldout, n=args.recovery, steps=args.recovery_steps,
                                 seed=args.seed, progress=not args.quiet)
    paths = report.save(args.output)
    print(report.text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")


def _examples_options(parser: argparse.ArgumentParser) -> None:
    _source_options(parser)
    parser.add_argument("-n", "--examples", type=int, default=4, help="examples to write (default: 4)")
    parser.add_argument("--pool", dest="count", type=int, default=100,
                        help="loops generated with --weights to pick the examples from (default: 100)")
    parser.add_argument("-o", "--output", default="similarity_metric_examples", metavar="DIR",
                        help="output folder (default: similarity_metric_examples)")
    parser.add_argument("-k", type=int, default=3, help="nearest training loops per example (default: 3)")
    parser.add_argument("--no-training-audio", dest="training_audio", action="store_false",
                        help="name the nearest training loops without writing their audio "
                             "(for examples shipped where the training audio may not be)")


def _similarity_examples(args: argparse.Namespace) -> int:
    """Write the examples; print one line per example."""
    from beatgan.similarity_examples import write_similarity_examples  # here: fast --help

    generated, gen_names, training, train_names, rate = _load_sets(args)
    folders = write_similarity_examples(
        generated, training, args.output, sample_rate=rate, n=args.examples, k=args.k,
        generated_names=gen_names, training_names=train_names, threshold=args.threshold,
        training_audio=args.training_audio,
    )
    summary = json.loads((folders[0].parent / "examples.json").read_text())
    for folder, record in zip(folders, summary["examples"]):
        best = record["nearest"][0]
        print(f"{folder}: {record['generated']} <- {best['training']} score {best['score']:.4g}")
    return 0


# ---------------------------------------------------------------------------------------------- evaluate


def _evaluate_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="DIR", help="weights directory: generate -n loops from it")
    source.add_argument("--generated", metavar="FOLDER",
                        help="any folder of WAVs (another model's output, a pack): resampled and sliced as training data")
    source.add_argument("--run-dir", metavar="RUN", help="a training run: evaluate every kept checkpoint")
    parser.add_argument("--reference", required=True, metavar="FOLDER_OR_NPZ",
                        help="the real loops: a folder of loops or a dataset .npz")
    parser.add_argument("-n", "--count", type=int, default=500, help="loops to generate (default: 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents, the split and k-means (default: 0)")
    parser.add_argument("-o", "--output", default="evaluation", metavar="DIR", help="report folder (default: evaluation)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _reference_set(path: str, fmt: tuple[int, int, int], progress: bool):
    rate, slice_len, channels = fmt
    loops = _load_set(path, sample_rate=rate, slice_len=slice_len, channels=channels, cache=True,
                      progress=progress, label="reference")
    if (loops.sample_rate, loops.slice_len) != (rate, slice_len):
        raise AudioError(f"reference {path} holds {loops.slice_len} samples at {loops.sample_rate} Hz; "
                         f"the loops evaluated are {slice_len} at {rate} Hz: give a folder, which is resampled")
    names = list(loops.names)
    first = sorted({name: i for i, name in reversed(list(enumerate(names)))}.values())
    if len(first) < len(names):  # a prepared dataset: noisy copies of each loop would sit in both real halves
        print(f"note: reference {path} holds {len(names)} rows of {len(first)} loops (noisy copies); one copy of "
              "each is used, so the held-out real half shares no loop with the other", file=sys.stderr)
        loops = dataclasses.replace(loops, audio=loops.audio[first], names=[names[i] for i in first])
    return loops


def _evaluate(args: argparse.Namespace) -> int:
    """Evaluate generated loops (or every checkpoint of a run) against the reference; write the report."""
    from beatgan.evaluate import evaluate  # here: fast --help

    progress = not args.quiet
    output = Path(args.output)
    check_positive_int("count", args.count)
    if args.generated is not None:
        fmt = (_DEFAULT.sample_rate, _DEFAULT.slice_len, _DEFAULT.channels)
        reference = _reference_set(args.reference, fmt, progress)
        loops = _load_set(args.generated, sample_rate=fmt[0], slice_len=fmt[1], channels=fmt[2], cache=False,
                          progress=progress, label="generated folder")
        print(f"note: {len(loops)} loops of {args.generated} resampled to {fmt[0]} Hz and sliced to {fmt[1]} "
              "samples, as training data is", file=sys.stderr)
        report = evaluate(loops.audio, reference.audio, sample_rate=fmt[0], seed=args.seed, progress=progress)
        report.save(output)
        print(report.text())
        print(f"wrote {output}/evaluation.json, evaluation.txt and figures")
        return 0
    if args.weights is not None:
        generator, config = _load_weights(args)
        from beatgan.generate import generate  # here: after the backend is chosen

        fmt = (config.sample_rate, config.slice_len, config.channels)
        reference = _reference_set(args.reference, fmt, progress)
        audio = generate(generator, args.count, seed=args.seed)
        report = evaluate(audio, reference.audio, sample_rate=config.sample_rate, seed=args.seed, progress=progress)
        report.save(output)
        print(report.text())
        print(f"wrote {output}/evaluation.json, evaluation.txt and figures")
        return 0
    return _evaluate_run(args, output, progress)


def _evaluate_run(args: argparse.Namespace, output: Path, progress: bool) -> int:
    """Evaluate every kept checkpoint of ``args.run_dir``; write a table and a figure of the metrics over steps."""
    _start_backend(args)
    from beatgan.checkpoint import checkpoint_step, has_average, load_checkpoint_generator  # here: after the backend
    from beatgan.evaluate import evaluate_steps  # here: fast --help
    from beatgan.generate import generate  # here: after the backend is chosen

    config, checkpoints = _run_checkpoints(args.run_dir, "to evaluate")
    fmt = (config.sample_rate, config.slice_len, config.channels)
    reference = _reference_set(args.reference, fmt, progress)
    if checkpoints and has_average(checkpoints[-1]):
        print("evaluating the moving average of the generator's weights (EMA) of every checkpoint")
    loops = ((checkpoint_step(path), generate(load_checkpoint_generator(path, config), args.count, seed=args.seed))
             for path in checkpoints)  # one checkpoint's generator and loops at a time
    steps = evaluate_steps(loops, reference.audio, sample_rate=config.sample_rate, seed=args.seed, progress=progress,
                           save_to=output, log=print,
                           source={"run_dir": str(args.run_dir), "reference": str(args.reference), "count": args.count})
    steps.save(output)
    print(steps.text())
    print(f"wrote {output}/steps.txt, steps.json, steps.png and one report per step")
    return 0


# ---------------------------------------------------------------------------------------------- play


def _latent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, metavar="DIR", help="weights directory")
    parser.add_argument("-o", "--output", required=True, metavar="FOLDER", help="output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no backend line")


def _variations_options(parser: argparse.ArgumentParser) -> None:
    _latent_options(parser)
    parser.add_argument("--seed", default="0", metavar="LATENT",
                        help="the source loop: SEED (loop 0 of that seed), INDEX@SEED (loop INDEX of "
                             "`generate --seed SEED`), or a latent .npy file (default: 0)")
    parser.add_argument("-n", "--count", type=int, default=8, help="variations (default: 8)")
    parser.add_argument("--spread", type=float, default=0.1, help="noise scale around the latent, >= 0 (default: 0.1)")
    parser.add_argument("--noise-seed", type=int, default=0, help="seed of the variations' noise (default: 0)")


def _variations(args: argparse.Namespace) -> int:
    """Write loops near one latent, and their latents as .npy."""
    generator, config = _load_weights(args)
    from beatgan.explore import load_latent, variations  # here: after the backend is chosen
    from beatgan.generate import write_clips  # here: after the backend is chosen

    z = load_latent(args.seed, config.latent_dim)
    result = variations(generator, z, args.count, spread=args.spread, seed=args.noise_seed)
    paths = write_clips(result.audio, args.output, sample_rate=config.sample_rate, prefix="variation",
                        progress=not args.quiet)
    _save_latents(Path(args.output), [p.stem for p in paths], result.latents)
    print(f"wrote {len(paths)} variations of {args.seed} (spread {args.spread:g}) and their latents to {args.output}")
    return 0


def _save_latents(folder: Path, stems, latents) -> None:
    for stem, z in zip(stems, latents):
        with open(folder / f"{stem}.npy", "wb") as handle:
            np.save(handle, np.asarray(z, dtype=np.float32))


def _morph_options(parser: argparse.ArgumentParser) -> None:
    _latent_options(parser)
    parser.add_argument("--from", dest="source", required=True, metavar="LATENT",
                        help="start: SEED, INDEX@SEED or a latent .npy file")
    parser.add_argument("--to", dest="target", required=True, metavar="LATENT", help="end, as --from")
    parser.add_argument("--steps", type=int, default=8, help="loops from start to end, >= 2 (default: 8)")
    parser.add_argument("--mode", choices=("slerp", "linear"), default="slerp",
                        help="spherical or linear interpolation (default: slerp)")
    parser.add_argument("--format", choices=("raw", "loop"), default="raw",
                        help="raw: one clip per step; loop: one continuous loop, one bar per step (default: raw)")
    parser.add_argument("--bpm", type=float, default=124.0, help="tempo of --format loop (default: 124)")


def _morph(args: argparse.Namespace) -> int:
    """Write a morph between two latents: clips, or one DAW loop of one bar per step."""
    generator, config = _load_weights(args)
    from beatgan.explore import interpolate, load_latent, morph_loop  # here: after the backend is chosen
    from beatgan.generate import write_clips  # here: after the backend is chosen

    z_a, z_b = (load_latent(spec, config.latent_dim) for spec in (args.source, args.target))
    check_positive_int("steps", args.steps)
    output = Path(args.output)
    if args.format == "loop":
        audio = morph_loop(generator, z_a, z_b, args.steps, bpm=args.bpm, mode=args.mode)
        output.mkdir(parents=True, exist_ok=True)
        path = output / f"morph_{args.steps}bars_{args.bpm:g}bpm.wav"
        wavfile24.write(path, LOOP_RATE, np.clip(audio, -1.0, 1.0), bits=24)
        print(f"wrote {path}: {args.steps} bars at {args.bpm:g} bpm, {LOOP_RATE} Hz, from {args.source} to {args.target}")
        return 0
    audio = interpolate(generator, z_a, z_b, args.steps, mode=args.mode)
    paths = write_clips(audio, output, sample_rate=config.sample_rate, prefix="morph", progress=not args.quiet)
    print(f"wrote {len(paths)} morph steps ({args.mode}) from {args.source} to {args.target} in {output}")
    return 0


def _recover_options(parser: argparse.ArgumentParser) -> None:
    _latent_options(parser)
    parser.add_argument("loop", metavar="LOOP.wav", help="the loop to recover (any rate and length: resampled and sliced)")
    parser.add_argument("--steps", type=int, default=200, help="gradient steps per restart (default: 200)")
    parser.add_argument("--restarts", type=int, default=4, help="random starting latents, optimised together (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the starting latents (default: 0)")


def _recover(args: argparse.Namespace) -> int:
    """Find the latent whose loop is closest to LOOP; write the reconstruction and the latent, print the distance."""
    generator, config = _load_weights(args)
    from beatgan.recover import recover  # here: after the backend is chosen
    from beatgan.generate import write_clips  # here: after the backend is chosen

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the notes are printed below
        result = recover(generator, args.loop, steps=args.steps, restarts=args.restarts, seed=args.seed)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    output = Path(args.output)
    stem = Path(args.loop).stem
    (path,) = write_clips(result.audio[None], output, sample_rate=config.sample_rate, prefix=f"{stem}_recovered",
                          progress=False)
    _save_latents(output, [path.stem], [result.latent])
    print(f"{args.loop}: recovered at log-mel distance {result.distance_db:.2f} dB (similarity score "
          f"{result.score:.3g}); wrote {path} and {path.stem}.npy")
    return 0


# ---------------------------------------------------------------------------------------------- lab


def _lab_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, metavar="DIR", help="weights directory")
    parser.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one (default: 8765)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens the lab "
                             "to the network, without a password)")
    parser.add_argument("--training", metavar="FOLDER_OR_DATASET",
                        help="training loops (a folder or a dataset .npz): every tile shows its nearest one")
    parser.add_argument("-o", "--output", metavar="FOLDER",
                        help="folder that keeps the exported packs (default: a temporary folder, removed on exit)")
    parser.add_argument("--quiet", action="store_true", help="no backend line")


def _lab(args: argparse.Namespace) -> int:
    """Serve the loop lab until Ctrl-C."""
    generator, config = _load_weights(args)
    from beatgan.lab import serve  # here: after the backend is chosen

    return serve(generator, config, weights=args.weights, host=args.host, port=args.port, training=args.training,
                 output=args.output)


# ---------------------------------------------------------------------------------------------- the table

VERBS: tuple[Verb, ...] = (
    Verb("render-loops", "render a pack of drum loops from the installed free drum kits",
         _render_options, _render_loops,
         "Render a pack-like folder of 2-bar drum loops (44.1 kHz, 24-bit stereo WAV named "
         "loop_<n>_<kit>_<pattern>_<bpm>bpm.wav, whole-number tempos) from Hydrogen's and Sonic Pi's free "
         "drum kits, the patterns of Hydrogen's demo songs and BeatGAN's classic grooves; plus CREDITS and "
         "manifest.csv. Without kits installed, a built-in synthesised kit is used instead, and the output "
         "says so."),
    Verb("prepare", "load, augment and save a folder of loops as a training dataset (.npz)",
         _prepare_options, _prepare,
         "Load the first SLICE_LEN samples of every audio file under FOLDER (recursively; WAV, FLAC, AIFF, "
         "OGG, MP3; any sample rate, mono or stereo), resample them, make COPIES noisy copies of each and "
         "save them as one .npz file for `beatgan train`. Broken audio files are skipped and listed; other "
         "files are ignored."),
    Verb("train", "train WaveGAN (WGAN-GP) in a run directory, or resume it",
         _train_options, _train,
         "Train WaveGAN (WGAN-GP) in a run directory, or resume it: re-running the same command after an "
         "interruption continues from the newest checkpoint. Options not given come from the run's "
         "config.json (or the defaults for a new run); a given option that disagrees with the run is an "
         "error, except --steps, which may be raised to train longer, and --checkpoint-every, "
         "--keep-checkpoints and --preview-every."),
    Verb("finetune", "train on from the weights on your own pack of loops, for minutes on a CPU",
         _finetune_options, _finetune,
         "Fine-tune the weights (generator, its average and critic) on PACK_FOLDER: a new run started from them "
         "(train --init-from), stopped after --minutes (checkpointed and exported) or --steps, optionally with "
         "the critic's first layers frozen (--freeze-critic N). The cheap metrics against the pack are logged at "
         "the start, every --eval-every steps and the end (metrics.jsonl, finetune_metrics.png), and the result "
         "is evaluated against the pack (RUN/evaluation). The same command resumes."),
    Verb("export", "write one checkpoint of a training run as a weights directory",
         _export_options, _export,
         "Write the generator of one kept checkpoint of a run (--step, default the newest) as a weights "
         "directory (config.json + generator.npz) for generate, similarity and evaluate: pick the best step "
         "from `beatgan evaluate --run-dir` and export it."),
    Verb("generate", "generate loops from generator weights",
         _generate_options, _generate,
         "Generate loops from a weights directory (config.json + generator.npz). 'raw' writes each clip as "
         "generated (14.7 kHz, 16384 samples = 1.11 s, 24-bit). 'loop' resamples to 44.1 kHz, cuts the clip "
         "to its whole beats at --bpm (two beats at 120-125 bpm) and repeats it to --bars bars of 4/4, "
         "tempo in the file name, ready for a DAW."),
    Verb("similarity", "novelty report: nearest training loop of every generated loop",
         _similarity_options, _similarity,
         "For every generated loop, find its most similar training loop by BeatGAN's score "
         "sum((a-b)^2)/sum(a^2) (a = training loop; <= threshold means near-copy) and by log-mel distance. "
         "Prints the report and writes report.json, report.txt and figures."),
    Verb("evaluate", "how good are the loops: FAD, NDB/K, diversity, rhythm, noise floor against real loops",
         _evaluate_options, _evaluate,
         "Score generated loops against real ones, each metric beside three anchors computed the same way "
         "on the same number of loops: real (a held-out half of the reference: what a perfect model scores), "
         "collapsed (one reference loop repeated with the augmentation noise) and noise (drum-like noise). "
         "Writes evaluation.json, evaluation.txt and figures; --run-dir evaluates every kept checkpoint and "
         "writes the metrics over steps."),
    Verb("variations", "loops near one loop's latent", _variations_options, _variations,
         "Write -n loops near a latent (a seed, INDEX@SEED for loop INDEX of `generate --seed SEED`, or a "
         ".npy file), with their latents as .npy so a favourite can be varied again."),
    Verb("morph", "a morph between two loops' latents", _morph_options, _morph,
         "Interpolate between two latents (spherical or linear) and write each step as a clip, or one "
         "continuous DAW loop of one bar per step (--format loop --bpm)."),
    Verb("recover", "find the latent whose loop is closest to a given loop", _recover_options, _recover,
         "Gradient descent on the latent through the generator (log-mel plus waveform loss, several "
         "restarts): writes the reconstruction and its latent, prints the distance. A training loop "
         "recovered much better than unseen ones is a sign of memorisation."),
    Verb("lab", "the loop lab: audition, vary, morph and export loops in a browser", _lab_options, _lab,
         "Serve a local web page (on 127.0.0.1 unless --host says otherwise) with a grid of generated loops, each "
         "played in a loop at a chosen tempo: their variations, morphs between two of them, their novelty "
         "(--training), and a pack of starred loops exported as a zip of 24-bit 44.1 kHz WAVs with the seeds and "
         "latents that make them again. Tiles are named as the command line names loops (INDEX@SEED)."),
    Verb("similarity-examples", "write generated loops with their nearest training loops and scores",
         _examples_options, _similarity_examples,
         "Pick -n generated loops spread from the closest to the most novel, and write each to its own "
         "folder with its -k nearest training loops (24-bit WAV) and a README of scores."),
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with one sub-parser per entry of :data:`VERBS`."""
    parser = argparse.ArgumentParser(
        prog="beatgan",
        description="WaveGAN for drum loops: prepare a pack, train, generate, check novelty.",
    )
    parser.add_argument("--version", action="version", version=f"beatgan {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        sub = subparsers.add_parser(verb.name, help=verb.help, description=verb.description or verb.help)
        verb.add_options(sub)
        sub.set_defaults(run=verb.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status.

    User errors (:class:`beatgan.errors.BeatGANError`) print one line on
    stderr and exit with status 2; Ctrl-C exits with 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BeatGANError as error:
        print(f"beatgan {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"beatgan {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
