"""Issue 27's measurement (``benchmarks/FINETUNE.md``): fine-tuning the shipped weights on a small pack
against training the same recipe from scratch, at equal CPU time.

    python benchmarks/finetune.py [--runs ../runs27] [--weights weights] [--budgets 10 20 40] [--jobs 2]
                                  [--loops 50] [--reference-loops 200] [--only NAME ...] [--table] [--figure PNG]

The pack is :func:`beatgan.corpus.render_demo_pack` with ``--loops`` loops (90-95 bpm, a tempo the shipped
model never heard): its odd-numbered loops are the user's pack (``RUNS/pack``), the even-numbered ones are
held out (``RUNS/heldout``) as the reference. Each configuration is trained with one thread pinned to
one core (``benchmarks/recipe.py``'s CPU budget: SIGINT at the budget, the run checkpoints and exports),
to each of ``--budgets`` CPU minutes in turn, the weights of each kept as ``RUN/weights_<M>min``:

- ``finetune``: ``beatgan finetune RUNS/pack --weights W``, the weights' recipe from their lineage at
  fine-tuning's default learning rates (``config.FINETUNE_LR_SCALE`` of the recipe's);
- ``freeze2``: the same with ``--freeze-critic 2``;
- ``scratch``: ``beatgan train RUNS/pack --config RUNS/recipe.json``, the same recipe from random weights;
- ``finetune-s1``, ``freeze2-s1``, ``scratch-s1``: ``finetune``, ``freeze2`` and ``scratch`` with ``--seed 1``;
- ``finetune-tenth-lr``, ``freeze2-tenth-lr``, ``finetune-recipe-lr``: ``finetune`` and ``freeze2`` at a
  tenth of the recipe's learning rates (the default before session 4), ``finetune`` at the recipe's own.

Every kept weights directory is then evaluated against the held-out half::

    beatgan evaluate --weights RUN/weights_<M>min --reference RUNS/heldout -n 200 --seed 0

and against ``--reference-loops`` more loops of the pack's style (``RUNS/heldout_large``: the same renderer,
seed and tempi, the loops that follow the pack's, none of them in it), where FAD and the diversity ratio
compare 100 loops a set instead of the held-out half's 12 (``RUN/weights_<M>min.evaluation_large``)::

    beatgan evaluate --weights RUN/weights_<M>min --reference RUNS/heldout_large -n 200 --seed 0

and checked for copying the pack: the share of 200 generated loops whose BeatGAN score against their nearest
pack loop is at most 0.1 (near-copies), and latent recovery of 8 pack loops against 8 held-out loops (the
recovery report's gap and verdict), in ``RUN/weights_<M>min.copying.json``. The shipped weights themselves
are evaluated and checked the same way, as ``RUNS/shipped/weights_0min`` (the tables' ``shipped`` row).
``--table`` prints the tables of FINETUNE.md from what is there, ``--figure PNG`` draws a loop of each
configuration at the middle budget.
Re-running skips what is done and resumes a cut-off stage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import BEATGAN, REPO, SINGLE_THREAD, run_on_cores, train_to_budget  # noqa: E402  (benchmarks/ is not a package)

COMMON = ["--checkpoint-every", "100", "--preview-every", "100000", "--log-every", "25", "--eval-every", "0",
          "--quiet", "--no-tensorboard"]
CONFIGS = ("finetune", "freeze2", "scratch", "finetune-s1", "freeze2-s1", "scratch-s1", "finetune-tenth-lr",
           "freeze2-tenth-lr", "finetune-recipe-lr")
LEARNING_RATES = {"finetune-recipe-lr": 1.0, "finetune-tenth-lr": 0.1, "freeze2-tenth-lr": 0.1}  # times the recipe's
SEEDS = {"finetune-s1": 1, "freeze2-s1": 1, "scratch-s1": 1}  # the others: the recipe's seed, 0
METRICS = ("fad", "ndb_k", "diversity", "tonal_lines", "silence", "on_grid")
LARGE_METRICS = ("fad", "ndb_k", "diversity", "close_pairs", "on_grid")  # the larger reference's table
SHIPPED = "shipped"  # the weights before fine-tuning, evaluated as RUNS/shipped/weights_0min
LARGE = "heldout_large"
REFERENCES = {"": "heldout", "_large": LARGE}  # evaluation folder suffix: reference folder


def prepare(runs: Path, loops: int, reference_loops: int) -> None:
    """The demo pack, split into the user's half (odd-numbered loops) and the held-out half, and a larger held-out set.

    One render of ``loops + reference_loops`` loops: its first ``loops`` are the pack and its held-out half (the
    renderer draws loop ``i`` the same whatever the count, so they are the bytes a render of ``loops`` gives),
    the rest, of the same style (kits, patterns, 90-95 bpm) and none of them in the pack, the larger set.
    """
    from beatgan.corpus import render_demo_pack

    everything = runs / f"demo_pack_{loops + reference_loops}"
    render_demo_pack(everything, count=loops + reference_loops)
    files = sorted(everything.glob("loop_*.wav"))
    for half, chosen in (("pack", files[:loops:2]), ("heldout", files[1:loops:2]), ("heldout_large", files[loops:])):
        (runs / half).mkdir(exist_ok=True)
        for path in chosen:
            if not (runs / half / path.name).exists():
                shutil.copyfile(path, runs / half / path.name)


def recipe_file(runs: Path, weights: Path) -> Path:
    """The weights' architecture and training recipe (their lineage's, less its run bookkeeping) as a recipe file."""
    from beatgan.finetune import RUN_FIELDS

    lineage = json.loads((weights / "lineage.json").read_text())
    model = json.loads((weights / "config.json").read_text())
    train = {k: v for k, v in lineage["train"].items() if k not in RUN_FIELDS}
    path = runs / "recipe.json"
    path.write_text(json.dumps({"description": f"the recipe of {weights} (its lineage.json)", "model": model,
                                "train": train}, indent=1))
    return path


def command(config: str, runs: Path, weights: Path) -> list[str]:
    run = ["--run-dir", str(runs / config), "--steps", "100000", *COMMON]
    if config in SEEDS:
        run += ["--seed", str(SEEDS[config])]
    if config.startswith("scratch"):
        return [str(BEATGAN), "train", str(runs / "pack"), "--config", str(recipe_file(runs, weights)), *run]
    extra = ["--freeze-critic", "2"] if config.startswith("freeze2") else []
    if config in LEARNING_RATES:  # other learning rates than fine-tuning's default (config.FINETUNE_LR_SCALE)
        train, scale = json.loads(recipe_file(runs, weights).read_text())["train"], LEARNING_RATES[config]
        extra += [f"--{name.replace('_', '-')}={train[name] * scale:g}" for name in ("g_learning_rate", "d_learning_rate")]
    return [str(BEATGAN), "finetune", str(runs / "pack"), "--weights", str(weights), "--no-evaluate", *extra, *run]


def train_config(config: str, runs: Path, weights: Path, budgets: list[float], core: int) -> None:
    """Train one configuration to each budget in turn, keeping the weights of each."""
    for minutes in budgets:
        kept = runs / config / f"weights_{minutes:g}min"
        if (kept / "generator.npz").exists():
            continue
        total = train_to_budget(command(config, runs, weights), runs / f"{config}.log", runs / f"{config}.cpu",
                                minutes * 60, core)
        if total is None:
            return
        shutil.copytree(runs / config / "weights", kept, dirs_exist_ok=True)
        print(f"{config}: {minutes:g} CPU min ({total:.0f} s), weights kept", flush=True)


EVALUATING = threading.Lock()  # one evaluation at a time (numba's cache races, numba#10128)


def evaluate(runs: Path, kept: Path, core: int) -> None:
    """``beatgan evaluate`` against the held-out half and the larger held-out set, and the copying checks."""
    env = {**os.environ, **SINGLE_THREAD}
    with EVALUATING:
        for suffix, reference in REFERENCES.items():
            output = kept.with_name(kept.name + ".evaluation" + suffix)
            if not (output / "evaluation.json").exists():
                subprocess.run(["taskset", "-c", str(core), str(BEATGAN), "evaluate", "--weights", str(kept),
                                "--reference", str(runs / reference), "-n", "200", "--seed", "0", "-o",
                                str(output), "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL)
        copying = kept.with_name(kept.name + ".copying.json")
        if not copying.exists():
            subprocess.run(["taskset", "-c", str(core), sys.executable, __file__, "--copying", str(kept),
                            "--runs", str(runs)], env=env, check=True)
        print(f"evaluated {kept}", flush=True)


def copying(runs: Path, kept: Path) -> None:
    """Near-copies of the pack among 200 generated loops, and recovery of pack loops against held-out loops."""
    from beatgan.backend import select_backend

    select_backend(None)
    from beatgan.checkpoint import load_generator
    from beatgan.data import load_loops
    from beatgan.generate import generate
    from beatgan.novelty import novelty_report
    from beatgan.recover import recovery_report

    generator, config = load_generator(kept)
    shape = {"sample_rate": config.sample_rate, "slice_len": config.slice_len, "channels": config.channels}
    pack = load_loops(runs / "pack", progress=False, **shape)
    heldout = load_loops(runs / "heldout", progress=False, **shape)
    novelty = novelty_report(generate(generator, 200, seed=0), pack.audio, sample_rate=config.sample_rate)
    recovery = recovery_report(generator, pack.audio, heldout.audio, n=8, seed=0)
    result = {"fraction_similar": novelty.fraction_similar, "recovery": recovery.to_dict()}
    kept.with_name(kept.name + ".copying.json").write_text(json.dumps(result, indent=1))


def figure(runs: Path, weights: Path, minutes: float, path: Path) -> None:
    """Waveform and spectrogram of a held-out loop, the weights before fine-tuning and each configuration at ``minutes``."""
    from beatgan.backend import select_backend

    select_backend(None)
    from beatgan.checkpoint import load_generator
    from beatgan.data import load_loops
    from beatgan.generate import generate
    from beatgan.plots import waveform_and_spectrogram

    generator, config = load_generator(weights)
    heldout = load_loops(runs / "heldout", progress=False, sample_rate=config.sample_rate,
                         slice_len=config.slice_len, channels=config.channels)
    clips = [("held-out loop", heldout.audio[0], config.sample_rate),
             ("shipped weights (before)", generate(generator, 1, seed=0)[0], config.sample_rate)]
    for name in CONFIGS:
        kept = runs / name / f"weights_{minutes:g}min"
        if (kept / "generator.npz").exists():
            clips.append((f"{name}, {minutes:g} CPU min", generate(load_generator(kept)[0], 1, seed=0)[0],
                          config.sample_rate))
    fig = waveform_and_spectrogram(clips)
    fig.savefig(path, dpi=60)
    print(f"wrote {path}")


def table(runs: Path, budgets: list[float], suffix: str = "") -> str:
    """FINETUNE.md's tables: the shipped weights and each configuration at each budget, with 95 % intervals.

    ``suffix`` "" reads the evaluations against the held-out half (with the copying checks), "_large" those
    against the larger held-out set.
    """
    metrics = METRICS if not suffix else LARGE_METRICS
    head = ["config", "CPU min", "steps", *metrics, *(["pack near-copies", "recovery gap dB (verdict)"] * (not suffix))]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    kept_dirs = [(SHIPPED, 0, runs / SHIPPED / "weights_0min")]
    kept_dirs += [(config, minutes, runs / config / f"weights_{minutes:g}min") for config in CONFIGS for minutes in budgets]
    for config, minutes, kept in kept_dirs:
        report = kept.with_name(kept.name + ".evaluation" + suffix) / "evaluation.json"
        if not report.exists():
            continue
        data = json.loads(report.read_text())
        lineage = json.loads((kept / "lineage.json").read_text())
        cells = [config, f"{minutes:g}", str(lineage["step"])]
        for name in metrics:
            value = data["metrics"]["generated"].get(name)
            low, high = (data["intervals"]["generated"].get(name) or [None, None])[:2]
            cells.append("n/a" if value is None else f"{value:.3g}" + (f" [{low:.3g}, {high:.3g}]" if low is not None else ""))
        copy_file = kept.with_name(kept.name + ".copying.json")
        if copy_file.exists() and not suffix:
            copied = json.loads(copy_file.read_text())
            rec = copied["recovery"]
            cells += [f"{copied['fraction_similar']:.3f}", f"{rec['gap_db']:.2f} ({rec['verdict']})"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def tables(runs: Path, budgets: list[float]) -> str:
    """Both tables of FINETUNE.md, each under the marker FINETUNE.md holds it by."""
    return (f"<!-- table: python benchmarks/finetune.py --runs ../runs27 --table -->\n{table(runs, budgets)}\n\n"
            f"<!-- table against {LARGE}: the same command -->\n{table(runs, budgets, '_large')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO.parent / "runs27", help="run directories (outside the checkout)")
    parser.add_argument("--weights", type=Path, default=REPO / "weights", help="weights to fine-tune (with critic.npz)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[10, 20, 40], help="CPU minutes (default 10 20 40)")
    parser.add_argument("--loops", type=int, default=50, help="loops of the demo pack, split in two halves (default 50)")
    parser.add_argument("--reference-loops", type=int, default=200, help="loops of the larger held-out set "
                        "(default 200)")
    parser.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="configurations at once, one per core")
    parser.add_argument("--cores", type=int, nargs="+", help="the cores to run on, one configuration each "
                        "(default: the first --jobs cores)")
    parser.add_argument("--only", nargs="*", choices=CONFIGS, help="configurations to run (default: all)")
    parser.add_argument("--table", action="store_true", help="print both tables from what is there, run nothing")
    parser.add_argument("--figure", type=Path, help="draw the loops of each configuration at the middle budget "
                        "(latent seed 0) to this PNG, run nothing")
    parser.add_argument("--copying", type=Path, help=argparse.SUPPRESS)  # one copying check, in its own process
    args = parser.parse_args(argv)
    runs, budgets = args.runs.resolve(), sorted(args.budgets)
    if args.copying:
        copying(runs, args.copying)
        return 0
    if args.table:
        print(tables(runs, budgets))
        return 0
    if args.figure:
        figure(runs, args.weights.resolve(), budgets[len(budgets) // 2], args.figure)
        return 0
    if not (args.weights / "critic.npz").exists():
        parser.error(f"{args.weights} has no critic.npz: fine-tuning needs weights that carry their critic")
    runs.mkdir(parents=True, exist_ok=True)
    prepare(runs, args.loops, args.reference_loops)
    weights = args.weights.resolve()
    cores = args.cores or list(range(args.jobs))
    shipped = runs / SHIPPED / "weights_0min"
    if not (shipped / "generator.npz").exists():
        shutil.copytree(weights, shipped, dirs_exist_ok=True)
    evaluate(runs, shipped, cores[0])

    def run(config: str, core: int) -> None:
        train_config(config, runs, weights, budgets, core)
        for minutes in budgets:
            kept = runs / config / f"weights_{minutes:g}min"
            if (kept / "generator.npz").exists():
                evaluate(runs, kept, core)

    run_on_cores(list(args.only or CONFIGS), run, cores)
    print(tables(runs, budgets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
