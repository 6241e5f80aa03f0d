"""The training-recipe comparison of ``benchmarks/TRAINING.md``: configurations at equal CPU time.

    python benchmarks/recipe.py [--runs ../runs] [--budget 1200] [--jobs 2] [--only NAME ...]

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
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEATGAN = REPO / ".venv" / "bin" / "beatgan"
COMMON = ["--steps", "100000", "--checkpoint-every", "100", "--preview-every", "1000", "--log-every", "25",
          "--eval-every", "0", "--seed", "0", "--quiet"]
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
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                 "PYTHONUNBUFFERED": "1"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, all its threads (``/proc/PID/stat`` fields 14-15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


EVALUATING = threading.Lock()  # one evaluation at a time: numba's cache of librosa's gufuncs races (numba#10128)


def run_config(runs: Path, name: str, data: str, options: list[str], budget: float, core: int) -> None:
    """Train one configuration to its CPU budget (resuming a cut-off one), then evaluate it."""
    done, used_file = runs / f"{name}.done", runs / f"{name}.cpu"
    env = {**os.environ, **SINGLE_THREAD}
    pin = ["taskset", "-c", str(core)]
    if not done.exists():
        used = float(used_file.read_text()) if used_file.exists() else 0.0
        wall = time.monotonic()
        with open(runs / f"{name}.log", "a") as log:
            proc = subprocess.Popen([*pin, str(BEATGAN), "train", str(runs / data), "--run-dir", str(runs / name),
                                     *COMMON, *options], stdout=log, stderr=subprocess.STDOUT, env=env)
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
            print(f"{name}: training exited early (code {proc.returncode}) after {total:.0f} s of CPU; "
                  f"see {runs / name}.log", file=sys.stderr)
            return
        done.write_text(json.dumps({"cpu_s": round(total, 1), "wall_s": round(time.monotonic() - wall, 1),
                                    "core": core}))
        print(f"{name}: trained, {total:.0f} s of CPU", flush=True)
    with EVALUATING:
        if (runs / name / "evaluation" / "evaluation.json").exists():
            return
        subprocess.run([*pin, str(BEATGAN), "evaluate", "--weights", str(runs / name / "weights"), "--reference",
                        str(REPO / "data" / "open_loops"), "-n", "500", "--seed", "0", "-o",
                        str(runs / name / "evaluation"), "--quiet"], env=env, check=True,
                       stdout=open(runs / f"{name}.eval.log", "w"), stderr=subprocess.STDOUT)
        print(f"{name}: evaluated", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO.parent / "runs", help="run directories (outside the checkout)")
    parser.add_argument("--budget", type=float, default=1200.0, help="CPU seconds per configuration (default 1200)")
    parser.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="configurations at once, one per core")
    parser.add_argument("--only", nargs="*", help="configuration names to run (default: all)")
    args = parser.parse_args(argv)
    runs = args.runs.resolve()
    runs.mkdir(parents=True, exist_ok=True)
    for data, extra in (("dataset.npz", []), ("dataset32k.npz", ["--slice-len", "32768"])):
        if not (runs / data).exists():
            subprocess.run([str(BEATGAN), "prepare", str(REPO / "data" / "open_loops"), "-o", str(runs / data),
                            *extra, "--quiet"], check=True)
    todo = [c for c in CONFIGS if not args.only or c[0] in args.only]
    lock = threading.Lock()

    def worker(core: int) -> None:
        while True:
            with lock:
                if not todo:
                    return
                name, data, options = todo.pop(0)
            run_config(runs, name, data, options, args.budget, core)

    threads = [threading.Thread(target=worker, args=(core,)) for core in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
