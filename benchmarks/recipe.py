"""The training-recipe comparison of ``benchmarks/TRAINING.md``: configurations at equal CPU time.

    python benchmarks/recipe.py [--study recipes|options|combos] [--runs ../runs] [--budget 1200] [--jobs 2]
                                [--seeds 0 1] [--only NAME ...]

Three studies: ``recipes`` (issue 11: width, precision, critic schedule, bar length; seed 0),
``options`` (issue 25: WaveGAN's option set and the small-data levers, each added alone to the
baseline recipe, two seeds) and ``combos`` (issue 26: the options that helped, combined, two seeds;
run it with ``--budget 1800``, 30 CPU minutes). A run is named ``NAME`` (seed 0 of the recipes study) or ``NAME_sSEED``.

Each configuration trains with one thread pinned to one core until its process has used ``--budget``
seconds of CPU (user + system, read from ``/proc``), then gets SIGINT: the run writes a checkpoint and
exports its weights at the step it reached. Budgeting CPU seconds rather than wall time keeps the
comparison fair when other work shares the machine. ``--jobs 2`` trains two configurations at once,
one per core. Each finished run is then evaluated::

    beatgan evaluate --weights RUN/weights --reference data/open_loops -n 500 -o RUN/evaluation

Re-running the script skips finished configurations and resumes a cut-off one with the CPU time it
had left (``NAME.cpu`` records what it used). ``python benchmarks/recipe_table.py RUNS`` prints the
table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEATGAN = REPO / ".venv" / "bin" / "beatgan"
COMMON = ["--steps", "100000", "--checkpoint-every", "100", "--preview-every", "1000", "--log-every", "25",
          "--eval-every", "0", "--quiet"]
# name, dataset file in RUNS, options: WaveGAN's architecture throughout, options of TrainConfig/ModelConfig
CONFIGS = (
    ("A_d16_b16_f32", "dataset.npz", ["--model-dim", "16", "--batch-size", "16", "--precision", "float32"]),
    ("B_d16_b16_bf16", "dataset.npz", ["--model-dim", "16", "--batch-size", "16", "--precision", "bfloat16"]),
    ("C_d24_b16_bf16", "dataset.npz", ["--model-dim", "24", "--batch-size", "16", "--precision", "bfloat16"]),
    ("D_d16_ttur_bf16", "dataset.npz", ["--model-dim", "16", "--batch-size", "16", "--precision", "bfloat16",
                                        "--d-steps", "2", "--d-learning-rate", "0.0003"]),
    ("E_bar_d16_bf16", "dataset32k.npz", ["--model-dim", "16", "--batch-size", "16", "--precision", "bfloat16",
                                          "--slice-len", "32768"]),
    ("F_d16_b32_bf16", "dataset.npz", ["--model-dim", "16", "--batch-size", "32", "--precision", "bfloat16"]),
)
# Issue 25: the baseline is issue 11's winner (D: d16, batch 16, bfloat16, two critic updates at 3e-4);
# every other row adds one option to it. A loss row keeps the baseline's shape and schedule but takes
# the loss's own reference optimizer (no learning rates given). The baseline keeps an EMA of its
# generator (decay 0.999): the average never feeds back into training (the same seed gives the same
# losses with and without it, tested), so one run gives the baseline (its trained weights, evaluated
# from weights_raw/) and the EMA row (weights/). Five checkpoints are kept, so that the average of the
# last five can be checked too (--average-checkpoints, the free stand-in for EMA).
BASELINE = ["--model-dim", "16", "--batch-size", "16", "--precision", "bfloat16", "--d-steps", "2",
            "--keep-checkpoints", "5"]
TTUR = ["--d-learning-rate", "0.0003"]
OPTIONS = (
    ("base", "dataset.npz", [*BASELINE, *TTUR, "--ema-decay", "0.999"]),
    ("nearest", "dataset.npz", [*BASELINE, *TTUR, "--upsample", "nearest"]),
    ("postfilter", "dataset.npz", [*BASELINE, *TTUR, "--post-filter", "512"]),
    ("augment", "dataset1.npz", [*BASELINE, *TTUR, "--critic-augment", "all"]),
    ("mbstd", "dataset.npz", [*BASELINE, *TTUR, "--minibatch-std", "4"]),
    ("batchnorm", "dataset.npz", [*BASELINE, *TTUR, "--batchnorm"]),
    ("lazygp", "dataset.npz", [*BASELINE, *TTUR, "--gp-every", "4"]),
    ("hinge", "dataset.npz", [*BASELINE, "--loss", "hinge"]),
    ("lsgan", "dataset.npz", [*BASELINE, "--loss", "lsgan"]),
    ("dcgan", "dataset.npz", [*BASELINE, "--loss", "dcgan"]),
    ("wgan", "dataset.npz", [*BASELINE, "--loss", "wgan"]),
)
# Issue 26: what issue 25's table says helped, combined. Nearest upsampling removed the imaging lines on both
# seeds; dcgan (the reference's loss, no penalty: 1.5x the steps) was the strongest single lever on both seeds,
# lsgan on one. An EMA of the generator never feeds back into training, so a run that keeps one gives two
# rows (its trained weights, evaluated from weights_raw/, and the average, "+ema"): five combinations from
# three runs a seed. Critic augmentation is the other answer to a small corpus (the critic overfitting it),
# tried on the strongest loss. "nearest" alone is the combinations' baseline (run it with --only nearest).
# "transposed-dcgan" keeps WaveGAN's transposed convolutions: at 30 minutes nearest + dcgan (seed 0) lost the
# FAD that dcgan alone had at 20 (42.8 against 28.5 and 33.0), so dcgan with EMA is measured without nearest too.
NEAREST = [*BASELINE, "--upsample", "nearest"]
EMA = ["--ema-decay", "0.999"]
COMBOS = (
    ("nearest-dcgan", "dataset.npz", [*NEAREST, "--loss", "dcgan", *EMA]),
    ("nearest-lsgan", "dataset.npz", [*NEAREST, "--loss", "lsgan", *EMA]),
    ("nearest-dcgan-augment", "dataset1.npz", [*NEAREST, "--loss", "dcgan", "--critic-augment", "all"]),
    ("nearest", "dataset.npz", [*NEAREST, *TTUR]),
    ("transposed-dcgan", "dataset.npz", [*BASELINE, "--loss", "dcgan", *EMA]),  # dcgan with WaveGAN's upsampling
)
STUDIES = {"recipes": CONFIGS, "options": OPTIONS, "combos": COMBOS}
DATASETS = {  # file in RUNS: options of `beatgan prepare`
    "dataset.npz": [], "dataset32k.npz": ["--slice-len", "32768"],
    "dataset1.npz": ["--copies", "1", "--amplitude", "0"],  # the loops alone: critic_augment adds its own noise
}
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                 "PYTHONUNBUFFERED": "1"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, all its threads (``/proc/PID/stat`` fields 14-15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


EVALUATING = threading.Lock()  # one evaluation at a time: numba's cache of librosa's gufuncs races (numba#10128)


def train_to_budget(command: list[str], log: Path, used_file: Path, budget: float, core: int) -> float | None:
    """Run a training command pinned to ``core`` until it has used ``budget`` CPU seconds in all, then SIGINT it.

    ``used_file`` holds the CPU seconds earlier calls used (a cut-off run resumes with what it had left) and is
    updated every 2 s. Returns the total, or None (with a line on stderr) when training exited before the budget.
    """
    used = float(used_file.read_text()) if used_file.exists() else 0.0
    if used >= budget:
        return used
    with open(log, "a") as out:
        proc = subprocess.Popen(["taskset", "-c", str(core), *command], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **SINGLE_THREAD})
        child = None
        while proc.poll() is None:
            time.sleep(2)
            try:  # taskset execs the command, so the pid is beatgan's own
                child = cpu_seconds(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            used_file.write_text(f"{used + child:.1f}")
            if used + child >= budget:
                proc.send_signal(signal.SIGINT)  # the run checkpoints and exports weights, then exits
                proc.wait()
        proc.wait()
    total = used + (child or 0.0)
    if total < budget - 5:
        print(f"{log.stem}: training exited early (code {proc.returncode}) after {total:.0f} s of CPU; see {log}",
              file=sys.stderr)
        return None
    return total


def run_on_cores(todo: list, run, cores: list[int]) -> None:
    """Run ``run(job, core)`` for every job of ``todo`` (taken in order), one thread per core, until none is left."""
    lock = threading.Lock()

    def worker(core: int) -> None:
        while True:
            with lock:
                if not todo:
                    return
                job = todo.pop(0)
            run(job, core)

    threads = [threading.Thread(target=worker, args=(core,)) for core in cores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run_config(runs: Path, name: str, data: str, options: list[str], budget: float, core: int,
               seed: int = 0, evaluate: bool = True) -> None:
    """Train one configuration to its CPU budget (resuming a cut-off one), then evaluate it."""
    done, used_file = runs / f"{name}.done", runs / f"{name}.cpu"
    env = {**os.environ, **SINGLE_THREAD}
    pin = ["taskset", "-c", str(core)]
    if not done.exists():
        wall = time.monotonic()
        command = [str(BEATGAN), "train", str(runs / data), "--run-dir", str(runs / name), *COMMON, "--seed", str(seed),
                   *options]
        total = train_to_budget(command, runs / f"{name}.log", used_file, budget, core)
        if total is None:
            return
        lines = (runs / name / "metrics.jsonl").read_text().splitlines()
        step = json.loads(lines[-1])["step"] if lines else 0  # the step the budget reached (a run may train on later)
        done.write_text(json.dumps({"cpu_s": round(total, 1), "wall_s": round(time.monotonic() - wall, 1),
                                    "core": core, "step": step}))
        print(f"{name}: trained, {total:.0f} s of CPU", flush=True)
    if not evaluate:
        return
    weights = {"evaluation": runs / name / "weights"}
    if (runs / name / "weights" / "generator_raw.npz").exists():  # EMA on: the trained weights beside the average
        raw = runs / name / "weights_raw"
        raw.mkdir(exist_ok=True)
        shutil.copyfile(runs / name / "weights" / "config.json", raw / "config.json")
        shutil.copyfile(runs / name / "weights" / "generator_raw.npz", raw / "generator.npz")
        weights["evaluation_raw"] = raw
    if name.startswith("base"):  # the free EMA check: the uniform average of the last five checkpoints
        averaged = runs / name / "weights_avg5"
        if not (averaged / "generator.npz").exists():
            subprocess.run([*pin, str(REPO / ".venv" / "bin" / "python"), str(REPO / "benchmarks" / "average_checkpoints.py"),
                            str(runs / name), "-o", str(averaged)], env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        weights["evaluation_avg5"] = averaged
    for folder, source in weights.items():
        evaluate_weights(runs, name, source, runs / name / folder, pin, env)


def evaluate_weights(runs: Path, name: str, weights: Path, output: Path, pin: list[str], env: dict) -> None:
    """``beatgan evaluate`` of one weights directory against the corpus, -n 500, seed 0 (skipped when done)."""
    with EVALUATING:
        if (output / "evaluation.json").exists():
            return
        subprocess.run([*pin, str(BEATGAN), "evaluate", "--weights", str(weights), "--reference",
                        str(REPO / "data" / "open_loops"), "-n", "500", "--seed", "0", "-o",
                        str(output), "--quiet"], env=env, check=True,
                       stdout=open(runs / f"{name}.{output.name}.log", "w"), stderr=subprocess.STDOUT)
        print(f"{name}: evaluated {weights.name} -> {output.name}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=tuple(STUDIES), default="recipes", help="which table (default recipes)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="training seeds (default: 0 for recipes, 0 1 for options and combos)")
    parser.add_argument("--runs", type=Path, default=REPO.parent / "runs", help="run directories (outside the checkout)")
    parser.add_argument("--budget", type=float, default=1200.0, help="CPU seconds per configuration (default 1200)")
    parser.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="configurations at once, one per core")
    parser.add_argument("--cores", type=int, nargs="+", default=None,
                        help="cores to pin the jobs to (default 0 .. jobs-1)")
    parser.add_argument("--train-only", action="store_true", help="train, do not evaluate")
    parser.add_argument("--only", nargs="*", help="configuration names to run (default: all)")
    args = parser.parse_args(argv)
    runs = args.runs.resolve()
    runs.mkdir(parents=True, exist_ok=True)
    seeds = args.seeds if args.seeds is not None else ([0] if args.study == "recipes" else [0, 1])
    chosen = [c for c in STUDIES[args.study] if not args.only or c[0] in args.only]
    for data in sorted({c[1] for c in chosen}):
        if not (runs / data).exists():
            subprocess.run([str(BEATGAN), "prepare", str(REPO / "data" / "open_loops"), "-o", str(runs / data),
                            *DATASETS[data], "--quiet"], check=True)
    # seed-major, so that every configuration has one seed before any has two
    todo = [(name if args.study == "recipes" and seed == 0 else f"{name}_s{seed}", data, options, seed)
            for seed in seeds for name, data, options in chosen]
    run_on_cores(todo, lambda job, core: run_config(runs, job[0], job[1], job[2], args.budget, core, job[3],
                                                    evaluate=not args.train_only),
                 args.cores if args.cores else list(range(args.jobs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
