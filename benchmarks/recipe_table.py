"""Print the recipe table of benchmarks/TRAINING.md from the runs of benchmarks/recipe.py.

    python benchmarks/recipe_table.py RUNS_DIR

For every run directory it reads ``config.json``, the last line of ``metrics.jsonl`` (the step reached), the CPU seconds the recipe script wrote in ``NAME.done``, and
``RUN/evaluation/evaluation.json`` (from ``beatgan evaluate --weights RUN/weights --reference
data/open_loops -n 500 -o RUN/evaluation``), and prints one markdown row per configuration: generated
metrics, with the real and collapsed anchors of the first run in the last rows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("fad", "ndb_k", "jsd", "diversity", "on_grid", "spectrum_db", "noise_floor_db", "near_copies")


def main(runs: Path) -> int:
    rows, anchors = [], None
    for run in sorted(p for p in runs.iterdir() if (p / "config.json").is_file()):
        config = json.loads((run / "config.json").read_text())
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
        losses = [x for x in lines if "d_loss" in x]
        evaluation = run / "evaluation" / "evaluation.json"
        if not evaluation.is_file():
            print(f"{run.name}: not evaluated yet", file=sys.stderr)
            continue
        report = json.loads(evaluation.read_text())
        anchors = anchors or report["metrics"]
        done = run.parent / f"{run.name}.done"  # {"cpu_s", "wall_s", "core"} from benchmarks/recipe.py
        spent = json.loads(done.read_text()) if done.is_file() else {}
        minutes = spent.get("cpu_s", float("nan")) / 60
        m, t = config["model"], config["train"]
        rows.append([run.name, f"d{m['model_dim']} b{t['batch_size']} n_critic {t['d_steps']} lr_D {t['d_learning_rate']:g} "
                     f"{t['precision']} {m['slice_len']}", f"{minutes:.0f}", str(losses[-1]["step"] if losses else 0),
                     f"{losses[-1]['step'] / minutes:.0f}" if losses and minutes > 0 else "-",
                     *(f"{report['metrics']['generated'][c]:.3g}" for c in COLUMNS)])
    header = ["run", "configuration", "CPU min", "G steps", "G steps per CPU min", *COLUMNS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if anchors:
        for name in ("real", "collapsed", "noise"):
            print("| *" + name + "* | anchor | | | | " + " | ".join(f"{anchors[name][c]:.3g}" for c in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "../runs")))
